package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Backoff shapes the waits between attempts of one call: exponential from
// Initial, capped at Max, with ±50% jitter so that many workers that failed
// together do not retry together.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// DefaultBackoff suits a mainframe behind a CDN: quick first retries, and
// never more than half a minute between attempts while a lease runs.
var DefaultBackoff = Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second}

// NewBackOff starts a sequence of waits of this shape.
func (b Backoff) NewBackOff() *backoff.ExponentialBackOff {
	e := backoff.NewExponentialBackOff()
	e.InitialInterval = b.Initial
	e.MaxInterval = b.Max
	e.Multiplier = 2
	e.RandomizationFactor = 0.5
	e.Reset()
	return e
}

// maxRetryAfter caps a server's Retry-After, so a misconfigured proxy cannot
// park a worker for hours.
const maxRetryAfter = 5 * time.Minute

// retryAfter reads a Retry-After header (seconds or an HTTP date); 0 when
// absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// Sleep waits d or until ctx ends. It refuses at once a wait that would end
// after ctx's deadline: what follows the wait could not be done in time.
func Sleep(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
