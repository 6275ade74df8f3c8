package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// renewals records Options.OnRenewal outcomes.
type renewals struct {
	mu  sync.Mutex
	got []string
}

func (r *renewals) hook(outcome string) {
	r.mu.Lock()
	r.got = append(r.got, outcome)
	r.mu.Unlock()
}

func (r *renewals) count(outcome string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, o := range r.got {
		if o == outcome {
			n++
		}
	}
	return n
}

// idp is a fake Auth0 token endpoint. By default its n-th answer (from 1)
// is the token "access-n" living an hour; handle overrides that.
type idp struct {
	*httptest.Server
	calls  atomic.Int32
	mu     sync.Mutex
	bodies []map[string]any
	handle func(n int, w http.ResponseWriter, r *http.Request)
}

func newIdP(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request)) *idp {
	t.Helper()
	p := &idp{handle: handle}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(p.calls.Add(1))
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		p.mu.Lock()
		p.bodies = append(p.bodies, body)
		p.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
			http.Error(w, "wrong endpoint", http.StatusNotFound)
			return
		}
		if p.handle != nil {
			p.handle(n, w, r)
			return
		}
		issue(w, fmt.Sprintf("access-%d", n), 3600)
	}))
	t.Cleanup(p.Close)
	return p
}

// issue answers a token request.
func issue(w http.ResponseWriter, token string, expiresIn int) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "expires_in": expiresIn, "token_type": "Bearer"})
}

// mainframe is a fake mainframe counting the calls it answers.
type mainframe struct {
	*httptest.Server
	calls atomic.Int32
}

func newMainframe(t *testing.T, h http.HandlerFunc) *mainframe {
	t.Helper()
	m := &mainframe{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.calls.Add(1)
		h(w, r)
	}))
	t.Cleanup(m.Close)
	return m
}

// auth0Config is a complete auth0 configuration against p.
func auth0Config(p *idp) Config {
	return Config{
		Mode: "auth0", Auth0Domain: p.URL, Audience: "https://dragonfly.example",
		ClientID: "client-id-AAA", ClientSecret: "client-secret-BBB",
		Username: "user-CCC", Password: "password-DDD",
	}
}

// fastOptions has millisecond backoffs and the test clock.
func fastOptions(clk *clock, r *renewals) Options {
	o := Options{BackoffInitial: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, Now: clk.Now}
	if r != nil {
		o.OnRenewal = r.hook
	}
	return o
}

// newClient is how package api uses the credentials: a client that never
// follows redirects over the credentials' transport.
func newClient(t *testing.T, c Credentials, base http.RoundTripper) *http.Client {
	t.Helper()
	if base == nil {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		base = tr
	}
	return &http.Client{
		Transport:     c.Transport(base),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func mustNew(t *testing.T, cfg Config, opts Options) Credentials {
	t.Helper()
	c, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// get calls url and returns the status and body.
func get(t *testing.T, cl *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp.StatusCode, string(b)
}

// bearer returns the token of r's Authorization header.
func bearerOf(r *http.Request) string {
	const p = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) < len(p) || h[:len(p)] != p {
		return ""
	}
	return h[len(p):]
}

// jwt builds an unsigned JWT with the given exp.
func jwt(exp time.Time, id string) string {
	enc := base64.RawURLEncoding
	payload, _ := json.Marshal(map[string]any{"exp": exp.Unix(), "sub": id})
	return enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString([]byte("sig-"+id))
}

// bufferLogger logs everything, at every level, as JSON into a buffer.
type bufferLogger struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *bufferLogger) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *bufferLogger) Sync() error { return nil }

func (b *bufferLogger) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *bufferLogger) Logger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, b, zapcore.DebugLevel))
}

// ctxTimeout is a context for one test step.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type fieldTags struct{ name, env, doc string }

// fieldsOf lists the struct's fields with their env and doc tags.
func fieldsOf(v any) []fieldTags {
	t := reflect.TypeOf(v)
	var out []fieldTags
	for i := range t.NumField() {
		f := t.Field(i)
		out = append(out, fieldTags{f.Name, f.Tag.Get("env"), f.Tag.Get("doc")})
	}
	return out
}
