package rulescheck

import (
	"strings"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

func ruleFiles(srcs ...string) []RuleFile {
	var files []RuleFile
	for i := 0; i+1 < len(srcs); i += 2 {
		files = append(files, NewRuleFile(srcs[i], "rules/"+srcs[i]+".yar", srcs[i+1]))
	}
	SortRuleFiles(files)
	return files
}

// findingsText renders findings one a line, for substring assertions.
func findingsText(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteString("\n")
	}
	return b.String()
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}

func TestFileTypeProblems(t *testing.T) {
	cases := []struct {
		value string
		n     int      // problems
		want  []string // substrings of them
	}{
		{".py .pyw .pth", 0, nil},
		{".py   .pyw", 0, nil}, // several spaces are one separator
		{"/setup.py", 0, nil},
		{".dist-info/METADATA", 0, nil},
		{".exe .EXE", 0, nil},
		{"", 1, []string{`lists no suffix, so the rule counts for every file`}},
		{"   ", 1, []string{`lists no suffix`}},
		{"py", 1, []string{`"py" has no dot`, `"pkg/mypy"`, `did you mean ".py"?`}},
		{"setup.py", 1, []string{`"setup.py" is a plain path suffix, not a file name`, `"pkg/mysetup.py"`, `"pkg/test_setup.py"`, `"/setup.py" would count only for files named setup.py ("pkg-1.0/setup.py" included) but not for one at an archive's root`}},
		{".py .py", 1, []string{`lists ".py" twice`}},
		{".PY", 1, []string{`".PY" has capitals`, `"pkg/x.py"`}},
		{"PKG-INFO", 1, []string{`"PKG-INFO" has no dot`, `"/PKG-INFO" would count only for files named PKG-INFO`}},
		{"py .PY py", 3, []string{`lists "py" twice`, `"py" has no dot`, `".PY" has capitals`}},
	}
	for _, c := range cases {
		got := FileTypeProblems(c.value)
		if len(got) != c.n {
			t.Errorf("%q: %d problems, want %d: %q", c.value, len(got), c.n, got)
			continue
		}
		wantLines(t, strings.Join(got, "\n"), c.want...)
	}
	// Each suggestion agrees with what CountsFor does.
	slash := rules.Rule{FileTypes: []string{"/setup.py"}}
	bare := rules.Rule{FileTypes: []string{"setup.py"}}
	if !slash.CountsFor("pkg-1.0/setup.py") || slash.CountsFor("setup.py") || slash.CountsFor("pkg-1.0/mysetup.py") {
		t.Error(`"/setup.py" does not behave as the message says`)
	}
	if !bare.CountsFor("pkg-1.0/test_setup.py") || !bare.CountsFor("setup.py") {
		t.Error(`"setup.py" does not behave as the message says`)
	}
	if !(&rules.Rule{FileTypes: []string{"py"}}).CountsFor("pkg/mypy") || (&rules.Rule{FileTypes: []string{".PY"}}).CountsFor("pkg/x.py") {
		t.Error("suffix examples do not behave as the messages say")
	}
}

