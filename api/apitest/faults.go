package apitest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Endpoints name what a fault applies to (and what RequestsTo selects). A
// pattern is "METHOD /path" or "/path" (any method); a path ending in "/"
// (other than "/" itself) matches every path below it, so EndpointFiles
// covers every file and FilePath(name) one of them.
const (
	EndpointRoot    = "GET /"
	EndpointJobs    = "POST /jobs"
	EndpointRules   = "GET /rules"
	EndpointPackage = "PUT /package"
	EndpointFiles   = "/files/"
	// EndpointToken is the Auth0 token endpoint, on the identity
	// provider's server.
	EndpointToken = "POST /oauth/token"
)

func matchEndpoint(pattern, method, path string) bool {
	m, p, ok := strings.Cut(pattern, " ")
	if !ok {
		m, p = "", pattern
	}
	if m != "" && m != method {
		return false
	}
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		return strings.HasPrefix(path, p)
	}
	return path == p
}

type faultKind int

const (
	faultFail faultKind = iota
	faultDrop
	faultDelay
)

// fault is one injected misbehaviour for the next `remaining` requests
// matching pattern; remaining < 0 means every request.
type fault struct {
	kind        faultKind
	pattern     string
	remaining   int
	status      int
	retryAfter  string
	delay       time.Duration
	beforeStore bool
}

// faultPlan is what happens to one request: copies, so the handler reads
// no shared state.
type faultPlan struct {
	delay time.Duration
	fail  *fault
	drop  *fault
}

// FailNext answers the next n requests to endpoint with status (a 5xx, or
// 429, or anything a proxy might say) before the application sees them:
// nothing is leased or stored. The body is plain text, as from a proxy.
func (s *Server) FailNext(endpoint string, n, status int) {
	s.FailNextRetryAfter(endpoint, n, status, "")
}

// FailNextRetryAfter is FailNext with a Retry-After header, given verbatim
// (seconds, "1", or an HTTP date), for 429 and 503 bursts.
func (s *Server) FailNextRetryAfter(endpoint string, n, status int, retryAfter string) {
	s.addFault(&fault{kind: faultFail, pattern: endpoint, remaining: n, status: status, retryAfter: retryAfter})
}

// DropNext closes the connection of the next n requests to endpoint
// without an answer. With beforeStore the request is not handled at all
// (nothing leased, nothing stored); without it the request is handled in
// full (jobs leased, the result stored) and only the answer is lost, the
// case where a client's retry meets 409 "already".
//
// A Go client may transparently resend a GET (not a POST or PUT) that was
// dropped on a reused keep-alive connection; such a retry is a new request
// here.
func (s *Server) DropNext(endpoint string, n int, beforeStore bool) {
	s.addFault(&fault{kind: faultDrop, pattern: endpoint, remaining: n, beforeStore: beforeStore})
}

// Delay holds every request to endpoint for d of real time before handling
// it, until Delay(endpoint, 0). A request whose client gives up is dropped
// unhandled (recorded as Canceled), so client timeouts are testable without
// side effects on the server.
func (s *Server) Delay(endpoint string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.delays, endpoint)
		return
	}
	s.delays[endpoint] = d
}

// DelayNext holds the next n requests to endpoint for d, as Delay.
func (s *Server) DelayNext(endpoint string, n int, d time.Duration) {
	s.addFault(&fault{kind: faultDelay, pattern: endpoint, remaining: n, delay: d})
}

// ClearFaults removes every injected fault and delay not yet used.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.delays = map[string]time.Duration{}
}

func (s *Server) addFault(f *fault) {
	if f.remaining <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// takeFaultsLocked decides, and uses up, the faults for one request: the
// first matching of each kind, in the order they were injected. A failed
// request is not also dropped.
func (s *Server) takeFaultsLocked(method, path string) faultPlan {
	var plan faultPlan
	for pattern, d := range s.delays {
		if matchEndpoint(pattern, method, path) {
			plan.delay = max(plan.delay, d)
		}
	}
	take := func(kind faultKind) *fault {
		for _, f := range s.faults {
			if f.kind == kind && f.remaining != 0 && matchEndpoint(f.pattern, method, path) {
				f.remaining--
				c := *f
				return &c
			}
		}
		return nil
	}
	if d := take(faultDelay); d != nil {
		plan.delay = max(plan.delay, d.delay)
	}
	if plan.fail = take(faultFail); plan.fail == nil {
		plan.drop = take(faultDrop)
	}
	// Forget used-up faults so the list stays short.
	live := s.faults[:0]
	for _, f := range s.faults {
		if f.remaining != 0 {
			live = append(live, f)
		}
	}
	clear(s.faults[len(live):])
	s.faults = live
	return plan
}

func writeInjected(w http.ResponseWriter, f *fault) {
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(f.status)
	io.WriteString(w, fmt.Sprintf("apitest: injected %d %s\n", f.status, http.StatusText(f.status)))
}
