package rules

import "time"

// Plans is one goroutine's matchers of a rule set: the whole set's, and a
// reduced one per filetype signature met so far (see ruleplan.go), each
// compiled once per RuleSet and shared by every Plans of that set. It is
// not safe for concurrent use: a scanner owns one.
type Plans struct {
	whole     Plan
	bySig     map[uint64]*Plan
	timeout   time.Duration
	prefilter bool
}

// Plan is the matcher for the files of one filetype signature.
type Plan struct {
	// M matches the file; nil when no rule can count for it.
	M *Matcher
	// Need is the set of rules M reports exactly; nil: every rule.
	Need  Bits
	owned bool // M is this Plans' own reduced matcher
}

// NewPlans returns the plans of rs, matching with timeout per file, the
// prefilter on.
func NewPlans(rs *RuleSet, timeout time.Duration) (*Plans, error) {
	m, err := rs.NewMatcher(timeout)
	if err != nil {
		return nil, err
	}
	m.prefilter = true
	return &Plans{whole: Plan{M: m}, bySig: map[uint64]*Plan{}, timeout: timeout, prefilter: true}, nil
}

// RuleSet returns the rule set the plans match with.
func (p *Plans) RuleSet() *RuleSet { return p.whole.M.rs }

// Whole is the plan of the whole set, for scans without plans.
func (p *Plans) Whole() *Plan { return &p.whole }

// SetPrefilter turns the prefilter on or off; it is on by default. With
// it, a file holding none of the strings its plan's rules cannot match
// without is not given to libyara (see prefilter.go). Results are the same
// either way, but for a match-limit hit of a string whose rules are then
// proved false, which no longer fails the file.
func (p *Plans) SetPrefilter(on bool) {
	p.prefilter = on
	p.whole.M.prefilter = on
	for _, pl := range p.bySig {
		if pl.owned {
			pl.M.prefilter = on
		}
	}
}

// Prefiltered returns the number of files the prefilter answered for
// libyara since the plans were made.
func (p *Plans) Prefiltered() int64 {
	n := p.whole.M.skipped
	for _, pl := range p.bySig {
		if pl.owned {
			n += pl.M.skipped
		}
	}
	return n
}

// For returns the plan for a file at path: a reduced matcher when the
// rules that can count for such a path are fewer than the whole set.
func (p *Plans) For(path string) *Plan {
	rs := p.RuleSet()
	pr := rs.plans.init(rs)
	if pr.off != "" {
		return &p.whole
	}
	mask := pr.pathMask(path)
	if pl := p.bySig[mask]; pl != nil {
		return pl
	}
	rp := pr.plan(rs, mask)
	pl := &p.whole
	switch {
	case rp.none:
		pl = &Plan{Need: rp.required}
	case rp.reduced(rs, pr):
		if m, err := rs.newMatcher(rp, p.timeout); err == nil {
			m.prefilter = p.prefilter
			pl = &Plan{M: m, Need: rp.required, owned: true}
		}
	}
	p.bySig[mask] = pl
	return pl
}

// Covered reports whether matches exact for the rules of have (nil: every
// rule) hold every rule that counts for a file at path: whether a tar link
// named path can count its target's matches.
func (p *Plans) Covered(path string, have Bits) bool {
	if have == nil {
		return true
	}
	rs := p.RuleSet()
	pr := rs.plans.init(rs)
	return pr.plan(rs, pr.pathMask(path)).counting.subsetOf(have)
}

// ScopeLimit narrows a match-limit failure of a file at path to the rules
// that can count for such a path and the rules they use: a string of any
// other rule reaching the limit cannot change the file's score, so the
// file does not fail for it, whether the plan or the whole set matched it.
// It returns nil when no rule is left. The plans' analysis gives the scope
// even when plans are off, so that results stay the same either way.
func (p *Plans) ScopeLimit(path string, le *LimitError) *LimitError {
	rs := p.RuleSet()
	pr := rs.plans.init(rs)
	if pr.off != "" {
		return le
	}
	scope := pr.plan(rs, pr.pathMask(path)).required
	if scope == nil {
		return le
	}
	kept := &LimitError{rs: rs}
	for _, r := range le.rules {
		if scope.has(r) {
			kept.rules = append(kept.rules, r)
		}
	}
	if len(kept.rules) == 0 {
		return nil
	}
	return kept
}

// Close frees the matchers.
func (p *Plans) Close() {
	for _, pl := range p.bySig {
		if pl.owned {
			pl.M.Close()
		}
	}
	clear(p.bySig)
	p.whole.M.Close()
}
