package rules

import (
	"bytes"
	"fmt"
	"math/bits"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/hillu/go-yara/v4"
	"github.com/vipyrsec/dragonfly-client-go/internal/yarasrc"
)

// Rule plans: a file is matched only with the rules that can count for it.
//
// A rule whose filetype excludes a path cannot change that file's score, so
// the scanner groups paths by their filetype signature (the set of filetype
// suffixes the path ends with: ".py", ".pth", "setup.py" and "anything
// else" for the built-in rules) and matches each file with a rule set
// compiled for its signature: every public rule that counts for such a
// path, every global rule, and, transitively, every rule their conditions
// name (private helpers, a filetype rule used by one without, wildcards
// such as "any of (helper*)" taken as every rule with that prefix). A
// rule's outcome depends only on its strings, its condition, the rules the
// condition names, the global rules and the data, so every rule of a
// reduced set matches exactly when it matches in the whole set. The reduced
// set is built from the rules' own source text (package yarasrc), in the same
// file order with every file's imports, compiled once per signature and
// RuleSet, and checked against the whole set (names, order, metadata,
// private and global flags); anything unexpected (includes, a source read
// differently from what libyara compiled, more than 64 distinct suffixes, a
// compile error) leaves the whole set in use.
//
// Two things a rule outside the plan could still do to a file, and how
// they are kept:
//
//   - libyara's match limit: a string that matches MatchLimit times fails
//     the file, but only when its rule can count for the file or is used
//     by one that can (Plans.ScopeLimit), with plans or without: a plan has
//     exactly those rules, and the whole set's other rules cannot change
//     the file's score. (Matching files of MatchLimit bytes or more with
//     the whole set, as we did, cost 12% on the release corpus.) A link
//     that gives such a file a name for which the rule counts fails.
//   - tar links count their targets' raw matches under the link's name (a
//     link pkg/__init__.py to notes.txt gets the .py rules' matches of
//     notes.txt). Links are resolved after their archive's last member,
//     when the target's bytes are gone: when a link needs a rule the
//     target's plan did not match, the distribution is scanned again with
//     the whole set (at most twice the work, only for such links).
//
// What is not kept: a resource failure of libyara (the per-file timeout,
// its regular expression fiber pool, memory) that only a rule outside the
// plan would have caused: the file no longer fails because of a rule that
// cannot count for it.

// Bits is a set of rule indices.
type Bits []uint64

func NewBits(n int) Bits { return make(Bits, (n+63)/64) }

func (b Bits) set(i int32)      { b[i>>6] |= 1 << (uint(i) & 63) }
func (b Bits) has(i int32) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }

// Count is the number of rules in b.
func (b Bits) Count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// subsetOf reports whether every rule of b is in c.
func (b Bits) subsetOf(c Bits) bool {
	if len(b) != len(c) {
		return false
	}
	for i, w := range b {
		if w&^c[i] != 0 {
			return false
		}
	}
	return true
}

func (b Bits) empty() bool {
	for _, w := range b {
		if w != 0 {
			return false
		}
	}
	return true
}

// Covers reports whether matches exact for the rules of have are exact for
// the rules of need; nil stands for every rule.
func Covers(have, need Bits) bool {
	switch {
	case have == nil:
		return true
	case need == nil:
		return false
	}
	return need.subsetOf(have)
}

// planner holds a RuleSet's rule plans. It reads the filetypes and references on
// first use; the sources were read when the set was compiled (readSources).
type planner struct {
	once sync.Once
	off  string // why plans are not used; "" when they are

	suffixes []string  // the distinct filetype suffixes, at most 64
	ruleMask []uint64  // per rule: its suffixes' bits; 0 for a rule without filetype
	refs     [][]int32 // per rule: the rules its condition names

	mu    sync.Mutex
	plans map[uint64]*rulePlan // by suffix mask
}

// planSource is one rules file as plans rebuild it.
type planSource struct {
	imports []string // import statements as written
	rules   []int32  // its rules, indices of RuleSet.Rules, in source order
	texts   []string // each rule's text
}

// rulePlan is the plan of one filetype signature.
type rulePlan struct {
	// counting is the public rules that count for a path of the signature.
	counting Bits
	// required is counting plus the global rules, closed under references:
	// the rules the plan matches with. nil when that is every rule.
	required Bits
	// none is set when no public rule counts: nothing needs matching.
	none bool

	once  sync.Once
	c     *compiledRules // the reduced set, once compiled
	index []int32        // the reduced set's rules -> indices of RuleSet.Rules
	err   error          // why the reduced set is not used
}

// init sets the planner up once.
func (p *planner) init(rs *RuleSet) *planner {
	p.once.Do(func() { p.off = p.setup(rs) })
	return p
}

func (p *planner) setup(rs *RuleSet) string {
	idx := map[string]int{}
	p.ruleMask = make([]uint64, len(rs.rules))
	for i, r := range rs.rules {
		for _, s := range r.FileTypes {
			j, ok := idx[s]
			if !ok {
				if len(p.suffixes) == 64 {
					return "more than 64 filetype suffixes"
				}
				j = len(p.suffixes)
				idx[s] = j
				p.suffixes = append(p.suffixes, s)
			}
			p.ruleMask[i] |= 1 << j
		}
	}
	if len(p.suffixes) == 0 {
		return "no rule has a filetype"
	}
	if rs.srcOff != "" {
		return rs.srcOff
	}
	defs := rs.defs
	p.refs = make([][]int32, len(defs))
	for i, d := range defs {
		for _, ref := range d.Refs {
			if prefix, ok := strings.CutSuffix(ref, "*"); ok {
				for j, r := range rs.rules {
					if j != i && strings.HasPrefix(r.Name, prefix) {
						p.refs[i] = append(p.refs[i], int32(j))
					}
				}
			} else if j, ok := rs.byName[ref]; ok && j != i {
				p.refs[i] = append(p.refs[i], int32(j))
			}
		}
	}
	p.plans = map[uint64]*rulePlan{}
	return ""
}

