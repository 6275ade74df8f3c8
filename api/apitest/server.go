// Package apitest is an in-process fake of the Dragonfly mainframe, written
// from docs/contract.md and independent of package api, so that the client's and
// the daemon's tests run against the contract rather than against the
// client's own idea of it: a bug in the client cannot hide behind the same
// bug in its fake.
//
// A Server speaks either era of the contract (Today, with leases that carry
// an attempt counter, an assignment and an owner, or Era2023, without), in
// any of the authentication modes the mainframe has been deployed with
// (none, a static token, Auth0's password grant on a separate fake identity
// provider, or a Cloudflare Access edge in front of the API). It also serves
// distribution files, so a whole worker can run against it on loopback.
//
// Time on the server is real time plus an offset that Advance moves: tests
// expire leases, tokens and cookies without sleeping. Faults (bursts of
// errors, slow answers, connections dropped before or after a result is
// stored) are injected per endpoint and count. Everything the server sees
// and answers is recorded, and every accessor is safe for concurrent use.
//
// A typical end-to-end test:
//
//	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthStatic}})
//	s.AddToken("secret", "worker-1")
//	s.AddJob("pkg", "1.0", s.AddFile("pkg-1.0.tar.gz", tarball))
//	// ... run the worker against s.URL with DRAGONFLY_TOKEN=secret ...
//	s.WaitUntil(ctx, s.AllFinished)
//	s.AssertOneStoredResultPerJob(t)
//	got, _ := s.Stored("pkg", "1.0")
package apitest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Era selects which measured version of the mainframe the fake speaks.
type Era int

const (
	// Today is the current server: leases carry attempt and assignment_id,
	// a result is accepted only from the lease holder, and a job whose
	// lease expired MaxAttempts times is failed by the server.
	Today Era = iota
	// Era2023 is the Auth0-era server: a job is pending for the lease
	// timeout and then re-leased forever; late results are accepted and
	// the first result wins.
	Era2023
)

func (e Era) String() string {
	if e == Era2023 {
		return "2023"
	}
	return "today"
}

// Options configure a Server. The zero value is today's server without
// authentication and with the real server's defaults.
type Options struct {
	Era Era
	// LeaseTimeout is the server's job timeout: a pending job whose lease
	// is older is leased again. Default 120s, the real server's default.
	LeaseTimeout time.Duration
	// MaxAttempts is how many leases of a job may expire before today's
	// server fails it. Default 3. Ignored in Era2023.
	MaxAttempts int
	Auth        AuthOptions
}

// Default rules, so that a server is usable before SetRules: one harmless
// rule that a YARA compiler accepts.
const (
	defaultRulesHash = "7a1f0c3e9b2d4c6a8e0f1b3d5c7e9a1b3d5f7a9c"
	defaultRuleStem  = "apitest"
	defaultRuleText  = "rule apitest_never_matches\n{\n    condition:\n        false\n}\n"
	serverCommit     = "apitest"
	maxBodyBytes     = 16 << 20
)

// Server is a fake mainframe. Create it with New; it closes itself when the
// test ends.
type Server struct {
	// URL is the mainframe's base URL (http://127.0.0.1:port, no slash).
	URL string
	// Auth0URL is the base URL of the fake identity provider, whose token
	// endpoint is Auth0URL + "/oauth/token". Empty unless the auth mode is
	// AuthAuth0. Auth0Domain is the same as host:port.
	Auth0URL    string
	Auth0Domain string

	opts    Options
	api     *httptest.Server
	idp     *httptest.Server
	closing chan struct{}
	closed  sync.Once

	mu      sync.Mutex
	offset  time.Duration // fake clock: real time plus offset
	changed chan struct{} // closed and replaced on every change, for WaitUntil

	rulesHash string
	rules     map[string]string

	jobs      map[Key]*job
	jobOrder  []*job
	leases    []*Lease
	results   []Result
	requests  []Request
	inFlight  int
	tokenReqs int
	conns     int // connections the API server accepted

	faults []*fault
	delays map[string]time.Duration

	files     map[string]*file
	redirects map[string]redirectChain

	auth authState
}

