package rulescheck

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// "dragonfly rules check" without its flags: ReadDir reads a rules folder,
// LoadSamples the corpus to time the rules on, Run checks and times them,
// and the Result is written as text or JSON (checkreport.go).

// ReadDir reads the .yar and .yara files of dir as rules.LoadDir does (the
// files of rules.SourceFiles: not recursively; a file's key is its name
// without the extension). Two files with the same key are an error
// finding, as LoadDir refuses them.
func ReadDir(dir string) ([]RuleFile, []Finding, error) {
	list, err := rules.SourceFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	var files []RuleFile
	var findings []Finding
	byKey := map[string]string{}
	for _, e := range list {
		key := e.Key
		path := filepath.Join(dir, e.Name)
		if prev, dup := byKey[key]; dup {
			findings = append(findings, Finding{Severity: SeverityError, Check: "compile", File: path,
				Message: fmt.Sprintf("same key %q as %s: the mainframe keys rules by file name without the extension, and the set does not load", key, prev)})
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		byKey[key] = path
		files = append(files, NewRuleFile(key, path, string(b)))
	}
	SortRuleFiles(files)
	return files, findings, nil
}

// Result is everything the check found.
type Result struct {
	Dir      string
	Files    int
	Rules    int
	Findings []Finding // sorted: by file and line
	Cost     *CostReport
	// CostSkipped says why no cost was measured.
	CostSkipped string
	Samples     *SampleSet
	Budget      float64
}

func (r *Result) count(sev Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == sev {
			n++
		}
	}
	return n
}

// Errors is the number of error findings.
func (r *Result) Errors() int { return r.count(SeverityError) }

// Warnings is the number of warning findings.
func (r *Result) Warnings() int { return r.count(SeverityWarning) }

// Run checks the rule files of dir (read by ReadDir, with the findings it
// made): compiles them as rules.LoadDir does and as one set, file by file,
// lints their metadata and, when they compile, times each rule on the
// samples, warning about a rule over budget percent of the matching time.
func Run(dir string, files []RuleFile, findings []Finding, samples *SampleSet, budget float64, costOpt CostOptions) *Result {
	res := &Result{Dir: dir, Files: len(files), Samples: samples, Budget: budget}
	for _, f := range files {
		res.Rules += len(f.Defs.Rules)
	}
	if len(files) == 0 {
		res.Findings = append(findings, Finding{Severity: SeverityError, Check: "compile", File: dir,
			Message: "no .yar or .yara files"})
		res.CostSkipped = "no rules"
		return res
	}
	add := func(fs ...Finding) { findings = append(findings, fs...) }

	// The set as the mainframe and the workers load it decides.
	rs, loadErr := rules.LoadDir(dir)
	errs, warns, err := CheckCompile(files)
	if err != nil {
		add(Finding{Severity: SeverityError, Check: "compile", File: dir, Message: err.Error()})
	}
	add(errs...)
	add(warns...)
	add(LintRules(files)...)
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
				add(Finding{Severity: SeverityWarning, Check: "metadata", File: dir, Rule: r.Name,
					Message: "compiled, but not found in the sources by this check: its metadata and cost were not checked"})
			}
		}
		rs.Close()
	} else if len(errs) == 0 && err == nil && res.errorsIn(findings, "compile", "duplicate-rule") == 0 {
		// Something CheckCompile does not see (the final link step).
		add(Finding{Severity: SeverityError, Check: "compile", File: dir, Message: loadErr.Error()})
	}

	switch {
	case !compiled:
		res.CostSkipped = "the rules do not compile"
	default:
		rep, err := MeasureCost(files, samples.Samples, costOpt)
		if err != nil {
			res.CostSkipped = err.Error()
			add(Finding{Severity: SeverityWarning, Check: "cost", File: dir, Message: err.Error()})
			break
		}
		res.Cost = rep
		add(rep.Findings(budget)...)
	}
	SortFindings(findings)
	res.Findings = findings
	return res
}

func (r *Result) errorsIn(fs []Finding, checks ...string) int {
	n := 0
	for _, f := range fs {
		for _, c := range checks {
			if f.Severity == SeverityError && f.Check == c {
				n++
			}
		}
	}
	return n
}

func (r *Result) summary() string {
	return fmt.Sprintf("%s, %s: %s, %s", plural(r.Files, "file"), plural(r.Rules, "rule"),
		plural(r.Errors(), "error"), plural(r.Warnings(), "warning"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
