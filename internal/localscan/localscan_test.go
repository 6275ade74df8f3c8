package localscan

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/membuf"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

// TestReadFileSizesAndPipes: local distributions are read whole, off the
// heap when large, refused over the limit, and pipes work too.
func TestReadFileSizesAndPipes(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 10, membuf.Threshold - 1, membuf.Threshold, 3 << 20} {
		path := filepath.Join(dir, fmt.Sprint(size))
		want := bytes.Repeat([]byte{'x'}, size)
		if size > 0 {
			want[size-1] = 'y'
		}
		os.WriteFile(path, want, 0o644)
		got, free, err := ReadFile(path, int64(size))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("size %d: read %d bytes, %v", size, len(got), err)
			continue
		}
		free()
		if size > 0 {
			if _, _, err := ReadFile(path, int64(size-1)); err == nil || !strings.Contains(err.Error(), "too large") {
				t.Errorf("size %d over a limit of %d: %v", size, size-1, err)
			}
		}
	}

	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			f.Write([]byte("streamed"))
			f.Close()
		}
	}()
	got, free, err := ReadFile(fifo, 100)
	if err != nil || string(got) != "streamed" {
		t.Fatalf("pipe: %q %v", got, err)
	}
	free()
}

func TestDispatchOrderIsLargestFirstAfterURLs(t *testing.T) {
	dir := t.TempDir()
	var targets []string
	for _, n := range []int{5, 50, 0, 500} {
		p := filepath.Join(dir, fmt.Sprintf("f%d", n))
		os.WriteFile(p, make([]byte, n), 0o644)
		targets = append(targets, p)
	}
	targets = append(targets, "https://example.invalid/a.whl", filepath.Join(dir, "missing"), "https://example.invalid/b.whl")
	// URLs and files that cannot be read (their error is reported in
	// order) come first, as given; then the sizes 500, 50, 5, 0.
	if got, want := dispatchOrder(targets), []int{4, 5, 6, 3, 1, 0, 2}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestExpandTargetsAndGroupPackages(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b/pkg-1.0-py3-none-any.whl", "a/pkg-1.0.tar.gz", "a/notes.txt", "odd.bin"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, n)), 0o755)
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	url := "https://h/Other_Pkg-2.0.zip?sig=s3cret"
	targets, err := ExpandTargets([]string{dir, url, filepath.Join(dir, "odd.bin")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a/pkg-1.0.tar.gz"), filepath.Join(dir, "b/pkg-1.0-py3-none-any.whl"), url, filepath.Join(dir, "odd.bin")}
	if !slices.Equal(targets, want) {
		t.Fatalf("targets %q, want %q", targets, want)
	}
	dists := make([]*scan.DistResult, len(targets))
	for i, tg := range targets {
		dists[i] = &scan.DistResult{Target: tg}
	}
	var got []string
	for _, p := range GroupPackages(targets, dists) {
		got = append(got, fmt.Sprintf("%s %s %d", p.Name, p.Version, len(p.Dists)))
	}
	if w := []string{"pkg 1.0 2", "other-pkg 2.0 1", "odd.bin  1"}; !slices.Equal(got, w) {
		t.Errorf("packages %q, want %q", got, w)
	}
	if _, err := ExpandTargets([]string{filepath.Join(dir, "b", "..", "a", "..", "odd.bin", "x")}); err == nil {
		t.Error("a missing target was accepted")
	}
	empty := t.TempDir()
	if _, err := ExpandTargets([]string{empty}); err == nil || !strings.Contains(err.Error(), "no distribution files") {
		t.Errorf("empty folder: %v", err)
	}
}
