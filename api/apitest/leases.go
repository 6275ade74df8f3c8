package apitest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Key names a job: a release, name and version exactly as queued.
type Key struct{ Name, Version string }

func (k Key) String() string { return k.Name + "@" + k.Version }

// JobState is the state of a job on the server, as the real server's
// status column.
type JobState string

// The states a job passes through.
const (
	StateQueued   JobState = "QUEUED"
	StatePending  JobState = "PENDING"
	StateFinished JobState = "FINISHED"
	StateFailed   JobState = "FAILED"
)

// Lease is one hand-out of a job to a worker.
type Lease struct {
	Name, Version string
	// Attempt counts the leases of the job (1, 2, ...); AssignmentID is
	// fresh for each lease. Both are what today's server sends; in
	// Era2023 the server sends neither and AssignmentID is empty, but
	// Attempt is still counted here.
	Attempt      int
	AssignmentID string
	Identity     string    // the worker identity that leased it
	LeasedAt     time.Time // server clock
	// ResultAt is when the lease holder's first result for this job
	// arrived after this lease (server clock; zero when none did), and
	// ResultStatus what it was answered: a lease's age at delivery is
	// ResultAt - LeasedAt. Stored is set when this lease's result is the
	// one the server holds.
	ResultAt     time.Time
	ResultStatus int
	Stored       bool
}

// Age is how long the lease had run when its first result arrived, or 0
// when no result came.
func (l Lease) Age() time.Duration {
	if l.ResultAt.IsZero() {
		return 0
	}
	return l.ResultAt.Sub(l.LeasedAt)
}

// StoredResult is what the server holds for a finished or failed job.
type StoredResult struct {
	Name, Version string
	State         JobState // StateFinished (a success) or StateFailed
	Score         int64
	InspectorURL  *string
	RulesMatched  []string
	Commit        string
	Reason        string
	Identity      string    // the worker identity that submitted it ("" for a dead letter)
	At            time.Time // server clock
	// The lease the result answered: the body's attempt and assignment
	// on today's server, the latest lease in Era2023 (0 and "" when the job
	// was never leased).
	Attempt      int
	AssignmentID string
	// DeadLettered is set when the server failed the job itself after
	// MaxAttempts expired leases; no worker submitted it.
	DeadLettered bool
}

// Result is one PUT /package as received, and how it was answered.
type Result struct {
	At       time.Time // server clock
	Identity string
	Body     []byte // as received
	// Parsed fields; Kind is "success", "failure" or "" when the body did
	// not validate.
	Kind          string
	Name, Version string
	Attempt       int
	AssignmentID  string
	Status        int
	Response      []byte // the body answered
	// Dropped is set when the connection was closed after the result was
	// handled: Status is what the server decided, the client saw nothing.
	Dropped bool
}

type job struct {
	key      Key
	dists    []string
	queuedAt time.Time
	state    JobState
	leases   []*Lease // in order; the last one is the current lease
	stored   *StoredResult
}

func (j *job) current() *Lease {
	if len(j.leases) == 0 {
		return nil
	}
	return j.leases[len(j.leases)-1]
}

// heldBy is the latest lease of the job given to identity, or nil.
func (j *job) heldBy(identity string) *Lease {
	for i := len(j.leases) - 1; i >= 0; i-- {
		if j.leases[i].Identity == identity {
			return j.leases[i]
		}
	}
	return nil
}

// byAssignment is the lease with that assignment, or nil.
func (j *job) byAssignment(id string) *Lease {
	for _, l := range j.leases {
		if l.AssignmentID == id {
			return l
		}
	}
	return nil
}

// AddJob queues name@version with its distribution URLs. Jobs are leased in
// the order they were added. Queuing the same name@version twice panics,
// as the real server's unique constraint would refuse it.
func (s *Server) AddJob(name, version string, distributions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := Key{name, version}
	if _, ok := s.jobs[k]; ok {
		panic(fmt.Sprintf("apitest: job %s added twice", k))
	}
	j := &job{key: k, dists: slices.Clone(distributions), queuedAt: s.nowLocked(), state: StateQueued}
	if j.dists == nil {
		j.dists = []string{}
	}
	s.jobs[k] = j
	s.jobOrder = append(s.jobOrder, j)
	s.notifyLocked()
}

