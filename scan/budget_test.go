package scan

import (
	"archive/zip"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// recordingBudget is a Budget that remembers what it lent.
type recordingBudget struct {
	size, held, peak int64
}

func (b *recordingBudget) TryAcquire(n int64) bool {
	if b.held+n > b.size {
		return false
	}
	b.held += n
	b.peak = max(b.peak, b.held)
	return true
}

func (b *recordingBudget) Release(n int64) { b.held -= n }

func TestLargeBuffersAreTakenFromTheBudgetAndGivenBack(t *testing.T) {
	big := strings.Repeat("x", retainedBuffer+1)
	data := fxTar(t, fxFile("p/one.py", big), fxFile("p/small.py", "s"), fxFile("p/two.py", big+"y"))
	lim := DefaultLimits()
	s := fxScanner(t, lim, map[string]string{"r": `rule r { strings: $a = "needle" condition: $a }`})

	b := &recordingBudget{size: 1 << 30}
	s.SetBudget(b)
	if res := s.Scan(context.Background(), "p.tar", data); res.Err != nil {
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
	s.SetBudget(b)
	if res := s.Scan(context.Background(), "p.tar", data); res.Err != nil || b.held != 0 {
		t.Fatalf("%v, held %d", res.Err, b.held)
	}
}

// TestLargeBuffersOfNestedArchives: a large nested archive's buffer stays
// valid while its own large files are read into the next depth's buffer,
// and every large buffer is freed once its file is done (membuf: reading a
// freed one would fault).
func TestLargeBuffersOfNestedArchives(t *testing.T) {
	big := strings.Repeat("x", retainedBuffer+1)
	inner := fxZip(t, fxZipEntry{Name: "in/big.py", Body: big + "needle", Method: zip.Deflate},
		fxZipEntry{Name: "in/pad.bin", Body: big, Method: zip.Store}, // makes inner.zip large
		fxZipEntry{Name: "in/after.py", Body: "needle", Method: zip.Store})
	data := fxTar(t, fxFile("p/inner.zip", string(inner)),
		fxFile("p/two.py", big+"needle"), fxFile("p/small.py", "needle"))
	lim := DefaultLimits()
	lim.MaxRatio = 1 << 20 // runs of x deflate too well
	s := fxScanner(t, lim, map[string]string{"r": `rule r { strings: $a = "needle" condition: $a }`})
	b := &recordingBudget{size: 1 << 30}
	s.SetBudget(b)
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

// A BufferBudget makes a walk that holds none of it wait for the large
// buffers of other walks (dragonfly scan's threads), so that two large
// files are not expanded at once beyond it: the walk goes on when the
// other's file is done, or fails when its context ends meanwhile.
func TestBufferBudgetMakesAWalkWait(t *testing.T) {
	big := strings.Repeat("x", retainedBuffer+1)
	data := fxTar(t, fxFile("p/one.py", big+"needle"))
	s := fxScanner(t, DefaultLimits(), map[string]string{"r": `rule r { strings: $a = "needle" condition: $a }`})
	b := NewBufferBudget(int64(len(big)) + 10)
	s.SetBudget(b)
	if !b.TryAcquire(20) { // another walk's file
		t.Fatal("an empty budget refused 20 bytes")
	}

	waiting := make(chan struct{}, 1)
	b.waiting = func() { waiting <- struct{}{} }
	done := make(chan *DistResult)
	go func() { done <- s.Scan(context.Background(), "p.tar", data) }()
	select {
	case <-waiting:
	case res := <-done:
		t.Fatalf("the scan went on with the budget spent: %v", res.Err)
	}
	b.Release(20) // the other walk's file is done
	if res := <-done; res.Err != nil || len(res.Files) == 0 {
		t.Fatalf("after the release: %v, files matched %v", res.Err, res.Files)
	}
	if !b.TryAcquire(b.size) {
		t.Fatal("the scan did not give back what it took")
	}

	ctx, cancel := context.WithCancel(context.Background())
	b.waiting = cancel // spent again: the walk waits, and is stopped
	if res := s.Scan(ctx, "p.tar", data); !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("stopped while waiting: %v, want context.Canceled", res.Err)
	}
	b.Release(b.size)
}

// A file larger than the whole BufferBudget takes all of it instead of
// waiting forever, and a walk that already holds some of it (a large
// nested archive) does not wait for more: the walks it could wait on may
// be waiting on it.
func TestBufferBudgetNeverDeadlocks(t *testing.T) {
	big := strings.Repeat("x", retainedBuffer+1)
	inner := fxZip(t, fxZipEntry{Name: "in/big.py", Body: big + "needle", Method: zip.Deflate},
		fxZipEntry{Name: "in/pad.bin", Body: big, Method: zip.Store})
	data := fxTar(t, fxFile("p/inner.zip", string(inner)))
	lim := DefaultLimits()
	lim.MaxRatio = 1 << 20
	s := fxScanner(t, lim, map[string]string{"r": `rule r { strings: $a = "needle" condition: $a }`})
	// Smaller than any one large file: the nested archive takes all of it,
	// and its own large files are read while it is held.
	b := NewBufferBudget(1 << 20)
	s.SetBudget(b)
	b.waiting = func() { t.Error("a walk holding the budget waited for more") }
	if res := s.Scan(context.Background(), "p.tar", data); res.Err != nil || len(res.Files) == 0 {
		t.Fatalf("%v, files matched %v", res.Err, res.Files)
	}
	if !b.TryAcquire(b.size) {
		t.Fatal("the scan did not give back what it took")
	}
}
