package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/internal/builtin"
)

func TestRulePlansOffWhenUnsure(t *testing.T) {
	for name, sources := range map[string]map[string]string{
		"no filetype": {"a": `rule a { strings: $a = "x" condition: $a }`},
		"64+ suffixes": func() map[string]string {
			var b strings.Builder
			for i := range 65 {
				fmt.Fprintf(&b, "rule r%d { meta: filetype = \".x%d\" condition: true }\n", i, i)
			}
			return map[string]string{"a": b.String()}
		}(),
	} {
		rs, err := Compile("", sources)
		if err != nil {
			t.Fatal(err)
		}
		if p := rs.plans.init(rs); p.off == "" {
			t.Errorf("%s: plans on", name)
		}
		rs.Close()
	}
}

// TestRulePlansOfBuiltinRules: the built-in rules split into a handful of
// signatures, each compiled with far fewer rules than the whole set.
func TestRulePlansOfBuiltinRules(t *testing.T) {
	rs, err := Compile("", builtin.Sources())
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	p := rs.plans.init(rs)
	if p.off != "" {
		t.Fatalf("plans off: %s", p.off)
	}
	pth, _ := rs.Rule("pth_executes_code")
	pthIdx := int32(rs.byName[pth.Name])
	for _, path := range []string{"pkg/a.py", "pkg/a.pth", "setup.py", "pkg/data.txt", "libfoo.so", "run.sh", "x.bat"} {
		pl := p.plan(rs, p.pathMask(path))
		if pl.required == nil {
			t.Errorf("%s: the whole set", path)
			continue
		}
		if !pl.reduced(rs, p) {
			t.Errorf("%s: %v", path, pl.err)
			continue
		}
		t.Logf("%-14s %2d of %d rules", path, len(pl.index), len(rs.rules))
		if pl.required.has(pthIdx) != strings.HasSuffix(path, ".pth") {
			t.Errorf("%s: pth_executes_code in plan = %v", path, pl.required.has(pthIdx))
		}
	}
}

// A Plans' reduced sets live as long as its rule set's compiled rules:
// closing the set while the plans work is safe (even compiling a new
// signature's set), and the plans' Close frees them all. (The scanner's
// TestRulePlansOutliveClosedSet scans through the same.)
func TestRulePlansFreedWithTheirSet(t *testing.T) {
	rs, err := Compile("", map[string]string{"r": `
rule payload { strings: $a = "EVIL_PAYLOAD" condition: $a }
rule payload_py { meta: filetype = ".py" strings: $a = "EVIL_PAYLOAD" condition: $a }
rule txt_marker { meta: filetype = ".txt .cfg" strings: $t = "TXT_MARK" condition: $t }
rule sh_only { meta: filetype = ".sh" strings: $a = "EVIL_PAYLOAD" condition: $a }
`})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlans(rs, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	match := func(path, data string, want ...string) {
		t.Helper()
		pl := p.For(path)
		if pl == p.Whole() || pl.M == nil {
			t.Fatalf("%s: no reduced plan", path)
		}
		got, err := pl.M.Match([]byte(data), nil)
		if names := matchedNames(rs, got); err != nil || strings.Join(names, " ") != strings.Join(want, " ") {
			t.Fatalf("%s: matched %q, %v; want %q", path, names, err, want)
		}
	}
	match("a.py", "EVIL_PAYLOAD", "payload", "payload_py")
	match("b.txt", "TXT_MARK", "txt_marker")
	rs.Close()
	match("c.sh", "EVIL_PAYLOAD", "payload", "sh_only")
	match("d.cfg", "TXT_MARK", "txt_marker")
	p.Close()
	if rs.c != nil || rs.refs != 0 {
		t.Fatalf("rules not freed: refs %d", rs.refs)
	}
	for _, pl := range rs.plans.plans {
		if pl.c != nil && pl.c.p != nil {
			t.Fatal("a reduced set was not freed")
		}
	}
}
