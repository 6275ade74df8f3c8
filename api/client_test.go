package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fastBackoff keeps retries quick in tests; no test relies on its timing.
var fastBackoff = Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond}

// reply is one scripted answer of a test server; drop closes the
// connection without an answer.
type reply struct {
	status   int
	body     string
	header   map[string]string
	drop     bool
	location string
}

// scripted serves the replies in order, then the last one forever, and
// records the requests it got.
type scripted struct {
	mu      sync.Mutex
	replies []reply
	reqs    []*http.Request
	bodies  []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.bodies = append(s.bodies, string(body))
	rep := s.replies[min(len(s.reqs), len(s.replies))-1]
	s.mu.Unlock()
	if rep.drop {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.location != "" {
		w.Header().Set("Location", rep.location)
	}
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func newTestClient(t *testing.T, url string, log *zap.Logger) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: url, WorkerID: "w-1", CallTimeout: 2 * time.Second}, nil,
		Options{Version: "1.2.3", Logger: log, Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func serve(t *testing.T, replies ...reply) (*scripted, *Client) {
	s := &scripted{replies: replies}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, newTestClient(t, srv.URL, nil)
}

const (
	already   = `{"detail":"Package ` + "`a@1`" + ` is already in a FINISHED state."}`
	leaseGone = `{"detail":"Package ` + "`a@1`" + ` is leased to another worker."}`
)

var sample = Result{Name: "a", Version: "1", Commit: "h", RulesMatched: []string{}}

// TestSubmitStatusTable walks the status table of docs/contract.md § Status
// handling and retries for PUT /package.
func TestSubmitStatusTable(t *testing.T) {
	ok := reply{status: 200, body: "null"}
	tests := []struct {
		name         string
		replies      []reply
		wantAttempts int
		wantRejected bool
		wantStored   bool
	}{
		{"200 stored", []reply{ok}, 1, false, false},
		{"404 final", []reply{{status: 404, body: `{"detail":"Package ` + "`a@1`" + ` not found in database."}`}}, 1, true, false},
		{"409 already finished, first attempt: final", []reply{{status: 409, body: already}}, 1, true, false},
		{"409 lease lost: final", []reply{{status: 409, body: leaseGone}}, 1, true, false},
		{"422 final", []reply{{status: 422, body: `{"detail":[{"loc":["body","score"],"msg":"field required"}]}`}}, 1, true, false},
		{"400 final", []reply{{status: 400, body: `{"detail":"bad"}`}}, 1, true, false},
		{"401 retried", []reply{{status: 401}, ok}, 2, false, false},
		{"403 retried", []reply{{status: 403}, ok}, 2, false, false},
		{"redirect to the edge's login retried", []reply{{status: 302, location: "https://team.cloudflareaccess.com/login"}, ok}, 2, false, false},
		{"same-host redirect final", []reply{{status: 307, location: "/package/"}}, 1, true, false},
		{"5xx burst retried", []reply{{status: 500}, {status: 502}, {status: 503}, {status: 504}, ok}, 5, false, false},
		{"408 and 429 retried", []reply{{status: 408}, {status: 429}, ok}, 3, false, false},
		{"dropped, then already finished: delivered", []reply{{drop: true}, {status: 409, body: already}}, 2, false, true},
		{"502, then already finished: delivered", []reply{{status: 502}, {status: 409, body: already}}, 2, false, true},
		{"dropped, then lease lost: final", []reply{{drop: true}, {status: 409, body: leaseGone}}, 2, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := serve(t, tt.replies...)
			d, err := c.Submit(context.Background(), sample)
			if got := errors.Is(err, ErrRejected); got != tt.wantRejected {
				t.Fatalf("rejected = %v (err %v), want %v", got, err, tt.wantRejected)
			}
			if !tt.wantRejected && err != nil {
				t.Fatalf("err = %v", err)
			}
			if d.Attempts != tt.wantAttempts || s.count() != tt.wantAttempts || d.AlreadyStored != tt.wantStored {
				t.Fatalf("delivery %+v after %d requests, want %d attempts, stored %v", d, s.count(), tt.wantAttempts, tt.wantStored)
			}
			for i, r := range s.reqs {
				if r.Method != http.MethodPut || r.URL.Path != "/package" || r.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("request %d: %s %s %q", i, r.Method, r.URL.Path, r.Header.Get("Content-Type"))
				}
				if s.bodies[i] != `{"name":"a","version":"1","score":0,"inspector_url":null,"rules_matched":[],"commit":"h"}` {
					t.Fatalf("body %s", s.bodies[i])
				}
			}
		})
	}
}

