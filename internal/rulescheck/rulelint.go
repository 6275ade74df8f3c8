package rulescheck

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/hillu/go-yara/v4"
	"github.com/vipyrsec/dragonfly-client-go/internal/yarasrc"
)

// RuleFile is one rules file of a set, as the rules check reads it.
type RuleFile struct {
	// Key is the file's name without its extension, as the mainframe keys
	// rules: files compile in key order.
	Key string
	// Name names the file in findings, e.g. "rules/setup.yar".
	Name   string
	Source string
	Defs   yarasrc.SourceDefs
}

// NewRuleFile parses source into a RuleFile.
func NewRuleFile(key, name, source string) RuleFile {
	return RuleFile{Key: key, Name: name, Source: source, Defs: yarasrc.Parse(source)}
}

// SortRuleFiles sorts files in compile order (by key).
func SortRuleFiles(files []RuleFile) {
	sort.SliceStable(files, func(i, j int) bool { return files[i].Key < files[j].Key })
}

// Severity is "error" or "warning".
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding is one thing the rules check reports about a rules file.
type Finding struct {
	Severity Severity
	// Check names the kind of finding, for filtering: compile, yara (a
	// libyara warning), duplicate-rule, weight, filetype, description,
	// meta-key, include, cost, metadata.
	Check   string
	File    string
	Line    int // 0 when the finding has no line
	Rule    string
	Message string
}

func (f Finding) String() string {
	loc := f.File
	if f.Line > 0 {
		loc += ":" + strconv.Itoa(f.Line)
	}
	msg := f.Message
	if f.Rule != "" {
		msg = f.Rule + ": " + msg
	}
	return fmt.Sprintf("%s: %s: %s", loc, f.Severity, msg)
}

// SortFindings orders findings by file, then line, keeping the order of
// findings on the same line.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].File != fs[j].File {
			return fs[i].File < fs[j].File
		}
		return fs[i].Line < fs[j].Line
	})
}

// ruleIndex finds rule definitions by name across files, in compile order.
type ruleIndex struct {
	files  []RuleFile
	byName map[string][]ruleLoc
}

type ruleLoc struct{ file, rule int }

func newRuleIndex(files []RuleFile) *ruleIndex {
	ix := &ruleIndex{files: files, byName: map[string][]ruleLoc{}}
	for fi := range files {
		for ri, r := range files[fi].Defs.Rules {
			ix.byName[r.Name] = append(ix.byName[r.Name], ruleLoc{fi, ri})
		}
	}
	return ix
}

func (ix *ruleIndex) def(l ruleLoc) *yarasrc.RuleDef { return &ix.files[l.file].Defs.Rules[l.rule] }

func (ix *ruleIndex) where(l ruleLoc) string {
	return fmt.Sprintf("%s:%d", ix.files[l.file].Name, ix.def(l).Line)
}

// ruleAt names the rule of file fi whose lines span line, or "".
func (ix *ruleIndex) ruleAt(fi, line int) string {
	if i := ix.files[fi].Defs.RuleAt(line); i >= 0 {
		return ix.files[fi].Defs.Rules[i].Name
	}
	return ""
}

var (
	reDuplicated = regexp.MustCompile(`^duplicated identifier "([^"]+)"$`)
	reUndefined  = regexp.MustCompile(`^undefined identifier "([^"]+)"$`)
)

// CheckCompile compiles files (in compile order, see [SortRuleFiles]) into
// one namespace as [rules.LoadDir] does, and returns the compiler's errors and
// warnings as findings. Where libyara stops at the first file that fails,
// this goes on: each failing file is left out and the files after it are
// compiled on top of those that did compile, so that every file's first
// error is reported (an error that follows from a left-out file says so).
// A duplicated rule name is left to [LintRules], which names both
// definitions.
func CheckCompile(files []RuleFile) (errs, warns []Finding, err error) {
	ix := newRuleIndex(files)
	failed := map[int]bool{}
	var good []int
	newCompiler := func() (*yara.Compiler, error) {
		c, err := yara.NewCompiler()
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		for _, i := range good {
			if err := c.AddString(files[i].Source, ""); err != nil {
				c.Destroy()
				return nil, fmt.Errorf("rules: %s compiled once and not again: %w", files[i].Name, err)
			}
		}
		return c, nil
	}
	comp, err := newCompiler()
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if comp != nil {
			comp.Destroy()
		}
	}()
	for fi := range files {
		nWarn := len(comp.Warnings)
		addErr := comp.AddString(files[fi].Source, "")
		for _, m := range comp.Warnings[nWarn:] {
			warns = append(warns, Finding{Severity: SeverityWarning, Check: "yara", File: files[fi].Name,
				Line: m.Line, Rule: ix.ruleAt(fi, m.Line), Message: m.Text})
		}
		if addErr == nil {
			good = append(good, fi)
			continue
		}
		failed[fi] = true
		msgs := comp.Errors
		if len(msgs) == 0 {
			msgs = []yara.CompilerMessage{{Text: addErr.Error()}}
		}
		for _, m := range msgs {
			text := m.Text
			if sm := reDuplicated.FindStringSubmatch(text); sm != nil && len(ix.byName[sm[1]]) > 1 {
				continue // LintRules reports it with both locations
			}
			if sm := reUndefined.FindStringSubmatch(text); sm != nil {
				text += undefinedHint(ix, fi, sm[1], failed)
			}
			errs = append(errs, Finding{Severity: SeverityError, Check: "compile", File: files[fi].Name,
				Line: m.Line, Rule: ix.ruleAt(fi, m.Line), Message: text})
		}
		comp.Destroy()
		if comp, err = newCompiler(); err != nil {
			return errs, warns, err
		}
	}
	return errs, warns, nil
}

