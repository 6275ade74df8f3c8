package archive

import (
	"archive/zip"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
)

// budgetFlatten flattens data lending the walk b, and reports whether a
// visited file held "needle" (the scanner's tests match it with a rule).
func budgetFlatten(ctx context.Context, data []byte, lim Limits, b Budget) (needle bool, err error) {
	_, err = Flatten(ctx, data, lim, func(f *File) error {
		needle = needle || strings.Contains(string(f.Data), "needle")
		return nil
	}, Options{Budget: b})
	return needle, err
}

// A BufferBudget makes a walk that holds none of it wait for the large
// buffers of other walks (dragonfly scan's threads), so that two large
// files are not expanded at once beyond it: the walk goes on when the
// other's file is done, or fails when its context ends meanwhile.
func TestBufferBudgetMakesAWalkWait(t *testing.T) {
	big := strings.Repeat("x", retainedBuffer+1)
	data := fixture.Tar(t, fixture.File("p/one.py", big+"needle"))
	lim := DefaultLimits()
	b := NewBufferBudget(int64(len(big)) + 10)
	if !b.TryAcquire(20) { // another walk's file
		t.Fatal("an empty budget refused 20 bytes")
	}

	type result struct {
		needle bool
		err    error
	}
	waiting := make(chan struct{}, 1)
	b.waiting = func() { waiting <- struct{}{} }
	done := make(chan result)
	go func() {
		needle, err := budgetFlatten(context.Background(), data, lim, b)
		done <- result{needle, err}
	}()
	select {
	case <-waiting:
	case res := <-done:
		t.Fatalf("the walk went on with the budget spent: %v", res.err)
	}
	b.Release(20) // the other walk's file is done
	if res := <-done; res.err != nil || !res.needle {
		t.Fatalf("after the release: %v, needle seen %v", res.err, res.needle)
	}
	if !b.TryAcquire(b.size) {
		t.Fatal("the walk did not give back what it took")
	}

	ctx, cancel := context.WithCancel(context.Background())
	b.waiting = cancel // spent again: the walk waits, and is stopped
	if _, err := budgetFlatten(ctx, data, lim, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped while waiting: %v, want context.Canceled", err)
	}
	b.Release(b.size)
}

// A file larger than the whole BufferBudget takes all of it instead of
// waiting forever, and a walk that already holds some of it (a large
// nested archive) does not wait for more: the walks it could wait on may
// be waiting on it.
func TestBufferBudgetNeverDeadlocks(t *testing.T) {
	big := strings.Repeat("x", retainedBuffer+1)
	inner := fixture.Zip(t, fixture.ZipEntry{Name: "in/big.py", Body: big + "needle", Method: zip.Deflate},
		fixture.ZipEntry{Name: "in/pad.bin", Body: big, Method: zip.Store})
	data := fixture.Tar(t, fixture.File("p/inner.zip", string(inner)))
	lim := DefaultLimits()
	lim.MaxRatio = 1 << 20
	// Smaller than any one large file: the nested archive takes all of it,
	// and its own large files are read while it is held.
	b := NewBufferBudget(1 << 20)
	b.waiting = func() { t.Error("a walk holding the budget waited for more") }
	if needle, err := budgetFlatten(context.Background(), data, lim, b); err != nil || !needle {
		t.Fatalf("%v, needle seen %v", err, needle)
	}
	if !b.TryAcquire(b.size) {
		t.Fatal("the walk did not give back what it took")
	}
}
