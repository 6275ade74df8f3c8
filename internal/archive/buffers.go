package archive

import (
	"golang.org/x/sync/semaphore"

	"github.com/vipyrsec/dragonfly-client-go/internal/membuf"
)

// Budget is memory shared by the stages of a daemon (a weighted semaphore).
// A scanner takes its large file buffers from it without ever waiting: a
// scanner holds a downloaded archive while it expands it, so waiting could
// deadlock against the downloads that hold the rest. What it takes makes
// the downloads wait instead, which is where waiting is safe.
type Budget interface {
	TryAcquire(n int64) bool
	Release(n int64)
}

// BufferBudget bounds the large file buffers of scanners that may wait for
// one another, as dragonfly scan's threads may: they hold nothing another
// stage needs. Without it, two threads that each reach a 100 MiB library
// at the same moment hold both at once, and the process's peak depends on
// that timing. A walk whose next large file does not fit waits for the
// other walks' files, but only while it holds none of the budget itself,
// so that nobody waits on a waiter and one file always proceeds; a walk
// that holds some (a nested archive's file) takes what is free and goes
// on. A file larger than the whole budget takes all of it.
type BufferBudget struct {
	sem     *semaphore.Weighted
	size    int64
	waiting func() // called when a walk is about to wait, for tests
}

// NewBufferBudget is a budget of size bytes.
func NewBufferBudget(size int64) *BufferBudget {
	return &BufferBudget{sem: semaphore.NewWeighted(size), size: size}
}

// TryAcquire takes n bytes (at most the whole budget) if they are free.
func (b *BufferBudget) TryAcquire(n int64) bool { return b.sem.TryAcquire(min(n, b.size)) }

// Release returns n bytes taken by TryAcquire or by a wait.
func (b *BufferBudget) Release(n int64) { b.sem.Release(min(n, b.size)) }

// retainedBuffer is the largest file buffer a walk keeps for reuse; larger
// ones are mapped per file outside the Go heap (membuf) and taken from the
// Budget. Measured on the dfbench corpus with 2 threads: 16 MiB peaked at
// 270-300 MB RSS, 4 MiB at 255-263 MB in the same time, 1 MiB at 251-259
// MB but about 5% slower (a mapping per mid-sized file).
const retainedBuffer = 4 << 20

// buffer returns the reusable buffer of depth, sized n. Buffers of a
// shallower depth stay alive while a nested archive is walked.
func (w *walker) buffer(depth int, n int64) ([]byte, error) {
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, nil)
		w.large = append(w.large, largeBuffer{})
	}
	w.releaseLarge(depth) // the previous file of this depth is done
	b := w.bufs[depth]
	if int64(cap(b)) >= n {
		return b[:n], nil
	}
	if n <= retainedBuffer {
		b = make([]byte, n)
		w.bufs[depth] = b
		return b, nil
	}
	// One huge file should not pin its size for the rest of the walk, nor
	// linger on the heap until a collection: it is mapped outside the heap
	// and unmapped when the next file of its depth starts or the walk ends.
	lb := &w.large[depth]
	if err := w.take(lb, n); err != nil {
		return nil, err
	}
	var err error
	if lb.buf, err = membuf.Alloc(int(n)); err == nil {
		lb.mapped = true
	} else {
		lb.buf = make([]byte, n) // the heap may still have room
	}
	return lb.buf, nil
}

// take counts a large buffer of n bytes against the budget, waiting on a
// BufferBudget when the walk holds none of it (see there).
func (w *walker) take(lb *largeBuffer, n int64) error {
	if w.budget == nil {
		return nil
	}
	if bb, ok := w.budget.(*BufferBudget); ok && !w.holdsBudget() {
		take := min(n, bb.size)
		if !bb.sem.TryAcquire(take) {
			if bb.waiting != nil {
				bb.waiting()
			}
			if err := bb.sem.Acquire(w.ctx, take); err != nil {
				return err
			}
		}
		lb.held = n
		return nil
	}
	if w.budget.TryAcquire(n) {
		lb.held = n
	}
	return nil
}

// holdsBudget reports whether a file of this walk holds budget.
func (w *walker) holdsBudget() bool {
	for _, lb := range w.large {
		if lb.held > 0 {
			return true
		}
	}
	return false
}

// largeBuffer is a file buffer of more than retainedBuffer bytes.
type largeBuffer struct {
	buf    []byte
	mapped bool  // buf is from membuf.Alloc, not the heap (mapping failed)
	held   int64 // bytes taken from the budget for it
}

// releaseLarge frees the large buffer of depth and returns it to the
// budget. Nothing may use the buffer afterwards: the visitor is done with
// the file (Visitor's contract) and nested walks of it have ended.
func (w *walker) releaseLarge(depth int) {
	if depth >= len(w.large) {
		return
	}
	lb := &w.large[depth]
	if lb.held > 0 {
		w.budget.Release(lb.held)
	}
	if lb.mapped {
		membuf.Free(lb.buf)
	}
	*lb = largeBuffer{}
}

func (w *walker) releaseAll() {
	for d := range w.large {
		w.releaseLarge(d)
	}
}
