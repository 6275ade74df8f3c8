package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
	"github.com/vipyrsec/dragonfly-client-go/internal/rulescheck"
)

// "dragonfly rules check" exits exitOK (0) when the rules are clean,
// exitFindings (1) when there are errors (or, with --strict, warnings), and
// exitFailure (2) on a usage error: bad flags, or a DIR that cannot be read.

const rulesUsage = `Usage: dragonfly rules check [--sample PATH]... [--strict] [--budget PCT] [--format text|json] DIR

Checks a folder of YARA rules the way the mainframe and the workers use them:
every .yar and .yara file in DIR compiled as one set (in file-name order, one
namespace), with each file's errors located; libyara's warnings; duplicated
rule names with both locations; the metadata the client scores with (an
integer weight, a filetype of path suffixes, a description); and each public
rule's matching time on sample files, ranked, with a warning for any rule
over the budget.

Samples (--sample, repeatable) are files, archives (flattened: their inner
files are matched, as when scanning) or folders of them. Without --sample:
samples/dist, else samples/src, in the working folder, else a built-in
generated corpus of ordinary Python.

Flags:
  --sample PATH   time rules on PATH (repeatable)
  --strict        exit 1 on warnings too
  --budget PCT    warn about a rule taking over PCT% of the matching time (default 10; 100 turns it off)
  --format F      text (default) or json

Exit codes: 0 clean, 1 errors (with --strict: or warnings), 2 usage error.
`

// rulesCommand runs "dragonfly rules SUBCOMMAND".
func rulesCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return exitFailure
	}
	switch args[0] {
	case "check":
		return rulesCheck(args[1:], stdout, stderr, rulescheck.CostOptions{})
	case "help", "-h", "--help":
		fmt.Fprint(stdout, rulesUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "dragonfly rules: unknown subcommand %q\n\n%s", args[0], rulesUsage)
	return exitFailure
}

type rulesCheckFlags struct {
	samples []string
	strict  bool
	budget  float64
	format  string
	dir     string
}

type rulesStringList []string

func (s *rulesStringList) String() string     { return strings.Join(*s, ",") }
func (s *rulesStringList) Set(v string) error { *s = append(*s, v); return nil }

// parseRulesCheckFlags accepts flags before and after DIR; "--" ends flags.
func parseRulesCheckFlags(args []string, stderr io.Writer) (rulesCheckFlags, error) {
	f := rulesCheckFlags{budget: 10, format: "text"}
	fs := flag.NewFlagSet("dragonfly rules check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var((*rulesStringList)(&f.samples), "sample", "")
	fs.BoolVar(&f.strict, "strict", false, "")
	fs.Float64Var(&f.budget, "budget", 10, "")
	fs.StringVar(&f.format, "format", "text", "")
	var dirs []string
	for {
		if err := fs.Parse(args); err != nil {
			return f, err
		}
		rest := fs.Args()
		consumed := args[:len(args)-len(rest)]
		if len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			dirs = append(dirs, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		dirs = append(dirs, rest[0])
		args = rest[1:]
	}
	switch {
	case f.format != "text" && f.format != "json":
		return f, fmt.Errorf("--format must be text or json, got %q", f.format)
	case !(f.budget > 0 && f.budget <= 100):
		return f, fmt.Errorf("--budget must be a percentage above 0 and at most 100, got %g", f.budget)
	case len(dirs) != 1:
		return f, fmt.Errorf("want one DIR, got %d", len(dirs))
	}
	f.dir = dirs[0]
	return f, nil
}

// rulesCheck is "dragonfly rules check"; cost tunes the timing (tests
// shorten it).
func rulesCheck(args []string, stdout, stderr io.Writer, cost rulescheck.CostOptions) int {
	flags, err := parseRulesCheckFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, rulesUsage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly rules check: %v\n\n%s", err, rulesUsage)
		return exitFailure
	}
	files, readFindings, err := readRuleFiles(flags.dir)
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly rules check: %v\n", err)
		return exitFailure
	}
	var samples *rulesSampleSet
	if len(files) > 0 {
		// Read the samples first: an unreadable --sample is a usage error,
		// found before the work.
		if samples, err = loadRulesSamples(flags.samples, "."); err != nil {
			fmt.Fprintf(stderr, "dragonfly rules check: %v\n", err)
			return exitFailure
		}
	}
	res := runRulesCheck(flags.dir, files, readFindings, samples, flags.budget, cost)
	if flags.format == "json" {
		err = res.writeJSON(stdout)
	} else {
		err = res.writeText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly rules check: writing the report: %v\n", err)
		return exitFailure
	}
	if res.errors() > 0 || (flags.strict && res.warnings() > 0) {
		return exitFindings
	}
	return exitOK
}