// New starts a fake mainframe on loopback (and, in AuthAuth0 mode, a fake
// identity provider on a second server). Both close when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.LeaseTimeout <= 0 {
		opts.LeaseTimeout = 120 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	opts.Auth.setDefaults()
	s := &Server{
		opts:      opts,
		closing:   make(chan struct{}),
		changed:   make(chan struct{}),
		rulesHash: defaultRulesHash,
		rules:     map[string]string{defaultRuleStem: defaultRuleText},
		jobs:      map[Key]*job{},
		delays:    map[string]time.Duration{},
		files:     map[string]*file{},
		redirects: map[string]redirectChain{},
	}
	s.auth.init(opts.Auth)
	s.api = httptest.NewUnstartedServer(s.middleware(serverAPI, s.serveAPI))
	s.api.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.api.Start()
	s.URL = s.api.URL
	if opts.Auth.Mode == AuthAuth0 {
		s.idp = httptest.NewServer(s.middleware(serverIdP, s.serveIdP))
		s.Auth0URL = s.idp.URL
		s.Auth0Domain = strings.TrimPrefix(s.idp.URL, "http://")
	}
	t.Cleanup(s.Close)
	return s
}

// Connections is how many connections the API server (which also serves
// the files) has accepted: a client that reuses its connections opens few.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Close stops the servers. Requests held by Delay are released first, so
// that Close never waits for a slow answer. Safe to call more than once.
func (s *Server) Close() {
	s.closed.Do(func() {
		close(s.closing)
		s.api.Close()
		if s.idp != nil {
			s.idp.Close()
		}
	})
}

// Options returns the options in effect, defaults filled in.
func (s *Server) Options() Options { return s.opts }

// Now is the server's clock: real time plus everything Advance added.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time { return time.Now().Add(s.offset) }

// Advance moves the server's clock forward by d: leases, tokens and cookies
// expire as if d had passed. It does not touch Delay, which is real time.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
	s.reapLocked(s.nowLocked())
	s.notifyLocked()
}

// SetRules replaces the rule set served by GET /rules and named by GET /
// and by the hash of every job leased from now on. It may be called while
// workers run, to test a rules reload.
func (s *Server) SetRules(hash string, rules map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rulesHash = hash
	s.rules = make(map[string]string, len(rules))
	for k, v := range rules {
		s.rules[k] = v
	}
	s.notifyLocked()
}

// RulesHash is the hash of the rule set being served.
func (s *Server) RulesHash() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rulesHash
}

// WaitUntil blocks until cond returns true or ctx ends. cond is evaluated
// at once and again after every change the server records (a request
// arriving or completing, a lease, a result, Advance...), so tests wait on
// events rather than sleep. cond may call the Server's accessors.
func (s *Server) WaitUntil(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Request is one HTTP request as the server saw and answered it.
type Request struct {
	At       time.Time // server clock when it arrived
	Server   string    // "api" or "auth0"
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	// Status is the status answered. When the connection was dropped
	// (Dropped) it is what the handler decided before the drop, or 0 when
	// the request was dropped unhandled; it is 0 when Canceled.
	Status int
	// Dropped is set when the connection was closed without an answer.
	Dropped bool
	// Canceled is set when the client went away during a Delay.
	Canceled bool
	// Identity is the worker identity of the credentials, "" when there
	// were none or they were rejected.
	Identity string
}

// Requests returns every request completed so far (answered, dropped or
// abandoned), to both servers, in the order they completed.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		r.Body = bytes.Clone(r.Body)
		out[i] = r
	}
	return out
}

// InFlight is the number of requests that arrived and are not answered
// yet (held by a Delay, say). Requests lists them once they complete.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// RequestsTo returns the requests whose method and path match endpoint, a
// pattern as the Endpoint constants.
func (s *Server) RequestsTo(endpoint string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if matchEndpoint(endpoint, r.Method, r.Path) {
			out = append(out, r)
		}
	}
	return out
}

const (
	serverAPI = "api"
	serverIdP = "auth0"
)

// reqInfo carries what a handler learns about a request back to the
// middleware that records it.
type reqInfo struct {
	identity  string
	body      []byte
	dropAfter bool // the answer will be thrown away: the connection drops
}

type handler func(w http.ResponseWriter, r *http.Request, info *reqInfo)

