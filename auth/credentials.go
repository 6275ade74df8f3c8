package auth

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
)

// Credentials authenticate the worker's calls to the mainframe.
type Credentials interface {
	// Kind says which way of authenticating is in use.
	Kind() Kind
	// Transport wraps base (nil: http.DefaultTransport) so that every call
	// carries the credentials, rejected ones are renewed and the call resent
	// once, and calls wait (backoff) while the credentials stay rejected.
	// The client above it must not follow redirects: a redirect to another
	// host is how the Cloudflare edge rejects a call.
	Transport(base http.RoundTripper) http.RoundTripper
	// Ready is false after a rejection renewing could not cure, and while the
	// identity provider fails with no usable token; true again after the
	// next accepted call. /readyz reports it.
	Ready() bool
}

// Options tune Credentials; the zero value is right for production.
type Options struct {
	// Logger receives warnings about rejections and identity provider
	// failures (never a secret). Nil: no logs.
	Logger *zap.Logger
	// HTTPClient calls the identity provider (Auth0). Nil: a client with a
	// 30 s timeout.
	HTTPClient *http.Client
	// OnRenewal is called after each renewal with "ok" or "error"
	// (dragonfly_credential_renewals_total{outcome}).
	OnRenewal func(outcome string)
	// BackoffInitial and BackoffMax bound the waits after an identity
	// provider failure and after a rejection that renewing did not cure: the
	// wait starts at BackoffInitial and doubles, with jitter, up to
	// BackoffMax. Defaults 1 s and 5 min.
	BackoffInitial, BackoffMax time.Duration
	// Margin renews a token (or drops a Cloudflare cookie) this long before
	// it expires, but at most a tenth of its lifetime, so that short-lived
	// tokens are still used for most of their life. Default 60 s.
	Margin time.Duration
	// Now is the clock that expiry is measured with. Nil: time.Now.
	Now func() time.Time

	// hookWait, for tests, runs when a call starts waiting for a token
	// request that another call has in flight.
	hookWait func()
}

// Defaults of Options.
const (
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	DefaultMargin         = 60 * time.Second
	defaultIdPTimeout     = 30 * time.Second
	// rejectionLogEvery rate-limits the warning about rejected credentials.
	rejectionLogEvery = time.Minute
)

// scheme is what differs between the kinds of credentials.
type scheme interface {
	// authorize puts the credential on out, a clone the transport owns, and
	// returns a handle of the credential used, so that a rejection
	// invalidates that credential only (nil: nothing renewable was used).
	authorize(ctx context.Context, out *http.Request) (used any, err error)
	// observe sees every response (the Cloudflare edge hands out its cookie).
	observe(resp *http.Response)
	// invalidate forgets used if it is still the current credential, so
	// that calls rejected together cause one renewal.
	invalidate(used any)
	// renewable reports whether resending after invalidate can help.
	renewable() bool
}

// creds is the one implementation of Credentials: a scheme plus the parts
// every kind shares (the rejection gate, readiness, logging, the clock).
type creds struct {
	kind      Kind
	scheme    scheme
	log       *zap.Logger
	now       func() time.Time
	margin    time.Duration
	onRenewal func(string)
	gate      *gate
	ready     atomic.Bool

	warnMu   sync.Mutex
	lastWarn time.Time
}

// New builds the credentials cfg asks for. Its errors are configuration
// errors (ErrConfig).
func New(cfg Config, opts Options) (Credentials, error) {
	kind, err := cfg.Resolve()
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	c := &creds{
		kind:      kind,
		log:       opts.Logger.With(zap.String("auth", string(kind))),
		now:       opts.Now,
		margin:    opts.Margin,
		onRenewal: opts.OnRenewal,
		gate:      newGate(newBackoff(opts), opts.BackoffMax),
	}
	c.ready.Store(true)
	switch kind {
	case Auth0:
		c.scheme, err = newAuth0(c, cfg, opts)
		if err != nil {
			return nil, err
		}
	case Cloudflare:
		c.scheme = &cloudflare{c: c, id: cfg.ClientID, secret: cfg.ClientSecret}
	case Token:
		c.scheme = static{token: cfg.Token, header: cfg.TokenHeader}
	case None:
		c.scheme = none{}
	default:
		return nil, fmt.Errorf("%w: unknown kind %q", ErrConfig, kind)
	}
	return c, nil
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: defaultIdPTimeout}
	}
	if o.OnRenewal == nil {
		o.OnRenewal = func(string) {}
	}
	if o.BackoffInitial <= 0 {
		o.BackoffInitial = DefaultBackoffInitial
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.BackoffMax < o.BackoffInitial {
		o.BackoffMax = o.BackoffInitial
	}
	if o.Margin <= 0 {
		o.Margin = DefaultMargin
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// newBackoff is the doubling, jittered (±50 %) backoff both the identity
// provider retries and the rejection gate use. cenkalti/backoff supplies
// the arithmetic; the waiting is ours, because waiters share one schedule
// (the next allowed attempt) rather than each retrying on its own.
func newBackoff(o Options) *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     o.BackoffInitial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         o.BackoffMax,
	}
	b.Reset()
	return b
}

func (c *creds) Kind() Kind  { return c.kind }
func (c *creds) Ready() bool { return c.ready.Load() }

func (c *creds) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{c: c, base: base}
}

// marginFor is the renewal margin of a credential that lives for lifetime:
// Options.Margin, but at most a tenth of the lifetime.
func (c *creds) marginFor(lifetime time.Duration) time.Duration {
	return max(0, min(c.margin, lifetime/10))
}

// renewed counts a renewal for the metric hook.
func (c *creds) renewed(ok bool) {
	if ok {
		c.onRenewal("ok")
	} else {
		c.onRenewal("error")
	}
}

// warnRejected logs a rejection at most once a minute: a worker whose
// token was revoked would otherwise write a line per call.
func (c *creds) warnRejected(status int, retryIn time.Duration) {
	c.warnMu.Lock()
	now := c.now()
	if !c.lastWarn.IsZero() && now.Sub(c.lastWarn) < rejectionLogEvery {
		c.warnMu.Unlock()
		return
	}
	c.lastWarn = now
	c.warnMu.Unlock()
	msg := "mainframe rejected the credentials after renewing them; waiting before the next call"
	switch {
	case c.kind == None:
		msg = "mainframe asks for credentials, but DRAGONFLY_AUTH_MODE is none; waiting before the next call"
	case !c.scheme.renewable():
		msg = "mainframe rejected the static token, which cannot be renewed; check it. Waiting before the next call"
	}
	c.log.Warn(msg, zap.Int("status", status), zap.Duration("retry_in", retryIn))
}