// State reports the state of name@version, false when no such job exists.
func (s *Server) State(name, version string) (JobState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reapLocked(s.nowLocked())
	j, ok := s.jobs[Key{name, version}]
	if !ok {
		return "", false
	}
	return j.state, true
}

// Stored returns what the server holds as the result of name@version,
// false when it holds none (the job is queued or pending, or unknown).
func (s *Server) Stored(name, version string) (StoredResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reapLocked(s.nowLocked())
	j, ok := s.jobs[Key{name, version}]
	if !ok || j.stored == nil {
		return StoredResult{}, false
	}
	return copyStored(*j.stored), true
}

// StoredResults returns every stored result, in the order jobs were added.
func (s *Server) StoredResults() []StoredResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reapLocked(s.nowLocked())
	var out []StoredResult
	for _, j := range s.jobOrder {
		if j.stored != nil {
			out = append(out, copyStored(*j.stored))
		}
	}
	return out
}

func copyStored(r StoredResult) StoredResult {
	r.RulesMatched = slices.Clone(r.RulesMatched)
	if r.InspectorURL != nil {
		u := *r.InspectorURL
		r.InspectorURL = &u
	}
	return r
}

// Results returns every PUT /package the endpoint handled, in order of
// arrival: not those failed by FailNext or dropped before being handled
// (Requests has those).
func (s *Server) Results() []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.results)
	for i := range out {
		out[i].Body = slices.Clone(out[i].Body)
		out[i].Response = slices.Clone(out[i].Response)
	}
	return out
}

// Leases returns every lease handed out, in order.
func (s *Server) Leases() []Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Lease, len(s.leases))
	for i, l := range s.leases {
		out[i] = *l
	}
	return out
}

// Unfinished returns the jobs that hold no result yet (queued or pending),
// in the order they were added.
func (s *Server) Unfinished() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reapLocked(s.nowLocked())
	var out []Key
	for _, j := range s.jobOrder {
		if j.stored == nil {
			out = append(out, j.key)
		}
	}
	return out
}

// AllFinished reports whether every job holds a result. It stops at the
// first job without one, so that a WaitUntil on it stays cheap while a
// worker streams hundreds of requests past it.
func (s *Server) AllFinished() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reapLocked(s.nowLocked())
	for _, j := range s.jobOrder {
		if j.stored == nil {
			return false
		}
	}
	return true
}

// AssertOneStoredResultPerJob reports a test error for every job that does
// not hold exactly one result submitted by a worker: jobs left unfinished,
// jobs the server dead-lettered, and jobs for which more than one PUT was
// answered 200.
func (s *Server) AssertOneStoredResultPerJob(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	s.reapLocked(s.nowLocked())
	accepted := map[Key]int{}
	for _, r := range s.results {
		if r.Status == http.StatusOK {
			accepted[Key{r.Name, r.Version}]++
		}
	}
	var problems []string
	for _, j := range s.jobOrder {
		switch {
		case j.stored == nil:
			problems = append(problems, fmt.Sprintf("%s: no result (%s, %d leases)", j.key, j.state, len(j.leases)))
		case j.stored.DeadLettered:
			problems = append(problems, fmt.Sprintf("%s: dead-lettered by the server: %s", j.key, j.stored.Reason))
		case accepted[j.key] != 1:
			problems = append(problems, fmt.Sprintf("%s: %d results accepted", j.key, accepted[j.key]))
		}
	}
	s.mu.Unlock()
	for _, p := range problems {
		t.Errorf("apitest: %s", p)
	}
}