func TestLintRulesMetadata(t *testing.T) {
	files := ruleFiles("meta", `
rule good { meta: weight = 3 description = "d" filetype = ".py" condition: true }
rule str_weight { meta: weight = "5" description = "d" condition: true }
rule bool_weight { meta: weight = true description = "d" condition: true }
rule no_weight { meta: description = "d" condition: true }
rule no_desc { meta: weight = 1 condition: true }
rule empty_desc { meta: weight = 1 description = " " condition: true }
rule twice { meta: weight = 1 weight = 2 description = "d" condition: true }
rule capital { meta: Weight = 1 description = "d" condition: true }
rule ft_int { meta: weight = 1 description = "d" filetype = 1 condition: true }
rule ft_empty { meta: weight = 1 description = "d" filetype = "" condition: true }
private rule helper { meta: filetype = ".py" condition: true }
private rule quiet { condition: true }
`)
	got := findingsText(LintRules(files))
	wantLines(t, got,
		`rules/meta.yar:3: error: str_weight: weight = "5" is a string: the client reads only integer weights and counts this rule 0; write weight = 5`,
		`rules/meta.yar:4: error: bool_weight: weight = true is a boolean`,
		`rules/meta.yar:5: warning: no_weight: no weight: a match adds 0 to the score`,
		`rules/meta.yar:6: warning: no_desc: no description`,
		`rules/meta.yar:7: warning: empty_desc: description is empty`,
		`rules/meta.yar:8: warning: twice: weight is given again (first at line 8): only the first counts`,
		`rules/meta.yar:9: warning: capital: meta "Weight" is not read by the client, which reads "weight"`,
		`rules/meta.yar:9: warning: capital: no weight`,
		`rules/meta.yar:10: error: ft_int: filetype = 1 is an integer, not a string: the client ignores it and the rule counts for every file`,
		`rules/meta.yar:11: warning: ft_empty: filetype = "" lists no suffix`,
		`rules/meta.yar:12: warning: helper: filetype on a private rule has no effect`,
	)
	for _, quiet := range []string{"good:", "quiet:"} {
		if strings.Contains(got, quiet) {
			t.Errorf("%s has findings:\n%s", quiet, got)
		}
	}
}

// A float weight does not compile with libyara 4.2; the check says why, on
// the line of the weight, besides the compiler's "syntax error".
func TestFloatWeight(t *testing.T) {
	files := ruleFiles("f", "rule clean { condition: true }\n\nrule floaty {\n  meta:\n    weight = 2.5\n  condition: true\n}\n")
	errs, _, err := CheckCompile(files)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, findingsText(errs), "rules/f.yar:5: error: floaty: syntax error")
	wantLines(t, findingsText(LintRules(files)),
		"rules/f.yar:5: error: floaty: weight = 2.5 is not an integer: libyara 4.2 rejects floating-point metadata")
}

func TestDuplicateRuleNamesNameBothLocations(t *testing.T) {
	files := ruleFiles(
		"b_second", "// another file\nrule shared { condition: true }\n",
		"a_first", "rule one { condition: true }\n\nrule shared\n{\n  condition: false\n}\n",
	)
	errs, _, err := CheckCompile(files)
	if err != nil {
		t.Fatal(err)
	}
	// libyara's one-line "duplicated identifier" is replaced by the lint's.
	if len(errs) != 0 {
		t.Errorf("compile errors %s", findingsText(errs))
	}
	got := findingsText(LintRules(files))
	wantLines(t, got, `rules/b_second.yar:2: error: shared: rule name defined 2 times: first at rules/a_first.yar:3, again here`)
	if strings.Count(got, "defined 2 times") != 1 {
		t.Errorf("want one finding per later definition:\n%s", got)
	}
}

// Every file's first error is reported, not only the first file's; an
// error caused by a file that does not compile says so.
func TestCheckCompileReportsEveryFile(t *testing.T) {
	files := ruleFiles(
		"a", "rule a1 { condition: true }\n",
		"b", "rule b1 {\n  condition:\n    tru\n}\n",
		"c", "rule c1 { condition: b1 }\n",
		"d", "rule d1 { strings: $x = \"x\" condition: true }\n",
		"e", "rule e1 { condition: z1 }\n",
		"z", "rule z1 { strings: $a = { 4? ?? } condition: $a }\n",
	)
	errs, warns, err := CheckCompile(files)
	if err != nil {
		t.Fatal(err)
	}
	got := findingsText(errs)
	wantLines(t, got,
		`rules/b.yar:3: error: b1: undefined identifier "tru"`,
		`rules/c.yar:1: error: c1: undefined identifier "b1" (defined at rules/b.yar:1, in a file that does not compile)`,
		`rules/d.yar:1: error: d1: unreferenced string "$x"`,
		`rules/e.yar:1: error: e1: undefined identifier "z1" (defined at rules/z.yar:1, which compiles after this file: files compile in name order)`,
	)
	if len(errs) != 4 {
		t.Errorf("%d errors:\n%s", len(errs), got)
	}
	wantLines(t, findingsText(warns), `rules/z.yar:1: warning: z1: string "$a" may slow down scanning`)
}
