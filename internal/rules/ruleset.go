package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hillu/go-yara/v4"
	"github.com/vipyrsec/dragonfly-client-go/internal/yarasrc"
)

// Rule is what the client knows of one compiled YARA rule: the metadata
// that decides how a match counts.
type Rule struct {
	Name string
	// Weight is the rule's integer "weight" metadata, else 0.
	Weight int64
	// FileTypes are the path suffixes of the "filetype" metadata; a rule
	// without them counts for every file.
	FileTypes []string
	// Description is the rule's "description" metadata, if any.
	Description string
	// Private rules never report a match of their own; other rules use them.
	Private bool
}

// CountsFor reports whether a match of r counts for the file at path: a rule
// with filetype metadata counts only where the path ends with one of its
// suffixes. Paths are compared as raw bytes (non-UTF-8 names included).
func (r *Rule) CountsFor(path string) bool {
	if len(r.FileTypes) == 0 {
		return true
	}
	for _, s := range r.FileTypes {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}

// RuleSet is an immutable compiled rule set. It is safe for concurrent use;
// each goroutine matches through its own [Matcher]. The compiled rules are
// freed when the set has been closed and every matcher made from it has been
// closed too, so a daemon may swap rule sets while old jobs finish.
type RuleSet struct {
	hash     string
	rules    []Rule // indexed like libyara's rules table
	byName   map[string]int
	warnings []CompileMessage

	mu     sync.Mutex
	refs   int // the set's own reference plus one per open matcher
	closed bool
	c      *compiledRules

	// sources and global are what rule plans need (ruleplan.go): the
	// sources by key, and the compiled global rules.
	sources map[string]string
	global  []int32
	plans   planner

	// defs and files are the sources read (readSources), unless srcOff
	// says why not; covers is, per rule, the strings it cannot match
	// without (yarasrc.Covers), nil without sources.
	defs    []yarasrc.RuleDef
	files   []planSource
	srcOff  string
	covers  [][]yarasrc.StringRef
	needles []map[string][]yarasrc.Needle // per rule (yarasrc.RuleDef.Needles)
}

// CompileMessage is an error or warning of the YARA compiler, located by the
// rules file it came from.
type CompileMessage struct {
	File string // the source's key, e.g. "setup_exec" or "setup_exec.yar"
	Line int
	Text string
}

func (m CompileMessage) String() string {
	return fmt.Sprintf("%s line %d: %s", m.File, m.Line, m.Text)
}

// CompileError is returned when a rules file does not compile.
type CompileError struct{ Messages []CompileMessage }

func (e *CompileError) Error() string {
	parts := make([]string, len(e.Messages))
	for i, m := range e.Messages {
		parts[i] = m.String()
	}
	return "rules do not compile: " + strings.Join(parts, "; ")
}

// Hash returns the identity of the rule set: the mainframe's rules commit, or
// for local rules the SHA-256 of their sorted name/source pairs.
func (rs *RuleSet) Hash() string { return rs.hash }

// Rules returns the rules in compiled order, private ones included.
func (rs *RuleSet) Rules() []Rule { return rs.rules }

// Rule returns the rule named name.
func (rs *RuleSet) Rule(name string) (Rule, bool) {
	i, ok := rs.byName[name]
	if !ok {
		return Rule{}, false
	}
	return rs.rules[i], true
}

// Warnings returns what the compiler warned about (slow strings, for example).
func (rs *RuleSet) Warnings() []CompileMessage { return rs.warnings }

// SourcesHash is the hash of a local rule set: SHA-256 over the pairs sorted
// by name, each written as name, NUL, source, NUL.
func SourcesHash(sources map[string]string) string {
	h := sha256.New()
	for _, name := range sortedKeys(sources) {
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write([]byte(sources[name]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// LoadDir compiles every .yar and .yara file in dir (not recursively). Each
// file's key is its name without the extension, as the mainframe keys them;
// the hash is [SourcesHash] of those pairs.
func LoadDir(dir string) (*RuleSet, error) {
	list, err := SourceFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	sources := map[string]string{}
	files := map[string]string{}
	for _, f := range list {
		key := f.Key
		if prev, dup := files[key]; dup {
			return nil, fmt.Errorf("rules: %s and %s have the same key %q", prev, f.Name, key)
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		sources[key] = string(b)
		files[key] = f.Name
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("rules: no .yar or .yara files in %s", dir)
	}
	rs, err := compile(SourcesHash(sources), sources, files)
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// Compile compiles the mainframe's {key: source} map as one rule set, adding
// the sources in sorted key order so that the result does not depend on map
// order. hash is recorded as the set's identity; pass "" to use [SourcesHash].
func Compile(hash string, sources map[string]string) (*RuleSet, error) {
	if hash == "" {
		hash = SourcesHash(sources)
	}
	return compile(hash, sources, nil)
}

// compile adds each source under the default namespace, so that a rule may
// use rules of files sorted before it and a name defined twice is an error,
// as on the mainframe. fileNames maps keys to file names for messages.
func compile(hash string, sources map[string]string, fileNames map[string]string) (*RuleSet, error) {
	if len(sources) == 0 {
		return nil, errors.New("rules: empty rule set")
	}
	comp, err := yara.NewCompiler()
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	defer comp.Destroy()
	display := func(key string) string {
		if n, ok := fileNames[key]; ok {
			return n
		}
		return key
	}
	var warnings []CompileMessage
	for _, key := range sortedKeys(sources) {
		nWarn := len(comp.Warnings)
		if err := comp.AddString(sources[key], ""); err != nil {
			ce := &CompileError{}
			for _, m := range comp.Errors {
				ce.Messages = append(ce.Messages, CompileMessage{File: display(key), Line: m.Line, Text: m.Text})
			}
			if len(ce.Messages) == 0 {
				ce.Messages = append(ce.Messages, CompileMessage{File: display(key), Text: err.Error()})
			}
			return nil, ce
		}
		for _, m := range comp.Warnings[nWarn:] {
			warnings = append(warnings, CompileMessage{File: display(key), Line: m.Line, Text: m.Text})
		}
	}
	yr, err := comp.GetRules()
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	defer yr.Destroy()

	rs := &RuleSet{hash: hash, warnings: warnings, byName: map[string]int{}, refs: 1, sources: maps.Clone(sources)}
	for _, r := range yr.GetRules() {
		rule := ruleFromYara(&r)
		if r.IsGlobal() {
			rs.global = append(rs.global, int32(len(rs.rules)))
		}
		rs.byName[rule.Name] = len(rs.rules)
		rs.rules = append(rs.rules, rule)
	}

	// The matcher scans through its own copy of the compiled rules, loaded
	// from go-yara's serialised form, so that matching runs entirely in C
	// (see matcher.go) without a Go callback per matched rule.
	var buf bytes.Buffer
	if err := yr.Write(&buf); err != nil {
		return nil, fmt.Errorf("rules: serialise: %w", err)
	}
	c, err := loadCompiledRules(buf.Bytes(), len(rs.rules))
	if err != nil {
		return nil, err
	}
	rs.c = c
	if rs.defs, rs.files, rs.srcOff = readSources(rs); rs.srcOff == "" {
		rs.covers = yarasrc.Covers(rs.defs)
		rs.needles = make([]map[string][]yarasrc.Needle, len(rs.defs))
		for i := range rs.defs {
			rs.needles[i] = rs.defs[i].Needles()
		}
	}
	c.pre = newPrefilter(c, rs.covers, rs.needles, nil)
	return rs, nil
}

// ruleFromYara reads what the client knows of a compiled rule.
func ruleFromYara(r *yara.Rule) Rule {
	rule := Rule{Name: r.Identifier(), Private: r.IsPrivate()}
	// The first occurrence of each metadata key wins.
	seenWeight, seenFT, seenDesc := false, false, false
	for _, m := range r.Metas() {
		switch m.Identifier {
		case "weight":
			if w, ok := m.Value.(int); ok && !seenWeight {
				rule.Weight = int64(w)
			}
			seenWeight = true
		case "filetype":
			if s, ok := m.Value.(string); ok && !seenFT {
				rule.FileTypes = strings.Fields(s)
			}
			seenFT = true
		case "description":
			if s, ok := m.Value.(string); ok && !seenDesc {
				rule.Description = s
			}
			seenDesc = true
		}
	}
	return rule
}

// acquire takes a reference for a matcher; it fails once the set is freed.
func (rs *RuleSet) acquire() (*compiledRules, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.refs == 0 {
		return nil, errors.New("rules: rule set is closed")
	}
	rs.refs++
	return rs.c, nil
}

func (rs *RuleSet) release() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.refs == 0 {
		return
	}
	rs.refs--
	if rs.refs == 0 {
		rs.c.free()
		rs.c = nil
		rs.plans.free()
	}
}

// Retain takes a reference that keeps the compiled rules alive until the
// returned release is called, so that a job can make matchers from its set
// after a daemon has swapped in (and closed) another. It fails once the set
// has been freed. release is idempotent.
func (rs *RuleSet) Retain() (release func(), err error) {
	if _, err := rs.acquire(); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(rs.release) }, nil
}

// Close releases the set's own reference. The compiled rules are freed once
// every matcher made from the set has been closed too. Close is idempotent.
func (rs *RuleSet) Close() {
	rs.mu.Lock()
	closed := rs.closed
	rs.closed = true
	rs.mu.Unlock()
	if !closed {
		rs.release()
	}
}
