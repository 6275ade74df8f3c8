package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/internal/rulescheck"
)

// rulesDir writes the named rule files into a new folder.
func rulesDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rulesSampleFile writes a small plain sample and returns its path.
func rulesSampleFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sample.py")
	if err := os.WriteFile(p, []byte(strings.Repeat("import os\nprint(os.getcwd())\n", 500)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runRules runs "dragonfly rules ARGS" with a short timing, and returns the
// exit code, stdout and stderr.
func runRules(t *testing.T, minTime time.Duration, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	var code int
	if len(args) > 0 && args[0] == "check" {
		code = rulesCheck(args[1:], &out, &errb, rulescheck.CostOptions{MinTime: minTime})
	} else {
		code = rulesCommand(args, &out, &errb)
	}
	return code, out.String(), errb.String()
}

func wantIn(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in:\n%s", w, text)
		}
	}
}

const cleanRules = `/* A clean rules file. */
rule clean_exec
{
    meta:
        description = "exec of a marker"
        weight = 5
        filetype = ".py .pyw"
    strings:
        $a = "exec(MARKER_abc)"
    condition:
        $a and clean_helper
}
`

func TestRulesUsage(t *testing.T) {
	dir := rulesDir(t, map[string]string{"a.yar": cleanRules})
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, exitFailure, "Usage: dragonfly rules check"},
		{[]string{"lint"}, exitFailure, `unknown subcommand "lint"`},
		{[]string{"check"}, exitFailure, "want one DIR, got 0"},
		{[]string{"check", dir, dir}, exitFailure, "want one DIR, got 2"},
		{[]string{"check", "--format", "xml", dir}, exitFailure, "--format must be text or json"},
		{[]string{"check", "--budget", "0", dir}, exitFailure, "--budget must be a percentage"},
		{[]string{"check", "--budget", "150", dir}, exitFailure, "--budget must be a percentage"},
		{[]string{"check", "--nope", dir}, exitFailure, "flag provided but not defined: -nope"},
		{[]string{"check", filepath.Join(dir, "missing")}, exitFailure, "no such file or directory"},
		{[]string{"check", "--sample", filepath.Join(dir, "missing"), dir}, exitFailure, "--sample:"},
	} {
		code, _, stderr := runRules(t, time.Millisecond, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, want %d; stderr %q should contain %q", c.args, code, c.code, stderr, c.msg)
		}
	}
	for _, args := range [][]string{{"--help"}, {"check", "--help"}} {
		code, stdout, _ := runRules(t, time.Millisecond, args...)
		if code != exitOK || !strings.Contains(stdout, "Exit codes: 0 clean, 1 errors") {
			t.Errorf("%v: exit %d, %q", args, code, stdout)
		}
	}
}

func TestRulesCheckCleanSet(t *testing.T) {
	dir := rulesDir(t, map[string]string{
		// clean_helper is defined in a file that sorts first, so a.yar's
		// rule may use it: files compile in name order.
		"0_helpers.yara": "private rule clean_helper { strings: $h = \"MARKER_abc\" condition: $h }\n",
		"a.yar":          cleanRules,
		"notes.txt":      "not a rules file",
	})
	sample := rulesSampleFile(t)
	code, out, stderr := runRules(t, 5*time.Millisecond, "check", "--strict", "--budget", "100", "--sample", sample, dir)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Contains(out, "errors:") || strings.Contains(out, "warnings:") {
		t.Errorf("findings in a clean set:\n%s", out)
	}
	wantIn(t, out, "cost on "+sample+" (1 file,", "clean_exec", filepath.Join(dir, "a.yar")+":2")
	if !strings.HasSuffix(out, "\n2 files, 2 rules: 0 errors, 0 warnings\n") {
		t.Errorf("summary:\n%s", out)
	}
}

// Each file's error is reported with its file and line, not only the first
// file's; the cost is not measured.
func TestRulesCheckSyntaxErrors(t *testing.T) {
	dir := rulesDir(t, map[string]string{
		"a.yar": cleanRules,
		"b.yar": "rule broken\n{\n    condition:\n        true and and\n}\n",
		"c.yar": "rule also_broken { strings: $x = \"x\" condition: true }\n",
	})
	code, out, _ := runRules(t, time.Millisecond, "check", dir)
	if code != exitFindings {
		t.Errorf("exit %d", code)
	}
	wantIn(t, out,
		filepath.Join(dir, "a.yar")+`:11: error: clean_exec: undefined identifier "clean_helper"`,
		filepath.Join(dir, "b.yar")+":4: error: broken: syntax error",
		filepath.Join(dir, "c.yar")+`:1: error: also_broken: unreferenced string "$x"`,
		"cost: not measured: the rules do not compile",
		"3 files, 3 rules: 3 errors, ",
	)
}