// middleware is the outermost layer of both servers: it records the
// request, and applies injected faults where a proxy or the network would,
// before the application (and the Cloudflare edge) see the request.
func (s *Server) middleware(server string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the whole body first: a drop then happens after the request
		// arrived, as when a server dies while handling it.
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
		r.Body = io.NopCloser(bytes.NewReader(body))

		s.mu.Lock()
		rec := Request{At: s.nowLocked(), Server: server, Method: r.Method, Path: r.URL.Path,
			RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
		if server == serverIdP && r.URL.Path == "/oauth/token" {
			s.tokenReqs++
		}
		plan := s.takeFaultsLocked(r.Method, r.URL.Path)
		s.inFlight++
		s.notifyLocked()
		s.mu.Unlock()
		// The record is completed before the client can see any answer,
		// so a test that got its response also finds the request here.
		var once sync.Once
		finish := func() {
			once.Do(func() {
				s.mu.Lock()
				s.inFlight--
				s.requests = append(s.requests, rec)
				s.notifyLocked()
				s.mu.Unlock()
			})
		}
		defer finish()

		if plan.delay > 0 && !s.sleep(r.Context(), plan.delay) {
			// The client went away or the server is closing: answer
			// nothing (an empty handler would answer 200).
			rec.Canceled = true
			finish()
			dropConnection(w)
			return
		}
		if plan.fail != nil {
			rec.Status = plan.fail.status
			finish()
			writeInjected(w, plan.fail)
			return
		}
		info := &reqInfo{body: body}
		if plan.drop != nil && plan.drop.beforeStore {
			rec.Dropped = true
			finish()
			dropConnection(w)
			return
		}
		if plan.drop != nil {
			info.dropAfter = true
			rr := httptest.NewRecorder()
			h(rr, r, info)
			rec.Status, rec.Dropped, rec.Identity = rr.Code, true, info.identity
			finish()
			dropConnection(w)
			return
		}
		sw := &statusWriter{ResponseWriter: w, before: func(status int) {
			rec.Status, rec.Identity = status, info.identity
			finish()
		}}
		h(sw, r, info)
		if sw.status == 0 {
			sw.WriteHeader(http.StatusOK) // an empty 200
		}
	})
}

// sleep waits d of real time; false when the client went away or the
// server is closing first.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// dropConnection closes the connection without writing a response, the way
// a crashed server or a cut network looks to the client.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
	before func(status int) // runs once, before the answer leaves
}

func (w *statusWriter) setStatus(code int) {
	if w.status == 0 {
		w.status = code
		w.before(code)
	}
}

func (w *statusWriter) WriteHeader(code int) {
	w.setStatus(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.setStatus(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// ReadFrom lets a file reach the connection by sendfile, as a real file
// server's does, instead of through a buffer in this process: on a
// benchmark machine the fake shares the worker's cores.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	w.setStatus(http.StatusOK)
	return io.Copy(w.ResponseWriter, r)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		w.setStatus(http.StatusOK)
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// routes of the application behind the edge: path → allowed method. Used
// for 405 and for the 307 that FastAPI answers for a trailing slash.
var routes = map[string]string{
	"/":        http.MethodGet,
	"/jobs":    http.MethodPost,
	"/rules":   http.MethodGet,
	"/package": http.MethodPut,
}

// serveAPI is the mainframe: open endpoints first, then the Cloudflare
// edge (when configured), then FastAPI's routing (404, 405, 307), then the
// application's own credential check, then the endpoint.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	path := r.URL.Path
	switch {
	case path == "/" && r.Method == http.MethodGet:
		info.identity = s.identify(r)
		s.mu.Lock()
		hash := s.rulesHash
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"server_commit": serverCommit, "rules_commit": hash})
		return
	case strings.HasPrefix(path, filesPrefix):
		info.identity = s.identify(r)
		s.serveFile(w, r)
		return
	case strings.HasPrefix(path, redirectPrefix):
		info.identity = s.identify(r)
		s.serveRedirect(w, r)
		return
	}

	if s.opts.Auth.Mode == AuthCloudflare {
		id, ok := s.edge(w, r)
		if !ok {
			return
		}
		info.identity = id
	}

	method, known := routes[path]
	switch {
	case !known && strings.HasSuffix(path, "/") && routes[strings.TrimSuffix(path, "/")] != "":
		loc := "http://" + r.Host + strings.TrimSuffix(path, "/")
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	case !known:
		writeDetail(w, http.StatusNotFound, "Not Found")
		return
	case r.Method != method:
		w.Header().Set("Allow", method)
		writeDetail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}

	if s.opts.Auth.Mode != AuthCloudflare {
		id, ok := s.checkCredentials(w, r)
		if !ok {
			return
		}
		info.identity = id
	}

	switch path {
	case "/jobs":
		s.serveJobs(w, r, info)
	case "/rules":
		s.mu.Lock()
		body := marshal(map[string]any{"hash": s.rulesHash, "rules": s.rules})
		s.mu.Unlock()
		writeRaw(w, http.StatusOK, body)
	case "/package":
		s.servePackage(w, r, info)
	}
}

// writeJSON answers v the way FastAPI does: compact JSON, UTF-8 and HTML
// characters left as they are, no trailing newline.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b := marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// writeDetail answers FastAPI's error shape, {"detail": "..."}.
func writeDetail(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, map[string]string{"detail": detail})
}

// writeServerError answers what Starlette answers for an unhandled
// exception (a database error): a plain-text 500.
func writeServerError(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, "Internal Server Error")
}

// newUUID is a random (version 4) UUID in its canonical form.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