// readRuleFiles reads the .yar and .yara files of dir as rules.LoadDir does
// (not recursively; a file's key is its name without the extension). Two
// files with the same key are an error finding, as LoadDir refuses them.
func readRuleFiles(dir string) ([]rulescheck.RuleFile, []rulescheck.Finding, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var files []rulescheck.RuleFile
	var findings []rulescheck.Finding
	byKey := map[string]string{}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yar" && ext != ".yara") {
			continue
		}
		key := strings.TrimSuffix(e.Name(), ext)
		path := filepath.Join(dir, e.Name())
		if prev, dup := byKey[key]; dup {
			findings = append(findings, rulescheck.Finding{Severity: rulescheck.SeverityError, Check: "compile", File: path,
				Message: fmt.Sprintf("same key %q as %s: the mainframe keys rules by file name without the extension, and the set does not load", key, prev)})
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		byKey[key] = path
		files = append(files, rulescheck.NewRuleFile(key, path, string(b)))
	}
	rulescheck.SortRuleFiles(files)
	return files, findings, nil
}

// rulesSampleSet is the corpus rules are timed on.
type rulesSampleSet struct {
	Source  string              // what it is, for the report
	Samples []rulescheck.Sample // every file matched, inner files of archives included
	Notes   []string            // archives that did not flatten completely
}

func (s *rulesSampleSet) bytes() int64 {
	var n int64
	for _, x := range s.Samples {
		n += int64(len(x.Data))
	}
	return n
}

// loadRulesSamples reads the --sample paths, or the default corpus: the
// demo distributions or their sources when base (the working folder) is a
// checkout of this repository, else the generated corpus.
func loadRulesSamples(paths []string, base string) (*rulesSampleSet, error) {
	if len(paths) > 0 {
		return readRulesSamples(strings.Join(paths, ", "), paths)
	}
	for _, dir := range []string{filepath.Join(base, "samples", "dist"), filepath.Join(base, "samples", "src")} {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			s, err := readRulesSamples(dir, []string{dir})
			if err == nil && len(s.Samples) > 0 {
				return s, nil
			}
		}
	}
	return &rulesSampleSet{Source: "built-in generated corpus", Samples: rulescheck.SyntheticSamples()}, nil
}

// readRulesSamples reads files and folders (recursively); archives are flattened
// with the scanner's limits and their files matched as a scan would.
func readRulesSamples(source string, paths []string) (*rulesSampleSet, error) {
	set := &rulesSampleSet{Source: source}
	lim := archive.DefaultLimits()
	add := func(path string) error {
		data, err := readRulesSample(path, lim.MaxScanSize)
		if err != nil {
			return err
		}
		var inner []rulescheck.Sample
		fl, err := archive.Flatten(context.Background(), data, lim, func(f *archive.File) error {
			if f.Data != nil {
				inner = append(inner, rulescheck.Sample{Path: filepath.ToSlash(path) + "/" + f.Path, Data: append([]byte(nil), f.Data...)})
			}
			return nil
		}, archive.Options{})
		if fl.Format == "" {
			set.Samples = append(set.Samples, rulescheck.Sample{Path: filepath.ToSlash(path), Data: data})
			return nil
		}
		if err != nil {
			set.Notes = append(set.Notes, fmt.Sprintf("%s: %v (its files up to there are used)", path, err))
		}
		set.Samples = append(set.Samples, inner...)
		return nil
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("--sample: %w", err)
		}
		if !st.IsDir() {
			if err := add(p); err != nil {
				return nil, fmt.Errorf("--sample: %w", err)
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			return add(path)
		})
		if err != nil {
			return nil, fmt.Errorf("--sample: %w", err)
		}
	}
	if len(set.Samples) == 0 {
		return nil, fmt.Errorf("--sample: no files in %s", source)
	}
	return set, nil
}

// readRulesSample reads one sample file, refusing one over limit bytes.
func readRulesSample(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: over %d bytes", path, limit)
	}
	return data, nil
}

// rulesCheckResult is everything the check found.
type rulesCheckResult struct {
	Dir      string
	Files    int
	Rules    int
	Findings []rulescheck.Finding // sorted: by file and line
	Cost     *rulescheck.CostReport
	// CostSkipped says why no cost was measured.
	CostSkipped string
	Samples     *rulesSampleSet
	Budget      float64
}

func (r *rulesCheckResult) count(sev rulescheck.Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == sev {
			n++
		}
	}
	return n
}

func (r *rulesCheckResult) errors() int   { return r.count(rulescheck.SeverityError) }
func (r *rulesCheckResult) warnings() int { return r.count(rulescheck.SeverityWarning) }

