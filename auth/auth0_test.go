package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// okBearer answers 200 with the token it was sent.
func okBearer(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, bearerOf(r)) }

func TestAuth0TokenRequest(t *testing.T) {
	p := newIdP(t, nil)
	m := newMainframe(t, okBearer)
	c := mustNew(t, auth0Config(p), Options{Now: newClock().Now})
	if c.Kind() != Auth0 {
		t.Fatalf("Kind = %q", c.Kind())
	}
	cl := newClient(t, c, nil)
	if code, body := get(t, cl, m.URL+"/rules"); code != 200 || body != "access-1" {
		t.Fatalf("GET = %d %q, want the bearer token access-1", code, body)
	}
	want := map[string]any{
		"client_id": "client-id-AAA", "client_secret": "client-secret-BBB",
		"audience": "https://dragonfly.example", "grant_type": "password",
		"username": "user-CCC", "password": "password-DDD",
	}
	if !reflect.DeepEqual(p.bodies[0], want) {
		t.Errorf("token request body = %v\nwant %v", p.bodies[0], want)
	}
	// Cached: a second call asks the identity provider nothing.
	get(t, cl, m.URL+"/rules")
	if n := p.calls.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
}

func TestAuth0TokenResponseChecked(t *testing.T) {
	tests := []struct {
		name, status, body, errHas string
	}{
		{"no access_token", "200", `{"expires_in":60,"token_type":"Bearer"}`, "lacks access_token"},
		{"no expires_in", "200", `{"access_token":"a","token_type":"Bearer"}`, "lacks expires_in"},
		{"no token_type", "200", `{"access_token":"a","expires_in":60}`, "lacks token_type"},
		{"nothing", "200", `{}`, "lacks access_token, expires_in, token_type"},
		{"not JSON", "200", `<html>`, "not a JSON token response"},
		{"zero expiry", "200", `{"access_token":"a","expires_in":0,"token_type":"Bearer"}`, "expires_in"},
		{"other type", "200", `{"access_token":"a","expires_in":60,"token_type":"mac"}`, `token_type "mac"`},
		{"oauth error", "403", `{"error":"invalid_grant","error_description":"Wrong password password-DDD"}`, "HTTP 403 (invalid_grant)"},
		{"error code echoing junk", "401", `{"error":"password-DDD is wrong!"}`, "HTTP 401"},
		{"html error", "502", `<h1>bad gateway password-DDD</h1>`, "HTTP 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIdP(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				var code int
				fmt.Sscan(tt.status, &code)
				w.WriteHeader(code)
				fmt.Fprint(w, tt.body)
			})
			c := mustNew(t, auth0Config(p), Options{Now: newClock().Now})
			_, err := c.(*creds).scheme.(*auth0).fetch(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("fetch error = %v, want one containing %q", err, tt.errHas)
			}
			if strings.Contains(err.Error(), "password-DDD") || strings.Contains(err.Error(), "Wrong") {
				t.Errorf("error quotes the body: %v", err)
			}
		})
	}
}

func TestAuth0RenewsBeforeExpiry(t *testing.T) {
	p := newIdP(t, nil) // tokens live 3600 s; margin 60 s
	m := newMainframe(t, okBearer)
	clk := newClock()
	r := &renewals{}
	cl := newClient(t, mustNew(t, auth0Config(p), fastOptions(clk, r)), nil)

	steps := []struct {
		advance time.Duration
		token   string
	}{
		{0, "access-1"},
		{3539 * time.Second, "access-1"}, // 61 s before expiry: still cached
		{2 * time.Second, "access-2"},    // 59 s before expiry: renewed
		{3000 * time.Second, "access-2"},
		{600 * time.Second, "access-3"}, // expired long ago
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if _, body := get(t, cl, m.URL); body != s.token {
			t.Errorf("step %d: sent %q, want %q", i, body, s.token)
		}
	}
	if n := r.count("ok"); n != 3 {
		t.Errorf("renewals ok = %d, want 3", n)
	}
}

func TestAuth0MarginFitsShortTokens(t *testing.T) {
	// A 30 s token is renewed 3 s (a tenth) before expiry, not 60 s.
	p := newIdP(t, func(n int, w http.ResponseWriter, _ *http.Request) { issue(w, fmt.Sprintf("short-%d", n), 30) })
	m := newMainframe(t, okBearer)
	clk := newClock()
	cl := newClient(t, mustNew(t, auth0Config(p), fastOptions(clk, nil)), nil)
	get(t, cl, m.URL)
	clk.Advance(26 * time.Second)
	if _, body := get(t, cl, m.URL); body != "short-1" {
		t.Errorf("at 26 s sent %q, want short-1", body)
	}
	clk.Advance(2 * time.Second)
	if _, body := get(t, cl, m.URL); body != "short-2" {
		t.Errorf("at 28 s sent %q, want short-2", body)
	}
}