// readSources parses rs's sources in compile order and checks that they
// hold exactly the compiled rules, for plans and the prefilter: each
// rule's definition, and the files as plans rebuild them. off says why
// they cannot be used ("" when they can).
func readSources(rs *RuleSet) (defs []yarasrc.RuleDef, files []planSource, off string) {
	if len(rs.sources) == 0 {
		return nil, nil, "no sources"
	}
	global := map[int32]bool{}
	for _, g := range rs.global {
		global[g] = true
	}
	for _, key := range sortedKeys(rs.sources) {
		sd := yarasrc.Parse(rs.sources[key])
		if len(sd.Includes) > 0 {
			return nil, nil, "a source includes another"
		}
		var f planSource
		for _, d := range sd.Imports {
			f.imports = append(f.imports, d.Text)
		}
		for _, d := range sd.Rules {
			i := int32(len(defs))
			if int(i) >= len(rs.rules) || rs.rules[i].Name != d.Name || rs.rules[i].Private != d.Private || global[i] != d.Global {
				return nil, nil, fmt.Sprintf("rule %q of %s is read differently from the compiled rules", d.Name, key)
			}
			defs = append(defs, d)
			f.rules = append(f.rules, i)
			f.texts = append(f.texts, d.Text)
		}
		files = append(files, f)
	}
	if len(defs) != len(rs.rules) {
		return nil, nil, fmt.Sprintf("the sources hold %d rules, the compiled set %d", len(defs), len(rs.rules))
	}
	return defs, files, ""
}

// pathMask returns the signature of path: a bit per suffix it ends with.
func (p *planner) pathMask(path string) uint64 {
	var m uint64
	for j, s := range p.suffixes {
		if strings.HasSuffix(path, s) {
			m |= 1 << j
		}
	}
	return m
}

// plan returns the plan of a signature, computing its rule sets (not
// compiling them) on first use.
func (p *planner) plan(rs *RuleSet, mask uint64) *rulePlan {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl := p.plans[mask]; pl != nil {
		return pl
	}
	n := len(rs.rules)
	pl := &rulePlan{counting: NewBits(n)}
	for i, r := range rs.rules {
		// Exactly Rule.CountsFor: no filetype, or one of its suffixes.
		if !r.Private && (p.ruleMask[i] == 0 || p.ruleMask[i]&mask != 0) {
			pl.counting.set(int32(i))
		}
	}
	if pl.counting.empty() {
		pl.none = true
		pl.required = NewBits(n)
	} else {
		req := slices.Clone(pl.counting)
		var stack []int32
		for i := range n {
			if req.has(int32(i)) {
				stack = append(stack, int32(i))
			}
		}
		for _, g := range rs.global {
			if !req.has(g) {
				req.set(g)
				stack = append(stack, g)
			}
		}
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, j := range p.refs[i] {
				if !req.has(j) {
					req.set(j)
					stack = append(stack, j)
				}
			}
		}
		if req.Count() < n {
			pl.required = req
		}
	}
	p.plans[mask] = pl
	return pl
}

// reduced compiles the plan's rule set on first use and reports whether
// it is to be matched with (false: nothing to match, or the whole set).
func (pl *rulePlan) reduced(rs *RuleSet, p *planner) bool {
	if pl.none || pl.required == nil {
		return false
	}
	pl.once.Do(func() { pl.c, pl.index, pl.err = p.compile(rs, pl.required) })
	return pl.err == nil
}

// compile builds the rule set of the rules in required from their sources
// and checks that it is what the whole set holds of them.
func (p *planner) compile(rs *RuleSet, required Bits) (*compiledRules, []int32, error) {
	comp, err := yara.NewCompiler()
	if err != nil {
		return nil, nil, err
	}
	defer comp.Destroy()
	var index []int32
	for _, f := range rs.files {
		var b strings.Builder
		for _, imp := range f.imports {
			b.WriteString(imp)
			b.WriteByte('\n')
		}
		for k, i := range f.rules {
			if required.has(i) {
				b.WriteString(f.texts[k])
				b.WriteByte('\n')
				index = append(index, i)
			}
		}
		if b.Len() == 0 {
			continue
		}
		if err := comp.AddString(b.String(), ""); err != nil {
			return nil, nil, fmt.Errorf("reduced rules do not compile: %v", err)
		}
	}
	yr, err := comp.GetRules()
	if err != nil {
		return nil, nil, err
	}
	defer yr.Destroy()
	got := yr.GetRules()
	if len(got) != len(index) {
		return nil, nil, fmt.Errorf("reduced set has %d rules, want %d", len(got), len(index))
	}
	global := map[int32]bool{}
	for _, g := range rs.global {
		global[g] = true
	}
	for k := range got {
		r := &got[k]
		if want := rs.rules[index[k]]; !reflect.DeepEqual(ruleFromYara(r), want) || r.IsGlobal() != global[index[k]] {
			return nil, nil, fmt.Errorf("reduced rule %d is %q, want %q", k, r.Identifier(), want.Name)
		}
	}
	var buf bytes.Buffer
	if err := yr.Write(&buf); err != nil {
		return nil, nil, err
	}
	c, err := loadCompiledRules(buf.Bytes(), len(index))
	if err != nil {
		return nil, nil, err
	}
	c.pre = newPrefilter(c, rs.covers, rs.needles, index)
	return c, index, nil
}

// free releases the compiled reduced sets; the RuleSet's last reference is
// gone.
func (p *planner) free() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pl := range p.plans {
		pl.c.free()
	}
}
