package scan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Status of a scanned distribution.
const (
	StatusComplete = "complete"
	StatusFailed   = "failed"
)

// FileMatch is a file of a distribution for which at least one rule counted.
type FileMatch struct {
	Path  string // raw bytes, as in the archive; see [DisplayName]
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
	Format Format
	// Err is nil when the distribution is complete; otherwise its class
	// (see [Class]) says why it failed.
	Err           error
	Score         int64
	Rules         []RuleHit   // distinct counted rules, sorted by name
	Files         []FileMatch // archive order
	Notes         []Note
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

// Scanner flattens and matches distributions: with one matcher per
// filetype signature (see [Scanner.SetRulePlans]) and, optionally, through a
// [Cache] shared with other scanners. It is not safe for concurrent use: run
// one per goroutine.
type Scanner struct {
	m      *Matcher
	lim    Limits
	budget Budget
	cache  *Cache // nil: off

	// rule plans (ruleplan.go)
	noPlans     bool                 // SetRulePlans(false)
	noPrefilter bool                 // SetPrefilter(false)
	plansOn     bool                 // this pass matches with plans
	whole       scanPlan             // the whole set, m
	plans       map[uint64]*scanPlan // by filetype signature
	rescans     int                  // scans a link made run again, for tests

	// per-distribution state, reused
	idx    []int32
	raw    map[string][]int32  // path -> rules that matched, before filetype: links count them again
	cov    map[string]ruleBits // path -> the rules raw is exact for, when not every rule
	counts map[int32]bool
	// path -> a match-limit failure the file did not fail for (see
	// scopeLimit); a link to the file under another name may
	limited map[string]*limitError
}

// NewScanner returns a scanner over rs with the given limits.
func NewScanner(rs *RuleSet, lim Limits) (*Scanner, error) {
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	m, err := rs.NewMatcher(lim.YaraTimeout)
	if err != nil {
		return nil, err
	}
	m.prefilter = true
	return &Scanner{m: m, lim: lim, whole: scanPlan{m: m}, plans: map[uint64]*scanPlan{},
		raw: map[string][]int32{}, cov: map[string]ruleBits{}, counts: map[int32]bool{}, limited: map[string]*limitError{}}, nil
}

// SetPrefilter turns the prefilter on or off; it is on by default. With
// it, a file holding none of the strings its plan's rules cannot match
// without is not given to libyara (see prefilter.go). Results are the same
// either way, but for a match-limit hit of a string whose rules are then
// proved false, which no longer fails the file.
func (s *Scanner) SetPrefilter(on bool) {
	s.noPrefilter = !on
	s.m.prefilter = on
	for _, sp := range s.plans {
		if sp.owned {
			sp.m.prefilter = on
		}
	}
}

// Prefiltered returns the number of files the prefilter answered for
// libyara since the scanner was made.
func (s *Scanner) Prefiltered() int64 {
	n := s.m.skipped
	for _, sp := range s.plans {
		if sp.owned {
			n += sp.m.skipped
		}
	}
	return n
}

// SetBudget makes the scanner take its large file buffers from b (see
// [Budget]); nil turns accounting off.
func (s *Scanner) SetBudget(b Budget) { s.budget = b }

// Close frees the scanner's matchers.
func (s *Scanner) Close() {
	s.closePlans()
	s.m.Close()
}

// RuleSet returns the rule set the scanner matches with.
func (s *Scanner) RuleSet() *RuleSet { return s.m.RuleSet() }

// checkLimit passes err on, except a match-limit failure of the file at
// path only on rules that cannot count for it (see scopeLimit): the file
// then succeeds, and the failure is kept for links to it.
func (s *Scanner) checkLimit(path string, err error) error {
	var le *limitError
	if !errors.As(err, &le) {
		return err
	}
	if kept := s.scopeLimit(path, le); kept != nil {
		return kept
	}
	if s.limited[path] == nil {
		s.limited[path] = le
	}
	return nil
}

// Scan flattens data, the bytes of the distribution at target, and matches
// every file. It never panics on hostile input: a panic in a reader is
// turned into a malformed failure.
func (s *Scanner) Scan(ctx context.Context, target string, data []byte) *DistResult {
	res, again := s.scan(ctx, target, data, !s.noPlans)
	if again {
		// A tar link needs matches its target's plan did not make.
		s.rescans++
		res, _ = s.scan(ctx, target, data, false)
	}
	return res
}

// scan is one pass of Scan; again reports that a link stopped it and the
// distribution must be scanned again without plans.
func (s *Scanner) scan(ctx context.Context, target string, data []byte, plans bool) (res *DistResult, again bool) {
	rules := s.m.RuleSet().Rules()
	res = &DistResult{Target: target, RulesHash: s.m.RuleSet().Hash()}
	clear(s.raw)
	clear(s.cov)
	clear(s.counts)
	clear(s.limited)
	s.plansOn = plans

	record := func(path string, matched []int32) {
		var fm *FileMatch
		for _, i := range matched {
			r := &rules[i]
			if !r.CountsFor(path) {
				continue
			}
			if fm == nil {
				res.Files = append(res.Files, FileMatch{Path: path})
				fm = &res.Files[len(res.Files)-1]
			}
			if slices.Contains(fm.Rules, r.Name) {
				continue // a link whose targets repeat a name
			}
			fm.Rules = append(fm.Rules, r.Name)
			fm.Score += r.Weight
			s.counts[i] = true
		}
	}
	// matched books the matches of the file at path, made with plan sp.
	matched := func(path string, sp *scanPlan, idx []int32) {
		if sp.need != nil {
			s.cov[path] = sp.need
		}
		if len(idx) > 0 {
			s.raw[path] = append(s.raw[path], idx...)
		}
		record(path, idx)
	}
	visit := func(f *File) error {
		if f.LinkTargets != nil {
			for _, t := range f.LinkTargets {
				if le := s.limited[t]; le != nil {
					if le = s.scopeLimit(f.Path, le); le != nil {
						return inFile(le, f.Path)
					}
				}
			}
			if !s.linkCovered(f) {
				return errNeedWholeRules
			}
			var union []int32
			for _, t := range f.LinkTargets {
				union = append(union, s.raw[t]...)
			}
			record(f.Path, union)
			return nil
		}
		sp := s.planFor(f.Path)
		var err error
		s.idx, err = s.match(sp, f, s.idx[:0])
		matched(f.Path, sp, s.idx)
		if err != nil {
			return inFile(err, f.Path)
		}
		return nil
	}
	var members *memberLookup
	if s.cache != nil {
		members = &memberLookup{min: int64(s.cache.minSize), known: func(path string, size int64, k *memberKey) bool {
			sp := s.planFor(path)
			var ok bool
			if s.idx, ok = s.knownMember(sp, k, s.idx[:0]); ok {
				matched(path, sp, s.idx)
			}
			return ok
		}}
	}

	defer func() {
		if p := recover(); p != nil {
			res.Err = classed(ErrMalformed, "reader crashed: %v", p)
		}
		for i := range s.counts {
			res.Rules = append(res.Rules, RuleHit{Name: rules[i].Name, Weight: rules[i].Weight})
			res.Score += rules[i].Weight
		}
		sort.Slice(res.Rules, func(a, b int) bool { return res.Rules[a].Name < res.Rules[b].Name })
	}()
	fl, err := flatten(ctx, data, s.lim, visit, members, s.budget)
	if errors.Is(err, errNeedWholeRules) {
		return res, true
	}
	res.Format, res.Notes, res.BytesExpanded, res.FilesScanned = fl.Format, fl.Notes, fl.BytesExpanded, fl.Files
	if err != nil && Class(err) == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		err = fmt.Errorf("%w: scan stopped: %w", ErrTimeout, err)
	}
	res.Err = err
	return res, false
}
