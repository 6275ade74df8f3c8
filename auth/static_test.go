package auth

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestStaticTokenHeaders(t *testing.T) {
	tests := []struct {
		header string
		want   map[string]string // header → value; "" means absent
	}{
		{"", map[string]string{"Authorization": "Bearer tok-GGG", "Cf-Access-Jwt-Assertion": "tok-GGG"}},
		{"Authorization", map[string]string{"Authorization": "Bearer tok-GGG", "Cf-Access-Jwt-Assertion": ""}},
		{"authorization", map[string]string{"Authorization": "Bearer tok-GGG", "Cf-Access-Jwt-Assertion": ""}},
		{"AUTHORIZATION", map[string]string{"Authorization": "Bearer tok-GGG", "Cf-Access-Jwt-Assertion": ""}},
		{"Cf-Access-Jwt-Assertion", map[string]string{"Authorization": "", "Cf-Access-Jwt-Assertion": "tok-GGG"}},
		{"cf-access-jwt-assertion", map[string]string{"Authorization": "", "Cf-Access-Jwt-Assertion": "tok-GGG"}},
		{"X-Api-Key", map[string]string{"Authorization": "", "Cf-Access-Jwt-Assertion": "", "X-Api-Key": "tok-GGG"}},
	}
	for _, tt := range tests {
		t.Run("header="+tt.header, func(t *testing.T) {
			var got http.Header
			m := newMainframe(t, func(_ http.ResponseWriter, r *http.Request) { got = r.Header.Clone() })
			c := mustNew(t, Config{Token: "tok-GGG", TokenHeader: tt.header}, Options{})
			if c.Kind() != Token {
				t.Fatalf("Kind = %q", c.Kind())
			}
			get(t, newClient(t, c, nil), m.URL)
			for h, v := range tt.want {
				if got.Get(h) != v {
					t.Errorf("%s = %q, want %q", h, got.Get(h), v)
				}
			}
		})
	}
}

func TestNoneAddsNothing(t *testing.T) {
	var got http.Header
	m := newMainframe(t, func(_ http.ResponseWriter, r *http.Request) { got = r.Header.Clone() })
	c := mustNew(t, Config{Mode: "none", Token: "unused"}, Options{})
	if c.Kind() != None {
		t.Fatalf("Kind = %q", c.Kind())
	}
	get(t, newClient(t, c, nil), m.URL)
	for h := range got {
		if h != "User-Agent" && h != "Accept-Encoding" {
			t.Errorf("unexpected header %s", h)
		}
	}
}

func TestTransportLeavesRequestAlone(t *testing.T) {
	m := newMainframe(t, func(http.ResponseWriter, *http.Request) {})
	for _, cfg := range []Config{{Token: "tok"}, cloudflareConfig()} {
		c := mustNew(t, cfg, Options{})
		base := &http.Transport{}
		tr := c.Transport(base)
		if _, ok := tr.(interface{ CloseIdleConnections() }); !ok {
			t.Error("the transport hides its base's CloseIdleConnections")
		}
		for range 2 { // the second Cloudflare call carries a cookie
			req, _ := http.NewRequest(http.MethodGet, m.URL, nil)
			req.Header.Set("X-Mine", "1")
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if len(req.Header) != 1 || req.Header.Get("X-Mine") != "1" {
				t.Errorf("%s: caller's headers changed: %v", c.Kind(), req.Header)
			}
		}
		base.CloseIdleConnections()
	}
}

