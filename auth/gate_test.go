package auth

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	const initial = 100 * time.Millisecond
	g := newGate(newBackoff(Options{BackoffInitial: initial, BackoffMax: 4 * initial}), 4*initial)
	bg := context.Background()

	// Open: calls pass, none is a probe.
	a, err := g.enter(bg)
	if err != nil || a.probe {
		t.Fatalf("enter on an open gate = %+v, %v", a, err)
	}
	b, _ := g.enter(bg)

	// Two calls rejected together close the gate once: one backoff step.
	d1, first := g.reject(a)
	if !first || d1 < initial/2 || d1 > initial*3/2 {
		t.Fatalf("first reject = %v, %v; want the initial wait", d1, first)
	}
	if _, counted := g.reject(b); counted {
		t.Error("a second rejection of the same generation counted again")
	}
	// A call sent before the gate closed, accepted late, does not open it.
	if g.accept(b) {
		t.Error("a stale acceptance opened the gate")
	}

	// Closed: nobody passes before the wait is over.
	short, cancel := context.WithTimeout(bg, 10*time.Millisecond)
	defer cancel()
	if _, err := g.enter(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("enter during the wait = %v, want the deadline", err)
	}
	// Then one probe passes; another caller waits for its outcome.
	p, err := g.enter(bg)
	if err != nil || !p.probe {
		t.Fatalf("enter after the wait = %+v, %v; want the probe", p, err)
	}
	// While the probe is out, nobody else passes, though the wait is over.
	short2, cancel2 := context.WithTimeout(bg, 10*time.Millisecond)
	defer cancel2()
	if tk, err := g.enter(short2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("enter while probing = %+v, %v; want to wait", tk, err)
	}
	waiter := make(chan ticket, 1)
	go func() {
		tk, _ := g.enter(bg)
		waiter <- tk
	}()

	// A rejected probe closes the gate for a longer wait.
	d2, counted := g.reject(p)
	if !counted || d2 < initial {
		t.Errorf("rejected probe = %v, %v; want a doubled wait", d2, counted)
	}
	// The waiter becomes the next probe once that wait is over.
	start := time.Now()
	p2 := <-waiter
	if !p2.probe || time.Since(start) < d2/2 {
		t.Errorf("next probe %+v after %v, want a probe after about %v", p2, time.Since(start), d2)
	}
	// A probe that got no answer hands its place on.
	g.release(p2)
	p3, _ := g.enter(bg)
	if !p3.probe {
		t.Fatal("no probe after a released one")
	}
	// An accepted probe opens the gate and resets the backoff.
	if !g.accept(p3) {
		t.Fatal("accepted probe did not count")
	}
	if tk, err := g.enter(bg); err != nil || tk.probe {
		t.Errorf("enter after acceptance = %+v, %v", tk, err)
	} else if d, _ := g.reject(tk); d > initial*3/2 {
		t.Errorf("wait after reset = %v, want the initial wait again", d)
	}
}
