package scan

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// Scanner flattens and matches distributions: with one matcher per
// filetype signature (rule plans, see package rules) and, optionally,
// through a [Cache] shared with other scanners. It is not safe for
// concurrent use: run one per goroutine.
type Scanner struct {
	plans  *rules.Plans
	lim    archive.Limits
	budget archive.Budget
	cache  *Cache // nil: off

	noPlans bool // Speed.RulePlans off
	plansOn bool // this pass matches with plans
	rescans int  // scans a link made run again, for tests

	// per-distribution state, reused
	idx    []int32
	raw    map[string][]int32    // path -> rules that matched, before filetype: links count them again
	cov    map[string]rules.Bits // path -> the rules raw is exact for, when not every rule
	counts map[int32]bool
	// path -> a match-limit failure the file did not fail for (see
	// rules.Plans.ScopeLimit); a link to the file under another name may
	limited map[string]*rules.LimitError
}

// Options are what a scanner is made with.
type Options struct {
	Limits archive.Limits
	// Speed switches the optimisations; its zero value turns them off
	// (DefaultSpeed turns them on). Speed.CacheSize is not read: the
	// cache is Cache.
	Speed Speed
	// Cache is the content cache, shared by every scanner of a process;
	// nil: none.
	Cache *Cache
	// Budget lends the scanner its large file buffers (see archive.Budget);
	// nil: no accounting.
	Budget archive.Budget
}

// New returns a scanner over rs.
func New(rs *rules.RuleSet, opt Options) (*Scanner, error) {
	if err := opt.Limits.Validate(); err != nil {
		return nil, err
	}
	plans, err := rules.NewPlans(rs, opt.Limits.YaraTimeout)
	if err != nil {
		return nil, err
	}
	plans.SetPrefilter(opt.Speed.Prefilter)
	return &Scanner{plans: plans, lim: opt.Limits, budget: opt.Budget, cache: opt.Cache, noPlans: !opt.Speed.RulePlans,
		raw: map[string][]int32{}, cov: map[string]rules.Bits{}, counts: map[int32]bool{}, limited: map[string]*rules.LimitError{}}, nil
}

// Prefiltered returns the number of files the prefilter answered for
// libyara since the scanner was made.
func (s *Scanner) Prefiltered() int64 { return s.plans.Prefiltered() }

// Close frees the scanner's matchers.
func (s *Scanner) Close() { s.plans.Close() }

// RuleSet returns the rule set the scanner matches with.
func (s *Scanner) RuleSet() *rules.RuleSet { return s.plans.RuleSet() }

