package rulescheck

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
	"github.com/vipyrsec/dragonfly-client-go/internal/yarasrc"
)

// Sample is one file the rules' matching time is measured on.
type Sample struct {
	Path string
	Data []byte
}

// CostOptions tune [MeasureCost].
type CostOptions struct {
	// MinTime is the matching time spent on each rule set measured, at
	// least (default 50ms), split into Batches batches (default 3) of which
	// the fastest counts.
	MinTime time.Duration
	Batches int
	// Timeout bounds matching one sample file (default 10s, the worker's).
	Timeout time.Duration
}

func (o CostOptions) withDefaults() CostOptions {
	if o.MinTime <= 0 {
		o.MinTime = 50 * time.Millisecond
	}
	if o.Batches <= 0 {
		o.Batches = 3
	}
	if o.Timeout < time.Second {
		o.Timeout = 10 * time.Second
	}
	return o
}

// Cost methods: how a rule's time was measured.
const (
	CostAlone       = "alone"         // the rule with the rules it uses, minus an empty set
	CostLeaveOneOut = "leave-one-out" // the whole set minus the set without the rule and its dependents
)

// RuleCost is the measured matching time of one public rule.
type RuleCost struct {
	Rule string
	File string
	Line int
	// Method is CostAlone or CostLeaveOneOut; empty when not measured.
	Method string
	// PerRound is the rule's matching time over all samples once, net of
	// the baseline; 0 when below it.
	PerRound time.Duration
	// MsPerMB is PerRound in milliseconds per million bytes of samples.
	MsPerMB float64
	// Share is the rule's part of the sum of all rules' PerRound (0 to 1).
	Share float64
	// TimedOut is set when matching one sample took longer than the
	// timeout; such a rule ranks first.
	TimedOut bool
	// Note says what else happened: why leave-one-out was used, a string
	// that reached libyara's match limit, why the rule was not measured.
	Note string
}

// CostReport ranks the public rules of a set by matching time.
type CostReport struct {
	Samples     int
	SampleBytes int64
	// Baseline is the time per round of an empty rule set.
	Baseline time.Duration
	// Rules are ranked most expensive first; rules that could not be
	// measured (Method empty) come last.
	Rules []RuleCost
}