func runRulesCheck(dir string, files []rulescheck.RuleFile, findings []rulescheck.Finding, samples *rulesSampleSet, budget float64, costOpt rulescheck.CostOptions) *rulesCheckResult {
	res := &rulesCheckResult{Dir: dir, Files: len(files), Samples: samples, Budget: budget}
	for _, f := range files {
		res.Rules += len(f.Defs.Rules)
	}
	if len(files) == 0 {
		res.Findings = append(findings, rulescheck.Finding{Severity: rulescheck.SeverityError, Check: "compile", File: dir,
			Message: "no .yar or .yara files"})
		res.CostSkipped = "no rules"
		return res
	}
	add := func(fs ...rulescheck.Finding) { findings = append(findings, fs...) }

	// The set as the mainframe and the workers load it decides.
	rs, loadErr := rules.LoadDir(dir)
	errs, warns, err := rulescheck.CheckCompile(files)
	if err != nil {
		add(rulescheck.Finding{Severity: rulescheck.SeverityError, Check: "compile", File: dir, Message: err.Error()})
	}
	add(errs...)
	add(warns...)
	add(rulescheck.LintRules(files)...)
	compiled := loadErr == nil && len(errs) == 0 && res.errorsIn(findings, "compile", "duplicate-rule") == 0
	if loadErr == nil {
		res.Rules = len(rs.Rules())
		parsed := map[string]bool{}
		for _, f := range files {
			for _, r := range f.Defs.Rules {
				parsed[r.Name] = true
			}
		}
		for _, r := range rs.Rules() {
			if !parsed[r.Name] {
				add(rulescheck.Finding{Severity: rulescheck.SeverityWarning, Check: "metadata", File: dir, Rule: r.Name,
					Message: "compiled, but not found in the sources by this check: its metadata and cost were not checked"})
			}
		}
		rs.Close()
	} else if len(errs) == 0 && err == nil && res.errorsIn(findings, "compile", "duplicate-rule") == 0 {
		// Something CheckCompile does not see (the final link step).
		add(rulescheck.Finding{Severity: rulescheck.SeverityError, Check: "compile", File: dir, Message: loadErr.Error()})
	}

	switch {
	case !compiled:
		res.CostSkipped = "the rules do not compile"
	default:
		rep, err := rulescheck.MeasureCost(files, samples.Samples, costOpt)
		if err != nil {
			res.CostSkipped = err.Error()
			add(rulescheck.Finding{Severity: rulescheck.SeverityWarning, Check: "cost", File: dir, Message: err.Error()})
			break
		}
		res.Cost = rep
		add(rep.Findings(budget)...)
	}
	rulescheck.SortFindings(findings)
	res.Findings = findings
	return res
}

func (r *rulesCheckResult) errorsIn(fs []rulescheck.Finding, checks ...string) int {
	n := 0
	for _, f := range fs {
		for _, c := range checks {
			if f.Severity == rulescheck.SeverityError && f.Check == c {
				n++
			}
		}
	}
	return n
}

func (r *rulesCheckResult) summary() string {
	return fmt.Sprintf("%s, %s: %s, %s", rulesPlural(r.Files, "file"), rulesPlural(r.Rules, "rule"),
		rulesPlural(r.errors(), "error"), rulesPlural(r.warnings(), "warning"))
}

