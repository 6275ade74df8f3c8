package rules

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
)

func mustCompile(t testing.TB, sources map[string]string) *RuleSet {
	t.Helper()
	rs, err := Compile("", sources)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	return rs
}

func mustMatcher(t testing.TB, rs *RuleSet) *Matcher {
	t.Helper()
	m, err := rs.NewMatcher(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func matchedNames(rs *RuleSet, idx []int32) []string {
	var names []string
	for _, i := range idx {
		names = append(names, rs.Rules()[i].Name)
	}
	return names
}

func TestCompileMetadata(t *testing.T) {
	rs := mustCompile(t, map[string]string{
		"b": `rule beta { meta: weight = 3 filetype = ".py  setup.py " description = "d" strings: $a = "x" condition: $a }`,
		"a": `rule alpha { meta: weight = "7" strings: $a = "x" condition: $a }
		      private rule helper { condition: true }`,
	})
	want := []Rule{
		{Name: "alpha", Weight: 0},
		{Name: "helper", Private: true},
		{Name: "beta", Weight: 3, FileTypes: []string{".py", "setup.py"}, Description: "d"},
	}
	got := rs.Rules()
	if len(got) != len(want) {
		t.Fatalf("rules = %+v", got)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Weight != want[i].Weight || got[i].Private != want[i].Private ||
			!slices.Equal(got[i].FileTypes, want[i].FileTypes) || got[i].Description != want[i].Description {
			t.Errorf("rule %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if r, _ := rs.Rule("beta"); !r.CountsFor("pkg/setup.py") || !r.CountsFor("a.py") || r.CountsFor("a.pyc") {
		t.Error("filetype suffixes misapplied")
	}
	if r, _ := rs.Rule("alpha"); !r.CountsFor("anything.bin") {
		t.Error("a rule without filetype must count everywhere")
	}
}

func TestCompileOrderAndCrossReferences(t *testing.T) {
	// "b" uses a private rule of "a": this works only when sources are added
	// in sorted key order, whatever the map's order.
	src := map[string]string{
		"a": `private rule base64_blob { strings: $b = "b64decode" condition: $b }`,
		"b": `rule exec_blob { meta: weight = 5 strings: $e = "exec(" condition: $e and base64_blob }`,
	}
	for i := 0; i < 5; i++ {
		rs := mustCompile(t, src)
		m := mustMatcher(t, rs)
		got, err := m.Match([]byte("exec(base64.b64decode('aGk='))"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if names := matchedNames(rs, got); !slices.Equal(names, []string{"exec_blob"}) {
			t.Fatalf("matched %v, want [exec_blob] (private rules are not reported)", names)
		}
	}
}

func TestCompileErrorNamesFileAndLine(t *testing.T) {
	_, err := Compile("", map[string]string{
		"good": `rule ok { condition: true }`,
		"bad":  "rule broken {\n condition:\n  $missing\n}",
	})
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a CompileError", err)
	}
	if m := ce.Messages[0]; m.File != "bad" || m.Line != 4 {
		t.Fatalf("message = %+v, want bad line 4 (where libyara notices)", m)
	}
}

func TestDuplicateRuleAcrossFilesFails(t *testing.T) {
	_, err := Compile("", map[string]string{
		"a": `rule same { condition: true }`,
		"b": `rule same { condition: true }`,
	})
	var ce *CompileError
	if !errors.As(err, &ce) || ce.Messages[0].File != "b" {
		t.Fatalf("err = %v, want a compile error in b", err)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("one.yar", `rule one { condition: true }`)
	write("two.yara", `rule two { condition: true }`)
	write("README.md", `not rules`)
	rs, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	want := SourcesHash(map[string]string{"one": `rule one { condition: true }`, "two": `rule two { condition: true }`})
	if rs.Hash() != want || len(rs.Rules()) != 2 {
		t.Fatalf("hash %s rules %d; want %s and 2", rs.Hash(), len(rs.Rules()), want)
	}

	write("three.yar", "rule three {\n condition: nope }")
	_, err = LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "three.yar line 2") {
		t.Fatalf("err = %v, want it to name three.yar line 2", err)
	}
}

func TestSourcesHashIsOrderIndependentAndUnambiguous(t *testing.T) {
	a := SourcesHash(map[string]string{"x": "1", "y": "2"})
	b := SourcesHash(map[string]string{"y": "2", "x": "1"})
	c := SourcesHash(map[string]string{"x": "12", "y": ""})
	if a != b || a == c || len(a) != 64 {
		t.Fatalf("hashes %s %s %s", a, b, c)
	}
}

func TestMatchTooManyMatchesFailsTheFile(t *testing.T) {
	rs := mustCompile(t, map[string]string{"r": `rule many { meta: weight = 1 strings: $a = "A" condition: $a }`})
	m := mustMatcher(t, rs)
	data := []byte(strings.Repeat("A", MatchLimit+10))
	got, err := m.Match(data, nil)
	if !errors.Is(err, failure.ErrTimeout) || !strings.Contains(err.Error(), "rule many") {
		t.Fatalf("err = %v, want a timeout-class error naming the rule", err)
	}
	if names := matchedNames(rs, got); !slices.Equal(names, []string{"many"}) {
		t.Fatalf("partial findings %v, want [many]", names)
	}
	// Every rule with a string at the limit is reported, in rule order.
	rs2 := mustCompile(t, map[string]string{"r": `rule one { strings: $b = "B" condition: $b }
rule two { strings: $a = "AA" condition: $a }
rule three { strings: $a = "A" condition: $a }`})
	_, err = mustMatcher(t, rs2).Match(data, nil)
	var le *LimitError
	if !errors.As(err, &le) || !slices.Equal(le.rules, []int32{1, 2}) || !strings.Contains(err.Error(), "rule two") {
		t.Fatalf("err = %v (%+v), want rules two and three at the limit", err, le)
	}
	// The matcher is reusable after a failure.
	if got, err := m.Match([]byte("A"), nil); err != nil || len(got) != 1 {
		t.Fatalf("after failure: %v %v", got, err)
	}
}

func TestMatchTimeout(t *testing.T) {
	// A loop over every byte for every byte is quadratic: far beyond one
	// second on 2 MB.
	rs := mustCompile(t, map[string]string{"slow": `rule slow { condition: for all i in (0..filesize) : ( for all j in (0..filesize) : ( uint8(i) == uint8(j) or true ) ) }`})
	m, err := rs.NewMatcher(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = m.Match(make([]byte, 2<<20), nil)
	if !errors.Is(err, failure.ErrTimeout) {
		t.Fatalf("err = %v, want failure.ErrTimeout", err)
	}
}

func TestMatchEmptyBuffer(t *testing.T) {
	rs := mustCompile(t, map[string]string{"e": `rule empty { condition: filesize == 0 }`})
	got, err := mustMatcher(t, rs).Match(nil, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestRuleSetOutlivesCloseWhileMatchersOpen(t *testing.T) {
	rs, err := Compile("", map[string]string{"r": `rule r { strings: $a = "x" condition: $a }`})
	if err != nil {
		t.Fatal(err)
	}
	m, err := rs.NewMatcher(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rs.Close()
	if got, err := m.Match([]byte("x"), nil); err != nil || len(got) != 1 {
		t.Fatalf("match after Close: %v %v", got, err)
	}
	m.Close()
	if _, err := rs.NewMatcher(time.Second); err == nil {
		t.Fatal("NewMatcher on a freed rule set must fail")
	}
	rs.Close()
}

func TestRetainKeepsAClosedSetUsable(t *testing.T) {
	rs, err := Compile("h", map[string]string{"a": `rule a { strings: $x = "needle" condition: $x }`})
	if err != nil {
		t.Fatal(err)
	}
	release, err := rs.Retain()
	if err != nil {
		t.Fatal(err)
	}
	rs.Close() // a daemon swapped in another set
	m, err := rs.NewMatcher(time.Second)
	if err != nil {
		t.Fatalf("a retained set refused a matcher: %v", err)
	}
	if got, err := m.Match([]byte("a needle"), nil); err != nil || len(got) != 1 {
		t.Fatalf("match %v %v", got, err)
	}
	m.Close()
	release()
	release()
	if _, err := rs.Retain(); err == nil {
		t.Fatal("a freed set could be retained")
	}
}
