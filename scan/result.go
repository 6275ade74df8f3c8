package scan

import "github.com/vipyrsec/dragonfly-client-go/internal/archive"

// Status of a scanned distribution.
const (
	StatusComplete = "complete"
	StatusFailed   = "failed"
)

// FileMatch is a file of a distribution for which at least one rule counted.
type FileMatch struct {
	Path  string // raw bytes, as in the archive; see archive.DisplayName
	Score int64
	Rules []string // in rule set order
}

// RuleHit is a distinct rule that counted somewhere in a distribution.
type RuleHit struct {
	Name   string
	Weight int64
}

// DistResult is the outcome of scanning one distribution. A failed
// distribution keeps the findings made before it failed.
type DistResult struct {
	// Target is the distribution's URL or local path, as given.
	Target string
	Format archive.Format
	// Err is nil when the distribution is complete; otherwise its class
	// (see failure.Class) says why it failed.
	Err           error
	Score         int64
	Rules         []RuleHit   // distinct counted rules, sorted by name
	Files         []FileMatch // archive order
	Notes         []archive.Note
	BytesExpanded int64
	FilesScanned  int64
	// RulesHash is the hash of the rule set that scanned the distribution.
	RulesHash string
}

// Status returns StatusComplete or StatusFailed.
func (d *DistResult) Status() string {
	if d.Err != nil {
		return StatusFailed
	}
	return StatusComplete
}
