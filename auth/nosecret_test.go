package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNoSecretInLogsOrErrors runs every kind of credentials through
// success, renewal, rejection and identity provider failure with a logger
// that keeps every line at every level, and checks that no secret (the
// configured ones, the issued tokens, the Cloudflare cookie) appears in the
// logs, in an error, in a metric label or in a printed configuration.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	secrets := []string{
		"client-id-AAA", "client-secret-BBB", "user-CCC", "password-DDD",
		"cf-id-EEE", "cf-secret-FFF", "tok-GGG", "issued-HHH", "jwt-III",
	}
	buf := &bufferLogger{}
	var errsMu sync.Mutex
	var errs []string
	record := func(err error) {
		if err != nil {
			errsMu.Lock()
			errs = append(errs, err.Error())
			errsMu.Unlock()
		}
	}
	labels := &renewals{}
	opts := func(clk *clock) Options {
		return Options{Logger: buf.Logger(), OnRenewal: labels.hook, Now: clk.Now,
			BackoffInitial: time.Millisecond, BackoffMax: 2 * time.Millisecond}
	}
	call := func(cl *http.Client, url string, d time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"x":1}`))
		resp, err := cl.Do(req)
		record(err)
		if err == nil {
			resp.Body.Close()
		}
	}

	t.Run("auth0", func(t *testing.T) {
		// The identity provider first fails, echoing the request, then
		// issues tokens; the mainframe rejects the first token, accepts the
		// second, then rejects everything.
		var idpDown atomic.Bool
		idpDown.Store(true)
		var issued atomic.Int32
		p := newIdP(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			if idpDown.Load() {
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprintf(w, `{"error":"invalid_grant","error_description":"bad password-DDD for user-CCC (client-secret-BBB)"}`)
				return
			}
			issue(w, fmt.Sprintf("issued-HHH-%d", issued.Add(1)), 3600)
		})
		var mode atomic.Int32 // 0: reject the first token issued; 1: reject all
		m := newMainframe(t, func(w http.ResponseWriter, r *http.Request) {
			tok := bearerOf(r)
			if mode.Load() == 1 || tok == "issued-HHH-1" {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprintf(w, `{"detail":"bad token %s"}`, tok)
				return
			}
		})
		clk := newClock()
		c := mustNew(t, auth0Config(p), opts(clk))
		cl := newClient(t, c, nil)
		call(cl, m.URL, 30*time.Millisecond) // IdP failing: the call times out
		idpDown.Store(false)
		call(cl, m.URL, 5*time.Second) // issued-HHH-1 rejected, -2 accepted
		if p.calls.Load() < 3 || !c.Ready() {
			t.Fatalf("token requests %d, ready %v: the renewal path did not run", p.calls.Load(), c.Ready())
		}
		clk.Advance(time.Hour) // renewal before expiry
		call(cl, m.URL, 5*time.Second)
		mode.Store(1)
		call(cl, m.URL, 5*time.Second) // rejected after renewal
		call(cl, m.URL, 5*time.Second) // gated, rejected again
		_, err := c.(*creds).scheme.(*auth0).fetch(context.Background())
		record(err)
	})

	t.Run("cloudflare", func(t *testing.T) {
		clk := newClock()
		var n atomic.Int32
		var revoke atomic.Bool
		m := newMainframe(t, func(w http.ResponseWriter, r *http.Request) {
			if ck, err := r.Cookie(cfCookie); err == nil && revoke.Load() {
				w.Header().Set("Location", "https://login.example.com/?token="+ck.Value)
				w.WriteHeader(http.StatusFound)
				return
			}
			if r.Header.Get("CF-Access-Client-Secret") != "cf-secret-FFF" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: cfCookie, Value: jwt(clk.Now().Add(time.Hour), fmt.Sprintf("jwt-III-%d", n.Add(1)))})
		})
		cfg := Config{Mode: "cloudflare", ClientID: "cf-id-EEE", ClientSecret: "cf-secret-FFF"}
		c := mustNew(t, cfg, opts(clk))
		cl := newClient(t, c, nil)
		call(cl, m.URL, 5*time.Second)
		call(cl, m.URL, 5*time.Second)
		clk.Advance(2 * time.Hour)
		call(cl, m.URL, 5*time.Second)
		revoke.Store(true)
		call(cl, m.URL, 5*time.Second) // 302 to login: renewed
		bad := mustNew(t, Config{Mode: "cloudflare", ClientID: "cf-id-EEE", ClientSecret: "client-secret-BBB"}, opts(clk))
		call(newClient(t, bad, nil), m.URL, 5*time.Second) // rejected service token
	})

	t.Run("token and none", func(t *testing.T) {
		m := newMainframe(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Key") != "" || r.Header.Get("Authorization") == "" {
				w.WriteHeader(http.StatusUnauthorized)
			}
		})
		clk := newClock()
		for _, h := range []string{"", "authorization", "X-Key"} {
			c := mustNew(t, Config{Token: "tok-GGG", TokenHeader: h}, opts(clk))
			cl := newClient(t, c, nil)
			call(cl, m.URL, 5*time.Second)
			call(cl, m.URL, 5*time.Second)
			clk.Advance(2 * time.Minute) // let the rate-limited warning through again
		}
		call(newClient(t, mustNew(t, Config{Mode: "none"}, opts(clk)), nil), m.URL, 5*time.Second)
	})

	t.Run("configuration", func(t *testing.T) {
		dir := t.TempDir()
		pw := filepath.Join(dir, "pw")
		if err := os.WriteFile(pw, []byte("password-DDD\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		full := map[string]string{
			"DRAGONFLY_CLIENT_ID": "client-id-AAA", "DRAGONFLY_CLIENT_SECRET": "client-secret-BBB",
			"DRAGONFLY_USERNAME": "user-CCC", "DRAGONFLY_PASSWORD_FILE": pw, "DRAGONFLY_TOKEN": "tok-GGG",
		}
		cfg, err := LoadConfig(full)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"auth0", "cloudflare", "token", "none", "bogus", "auto"} {
			cfg.Mode = mode
			_, err := cfg.Resolve()
			record(err)
		}
		cfg.TokenHeader = "bad header"
		_, err = New(cfg, Options{})
		record(err)
		both := map[string]string{"DRAGONFLY_PASSWORD": "password-DDD", "DRAGONFLY_PASSWORD_FILE": pw}
		_, err = LoadConfig(both)
		record(err)
		js, _ := json.Marshal(cfg)
		red, _ := json.Marshal(cfg.Redacted())
		record(fmt.Errorf("%v %+v %#v %s %s %s", cfg, cfg, cfg, js, red, fmt.Sprint(cfg.Redacted())))
	})

	logs := buf.String()
	if testing.Verbose() {
		t.Log(logs)
	}
	if !strings.Contains(logs, "rejected") || !strings.Contains(logs, "identity provider") {
		t.Errorf("the scenarios did not log what they should have:\n%s", logs)
	}
	if len(errs) < 5 {
		t.Errorf("only %d errors collected", len(errs))
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("logs reveal %s:\n%s", s, logs)
		}
		for _, e := range errs {
			if strings.Contains(e, s) {
				t.Errorf("error reveals %s: %s", s, e)
			}
		}
	}
	for _, l := range labels.got {
		if l != "ok" && l != "error" {
			t.Errorf("metric label %q", l)
		}
	}
	if labels.count("ok") == 0 || labels.count("error") == 0 {
		t.Errorf("renewal outcomes %v: want both", labels.got)
	}
}