func TestAuth0KeepsTokenWhileRenewalFails(t *testing.T) {
	// Inside the margin, a failing identity provider does not stop calls:
	// the token has not expired yet.
	var down atomic.Bool
	p := newIdP(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		issue(w, fmt.Sprintf("access-%d", n), 3600)
	})
	m := newMainframe(t, okBearer)
	clk := newClock()
	r := &renewals{}
	c := mustNew(t, auth0Config(p), fastOptions(clk, r))
	cl := newClient(t, c, nil)
	get(t, cl, m.URL)
	down.Store(true)
	clk.Advance(3550 * time.Second)
	if _, body := get(t, cl, m.URL); body != "access-1" {
		t.Errorf("sent %q, want the old token", body)
	}
	if r.count("error") != 1 || !c.Ready() {
		t.Errorf("errors = %d, ready = %v; want 1, true", r.count("error"), c.Ready())
	}
}

// TestAuth0OneRenewalUnderConcurrency: 50 callers with no token share one
// token request.
func TestAuth0OneRenewalUnderConcurrency(t *testing.T) {
	const callers = 50
	started, release := make(chan struct{}), make(chan struct{})
	p := newIdP(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			close(started)
		}
		<-release
		issue(w, fmt.Sprintf("access-%d", n), 3600)
	})
	m := newMainframe(t, okBearer)
	waiting := make(chan struct{}, callers)
	opts := fastOptions(newClock(), nil)
	opts.hookWait = func() { waiting <- struct{}{} }
	cl := newClient(t, mustNew(t, auth0Config(p), opts), nil)

	var wg sync.WaitGroup
	bodies := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			resp, err := cl.Get(m.URL)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			bodies[i] = string(b)
		})
	}
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	defer func() { releaseAll(); wg.Wait() }()
	<-started
	for i := range callers - 1 { // everyone else waits for the one request
		select {
		case <-waiting:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d callers wait for the token request in flight", i, callers-1)
		}
	}
	releaseAll()
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || bodies[i] != "access-1" {
			t.Fatalf("caller %d: %q, %v", i, bodies[i], errs[i])
		}
	}
	if n := p.calls.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
}

// TestAuth0RenewsOnceOnRejection: each way the mainframe rejects a token
// causes one renewal and one resend; other answers cause none.
func TestAuth0RenewsOnceOnRejection(t *testing.T) {
	tests := []struct {
		name     string
		reject   func(w http.ResponseWriter, r *http.Request)
		renews   bool
		wantCode int
		wantBody string
	}{
		{"401", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) }, true, 200, "access-2"},
		{"403", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(403) }, true, 200, "access-2"},
		{"302 to another host", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Location", "https://login.example.com/cdn-cgi/access/login")
			w.WriteHeader(302)
		}, true, 200, "access-2"},
		{"307 to another port", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://127.0.0.1:1/x")
			w.WriteHeader(307)
		}, true, 200, "access-2"},
		{"500 unable to verify", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"detail":"Unable to verify credentials"}`, 500)
		}, true, 200, "access-2"},
		{"302 same host", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Location", "/jobs")
			w.WriteHeader(302)
		}, false, 302, ""},
		{"307 same host absolute", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://"+r.Host+"/jobs")
			w.WriteHeader(307)
		}, false, 307, ""},
		{"500 other", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"detail":"Internal Server Error"}`, 500)
		}, false, 500, "{\"detail\":\"Internal Server Error\"}\n"},
		{"404", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) }, false, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIdP(t, nil)
			m := newMainframe(t, func(w http.ResponseWriter, r *http.Request) {
				if bearerOf(r) == "access-1" {
					tt.reject(w, r)
					return
				}
				okBearer(w, r)
			})
			r := &renewals{}
			c := mustNew(t, auth0Config(p), fastOptions(newClock(), r))
			code, body := get(t, newClient(t, c, nil), m.URL)
			if code != tt.wantCode || body != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
			wantIdP, wantCalls := int32(1), int32(1)
			if tt.renews {
				wantIdP, wantCalls = 2, 2
			}
			if p.calls.Load() != wantIdP || m.calls.Load() != wantCalls {
				t.Errorf("token requests %d, mainframe calls %d; want %d, %d", p.calls.Load(), m.calls.Load(), wantIdP, wantCalls)
			}
			if !c.Ready() {
				t.Error("not ready after an accepted call")
			}
		})
	}
}