// MeasureCost times each public rule of files (in compile order, a set that
// compiles) on samples. Each rule is compiled with the rules it uses
// (transitively, from the identifiers of the conditions) and the imports
// those use, and all samples are matched repeatedly for at least
// opt.MinTime; the time of an empty set is subtracted. A rule that does not
// compile that way is timed by leave-one-out instead: the whole set minus
// the set without it and without the rules that use it.
func MeasureCost(files []RuleFile, samples []Sample, opt CostOptions) (*CostReport, error) {
	opt = opt.withDefaults()
	if len(samples) == 0 {
		return nil, errors.New("cost: no sample files")
	}
	rep := &CostReport{Samples: len(samples)}
	for _, s := range samples {
		rep.SampleBytes += int64(len(s.Data))
	}
	g := newRuleGraph(files)

	baseline := func() (time.Duration, error) {
		t, err := timeSet(map[string]string{"baseline": "rule dragonfly_cost_baseline { condition: false }"}, samples, opt)
		return t.perRound, err
	}
	b0, err := baseline()
	if err != nil {
		return nil, fmt.Errorf("cost: baseline: %w", err)
	}

	var full *setTime // the whole set, for leave-one-out, measured once
	for _, n := range g.nodes {
		r := n.def
		if r.Private {
			continue
		}
		rc := RuleCost{Rule: r.Name, File: files[n.file].Name, Line: r.Line}
		t, err := timeSet(map[string]string{"cost": g.subsetSource(n.id, false)}, samples, opt)
		if err != nil {
			t, err = timeSet(map[string]string{"cost": g.subsetSource(n.id, true)}, samples, opt)
		}
		if err == nil {
			rc.Method, rc.PerRound, rc.TimedOut, rc.Note = CostAlone, t.perRound, t.timedOut, t.note
			rep.Rules = append(rep.Rules, rc)
			continue
		}
		alone := err
		if full == nil {
			ft, ferr := timeSet(g.sources(nil), samples, opt)
			if ferr != nil {
				return nil, fmt.Errorf("cost: the whole set: %w", ferr)
			}
			full = &ft
		}
		without := g.dependents(n.id)
		t, err = timeSet(g.sources(without), samples, opt)
		switch {
		case err != nil:
			rc.Note = fmt.Sprintf("not measured: alone: %v; the set without it: %v", alone, err)
		case full.timedOut:
			rc.Method, rc.TimedOut = CostLeaveOneOut, !t.timedOut
			rc.Note = "the whole set timed out"
			if !t.timedOut {
				rc.Note += " and does not without it"
				rc.PerRound = time.Duration(math.MaxInt64)
			}
		default:
			rc.Method = CostLeaveOneOut
			rc.PerRound = max(0, full.perRound-t.perRound)
			rc.Note = fmt.Sprintf("timed by leave-one-out, since it does not compile with only the rules it uses (%v)", alone)
			if len(without) > 1 {
				rc.Note += fmt.Sprintf("; the %d rules that use it were left out with it", len(without)-1)
			}
		}
		rep.Rules = append(rep.Rules, rc)
	}

	b1, err := baseline()
	if err != nil {
		return nil, fmt.Errorf("cost: baseline: %w", err)
	}
	rep.Baseline = min(b0, b1)

	var total time.Duration
	for i := range rep.Rules {
		rc := &rep.Rules[i]
		if rc.TimedOut {
			continue
		}
		if rc.Method == CostAlone {
			rc.PerRound = max(0, rc.PerRound-rep.Baseline)
		}
		total += rc.PerRound
	}
	timedOut := 0
	for _, rc := range rep.Rules {
		if rc.TimedOut {
			timedOut++
		}
	}
	for i := range rep.Rules {
		rc := &rep.Rules[i]
		if rep.SampleBytes > 0 && !rc.TimedOut {
			rc.MsPerMB = float64(rc.PerRound) / 1e6 / (float64(rep.SampleBytes) / 1e6)
		}
		switch {
		case timedOut > 0 && rc.TimedOut:
			rc.Share = 1 / float64(timedOut)
		case timedOut > 0:
			rc.Share = 0
		case total > 0:
			rc.Share = float64(rc.PerRound) / float64(total)
		}
	}
	sort.SliceStable(rep.Rules, func(i, j int) bool {
		a, b := rep.Rules[i], rep.Rules[j]
		if (a.Method == "") != (b.Method == "") {
			return b.Method == ""
		}
		if a.TimedOut != b.TimedOut {
			return a.TimedOut
		}
		return a.PerRound > b.PerRound
	})
	return rep, nil
}

