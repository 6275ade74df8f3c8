package api

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/vipyrsec/dragonfly-client-go/internal/verdict"
)

// Job is one leased release: POST /jobs answers a list of them. Attempt and
// AssignmentID exist only on today's server; a 2023 server sends neither.
type Job struct {
	Name          string   `json:"name"`
	Version       string   `json:"version"`
	Distributions []string `json:"distributions"`
	Hash          string   `json:"hash"`
	Attempt       int      `json:"attempt,omitempty"`
	AssignmentID  string   `json:"assignment_id,omitempty"`
}

// HasLease reports whether the job came from today's server, whose leases
// carry an attempt counter and an assignment.
func (j Job) HasLease() bool { return j.Attempt > 0 && j.AssignmentID != "" }

// Result is the body of the job's result: the verdict plus what identifies
// the job, echoed byte for byte, and the hash of the rules that scanned it.
func (j Job) Result(commit string, v verdict.Verdict) Result {
	r := NewResult(j.Name, j.Version, commit, v)
	if j.HasLease() {
		r.Attempt, r.AssignmentID = j.Attempt, j.AssignmentID
	}
	return r
}

// Rules is the body of GET /rules: a rule set as source files keyed by file
// stem, and the commit of the rules repository they came from.
type Rules struct {
	Hash  string            `json:"hash"`
	Rules map[string]string `json:"rules"`
}

// ServerInfo is the body of GET /, the mainframe's cheap liveness check.
type ServerInfo struct {
	ServerCommit string `json:"server_commit"`
	RulesCommit  string `json:"rules_commit"`
}

// Result is the body of PUT /package: a success (Reason empty) or a
// failure. Its JSON form follows docs/contract.md exactly, in either era.
type Result struct {
	Name    string
	Version string

	// Success fields.
	Score        int64
	InspectorURL string // "" is sent as null
	RulesMatched []string
	Commit       string

	// Reason makes the result a failure. A failure never carries commit:
	// the server would store a body with both as a success scoring 0.
	Reason string
	// Class is the failure's class (package failure), for the worker's
	// metrics; it is not sent.
	Class error

	// Attempt and AssignmentID are sent only when both are present; one
	// without the other is a 409.
	Attempt      int
	AssignmentID string
}

// NewResult is the body for a verdict on name@version scanned with the
// rules of commit.
func NewResult(name, version, commit string, v verdict.Verdict) Result {
	r := Result{Name: name, Version: version, Score: v.Score, InspectorURL: v.InspectorURL,
		RulesMatched: v.RulesMatched, Commit: commit}
	if v.Failed() {
		r.Reason, r.Class = Reason(v), v.Failure.Class
	}
	return r
}

// Failed reports whether r is a failure.
func (r Result) Failed() bool { return r.Reason != "" }

// MarshalJSON writes the body with the contract's field order. rules_matched
// is deduplicated and sorted (a duplicate new rule name is a server 500) and
// the score is clamped to the server's int4 column.
func (r Result) MarshalJSON() ([]byte, error) {
	type kv struct {
		k string
		v any
	}
	fields := []kv{{"name", r.Name}, {"version", r.Version}}
	if r.Failed() {
		fields = append(fields, kv{"reason", r.Reason})
	} else {
		var inspector *string
		if r.InspectorURL != "" {
			inspector = &r.InspectorURL
		}
		rules := verdict.Distinct(r.RulesMatched)
		fields = append(fields, kv{"score", ClampScore(r.Score)}, kv{"inspector_url", inspector},
			kv{"rules_matched", rules}, kv{"commit", r.Commit})
	}
	if r.Attempt > 0 && r.AssignmentID != "" {
		fields = append(fields, kv{"attempt", r.Attempt}, kv{"assignment_id", r.AssignmentID})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // URLs keep their "&"
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(f.k) + ":")
		if err := enc.Encode(f.v); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1) // Encode ends each value with a newline
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