func TestAuth0RejectionKeepsUnverifiableBody(t *testing.T) {
	// Still rejected after renewing: the caller reads the 500 whole.
	long := strings.Repeat("x", 3*sniffLimit)
	body := `{"detail":"Unable to verify credentials"}` + long
	p := newIdP(t, nil)
	m := newMainframe(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
		fmt.Fprint(w, body)
	})
	c := mustNew(t, auth0Config(p), fastOptions(newClock(), nil))
	code, got := get(t, newClient(t, c, nil), m.URL)
	if code != 500 || got != body {
		t.Errorf("got %d and %d bytes, want 500 and the %d-byte body", code, len(got), len(body))
	}
	if c.Ready() {
		t.Error("ready after an uncured rejection")
	}
}

// TestAuth0ConcurrentRejectionsOneRenewal: ten calls rejected for the same
// token cause one renewal. The mainframe holds the ten first attempts until
// all have arrived, then answers 401 to one at a time, each only after the
// previous caller's resend was served, so that the later callers invalidate
// a token that has already been replaced.
func TestAuth0ConcurrentRejectionsOneRenewal(t *testing.T) {
	const callers = 10
	var arrived atomic.Int32
	barrier := make(chan struct{})
	turn := make(chan struct{}, 1)
	turn <- struct{}{}
	p := newIdP(t, nil)
	m := newMainframe(t, func(w http.ResponseWriter, r *http.Request) {
		if bearerOf(r) != "access-1" {
			okBearer(w, r)
			select {
			case turn <- struct{}{}:
			default:
			}
			return
		}
		if arrived.Add(1) == callers {
			close(barrier)
		}
		for _, ch := range []chan struct{}{barrier, turn} {
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				t.Error("the callers did not all use the first token")
			}
		}
		w.WriteHeader(401)
	})
	cl := newClient(t, mustNew(t, auth0Config(p), fastOptions(newClock(), nil)), nil)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if code, body := get(t, cl, m.URL); code != 200 || body != "access-2" {
				t.Errorf("got %d %q, want 200 access-2", code, body)
			}
		})
	}
	wg.Wait()
	if n := p.calls.Load(); n != 2 {
		t.Errorf("token requests = %d, want 2 (one renewal for all rejections)", n)
	}
}

func TestAuth0ResendsBody(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	p := newIdP(t, nil)
	m := newMainframe(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, bearerOf(r)+" "+string(b))
		mu.Unlock()
		if bearerOf(r) == "access-1" {
			w.WriteHeader(401)
		}
	})
	c := mustNew(t, auth0Config(p), fastOptions(newClock(), nil))
	cl := newClient(t, c, nil)

	// A replayable body (GetBody set by NewRequest) is resent.
	req, _ := http.NewRequest(http.MethodPut, m.URL+"/package", strings.NewReader(`{"name":"a"}`))
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(seen) != 2 || seen[1] != `access-2 {"name":"a"}` {
		t.Fatalf("status %d, mainframe saw %q", resp.StatusCode, seen)
	}

	// A body that cannot be had again: the rejection goes back to the
	// caller, the body is closed, and the next call uses a new token.
	p2 := newIdP(t, nil)
	m2 := newMainframe(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if bearerOf(r) == "access-1" {
			w.WriteHeader(401)
		}
	})
	c2 := mustNew(t, auth0Config(p2), fastOptions(newClock(), nil))
	cl2 := newClient(t, c2, nil)
	cb := &closeRecorder{Reader: strings.NewReader("once")}
	req, _ = http.NewRequest(http.MethodPut, m2.URL+"/package", cb)
	req.GetBody = nil
	resp, err = cl2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || m2.calls.Load() != 1 || !cb.closed.Load() {
		t.Errorf("status %d, calls %d, closed %v; want 401, 1, true", resp.StatusCode, m2.calls.Load(), cb.closed.Load())
	}
	if !c2.Ready() {
		t.Error("not ready, though renewing was not tried yet")
	}
	if code, _ := get(t, cl2, m2.URL); code != 200 {
		t.Errorf("next call = %d, want 200 with a renewed token", code)
	}
}

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

