package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
)

// maxTokenResponse bounds the read of the identity provider's answer.
const maxTokenResponse = 1 << 20

// auth0 gets bearer tokens with the Auth0 password grant and caches one.
//
// The cache is a small mutex-guarded struct rather than oauth2's
// ReuseTokenSourceWithExpiry. That one caches and renews before expiry, but
// it cannot be told that the mainframe rejected its token (a 401 after a key
// rotation, or the 2023 server's 500 "Unable to verify credentials"), so
// invalidating would mean swapping the whole source; it also serialises
// every caller behind the renewal, with no shared backoff after a failing
// identity provider and no way for a waiting caller's context to end the
// wait. Neither can oauth2's password grant send Auth0's `audience`, so the
// token request is written here; with it, x/oauth2 would bring nothing.
//
// One renewal is in flight at a time (flight); other callers wait for it or,
// while the held token has not yet expired, keep using it. After a failure
// nobody asks the identity provider again before notBefore, which follows
// cenkalti/backoff's doubling, jittered schedule.
type auth0 struct {
	c        *creds
	client   *http.Client
	url      string
	body     []byte // the token request; it holds secrets, so it is never logged
	hookWait func()

	mu        sync.Mutex
	tok       *bearer       // nil: none held
	flight    chan struct{} // non-nil while a token request runs; closed when it ends
	notBefore time.Time     // real time: no token request before this
	lastErr   error         // the last token request's failure, for waiters' errors
	bo        *backoff.ExponentialBackOff
	max       time.Duration
}

// bearer is a cached access token; its pointer identifies it for invalidate.
type bearer struct {
	value     Secret
	renewAt   time.Time // Options.Now clock
	expiresAt time.Time
}

func newAuth0(c *creds, cfg Config, opts Options) (*auth0, error) {
	u, err := tokenURL(cfg.Auth0Domain)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]string{
		"client_id":     cfg.ClientID.Reveal(),
		"client_secret": cfg.ClientSecret.Reveal(),
		"audience":      cfg.Audience,
		"grant_type":    "password",
		"username":      cfg.Username.Reveal(),
		"password":      cfg.Password.Reveal(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: encoding the token request: %v", ErrConfig, err)
	}
	return &auth0{c: c, client: opts.HTTPClient, url: u, body: body, hookWait: opts.hookWait,
		bo: newBackoff(opts), max: opts.BackoffMax}, nil
}

func (a *auth0) authorize(ctx context.Context, out *http.Request) (any, error) {
	t, err := a.token(ctx)
	if err != nil {
		return nil, err
	}
	out.Header.Set("Authorization", "Bearer "+t.value.Reveal())
	return t, nil
}

func (*auth0) observe(*http.Response) {}
func (*auth0) renewable() bool        { return true }

// invalidate drops the rejected token unless another caller already
// replaced it, so that calls rejected together cause one renewal.
func (a *auth0) invalidate(used any) {
	t, _ := used.(*bearer)
	a.mu.Lock()
	if t != nil && a.tok == t {
		a.tok = nil
	}
	a.mu.Unlock()
}