func TestRulesCheckDuplicateRuleName(t *testing.T) {
	dir := rulesDir(t, map[string]string{
		"first.yar":  "rule one { condition: true }\n\nrule dup_name { condition: true }\n",
		"second.yar": "// the same name again\n\nrule dup_name\n{\n    condition: false\n}\n",
	})
	code, out, _ := runRules(t, time.Millisecond, "check", dir)
	if code != exitFindings {
		t.Errorf("exit %d", code)
	}
	wantIn(t, out, filepath.Join(dir, "second.yar")+":3: error: dup_name: rule name defined 2 times: first at "+
		filepath.Join(dir, "first.yar")+":3, again here")
	if strings.Contains(out, "duplicated identifier") {
		t.Errorf("libyara's one-location message is repeated:\n%s", out)
	}
}

func TestRulesCheckWeightTypes(t *testing.T) {
	dir := rulesDir(t, map[string]string{
		"s.yar": "rule string_weight {\n  meta:\n    weight = \"5\"\n    description = \"d\"\n  condition: true\n}\n",
		"f.yar": "rule float_weight {\n  meta:\n    weight = 2.5\n    description = \"d\"\n  condition: true\n}\n",
	})
	code, out, _ := runRules(t, time.Millisecond, "check", dir)
	if code != exitFindings {
		t.Errorf("exit %d", code)
	}
	wantIn(t, out,
		filepath.Join(dir, "s.yar")+`:3: error: string_weight: weight = "5" is a string: the client reads only integer weights and counts this rule 0; write weight = 5`,
		filepath.Join(dir, "f.yar")+`:3: error: float_weight: weight = 2.5 is not an integer`,
		filepath.Join(dir, "f.yar")+`:3: error: float_weight: syntax error`,
	)
}

func TestRulesCheckFileTypeWarnings(t *testing.T) {
	dir := rulesDir(t, map[string]string{"ft.yar": `
rule ext_without_dot { meta: weight = 1 description = "d" filetype = "py" condition: true }
rule whole_name { meta: weight = 1 description = "d" filetype = "setup.py" condition: true }
rule empty_filetype { meta: weight = 1 description = "d" filetype = "" condition: true }
`})
	sample := rulesSampleFile(t)
	code, out, _ := runRules(t, time.Millisecond, "check", "--budget", "100", "--sample", sample, dir)
	if code != exitOK {
		t.Errorf("warnings alone: exit %d", code)
	}
	ft := filepath.Join(dir, "ft.yar")
	wantIn(t, out,
		ft+`:2: warning: ext_without_dot: filetype item "py" has no dot`,
		ft+`:3: warning: whole_name: filetype item "setup.py" is a plain path suffix, not a file name`,
		ft+`:4: warning: empty_filetype: filetype = "" lists no suffix, so the rule counts for every file`,
		"1 file, 3 rules: 0 errors, 3 warnings",
	)
	if code, _, _ := runRules(t, time.Millisecond, "check", "--strict", "--budget", "100", "--sample", sample, dir); code != exitFindings {
		t.Errorf("--strict: exit %d", code)
	}
}

// libyara 4.2 warns about a hex string of one fixed nibble and wildcards
// (no usable atom); the warning names file, line and rule.
func TestRulesCheckSlowStringWarning(t *testing.T) {
	dir := rulesDir(t, map[string]string{"slow.yar": "rule slow_atom\n{\n  meta:\n    weight = 1\n    description = \"d\"\n  strings:\n    $a = { 4? ?? 00 }\n  condition:\n    $a\n}\n"})
	code, out, _ := runRules(t, time.Millisecond, "check", "--budget", "100", "--sample", rulesSampleFile(t), dir)
	if code != exitOK {
		t.Errorf("exit %d", code)
	}
	wantIn(t, out, filepath.Join(dir, "slow.yar")+`:7: warning: slow_atom: string "$a" may slow down scanning`)
}