// errNeedWholeRules stops a scan whose tar link needs matches its target's
// plan did not make; the scan starts again with the whole set.
var errNeedWholeRules = errors.New("scan again with the whole rule set")

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
	ruleList := s.RuleSet().Rules()
	res = &DistResult{Target: target, RulesHash: s.RuleSet().Hash()}
	clear(s.raw)
	clear(s.cov)
	clear(s.counts)
	clear(s.limited)
	s.plansOn = plans

	record := func(path string, matched []int32) {
		var fm *FileMatch
		for _, i := range matched {
			r := &ruleList[i]
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
	matched := func(path string, sp *rules.Plan, idx []int32) {
		if sp.Need != nil {
			s.cov[path] = sp.Need
		}
		if len(idx) > 0 {
			s.raw[path] = append(s.raw[path], idx...)
		}
		record(path, idx)
	}
	visit := func(f *archive.File) error {
		if f.LinkTargets != nil {
			for _, t := range f.LinkTargets {
				if le := s.limited[t]; le != nil {
					if le = s.plans.ScopeLimit(f.Path, le); le != nil {
						return archive.InFile(le, f.Path)
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
			return archive.InFile(err, f.Path)
		}
		return nil
	}
	var members *archive.MemberLookup
	if s.cache != nil {
		members = &archive.MemberLookup{Min: int64(s.cache.minSize), Known: func(path string, size int64, k *archive.MemberKey) bool {
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
			res.Err = failure.Classed(failure.ErrMalformed, "reader crashed: %v", p)
		}
		for i := range s.counts {
			res.Rules = append(res.Rules, RuleHit{Name: ruleList[i].Name, Weight: ruleList[i].Weight})
			res.Score += ruleList[i].Weight
		}
		sort.Slice(res.Rules, func(a, b int) bool { return res.Rules[a].Name < res.Rules[b].Name })
	}()
	fl, err := archive.Flatten(ctx, data, s.lim, visit, archive.Options{Members: members, Budget: s.budget})
	if errors.Is(err, errNeedWholeRules) {
		return res, true
	}
	res.Format, res.Notes, res.BytesExpanded, res.FilesScanned = fl.Format, fl.Notes, fl.BytesExpanded, fl.Files
	if err != nil && failure.Class(err) == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		err = fmt.Errorf("%w: scan stopped: %w", failure.ErrTimeout, err)
	}
	res.Err = err
	return res, false
}

// planFor returns the plan for a file at path in this pass.
func (s *Scanner) planFor(path string) *rules.Plan {
	if !s.plansOn {
		return s.plans.Whole()
	}
	return s.plans.For(path)
}

// linkCovered reports whether the raw matches recorded for the link's
// targets hold every rule that counts for the link's own name.
func (s *Scanner) linkCovered(f *archive.File) bool {
	for _, t := range f.LinkTargets {
		if need, ok := s.cov[t]; ok && !s.plans.Covered(f.Path, need) {
			return false
		}
	}
	return true
}

// checkLimit passes err on, except a match-limit failure of the file at
// path only on rules that cannot count for it (see rules.Plans.ScopeLimit):
// the file then succeeds, and the failure is kept for links to it.
func (s *Scanner) checkLimit(path string, err error) error {
	var le *rules.LimitError
	if !errors.As(err, &le) {
		return err
	}
	if kept := s.plans.ScopeLimit(path, le); kept != nil {
		return kept
	}
	if s.limited[path] == nil {
		s.limited[path] = le
	}
	return nil
}

// match matches the file's data with the plan's matcher, through the cache
// when the scanner has one.
func (s *Scanner) match(sp *rules.Plan, f *archive.File, dst []int32) ([]int32, error) {
	data := f.Data
	if s.cache == nil || len(data) < s.cache.minSize {
		if sp.M == nil {
			return dst, nil // no rule can count: nothing to match
		}
		dst, err := sp.M.Match(data, dst)
		return dst, s.checkLimit(f.Path, err)
	}
	rs := s.RuleSet()
	k := cacheKey{sum: sha256.Sum256(data), rules: rs.Hash()}
	if f.Member != nil && !f.Archive {
		// Whatever the matching gives, the member expands to these bytes.
		s.cache.putMember(f.Member, &k.sum)
	}
	if sp.M == nil {
		return dst, nil
	}
	if out, ok := s.cache.get(&k, len(rs.Rules()), sp.Need, dst); ok {
		return out, nil
	}
	n := len(dst)
	dst, err := sp.M.Match(data, dst)
	if err == nil {
		s.cache.put(&k, len(rs.Rules()), dst[n:], sp.Need)
	}
	return dst, s.checkLimit(f.Path, err)
}

// knownMember serves a zip member from the cache without inflating it (see
// memberLookup): when an identical member expanded to a file whose matches
// for the plan of path are cached, it appends them to dst.
func (s *Scanner) knownMember(sp *rules.Plan, k *archive.MemberKey, dst []int32) ([]int32, bool) {
	sum, ok := s.cache.memberFile(k)
	if !ok {
		return dst, false
	}
	if sp.M == nil {
		return dst, true // no rule can count, and the file is no archive
	}
	// A miss is not counted here: the file is then inflated and looked up
	// again.
	rs := s.RuleSet()
	dst, ok = s.cache.lookup(&cacheKey{sum: sum, rules: rs.Hash()}, len(rs.Rules()), sp.Need, dst)
	if ok {
		s.cache.hits.Add(1)
	}
	return dst, ok
}