// TestStaticRejectedIsGated: a rejected static token is not resent, makes
// the worker not ready, spaces calls out by a growing backoff instead of
// letting them spin, and one accepted call makes it ready again.
func TestStaticRejectedIsGated(t *testing.T) {
	var accept atomic.Bool
	m := newMainframe(t, func(w http.ResponseWriter, _ *http.Request) {
		if !accept.Load() {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	opts := Options{BackoffInitial: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond}
	c := mustNew(t, Config{Token: "tok-GGG"}, opts)
	cl := newClient(t, c, nil)

	// Sequential calls: each reaches the server once, after its wait.
	start := time.Now()
	for range 6 {
		if code, _ := get(t, cl, m.URL); code != 401 {
			t.Fatalf("status %d, want 401", code)
		}
	}
	elapsed := time.Since(start)
	if m.calls.Load() != 6 || c.Ready() {
		t.Fatalf("server calls %d, ready %v; want 6 (no resends), false", m.calls.Load(), c.Ready())
	}
	// Waits of 10, 20, 40, 40, 40 ms, less at most 50 % jitter: ≥ 75 ms.
	if elapsed < 75*time.Millisecond {
		t.Errorf("6 rejected calls took %v: not backing off", elapsed)
	}

	// Many callers in a loop for 300 ms: one probe per wait gets through.
	m.calls.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var attempts atomic.Int32
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				attempts.Add(1)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL, nil)
				if resp, err := cl.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	// At least 20 ms (40 ms less jitter) between probes: ≤ 15 in 300 ms.
	if n := m.calls.Load(); n < 2 || n > 16 {
		t.Errorf("server calls in 300 ms = %d (of %d attempts), want 2..16", n, attempts.Load())
	}

	accept.Store(true)
	if code, _ := get(t, cl, m.URL); code != 200 {
		t.Fatalf("status %d, want 200", code)
	}
	if !c.Ready() {
		t.Fatal("not ready after an accepted call")
	}
	// The gate is open again: calls go through at once.
	m.calls.Store(0)
	start = time.Now()
	for range 20 {
		get(t, cl, m.URL)
	}
	if m.calls.Load() != 20 {
		t.Errorf("server calls = %d, want 20", m.calls.Load())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("20 accepted calls took %v", d)
	}
}

func TestRejectionLogRateLimited(t *testing.T) {
	m := newMainframe(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) })
	core, logs := observer.New(zap.DebugLevel)
	clk := newClock()
	opts := Options{Logger: zap.New(core), Now: clk.Now, BackoffInitial: time.Millisecond, BackoffMax: time.Millisecond}
	cl := newClient(t, mustNew(t, Config{Token: "tok-GGG"}, opts), nil)
	for range 5 {
		get(t, cl, m.URL)
	}
	if n := logs.FilterMessageSnippet("rejected").Len(); n != 1 {
		t.Fatalf("warnings = %d, want 1 within a minute", n)
	}
	clk.Advance(61 * time.Second)
	get(t, cl, m.URL)
	warns := logs.FilterMessageSnippet("rejected").All()
	if len(warns) != 2 {
		t.Fatalf("warnings = %d, want 2 after a minute", len(warns))
	}
	if warns[0].Level != zap.WarnLevel || warns[0].ContextMap()["status"] != int64(403) {
		t.Errorf("warning = %v %v", warns[0].Level, warns[0].ContextMap())
	}
}

func TestIsRejection(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		code     int
		location string
		body     string
		want     bool
	}{
		{"200", "https://m.example/jobs", 200, "", "", false},
		{"401", "https://m.example/jobs", 401, "", "", true},
		{"403", "https://m.example/jobs", 403, "", "", true},
		{"404", "https://m.example/jobs", 404, "", "", false},
		{"302 login", "https://m.example/jobs", 302, "https://team.cloudflareaccess.com/cdn-cgi/access/login", "", true},
		{"302 relative", "https://m.example/jobs", 302, "/jobs?batch=1", "", false},
		{"307 trailing slash", "https://m.example/jobs/", 307, "https://m.example/jobs", "", false},
		{"301 default port", "https://m.example/jobs", 301, "https://M.EXAMPLE:443/jobs", "", false},
		{"301 other port", "https://m.example/jobs", 301, "https://m.example:8443/jobs", "", true},
		{"302 no location", "https://m.example/jobs", 302, "", "", false},
		{"500 unverifiable", "https://m.example/jobs", 500, "", `{"detail":"Unable to verify credentials"}`, true},
		{"500 other", "https://m.example/jobs", 500, "", `{"detail":"boom"}`, false},
		{"500 phrase too deep", "https://m.example/jobs", 500, "", strings.Repeat(" ", sniffLimit) + "Unable to verify credentials", false},
		{"502 unverifiable", "https://m.example/jobs", 502, "", "Unable to verify credentials", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			resp := &http.Response{StatusCode: tt.code, Header: http.Header{}, Body: http.NoBody}
			if tt.location != "" {
				resp.Header.Set("Location", tt.location)
			}
			if tt.body != "" {
				resp.Body = nopCloser(tt.body)
			}
			if got := isRejection(req, resp); got != tt.want {
				t.Errorf("isRejection = %v, want %v", got, tt.want)
			}
			if tt.body != "" {
				buf, _ := io.ReadAll(resp.Body)
				if string(buf) != tt.body {
					t.Errorf("body not restored: got %d bytes, want %d", len(buf), len(tt.body))
				}
			}
		})
	}
}

type stringBody struct{ *strings.Reader }

func (stringBody) Close() error { return nil }

func nopCloser(s string) stringBody { return stringBody{strings.NewReader(s)} }
