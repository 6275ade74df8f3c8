package apitest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newHTTP is a plain client that, like the mainframe client must, never
// follows redirects. Keep-alives are off so that a dropped connection is
// never transparently retried by the transport and no connection outlives
// the test.
func newHTTP(t testing.TB) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// newJarHTTP is newHTTP with a cookie jar, for the Cloudflare edge.
func newJarHTTP(t testing.TB) *http.Client {
	hc := newHTTP(t)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc.Jar = jar
	return hc
}

type response struct {
	status int
	header http.Header
	body   []byte
	err    error // a transport error: no response
}

func (r response) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, r.body)
}

// detail is the "detail" of a FastAPI error body, as a string when it is
// one.
func (r response) detail() string {
	var v struct {
		Detail any `json:"detail"`
	}
	json.Unmarshal(r.body, &v)
	s, _ := v.Detail.(string)
	return s
}

// worker makes requests as one worker: same client, same credentials.
type worker struct {
	t      testing.TB
	hc     *http.Client
	base   string
	header http.Header
}

func newWorker(t testing.TB, s *apitest.Server, header ...string) *worker {
	w := &worker{t: t, hc: newHTTP(t), base: s.URL, header: http.Header{}}
	for i := 0; i+1 < len(header); i += 2 {
		w.header.Add(header[i], header[i+1])
	}
	return w
}

// bearer is a worker identified by a static token.
func bearer(t testing.TB, s *apitest.Server, token string) *worker {
	return newWorker(t, s, "Authorization", "Bearer "+token)
}

// do sends a request; body is nil (none), a string (sent as is, with a
// JSON content type) or anything else (marshalled).
func (w *worker) do(method, path string, body any, header ...string) response {
	w.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			w.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	url := path
	if strings.HasPrefix(path, "/") {
		url = w.base + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	for k, v := range w.header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: raw, err: err}
}

// job is a leased job as the wire has it; the pointers tell absent keys
// from zero values.
type job struct {
	Name          string   `json:"name"`
	Version       string   `json:"version"`
	Distributions []string `json:"distributions"`
	Hash          string   `json:"hash"`
	Attempt       *int     `json:"attempt"`
	AssignmentID  *string  `json:"assignment_id"`
}

// lease asks for batch jobs and fails the test unless it gets 200.
func (w *worker) lease(batch int) []job {
	w.t.Helper()
	r := w.do(http.MethodPost, fmt.Sprintf("/jobs?batch=%d", batch), nil)
	if r.status != http.StatusOK {
		w.t.Fatalf("POST /jobs: %v", r)
	}
	var jobs []job
	if err := json.Unmarshal(r.body, &jobs); err != nil {
		w.t.Fatalf("POST /jobs: %v: %s", err, r.body)
	}
	return jobs
}

// leaseOne leases exactly one job.
func (w *worker) leaseOne() job {
	w.t.Helper()
	jobs := w.lease(1)
	if len(jobs) != 1 {
		w.t.Fatalf("leased %d jobs, want 1", len(jobs))
	}
	return jobs[0]
}

func (w *worker) put(body any) response {
	w.t.Helper()
	return w.do(http.MethodPut, "/package", body)
}

// success is a success body for j, with the lease fields when j has them.
func success(j job, score int) map[string]any {
	b := map[string]any{"name": j.Name, "version": j.Version, "score": score,
		"inspector_url": nil, "rules_matched": []string{}, "commit": j.Hash}
	addLease(b, j)
	return b
}

func failure(j job, reason string) map[string]any {
	b := map[string]any{"name": j.Name, "version": j.Version, "reason": reason}
	addLease(b, j)
	return b
}

func addLease(b map[string]any, j job) {
	if j.Attempt != nil {
		b["attempt"] = *j.Attempt
	}
	if j.AssignmentID != nil {
		b["assignment_id"] = *j.AssignmentID
	}
}

func wantStatus(t testing.TB, what string, r response, status int) {
	t.Helper()
	if r.err != nil || r.status != status {
		t.Fatalf("%s: got %v, want %d", what, r, status)
	}
}

// recorder is a testing.TB that collects errors instead of failing, to
// test the assertion helpers.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