// undefinedHint explains an undefined identifier that names a rule of
// another file: one that did not compile, or one that compiles later.
func undefinedHint(ix *ruleIndex, fi int, name string, failed map[int]bool) string {
	for _, l := range ix.byName[name] {
		switch {
		case failed[l.file]:
			return fmt.Sprintf(" (defined at %s, in a file that does not compile)", ix.where(l))
		case l.file > fi:
			return fmt.Sprintf(" (defined at %s, which compiles after this file: files compile in name order)", ix.where(l))
		}
	}
	return ""
}

// The metadata the client reads (see [rules.Rule]).
const (
	metaWeight      = "weight"
	metaFileType    = "filetype"
	metaDescription = "description"
)

// LintRules checks what the client relies on and the compiler does not:
// rule names defined more than once (with every location), weight,
// filetype and description metadata, metadata keys the client would not
// read, and include statements. files are in compile order.
func LintRules(files []RuleFile) []Finding {
	ix := newRuleIndex(files)
	var out []Finding
	// Duplicated names: each later definition names the first.
	names := make([]string, 0, len(ix.byName))
	for name, locs := range ix.byName {
		if len(locs) > 1 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		locs := ix.byName[name]
		for _, l := range locs[1:] {
			out = append(out, Finding{Severity: SeverityError, Check: "duplicate-rule", File: files[l.file].Name,
				Line: ix.def(l).Line, Rule: name,
				Message: fmt.Sprintf("rule name defined %d times: first at %s, again here (one namespace: libyara refuses the whole set)", len(locs), ix.where(locs[0]))})
		}
	}
	for fi := range files {
		f := &files[fi]
		for _, d := range f.Defs.Includes {
			out = append(out, Finding{Severity: SeverityWarning, Check: "include", File: f.Name, Line: d.Line,
				Message: fmt.Sprintf("%s: the mainframe hands each file's source to the workers on its own, so the include would be looked up on each worker's disk; rules of files that sort before this one are visible without it", d.Text)})
		}
		for ri := range f.Defs.Rules {
			out = append(out, lintMeta(f.Name, &f.Defs.Rules[ri])...)
		}
	}
	return out
}