func TestRejectionNamesStatusAndDetail(t *testing.T) {
	_, c := serve(t, reply{status: 409, body: leaseGone})
	_, err := c.Submit(context.Background(), sample)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 409 || !strings.Contains(err.Error(), "PUT /package: HTTP 409: Package `a@1` is leased to another worker.") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnprocessableBodyIsLogged(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s := &scripted{replies: []reply{{status: 422, body: `{"detail":[]}`}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := newTestClient(t, srv.URL, zap.New(core))
	c.Submit(context.Background(), sample)
	if e := logs.FilterMessageSnippet("client bug").All(); len(e) != 1 || !strings.Contains(string(e[0].ContextMap()["body"].(string)), `"name":"a"`) {
		t.Fatalf("logs: %v", logs.All())
	}
}

func TestTransientFailuresStopWhenTheLeaseEnds(t *testing.T) {
	s, c := serve(t, reply{status: 503})
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	c.log = hookLogger(func() {
		if n.Add(1) == 3 {
			cancel()
		}
	})
	_, err := c.Submit(ctx, sample)
	if err == nil || errors.Is(err, ErrRejected) || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("err = %v", err)
	}
	if s.count() < 3 {
		t.Fatalf("%d attempts", s.count())
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	// A Retry-After longer than the time left ends the call at once
	// instead of retrying after the fast backoff.
	s, c := serve(t, reply{status: 429, header: map[string]string{"Retry-After": "30"}}, reply{status: 200, body: "null"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Submit(ctx, sample)
	if err == nil || s.count() != 1 {
		t.Fatalf("err = %v after %d requests", err, s.count())
	}
	if d := retryAfter(http.Header{"Retry-After": {time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)}}, time.Now()); d < 58*time.Second || d > time.Minute {
		t.Fatalf("HTTP-date Retry-After read as %v", d)
	}
	if d := retryAfter(http.Header{"Retry-After": {"86400"}}, time.Now()); d != maxRetryAfter {
		t.Fatalf("a day's Retry-After read as %v", d)
	}
}

func TestLease(t *testing.T) {
	s, c := serve(t, reply{status: 200, body: `[{"name":"a","version":"1","distributions":["u"],"hash":"h","attempt":1,"assignment_id":"x"},{"name":"","version":"2","distributions":[],"hash":"h"}]`})
	jobs, err := c.Lease(context.Background(), 7)
	if err != nil || len(jobs) != 1 || jobs[0].Name != "a" || !jobs[0].HasLease() {
		t.Fatalf("jobs %+v, err %v", jobs, err)
	}
	if r := s.reqs[0]; r.Method != http.MethodPost || r.URL.Path != "/jobs" || r.URL.RawQuery != "batch=7" || s.bodies[0] != "" {
		t.Fatalf("request %s %s?%s %q", r.Method, r.URL.Path, r.URL.RawQuery, s.bodies[0])
	}
	if _, err := c.Lease(context.Background(), 0); err == nil {
		t.Fatal("a batch of 0 was sent")
	}
	_, c = serve(t, reply{status: 200, body: `[]`})
	if jobs, err := c.Lease(context.Background(), 3); err != nil || len(jobs) != 0 {
		t.Fatalf("empty queue: %v %v", jobs, err)
	}
}

func TestLeaseMakesOneAttempt(t *testing.T) {
	s, c := serve(t, reply{status: 503, header: map[string]string{"Retry-After": "7"}}, reply{status: 200, body: "[]"})
	_, err := c.Lease(context.Background(), 1)
	var se *StatusError
	if !errors.As(err, &se) || se.Final || se.RetryAfter != 7*time.Second || s.count() != 1 {
		t.Fatalf("err %#v after %d requests", err, s.count())
	}
}

func TestRules(t *testing.T) {
	_, c := serve(t, reply{status: 200, body: `{"hash":"abc","rules":{"b":"rule b {condition: true}","a":"rule a {condition: true}"}}`})
	r, err := c.Rules(context.Background())
	if err != nil || r.Hash != "abc" || len(r.Rules) != 2 {
		t.Fatalf("%+v %v", r, err)
	}
	_, c = serve(t, reply{status: 200, body: `{"hash":"","rules":{}}`})
	if _, err := c.Rules(context.Background()); err == nil {
		t.Fatal("an empty rule set was accepted")
	}
}

func TestAnswerThatIsNotJSONIsRetried(t *testing.T) {
	s, c := serve(t, reply{status: 200, body: "<html>maintenance</html>"}, reply{status: 200, body: `{"server_commit":"s","rules_commit":"r"}`})
	info, err := c.Root(context.Background())
	if err != nil || info.RulesCommit != "r" || s.count() != 2 {
		t.Fatalf("%+v %v after %d", info, err, s.count())
	}
}

func TestRequestsCarryUserAgentAndTolerateTrailingSlash(t *testing.T) {
	s := &scripted{replies: []reply{{status: 200, body: `{"server_commit":"s","rules_commit":"r"}`}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, base := range []string{srv.URL, srv.URL + "/", srv.URL + "/prefix/"} {
		c := newTestClient(t, base, nil)
		if _, err := c.Root(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if p := s.reqs[0].URL.Path + s.reqs[1].URL.Path + s.reqs[2].URL.Path; p != "///prefix/" {
		t.Fatalf("paths %q", p)
	}
	if ua := s.reqs[0].Header.Get("User-Agent"); ua != "dragonfly-client-go/1.2.3 (worker w-1)" {
		t.Fatalf("User-Agent %q", ua)
	}
	if ua := UserAgent("1", "pod (x)\n"); ua != "dragonfly-client-go/1 (worker pod__x__)" {
		t.Fatalf("User-Agent %q", ua)
	}
}

func TestBadBaseURL(t *testing.T) {
	for _, base := range []string{"", "dragonfly.vipyrsec.com", "ftp://x", "https://user:pw@x", "https://x/?q=1"} {
		_, err := New(Config{BaseURL: base, CallTimeout: time.Second}, nil, Options{})
		if err == nil || !strings.Contains(err.Error(), "DRAGONFLY_BASE_URL") || strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: %v", base, err)
		}
	}
}

func TestRedirectIsNeverFollowed(t *testing.T) {
	var hit atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Store(true) }))
	defer target.Close()
	s, c := serve(t, reply{status: 302, location: target.URL + "/login"})
	ctx, cancel := context.WithCancel(context.Background())
	c.log = hookLogger(cancel) // stop at the first retry
	c.Rules(ctx)
	if hit.Load() || s.count() != 1 {
		t.Fatalf("redirect followed (%v) or %d requests", hit.Load(), s.count())
	}
}

func TestEachAttemptHasATimeout(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done() // hangs until the client gives up
			return
		}
		io.WriteString(w, `{"server_commit":"s","rules_commit":"r"}`)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, nil)
	c.timeout = 50 * time.Millisecond
	if _, err := c.Root(context.Background()); err != nil || n.Load() != 2 {
		t.Fatalf("err %v after %d attempts", err, n.Load())
	}
}

// authHeader is an Authenticator that adds a fixed header.
type authHeader struct{}

func (authHeader) Transport(base http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer s3cret")
		return base.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCredentialsGoToTheMainframeOnly(t *testing.T) {
	s := &scripted{replies: []reply{{status: 200, body: `{"server_commit":"s","rules_commit":"r"}`}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL, CallTimeout: time.Second}, authHeader{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Root(context.Background())
	NewDownloader(DownloadOptions{MaxBytes: 100}).Fetch(context.Background(), srv.URL+"/files/x.whl")
	if s.reqs[0].Header.Get("Authorization") != "Bearer s3cret" || s.reqs[1].Header.Get("Authorization") != "" {
		t.Fatalf("mainframe %q, download %q", s.reqs[0].Header.Get("Authorization"), s.reqs[1].Header.Get("Authorization"))
	}
}

// hookLogger calls f on every log entry: tests use it to act at the moment
// the client logs a retry, instead of sleeping.
func hookLogger(f func()) *zap.Logger {
	core, _ := observer.New(zap.DebugLevel)
	return zap.New(core, zap.Hooks(func(zapcore.Entry) error { f(); return nil }))
}

func TestMaxAttempts(t *testing.T) {
	s := &scripted{replies: []reply{{status: 503}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL, CallTimeout: time.Second}, nil, Options{Backoff: fastBackoff, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rules(context.Background()); err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || s.count() != 3 {
		t.Fatalf("%v after %d requests", err, s.count())
	}
}
