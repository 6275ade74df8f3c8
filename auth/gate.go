package auth

import (
	"context"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// gate holds calls back after a rejection that renewing could not cure, so
// that a worker with bad credentials waits instead of spinning. It is a
// small circuit breaker: open (calls pass) until a rejection closes it;
// while closed, one probe call is let through per backoff interval and the
// others wait for its outcome; an accepted probe opens it again and resets
// the backoff, a rejected probe doubles the wait (capped).
//
// Each state change increments gen. A call remembers the gen it entered
// with, so that of several calls rejected together only the first closes
// the gate (one backoff step, not one per call), and a call sent before the
// gate closed cannot reopen it by being accepted late.
//
// The gate runs on the real clock: its waits are timers, and tests make
// them short through Options rather than moving a fake clock.
type gate struct {
	mu      sync.Mutex
	bo      *backoff.ExponentialBackOff
	max     time.Duration
	closed  bool
	until   time.Time     // while closed: no probe before this
	probing bool          // while closed: a probe is in flight
	gen     uint64        // incremented on every state change
	wake    chan struct{} // closed (and replaced) on every state change
}

// ticket is a call's pass through the gate.
type ticket struct {
	gen   uint64
	probe bool
}

func newGate(bo *backoff.ExponentialBackOff, max time.Duration) *gate {
	return &gate{bo: bo, max: max, wake: make(chan struct{})}
}

// enter waits until the call may be sent: at once while the gate is open;
// while it is closed, until the call can be the probe.
func (g *gate) enter(ctx context.Context) (ticket, error) {
	for {
		g.mu.Lock()
		if !g.closed {
			t := ticket{gen: g.gen}
			g.mu.Unlock()
			return t, nil
		}
		wait := time.Until(g.until)
		if !g.probing && wait <= 0 {
			g.probing = true
			t := ticket{gen: g.gen, probe: true}
			g.mu.Unlock()
			return t, nil
		}
		// While a probe is in flight its end wakes the waiters; otherwise
		// the next probe is due after wait.
		probing, wake := g.probing, g.wake
		g.mu.Unlock()
		if err := sleep(ctx, wake, probing, wait); err != nil {
			return ticket{}, err
		}
	}
}

// sleep waits for wake, for d unless untimed, or for ctx to end.
func sleep(ctx context.Context, wake <-chan struct{}, untimed bool, d time.Duration) error {
	var timeout <-chan time.Time
	if !untimed {
		tm := time.NewTimer(d)
		defer tm.Stop()
		timeout = tm.C
	}
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-wake:
	case <-timeout:
	}
	return nil
}

// changed records a state change; the caller holds mu.
func (g *gate) changed() {
	g.gen++
	close(g.wake)
	g.wake = make(chan struct{})
}

// accept records a call that was not rejected. It reports whether the
// credentials now count as good: always while open; while closed only for
// the probe (a call sent before the gate closed says nothing new).
func (g *gate) accept(t ticket) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		return true
	}
	if !t.probe {
		return false
	}
	g.closed, g.probing = false, false
	g.bo.Reset()
	g.changed()
	return true
}

// reject records a rejected call. It returns the wait until the next probe
// and whether this call changed the state (false: another call already
// accounted for the same rejection).
func (g *gate) reject(t ticket) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.probe || (!g.closed && t.gen == g.gen) {
		d := min(g.bo.NextBackOff(), g.max)
		g.closed, g.probing = true, false
		g.until = time.Now().Add(d)
		g.changed()
		return d, true
	}
	return time.Until(g.until), false
}

// release ends a call that got no answer (a network error, a cancelled
// context): nothing is learnt about the credentials, but a probe's place
// goes to the next waiter.
func (g *gate) release(t ticket) {
	if !t.probe {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.probing = false
	g.changed()
}