// TestAuth0StillRejected: a rejection renewing does not cure is handed back,
// makes the worker not ready, and gates later calls until one is accepted.
func TestAuth0StillRejected(t *testing.T) {
	var accept atomic.Bool
	p := newIdP(t, nil)
	m := newMainframe(t, func(w http.ResponseWriter, r *http.Request) {
		if !accept.Load() {
			w.WriteHeader(401)
			return
		}
		okBearer(w, r)
	})
	r := &renewals{}
	c := mustNew(t, auth0Config(p), fastOptions(newClock(), r))
	cl := newClient(t, c, nil)
	if code, _ := get(t, cl, m.URL); code != 401 {
		t.Fatalf("status %d, want 401", code)
	}
	if c.Ready() || m.calls.Load() != 2 || p.calls.Load() != 2 || r.count("ok") != 2 {
		t.Fatalf("ready %v, calls %d, token requests %d, renewals %v", c.Ready(), m.calls.Load(), p.calls.Load(), r.got)
	}
	accept.Store(true)
	if code, _ := get(t, cl, m.URL); code != 200 {
		t.Fatalf("status %d, want 200", code)
	}
	if !c.Ready() {
		t.Error("not ready after an accepted call")
	}
}

func TestAuth0IdPDownThenUp(t *testing.T) {
	const failures = 4
	p := newIdP(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= failures {
			http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		issue(w, "access-ok", 3600)
	})
	m := newMainframe(t, okBearer)
	r := &renewals{}
	opts := fastOptions(newClock(), r)
	opts.BackoffInitial, opts.BackoffMax = 4*time.Millisecond, 16*time.Millisecond
	c := mustNew(t, auth0Config(p), opts)
	cl := newClient(t, c, nil)

	start := time.Now()
	req, _ := http.NewRequestWithContext(ctxTimeout(t, 10*time.Second), http.MethodGet, m.URL, nil)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	if string(b) != "access-ok" {
		t.Errorf("sent %q", b)
	}
	if p.calls.Load() != failures+1 || r.count("error") != failures || r.count("ok") != 1 {
		t.Errorf("token requests %d, renewals %v", p.calls.Load(), r.got)
	}
	// Waits of 4, 8, 16, 16 ms with ±50 % jitter: at least 22 ms in all.
	if minWait := 22 * time.Millisecond; elapsed < minWait {
		t.Errorf("took %v, less than the backoff's %v: no backoff", elapsed, minWait)
	}
	if !c.Ready() {
		t.Error("not ready after an accepted call")
	}
}

func TestAuth0IdPDownIsBounded(t *testing.T) {
	p := newIdP(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"server_error"}`, http.StatusServiceUnavailable)
	})
	m := newMainframe(t, okBearer)
	opts := fastOptions(newClock(), nil)
	opts.BackoffInitial, opts.BackoffMax = 10*time.Millisecond, 40*time.Millisecond
	c := mustNew(t, auth0Config(p), opts)
	cl := newClient(t, c, nil)

	// Eight callers for 200 ms: without a shared backoff they would ask
	// thousands of times; with it, about a dozen.
	var wg sync.WaitGroup
	ctx := ctxTimeout(t, 200*time.Millisecond)
	for range 8 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL, nil)
			_, err := cl.Do(req)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "HTTP 503 (server_error)") {
				t.Errorf("error = %v, want the deadline and the last failure", err)
			}
		})
	}
	wg.Wait()
	if n := p.calls.Load(); n < 2 || n > 20 {
		t.Errorf("token requests = %d in 200 ms, want 2..20", n)
	}
	if m.calls.Load() != 0 || c.Ready() {
		t.Errorf("mainframe calls %d, ready %v; want 0, false", m.calls.Load(), c.Ready())
	}
}

func TestAuth0CancelReturnsPromptly(t *testing.T) {
	tests := []struct {
		name string
		idp  func(w http.ResponseWriter, r *http.Request)
	}{
		{"waiting for the backoff", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }},
		{"identity provider hangs", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked := make(chan struct{}, 10)
			p := newIdP(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				asked <- struct{}{}
				tt.idp(w, r)
			})
			m := newMainframe(t, okBearer)
			opts := fastOptions(newClock(), nil)
			opts.BackoffInitial, opts.BackoffMax = time.Hour, time.Hour
			cl := newClient(t, mustNew(t, auth0Config(p), opts), nil)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL, nil)
				resp, err := cl.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			<-asked
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("error = %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("RoundTrip did not return after its context was cancelled")
			}
			if n := p.calls.Load(); n != 1 {
				t.Errorf("token requests = %d, want 1", n)
			}
		})
	}
}
