package scan

import (
	"archive/zip"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
)

// retainedBuffer is the archive package's largest reused file buffer
// (unexported there): larger files are mapped with membuf and taken from
// the budget.
const retainedBuffer = 4 << 20

// The scanner lends its walks the budget of Options.Budget.
func TestLargeBuffersAreTakenFromTheBudgetAndGivenBack(t *testing.T) {
	big := strings.Repeat("x", retainedBuffer+1)
	data := fixture.Tar(t, fixture.File("p/one.py", big), fixture.File("p/small.py", "s"), fixture.File("p/two.py", big+"y"))
	lim := archive.DefaultLimits()
	scanner := func(b archive.Budget) *Scanner {
		return fxScannerWith(t, map[string]string{"r": `rule r { strings: $a = "needle" condition: $a }`},
			Options{Limits: lim, Speed: DefaultSpeed(), Budget: b})
	}

	b := &recordingBudget{size: 1 << 30}
	if res := scanner(b).Scan(context.Background(), "p.tar", data); res.Err != nil {
		t.Fatal(res.Err)
	}
	// One large buffer at a time: the first is returned before the second
	// is taken.
	if b.peak != int64(len(big))+1 || b.held != 0 {
		t.Fatalf("peak %d, held after the scan %d", b.peak, b.held)
	}

	// A budget that is spent does not stop the scan: the scanner never
	// waits (it holds an archive), it only makes the downloads wait.
	b = &recordingBudget{size: 10}
	if res := scanner(b).Scan(context.Background(), "p.tar", data); res.Err != nil || b.held != 0 {
		t.Fatalf("%v, held %d", res.Err, b.held)
	}
}

// TestLargeBuffersOfNestedArchives: a large nested archive's buffer stays
// valid while its own large files are read into the next depth's buffer,
// and every large buffer is freed once its file is done (membuf: reading a
// freed one would fault).
func TestLargeBuffersOfNestedArchives(t *testing.T) {
	big := strings.Repeat("x", retainedBuffer+1)
	inner := fixture.Zip(t, fixture.ZipEntry{Name: "in/big.py", Body: big + "needle", Method: zip.Deflate},
		fixture.ZipEntry{Name: "in/pad.bin", Body: big, Method: zip.Store}, // makes inner.zip large
		fixture.ZipEntry{Name: "in/after.py", Body: "needle", Method: zip.Store})
	data := fixture.Tar(t, fixture.File("p/inner.zip", string(inner)),
		fixture.File("p/two.py", big+"needle"), fixture.File("p/small.py", "needle"))
	lim := archive.DefaultLimits()
	lim.MaxRatio = 1 << 20 // runs of x deflate too well
	b := &recordingBudget{size: 1 << 30}
	s := fxScannerWith(t, map[string]string{"r": `rule r { strings: $a = "needle" condition: $a }`},
		Options{Limits: lim, Speed: DefaultSpeed(), Budget: b})
	res := s.Scan(context.Background(), "p.tar", data)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var paths []string
	for _, f := range res.Files {
		paths = append(paths, f.Path)
	}
	slices.Sort(paths)
	want := []string{"p/inner.zip", "p/inner.zip/in/after.py", "p/inner.zip/in/big.py", "p/small.py", "p/two.py"}
	if !slices.Equal(paths, want) || b.held != 0 {
		t.Fatalf("matched in %v, want %v; %d bytes still held", paths, want, b.held)
	}
}