// The cost ranking puts a loop over every byte above one literal, by far,
// and flags it over the budget. Only the ranking is asserted.
func TestRulesCheckCostRanking(t *testing.T) {
	dir := rulesDir(t, map[string]string{
		"cheap.yar": `rule cheap_literal { meta: weight = 1 description = "d" strings: $a = "NEVER_THERE_123" condition: $a }`,
		"slow.yar": `rule slow_loop {
  meta:
    weight = 1
    description = "d"
  condition:
    for all i in (0..filesize - 1) : (uint8(i) != 0xFF)
}`,
	})
	sample := filepath.Join(t.TempDir(), "big.py")
	if err := os.WriteFile(sample, []byte(strings.Repeat("x = compute(1, 2)  # plain code\n", 12000)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runRules(t, 30*time.Millisecond, "check", "--format", "json", "--budget", "50", "--sample", sample, dir)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	var rep rulescheck.JSONReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c := rep.Cost
	if c == nil || len(c.Rules) != 2 || c.SampleFiles != 1 || c.BudgetPct != 50 {
		t.Fatalf("cost %+v", c)
	}
	slow, cheap := c.Rules[0], c.Rules[1]
	if slow.Rule != "slow_loop" || cheap.Rule != "cheap_literal" {
		t.Fatalf("ranking %s, %s", slow.Rule, cheap.Rule)
	}
	if !slow.OverBudget || cheap.OverBudget || slow.SharePct < 80 || slow.Method != "alone" {
		t.Errorf("slow %+v, cheap %+v", slow, cheap)
	}
	if len(rep.Warnings) != 1 || rep.Warnings[0].Check != "cost" || rep.Warnings[0].Rule != "slow_loop" ||
		rep.Warnings[0].File != filepath.Join(dir, "slow.yar") || rep.Warnings[0].Line != 1 {
		t.Errorf("warnings %+v", rep.Warnings)
	}
	if rep.Summary != "2 files, 2 rules: 0 errors, 1 warning" {
		t.Errorf("summary %q", rep.Summary)
	}
}

// The built-in rules pass: no errors (warnings are allowed).
func TestRulesCheckBuiltinRules(t *testing.T) {
	code, out, stderr := runRules(t, 5*time.Millisecond, "check", "--sample", "../../samples/src", "../../internal/builtin")
	t.Logf("\n%s", out)
	if code != exitOK || strings.Contains(out, "errors:") || stderr != "" {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	wantIn(t, out, "cost on ../../samples/src (", " 0 errors, ")
}

func TestRulesCheckFolderProblems(t *testing.T) {
	empty := rulesDir(t, map[string]string{"README.md": "no rules here"})
	code, out, _ := runRules(t, time.Millisecond, "check", empty)
	if code != exitFindings {
		t.Errorf("no rule files: exit %d", code)
	}
	wantIn(t, out, empty+": error: no .yar or .yara files", "0 files, 0 rules: 1 error, 0 warnings")

	same := rulesDir(t, map[string]string{"a.yar": cleanRules, "a.yara": "rule other { condition: true }"})
	code, out, _ = runRules(t, time.Millisecond, "check", same)
	if code != exitFindings {
		t.Errorf("same key: exit %d", code)
	}
	wantIn(t, out, filepath.Join(same, "a.yara")+`: error: same key "a" as `+filepath.Join(same, "a.yar"))
}

func TestRulesCheckJSONReport(t *testing.T) {
	dir := rulesDir(t, map[string]string{
		"a.yar": "rule a_rule { meta: weight = \"x\" condition: true }\n",
		"b.yar": "rule b_rule { condition: tru }\n",
	})
	code, out, _ := runRules(t, time.Millisecond, "check", "--format", "json", dir)
	if code != exitFindings {
		t.Errorf("exit %d", code)
	}
	var rep rulescheck.JSONReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Files != 2 || rep.Rules != 2 || len(rep.Errors) != 2 || len(rep.Warnings) != 3 {
		t.Fatalf("%+v", rep)
	}
	if e := rep.Errors[0]; e.Check != "weight" || e.File != filepath.Join(dir, "a.yar") || e.Line != 1 || e.Rule != "a_rule" {
		t.Errorf("error 0 %+v", e)
	}
	if e := rep.Errors[1]; e.Check != "compile" || e.Message != `undefined identifier "tru"` {
		t.Errorf("error 1 %+v", e)
	}
	if rep.Cost == nil || rep.Cost.Skipped != "the rules do not compile" || rep.Cost.Rules == nil {
		t.Errorf("cost %+v", rep.Cost)
	}
	if rep.Summary != "2 files, 2 rules: 2 errors, 3 warnings" {
		t.Errorf("summary %q", rep.Summary)
	}
}