// expired reports whether a pending job's lease has run out. The real
// server compares pending_at < now - timeout, so the boundary is not
// expired.
func (s *Server) expired(l *Lease, now time.Time) bool {
	return now.Sub(l.LeasedAt) > s.opts.LeaseTimeout
}

// reapLocked fails, on today's server, every pending job whose last
// allowed lease has expired. The real server does this in the background;
// here it happens lazily whenever state is looked at, which tests cannot
// tell apart.
func (s *Server) reapLocked(now time.Time) {
	if s.opts.Era != Today {
		return
	}
	for _, j := range s.jobOrder {
		l := j.current()
		if j.state != StatePending || l.Attempt < s.opts.MaxAttempts || !s.expired(l, now) {
			continue
		}
		j.state = StateFailed
		j.stored = &StoredResult{
			Name: j.key.Name, Version: j.key.Version, State: StateFailed,
			Reason:       fmt.Sprintf("Worker lease expired after %d scan attempts", s.opts.MaxAttempts),
			At:           l.LeasedAt.Add(s.opts.LeaseTimeout),
			Attempt:      l.Attempt,
			AssignmentID: l.AssignmentID,
			DeadLettered: true,
		}
	}
}

// jobJSON is a job as POST /jobs answers it. attempt and assignment_id
// are left out entirely in Era2023, as that server's schema lacks them.
type jobJSON struct {
	Name          string   `json:"name"`
	Version       string   `json:"version"`
	Distributions []string `json:"distributions"`
	Hash          string   `json:"hash"`
	Attempt       int      `json:"attempt,omitempty"`
	AssignmentID  string   `json:"assignment_id,omitempty"`
}

// serveJobs is POST /jobs?batch=N.
func (s *Server) serveJobs(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	vals, present := r.URL.Query()["batch"]
	if !present {
		writeValidation(w, []fieldErr{{Type: "missing", Loc: []any{"query", "batch"}, Msg: "Field required", Input: nil}})
		return
	}
	raw := vals[len(vals)-1] // Starlette keeps the last of repeated parameters
	batch, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil {
		writeValidation(w, []fieldErr{{Type: "int_parsing", Loc: []any{"query", "batch"},
			Msg: "Input should be a valid integer, unable to parse string as an integer", Input: raw}})
		return
	}
	if batch < 0 {
		// The real server passes it to LIMIT, which PostgreSQL refuses.
		writeServerError(w)
		return
	}

	s.mu.Lock()
	now := s.nowLocked()
	s.reapLocked(now)
	// The real server's order: never-leased jobs first (pending_at NULLS
	// FIRST, by queued_at), then expired leases, oldest lease first.
	var pick []*job
	for _, j := range s.jobOrder {
		if j.state == StateQueued {
			pick = append(pick, j)
		}
	}
	var expired []*job
	for _, j := range s.jobOrder {
		if j.state == StatePending && s.expired(j.current(), now) {
			expired = append(expired, j)
		}
	}
	slices.SortStableFunc(expired, func(a, b *job) int { return a.current().LeasedAt.Compare(b.current().LeasedAt) })
	pick = append(pick, expired...)
	if len(pick) > batch {
		pick = pick[:batch]
	}
	out := make([]jobJSON, 0, len(pick))
	for _, j := range pick {
		l := &Lease{Name: j.key.Name, Version: j.key.Version, Attempt: len(j.leases) + 1,
			Identity: info.identity, LeasedAt: now}
		if s.opts.Era == Today {
			l.AssignmentID = newUUID()
		}
		j.leases = append(j.leases, l)
		j.state = StatePending
		s.leases = append(s.leases, l)
		jj := jobJSON{Name: j.key.Name, Version: j.key.Version, Distributions: j.dists, Hash: s.rulesHash}
		if s.opts.Era == Today {
			jj.Attempt, jj.AssignmentID = l.Attempt, l.AssignmentID
		}
		out = append(out, jj)
	}
	body := marshal(out)
	s.notifyLocked()
	s.mu.Unlock()
	writeRaw(w, http.StatusOK, body)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
