// Package verdict is what a job's distributions mean, in the words both the
// scanner and the mainframe client understand: the scanner composes it
// (scan.Compose), the HTTP client turns it into the result body under the
// mainframe's own rules (api.NewResult), and the daemon counts failures by
// their class without reading any string. It is a leaf, free of cgo, so
// that the client does not link libyara.
package verdict

import "slices"

// Verdict is the meaning of one job's distributions: a success (Failure
// nil) or a failure.
type Verdict struct {
	// Score is the highest distribution score; for a failure, the partial
	// score of what was found before it.
	Score        int64
	InspectorURL string // "" when no rule counted for any file, and for failures
	// RulesMatched are the distinct rules that counted, sorted; never nil.
	RulesMatched []string
	// Failure makes the verdict a failure; a failure carries no score of
	// its own, so its reason reports the partial findings.
	Failure *Failure
}

// Failure says why a job failed: the first failed distribution's cause.
type Failure struct {
	// Class is one of package failure's classes; nil when the cause
	// carries none (the reason is then Detail alone).
	Class error
	// Dist is the failed distribution's file name, displayable, without a
	// query string; empty when the job had no distribution.
	Dist string
	// Detail is the cause without its class.
	Detail string
}

// Failed reports whether v is a failure.
func (v Verdict) Failed() bool { return v.Failure != nil }

// Distinct returns names sorted and without repeats, never nil: the form
// of RulesMatched, which the mainframe needs (a repeated new rule name is a
// server error) and reports show. The scanner and the client both use it.
func Distinct(names []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(names)))
	if out == nil {
		out = []string{}
	}
	return out
}