func lintMeta(file string, r *yarasrc.RuleDef) []Finding {
	var out []Finding
	add := func(sev Severity, check string, line int, format string, args ...any) {
		if line == 0 {
			line = r.Line
		}
		out = append(out, Finding{Severity: sev, Check: check, File: file, Line: line, Rule: r.Name,
			Message: fmt.Sprintf(format, args...)})
	}
	seen := map[string]int{}
	for _, m := range r.Metas {
		switch m.Key {
		case metaWeight, metaFileType, metaDescription:
			if first, dup := seen[m.Key]; dup {
				add(SeverityWarning, m.Key, m.Line, "%s is given again (first at line %d): only the first counts", m.Key, first)
			} else {
				seen[m.Key] = m.Line
			}
		}
	}
	for _, m := range r.Metas {
		if canon := misspeltMeta(m.Key); canon != "" && seen[canon] == 0 {
			add(SeverityWarning, "meta-key", m.Line, "meta %q is not read by the client, which reads %q", m.Key, canon)
		}
	}

	if r.Private {
		if m, ok := r.Meta(metaFileType); ok {
			add(SeverityWarning, "filetype", m.Line, "filetype on a private rule has no effect: a private rule never counts for a file (the rules that use it apply their own filetype)")
		}
		return out
	}

	if m, ok := r.Meta(metaWeight); !ok {
		add(SeverityWarning, "weight", 0, "no weight: a match adds 0 to the score")
	} else {
		switch m.Kind {
		case yarasrc.MetaString:
			hint := "write an integer"
			if v, err := strconv.ParseInt(strings.TrimSpace(m.Str), 10, 64); err == nil {
				hint = fmt.Sprintf("write weight = %d", v)
			}
			add(SeverityError, "weight", m.Line, "weight = %s is a string: the client reads only integer weights and counts this rule 0; %s", m.Raw, hint)
		case yarasrc.MetaFloat:
			add(SeverityError, "weight", m.Line, "weight = %s is not an integer: libyara 4.2 rejects floating-point metadata (a syntax error) and the client reads only integer weights", m.Raw)
		case yarasrc.MetaBool:
			add(SeverityError, "weight", m.Line, "weight = %s is a boolean: the client reads only integer weights and counts this rule 0", m.Raw)
		}
	}

	if m, ok := r.Meta(metaDescription); !ok {
		add(SeverityWarning, "description", 0, "no description")
	} else if m.Kind != yarasrc.MetaString && m.Kind != yarasrc.MetaOther {
		add(SeverityWarning, "description", m.Line, "description = %s is %s, not a string: the client ignores it", m.Raw, m.Kind)
	} else if m.Kind == yarasrc.MetaString && strings.TrimSpace(m.Str) == "" {
		add(SeverityWarning, "description", m.Line, "description is empty")
	}

	if m, ok := r.Meta(metaFileType); ok {
		switch m.Kind {
		case yarasrc.MetaString:
			for _, msg := range FileTypeProblems(m.Str) {
				add(SeverityWarning, "filetype", m.Line, "%s", msg)
			}
		case yarasrc.MetaOther:
		default:
			add(SeverityError, "filetype", m.Line, "filetype = %s is %s, not a string: the client ignores it and the rule counts for every file", m.Raw, m.Kind)
		}
	}
	return out
}

// misspeltMeta returns the metadata key the client reads that key was
// probably meant to be ("Weight", "file_type", "filetypes"), or "".
func misspeltMeta(key string) string {
	norm := strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(key))
	for _, canon := range []string{metaWeight, metaFileType, metaDescription} {
		if key != canon && (norm == canon || norm == canon+"s") {
			return canon
		}
	}
	return ""
}

// FileTypeProblems explains what in a filetype value would make a rule
// count for other files than its author meant, given that the client
// splits it on white space and counts a rule for a file when the file's
// path ends with one of the items (see [rules.Rule.CountsFor]). Paths are
// flattened archive paths such as "pkg-1.0/setup.py" or
// "pkg-1.0/data/extras.zip/stage2.py", compared byte for byte.
func FileTypeProblems(value string) []string {
	items := strings.Fields(value)
	if len(items) == 0 {
		return []string{fmt.Sprintf("filetype = %q lists no suffix, so the rule counts for every file, as if it had no filetype; remove it or list suffixes such as \".py\"", value)}
	}
	var out []string
	listed := map[string]bool{}
	for _, it := range items {
		if listed[it] {
			out = append(out, fmt.Sprintf("filetype lists %q twice", it))
		}
		listed[it] = true
	}
	done := map[string]bool{}
	for _, it := range items {
		if done[it] {
			continue
		}
		done[it] = true
		base := it[strings.LastIndexByte(it, '/')+1:]
		switch {
		case !strings.Contains(it, "/") && !strings.Contains(it, "."):
			hint := fmt.Sprintf("\"/%s\" would count only for files named %s, but not for one at an archive's root", it, it)
			if len(it) <= 5 && isAlnum(it) {
				hint = fmt.Sprintf("did you mean \".%s\"?", it)
			}
			out = append(out, fmt.Sprintf("filetype item %q has no dot: it is a plain path suffix, so it also counts for names that merely end in it, such as \"pkg/my%s\"; %s", it, it, hint))
		case !strings.Contains(it, "/") && !strings.HasPrefix(it, "."):
			out = append(out, fmt.Sprintf("filetype item %q is a plain path suffix, not a file name: it also counts for \"pkg/my%s\" and \"pkg/test_%s\". \"/%s\" would count only for files named %s (\"pkg-1.0/%s\" included) but not for one at an archive's root, which pip also runs when an sdist has no top folder",
				it, it, it, it, it, it))
		}
		if dot := strings.LastIndexByte(base, '.'); dot >= 0 {
			ext := base[dot+1:]
			if strings.ToLower(ext) != ext && !listed[strings.ToLower(it)] {
				out = append(out, fmt.Sprintf("filetype item %q has capitals: paths are compared case-sensitively, so it does not count for \"pkg/x%s\"; list %q too if both are meant",
					it, strings.ToLower(base), strings.ToLower(it)))
			}
		}
	}
	return out
}

func isAlnum(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return s != ""
}
