package auth

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// edge is a fake Cloudflare Access edge in front of the mainframe. A call
// with a known, unrevoked, unexpired cookie passes; a call with another
// cookie is sent to the login page (or rejected, as reject says); a call
// with the service token and no cookie passes and gets a new cookie.
type edge struct {
	*mainframe
	clk *clock

	mu      sync.Mutex
	issued  int
	revoked map[string]bool
	exp     map[string]time.Time
	cookies []string // the cookie each call carried ("" for none)
	reject  func(w http.ResponseWriter)
}

func newEdge(t *testing.T, clk *clock) *edge {
	e := &edge{clk: clk, revoked: map[string]bool{}, exp: map[string]time.Time{}}
	e.reject = func(w http.ResponseWriter) {
		w.Header().Set("Location", "https://vipyrsec.cloudflareaccess.com/cdn-cgi/access/login/dragonfly.vipyrsec.com")
		w.WriteHeader(http.StatusFound)
	}
	e.mainframe = newMainframe(t, e.serve)
	return e
}

func (e *edge) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ck, err := r.Cookie(cfCookie)
	val := ""
	if err == nil {
		val = ck.Value
	}
	e.cookies = append(e.cookies, val)
	if val != "" {
		if exp, ok := e.exp[val]; ok && !e.revoked[val] && e.clk.Now().Before(exp) {
			fmt.Fprint(w, "via cookie")
			return
		}
		e.reject(w)
		return
	}
	if r.Header.Get("CF-Access-Client-Id") != "cf-id-EEE" || r.Header.Get("CF-Access-Client-Secret") != "cf-secret-FFF" {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	e.issued++
	id := fmt.Sprintf("jwt%d", e.issued)
	exp := e.clk.Now().Add(time.Hour)
	tok := jwt(exp, id)
	e.exp[tok] = exp
	http.SetCookie(w, &http.Cookie{Name: cfCookie, Value: tok, Path: "/", HttpOnly: true, Secure: true})
	fmt.Fprint(w, "via service token "+id)
}

func cloudflareConfig() Config {
	return Config{Mode: "cloudflare", ClientID: "cf-id-EEE", ClientSecret: "cf-secret-FFF"}
}

func TestCloudflareCookieLifecycle(t *testing.T) {
	clk := newClock()
	e := newEdge(t, clk)
	r := &renewals{}
	c := mustNew(t, cloudflareConfig(), fastOptions(clk, r))
	if c.Kind() != Cloudflare {
		t.Fatalf("Kind = %q", c.Kind())
	}
	cl := newClient(t, c, nil)

	steps := []struct {
		advance time.Duration
		body    string
	}{
		{0, "via service token jwt1"},               // no cookie yet: one is handed out
		{0, "via cookie"},                           // and sent back
		{3539 * time.Second, "via cookie"},          // 61 s before exp
		{2 * time.Second, "via service token jwt2"}, // 59 s before exp: dropped
		{0, "via cookie"},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if code, body := get(t, cl, e.URL); code != 200 || body != s.body {
			t.Errorf("step %d: %d %q, want %q", i, code, body, s.body)
		}
	}
	if n := r.count("ok"); n != 2 {
		t.Errorf("renewals = %v, want two ok", r.got)
	}
	if e.calls.Load() != int32(len(steps)) {
		t.Errorf("edge calls = %d, want %d", e.calls.Load(), len(steps))
	}
}

func TestCloudflareRenewsOnRejection(t *testing.T) {
	tests := []struct {
		name   string
		reject func(w http.ResponseWriter)
	}{
		{"302 to login", nil},
		{"403", func(w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) }},
		{"401", func(w http.ResponseWriter) { w.WriteHeader(http.StatusUnauthorized) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			e := newEdge(t, clk)
			if tt.reject != nil {
				e.reject = tt.reject
			}
			r := &renewals{}
			c := mustNew(t, cloudflareConfig(), fastOptions(clk, r))
			cl := newClient(t, c, nil)
			get(t, cl, e.URL) // earns jwt1
			for tok := range e.exp {
				e.revoked[tok] = true // the edge forgets it (e.g. a policy change)
			}
			if code, body := get(t, cl, e.URL); code != 200 || body != "via service token jwt2" {
				t.Fatalf("got %d %q, want a renewal through the service token", code, body)
			}
			if code, body := get(t, cl, e.URL); code != 200 || body != "via cookie" {
				t.Errorf("got %d %q, want the new cookie", code, body)
			}
			if e.calls.Load() != 4 || r.count("ok") != 2 || !c.Ready() {
				t.Errorf("edge calls %d, renewals %v, ready %v", e.calls.Load(), r.got, c.Ready())
			}
		})
	}
}

func TestCloudflareServiceTokenRejected(t *testing.T) {
	clk := newClock()
	e := newEdge(t, clk)
	cfg := cloudflareConfig()
	cfg.ClientSecret = "wrong-secret"
	r := &renewals{}
	c := mustNew(t, cfg, fastOptions(clk, r))
	if code, _ := get(t, newClient(t, c, nil), e.URL); code != http.StatusForbidden {
		t.Fatalf("status %d, want 403", code)
	}
	if c.Ready() || e.calls.Load() != 2 || r.count("error") != 1 {
		t.Errorf("ready %v, edge calls %d, renewals %v; want false, 2 (one resend), one error", c.Ready(), e.calls.Load(), r.got)
	}
}

func TestCloudflareCookieDeletedOrBad(t *testing.T) {
	clk := newClock()
	var set []*http.Cookie
	var mu sync.Mutex
	var got []string
	m := newMainframe(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if ck, err := r.Cookie(cfCookie); err == nil {
			got = append(got, ck.Value)
		} else {
			got = append(got, "")
		}
		if len(set) > 0 {
			http.SetCookie(w, set[0])
			set = set[1:]
		}
	})
	good := jwt(clk.Now().Add(time.Hour), "good")
	set = []*http.Cookie{
		{Name: cfCookie, Value: good},
		{Name: cfCookie, Value: "", MaxAge: -1}, // the edge deletes it
		{Name: cfCookie, Value: "not-a-jwt"},
		{Name: cfCookie, Value: jwt(clk.Now().Add(-time.Minute), "expired")},
	}
	cl := newClient(t, mustNew(t, cloudflareConfig(), fastOptions(clk, nil)), nil)
	for range 5 {
		get(t, cl, m.URL)
	}
	want := []string{"", good, "", "", ""}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d sent cookie %q, want %q", i, got[i], want[i])
		}
	}
}

func TestJWTExpiry(t *testing.T) {
	exp := time.Unix(1750000000, 0)
	if got, err := jwtExpiry(jwt(exp, "x")); err != nil || !got.Equal(exp) {
		t.Errorf("jwtExpiry = %v, %v", got, err)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a." + "e30" + ".c", "a.eyJleHAiOiJ4In0.c"} {
		if _, err := jwtExpiry(bad); err == nil {
			t.Errorf("jwtExpiry(%q) accepted", bad)
		}
	}
}