// Findings returns a warning for each rule whose share of the matching time
// exceeds budgetPct percent, timed out, reached libyara's match limit on a
// sample, or could not be measured.
func (rep *CostReport) Findings(budgetPct float64) []Finding {
	var out []Finding
	for _, rc := range rep.Rules {
		f := Finding{Severity: SeverityWarning, Check: "cost", File: rc.File, Line: rc.Line, Rule: rc.Rule}
		switch {
		case rc.Method == "":
			f.Message = "matching time " + rc.Note
		case rc.TimedOut:
			f.Message = "matching a sample file timed out: " + rc.Note
		case rc.Share*100 > budgetPct:
			f.Message = fmt.Sprintf("takes %.1f%% of the rules' matching time (budget %g%%): %.3g ms per MB of samples", rc.Share*100, budgetPct, rc.MsPerMB)
		case strings.Contains(rc.Note, "match limit"):
			f.Message = rc.Note
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}

type setTime struct {
	perRound time.Duration
	timedOut bool
	note     string
}

// timeSet compiles sources and returns the fastest time per round (every
// sample matched once) over opt.Batches batches that together last at
// least opt.MinTime.
func timeSet(sources map[string]string, samples []Sample, opt CostOptions) (setTime, error) {
	var st setTime
	rs, err := rules.Compile("", sources)
	if err != nil {
		return st, err
	}
	defer rs.Close()
	m, err := rs.NewMatcher(opt.Timeout)
	if err != nil {
		return st, err
	}
	defer m.Close()
	dst := make([]int32, 0, len(rs.Rules()))

	// One round to warm up and to see what goes wrong.
	start := time.Now()
	for _, s := range samples {
		t0 := time.Now()
		_, err := m.Match(s.Data, dst[:0])
		if err == nil {
			continue
		}
		if time.Since(t0) >= opt.Timeout {
			st.timedOut = true
			st.note = fmt.Sprintf("%s: %v", s.Path, err)
			st.perRound = time.Duration(math.MaxInt64)
			return st, nil
		}
		if st.note == "" {
			st.note = fmt.Sprintf("%s: %v (libyara's match limit: the worker fails such a file)", s.Path, err)
		}
	}
	warm := time.Since(start)
	if warm >= opt.MinTime {
		st.perRound = warm
		return st, nil
	}
	per := opt.MinTime / time.Duration(opt.Batches)
	best := time.Duration(math.MaxInt64)
	for range opt.Batches {
		rounds := 0
		start := time.Now()
		var elapsed time.Duration
		for {
			for _, s := range samples {
				m.Match(s.Data, dst[:0]) //nolint:errcheck // seen in the warm-up round
			}
			rounds++
			if elapsed = time.Since(start); elapsed >= per {
				break
			}
		}
		best = min(best, elapsed/time.Duration(rounds))
	}
	st.perRound = best
	return st, nil
}

// ruleGraph links the rules of a set to the rules their conditions use.
type ruleGraph struct {
	files []RuleFile
	nodes []*ruleNode // in compile order
}

type ruleNode struct {
	id   int
	file int
	def  *yarasrc.RuleDef
	uses []int // ids of the rules its condition names
}

func newRuleGraph(files []RuleFile) *ruleGraph {
	g := &ruleGraph{files: files}
	byName := map[string]int{}
	for fi := range files {
		for ri := range files[fi].Defs.Rules {
			n := &ruleNode{id: len(g.nodes), file: fi, def: &files[fi].Defs.Rules[ri]}
			if _, dup := byName[n.def.Name]; !dup {
				byName[n.def.Name] = n.id
			}
			g.nodes = append(g.nodes, n)
		}
	}
	for _, n := range g.nodes {
		for _, ref := range n.def.Refs {
			if prefix, wild := strings.CutSuffix(ref, "*"); wild {
				// A rule set names the rules defined before it.
				for _, m := range g.nodes[:n.id] {
					if strings.HasPrefix(m.def.Name, prefix) {
						n.uses = append(n.uses, m.id)
					}
				}
				continue
			}
			if id, ok := byName[ref]; ok && id != n.id {
				n.uses = append(n.uses, id)
			}
		}
	}
	return g
}

// closure returns the ids of the rule and of every rule it uses, directly
// or not, in compile order.
func (g *ruleGraph) closure(id int) []int {
	seen := map[int]bool{id: true}
	stack := []int{id}
	for len(stack) > 0 {
		n := g.nodes[stack[len(stack)-1]]
		stack = stack[:len(stack)-1]
		for _, u := range n.uses {
			if !seen[u] {
				seen[u] = true
				stack = append(stack, u)
			}
		}
	}
	out := make([]int, 0, len(seen))
	for i := range seen {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// dependents returns the rule and every rule that uses it, directly or not.
func (g *ruleGraph) dependents(id int) map[int]bool {
	out := map[int]bool{id: true}
	for changed := true; changed; {
		changed = false
		for _, n := range g.nodes {
			if out[n.id] {
				continue
			}
			for _, u := range n.uses {
				if out[u] {
					out[n.id], changed = true, true
					break
				}
			}
		}
	}
	return out
}

// subsetSource is the source of the rule id with the rules it uses, after
// the imports their conditions use (or, with allImports, every import of
// their files).
func (g *ruleGraph) subsetSource(id int, allImports bool) string {
	ids := g.closure(id)
	var b strings.Builder
	imported := map[string]bool{}
	for _, i := range ids {
		n := g.nodes[i]
		for _, imp := range g.files[n.file].Defs.Imports {
			used := allImports
			for _, mod := range n.def.Modules {
				used = used || mod == imp.Arg
			}
			if used && !imported[imp.Arg] {
				imported[imp.Arg] = true
				fmt.Fprintf(&b, "import %q\n", imp.Arg)
			}
		}
	}
	for _, i := range ids {
		b.WriteString("\n")
		b.WriteString(g.nodes[i].def.Text)
		b.WriteString("\n")
	}
	return b.String()
}

// sources returns the set's sources by key, with the rules of without cut
// out of them (line breaks kept).
func (g *ruleGraph) sources(without map[int]bool) map[string]string {
	out := map[string]string{}
	for fi, f := range g.files {
		src := f.Source
		if len(without) > 0 {
			var b strings.Builder
			pos := 0
			for _, n := range g.nodes {
				if n.file != fi || !without[n.id] {
					continue
				}
				b.WriteString(src[pos:n.def.Start])
				b.WriteString(strings.Repeat("\n", strings.Count(n.def.Text, "\n")))
				pos = n.def.End
			}
			b.WriteString(src[pos:])
			src = b.String()
		}
		out[f.Key] = src
	}
	return out
}