func rulesPlural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func (r *rulesCheckResult) writeText(w io.Writer) error {
	ew := &rulesErrWriter{w: w}
	for _, sev := range []rulescheck.Severity{rulescheck.SeverityError, rulescheck.SeverityWarning} {
		header := false
		for _, f := range r.Findings {
			if f.Severity != sev {
				continue
			}
			if !header {
				fmt.Fprintf(ew, "%ss:\n", sev)
				header = true
			}
			fmt.Fprintf(ew, "  %s\n", f)
		}
		if header {
			fmt.Fprintln(ew)
		}
	}
	switch {
	case r.Cost != nil:
		fmt.Fprintf(ew, "cost on %s (%s, %s), budget %g%%:\n", r.Samples.Source, rulesPlural(r.Cost.Samples, "file"), rulesHumanBytes(r.Cost.SampleBytes), r.Budget)
		for _, n := range r.Samples.Notes {
			fmt.Fprintf(ew, "  note: %s\n", n)
		}
		var table bytes.Buffer
		tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  #\tRULE\tFILE\tMS/MB\tSHARE\t")
		for i, c := range r.Cost.Rules {
			ms, share := fmt.Sprintf("%.3f", c.MsPerMB), fmt.Sprintf("%.1f%%", c.Share*100)
			switch {
			case c.Method == "":
				ms, share = "-", "-"
			case c.TimedOut:
				ms = "timeout"
			}
			mark := ""
			if c.Share*100 > r.Budget {
				mark = "over budget"
			}
			if c.Method == rulescheck.CostLeaveOneOut {
				mark = strings.TrimSpace(mark + " (leave-one-out)")
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s:%d\t%s\t%s\t%s\n", i+1, c.Rule, c.File, c.Line, ms, share, mark)
		}
		tw.Flush()
		for _, line := range strings.SplitAfter(table.String(), "\n") {
			if line != "" {
				fmt.Fprintln(ew, strings.TrimRight(line, " \n"))
			}
		}
		for _, c := range r.Cost.Rules {
			if c.Method == rulescheck.CostLeaveOneOut {
				fmt.Fprintf(ew, "  note: %s: %s\n", c.Rule, c.Note)
			}
		}
		fmt.Fprintln(ew)
	case r.CostSkipped != "":
		fmt.Fprintf(ew, "cost: not measured: %s\n\n", r.CostSkipped)
	}
	fmt.Fprintln(ew, r.summary())
	return ew.err
}

func rulesHumanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// rulesErrWriter keeps the first write error.
type rulesErrWriter struct {
	w   io.Writer
	err error
}

func (e *rulesErrWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// The JSON report of "dragonfly rules check --format json".
type rulesCheckJSON struct {
	Dir      string             `json:"dir"`
	Files    int                `json:"files"`
	Rules    int                `json:"rules"`
	Errors   []rulesFindingJSON `json:"errors"`
	Warnings []rulesFindingJSON `json:"warnings"`
	Cost     *rulesCostJSON     `json:"cost"`
	Summary  string             `json:"summary"`
}

type rulesFindingJSON struct {
	Check   string `json:"check"`
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Message string `json:"message"`
}

type rulesCostJSON struct {
	Skipped      string              `json:"skipped,omitempty"`
	Samples      string              `json:"samples,omitempty"`
	SampleFiles  int                 `json:"sample_files"`
	SampleBytes  int64               `json:"sample_bytes"`
	SampleNotes  []string            `json:"sample_notes,omitempty"`
	BudgetPct    float64             `json:"budget_pct"`
	BaselineMs   float64             `json:"baseline_ms_per_round"`
	Rules        []rulesCostRuleJSON `json:"rules"`
	TotalMsPerMB float64             `json:"total_ms_per_mb"`
}

type rulesCostRuleJSON struct {
	Rule       string  `json:"rule"`
	File       string  `json:"file"`
	Line       int     `json:"line"`
	Method     string  `json:"method"` // alone, leave-one-out, or "" when not measured
	MsPerMB    float64 `json:"ms_per_mb"`
	SharePct   float64 `json:"share_pct"`
	OverBudget bool    `json:"over_budget"`
	TimedOut   bool    `json:"timed_out,omitempty"`
	Note       string  `json:"note,omitempty"`
}

func (r *rulesCheckResult) writeJSON(w io.Writer) error {
	out := rulesCheckJSON{Dir: r.Dir, Files: r.Files, Rules: r.Rules, Summary: r.summary(),
		Errors: []rulesFindingJSON{}, Warnings: []rulesFindingJSON{}}
	for _, f := range r.Findings {
		j := rulesFindingJSON{Check: f.Check, File: f.File, Line: f.Line, Rule: f.Rule, Message: f.Message}
		if f.Severity == rulescheck.SeverityError {
			out.Errors = append(out.Errors, j)
		} else {
			out.Warnings = append(out.Warnings, j)
		}
	}
	c := &rulesCostJSON{Skipped: r.CostSkipped, BudgetPct: r.Budget, Rules: []rulesCostRuleJSON{}}
	if r.Samples != nil {
		c.Samples, c.SampleNotes = r.Samples.Source, r.Samples.Notes
		c.SampleFiles, c.SampleBytes = len(r.Samples.Samples), r.Samples.bytes()
	}
	if r.Cost != nil {
		c.BaselineMs = float64(r.Cost.Baseline) / float64(time.Millisecond)
		for _, rc := range r.Cost.Rules {
			c.Rules = append(c.Rules, rulesCostRuleJSON{Rule: rc.Rule, File: rc.File, Line: rc.Line, Method: rc.Method,
				MsPerMB: rulesRound3(rc.MsPerMB), SharePct: rulesRound3(rc.Share * 100), OverBudget: rc.Share*100 > r.Budget,
				TimedOut: rc.TimedOut, Note: rc.Note})
			if !rc.TimedOut {
				c.TotalMsPerMB += rc.MsPerMB
			}
		}
		c.TotalMsPerMB = rulesRound3(c.TotalMsPerMB)
	}
	out.Cost = c
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func rulesRound3(f float64) float64 {
	if f != f { // NaN
		return 0
	}
	return float64(int64(f*1000+0.5)) / 1000
}
