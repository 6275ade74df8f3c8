package scan

import (
	"fmt"

	"github.com/vipyrsec/dragonfly-client-go/internal/envdefault"
)

// Speed holds the optimisations an operator can turn off. Neither changes
// a result (the tests in levers_test.go scan with each on and off and want
// the same results); they are switches so that a worker can be compared
// with and without them, or a suspected optimisation bug ruled out in
// production without a new build.
type Speed struct {
	// CacheSize bounds the content cache (see [Cache]) in bytes; 0 turns it
	// off.
	CacheSize int64 `env:"DRAGONFLY_CACHE_SIZE" envDefault:"16777216" doc:"bytes of memory remembering what each file (by SHA-256) matched, so files shared by a release's wheels and versions are matched once; 0 turns it off"`
	// RulePlans matches each file only with the rules that can count for
	// its path (see package rules).
	RulePlans bool `env:"DRAGONFLY_RULE_PLANS" envDefault:"true" doc:"match each file only with the rules whose filetype can count for it (same results, less work)"`
	// Prefilter skips libyara for a file holding none of the atoms it
	// searches for, when that proves no rule matches (see
	// rules.Plans.SetPrefilter).
	Prefilter bool `env:"DRAGONFLY_PREFILTER" envDefault:"true" doc:"skip libyara for a file holding none of the byte sequences the rules need (same results, less work)"`
}

// DefaultSpeed returns the defaults of the envDefault tags above.
func DefaultSpeed() Speed {
	var sp Speed
	envdefault.Fill(&sp)
	return sp
}

// Validate reports a setting that makes no sense, by variable name.
func (sp Speed) Validate() error {
	if sp.CacheSize < 0 {
		return fmt.Errorf("DRAGONFLY_CACHE_SIZE must not be negative, got %d", sp.CacheSize)
	}
	return nil
}

// NewCache returns the cache sp asks for, nil when it is off. One cache
// serves every scanner of a process.
func (sp Speed) NewCache() *Cache {
	if sp.CacheSize == 0 {
		return nil
	}
	return NewCache(sp.CacheSize)
}