// token returns a token to send: the cached one until its renewal time;
// then one renewal shared by all callers. While a renewal runs or the
// identity provider is in its backoff, a token that has not yet expired is
// still used; with none, callers wait for the next allowed attempt or for
// their context to end.
func (a *auth0) token(ctx context.Context) (*bearer, error) {
	for {
		a.mu.Lock()
		now := a.c.now()
		held := a.tok
		if held != nil && now.Before(held.renewAt) {
			a.mu.Unlock()
			return held, nil
		}
		usable := held != nil && now.Before(held.expiresAt)
		if a.flight != nil || time.Now().Before(a.notBefore) {
			if usable {
				a.mu.Unlock()
				return held, nil
			}
			flight, wait, lastErr := a.flight, time.Until(a.notBefore), a.lastErr
			a.mu.Unlock()
			if err := a.wait(ctx, flight, wait); err != nil {
				if lastErr != nil {
					return nil, fmt.Errorf("auth0: no token (last attempt: %w): %w", lastErr, err)
				}
				return nil, fmt.Errorf("auth0: waiting for a token: %w", err)
			}
			continue
		}
		flight := make(chan struct{})
		a.flight = flight
		a.mu.Unlock()

		t, err := a.fetch(ctx)

		a.mu.Lock()
		a.flight = nil
		close(flight)
		if err == nil {
			a.tok, a.lastErr, a.notBefore = t, nil, time.Time{}
			a.bo.Reset()
			a.mu.Unlock()
			a.c.renewed(true)
			a.c.log.Debug("got a token from the identity provider", zap.Time("renew_at", t.renewAt))
			return t, nil
		}
		if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
			// Our caller gave up; the identity provider is not to blame,
			// and the next waiter may try at once.
			lastErr := a.lastErr
			a.mu.Unlock()
			if lastErr != nil {
				return nil, fmt.Errorf("%w (attempt before: %w)", err, lastErr)
			}
			return nil, err
		}
		d := min(a.bo.NextBackOff(), a.max)
		a.notBefore, a.lastErr = time.Now().Add(d), err
		// The held token, unless a rejection dropped it meanwhile, serves
		// until it expires.
		usable = usable && a.tok == held
		a.mu.Unlock()
		a.c.renewed(false)
		a.c.log.Warn("identity provider did not issue a token; retrying later",
			zap.Error(err), zap.Duration("retry_in", d), zap.Bool("using_previous_token", usable))
		if usable {
			return held, nil
		}
		a.c.ready.Store(false)
	}
}

// wait blocks until flight ends (when non-nil), else for d, or until ctx ends.
func (a *auth0) wait(ctx context.Context, flight chan struct{}, d time.Duration) error {
	if flight != nil {
		if a.hookWait != nil {
			a.hookWait()
		}
		return sleep(ctx, flight, true, 0)
	}
	return sleep(ctx, nil, false, d)
}

// tokenResponse is Auth0's answer; pointers tell a missing field from a
// zero one.
type tokenResponse struct {
	AccessToken *string      `json:"access_token"`
	ExpiresIn   *json.Number `json:"expires_in"`
	TokenType   *string      `json:"token_type"`
}

// fetch makes one token request. Its errors name the HTTP status and the
// OAuth error code at most: never the body, which may echo what was sent.
func (a *auth0) fetch(ctx context.Context) (*bearer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(a.body))
	if err != nil {
		return nil, fmt.Errorf("auth0 token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	start := a.c.now()
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth0 token request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return nil, fmt.Errorf("auth0 token request: reading the answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		if code := oauthErrorCode(raw); code != "" {
			return nil, fmt.Errorf("auth0 token request: identity provider answered HTTP %d (%s)", resp.StatusCode, code)
		}
		return nil, fmt.Errorf("auth0 token request: identity provider answered HTTP %d", resp.StatusCode)
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		return nil, errors.New("auth0 token request: the answer is not a JSON token response")
	}
	var missing []string
	if tr.AccessToken == nil || *tr.AccessToken == "" {
		missing = append(missing, "access_token")
	}
	if tr.ExpiresIn == nil {
		missing = append(missing, "expires_in")
	}
	if tr.TokenType == nil || *tr.TokenType == "" {
		missing = append(missing, "token_type")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("auth0 token request: the answer lacks %s", strings.Join(missing, ", "))
	}
	if !strings.EqualFold(*tr.TokenType, "bearer") {
		return nil, fmt.Errorf("auth0 token request: token_type %q is not Bearer", oauthCode(*tr.TokenType))
	}
	secs, err := tr.ExpiresIn.Float64()
	if err != nil || secs <= 0 {
		return nil, errors.New("auth0 token request: expires_in is not a positive number")
	}
	life := time.Duration(secs * float64(time.Second))
	// Measured from when the request was sent, so the token is never
	// thought to live longer than it does.
	expires := start.Add(life)
	return &bearer{
		value:     Secret(*tr.AccessToken),
		renewAt:   expires.Add(-a.c.marginFor(life)),
		expiresAt: expires,
	}, nil
}

// oauthErrorCode returns the `error` member of an OAuth error answer, if it
// looks like an error code (RFC 6749 § 5.2), else "".
func oauthErrorCode(raw []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return ""
	}
	return oauthCode(e.Error)
}

// oauthCode keeps s only when it is short and made of the characters of an
// error code, so that an answer echoing a credential cannot pass through.
func oauthCode(s string) string {
	if len(s) == 0 || len(s) > 64 {
		return ""
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return ""
		}
	}
	return s
}
