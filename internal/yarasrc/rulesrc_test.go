package yarasrc

import (
	"slices"
	"strings"
	"testing"

	"github.com/hillu/go-yara/v4"
)

// trickySource hides braces, quotes, slashes and the word "rule" in
// comments, text strings, regular expressions and hex strings; it is valid
// YARA (the test compiles it), so the reader is checked against libyara.
const trickySource = `/* rule fake1 { condition: true } "
   still a comment */
// rule fake2 { condition: true }
import "math"
rule real1 : tag1 tag2
{
  meta:
    description = "a } brace, rule fake3 { and an \" escaped quote // not a comment"
    weight = -3
    hexw = 0x10
    size = 2KB
    flag = true
    filetype = ".py\t.pyw"
  strings:
    $re = /rule fake4 \{ [}"] \/ x/ nocase
    $hex = { 41 [2-4] 42 /* } comment */ ( 43 | 44 ) // } line comment
             45 }
    $s = "/* not a comment */ rule fake5 {"
  condition:
    any of them and math.entropy(0, filesize) > 7 and filesize \ 2 > 1
}

private global rule real2 { condition: real1 and any of (real1*) }

rule real3
{
  strings:
    $re = "re"
  condition:
    real1 or for any i in (1..#re) : (@re[i] > 0 and !re[i] < 10)
}
rule real4 { meta: weight = "5" w2 = 1.5 condition: real3 }
`

func TestParseRuleSourceTricky(t *testing.T) {
	// real4's float metadata is a syntax error in libyara 4.2: compile the
	// rest to make sure the input is what libyara accepts.
	valid := trickySource[:strings.Index(trickySource, "rule real4")]
	if _, err := yara.Compile(valid, nil); err != nil {
		t.Fatalf("the test input does not compile: %v", err)
	}

	defs := Parse(trickySource)
	var names []string
	for _, r := range defs.Rules {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"real1", "real2", "real3", "real4"}) {
		t.Fatalf("rules %v", names)
	}
	if len(defs.Imports) != 1 || defs.Imports[0].Arg != "math" || defs.Imports[0].Line != 4 {
		t.Errorf("imports %+v", defs.Imports)
	}

	r1 := defs.Rules[0]
	if r1.Line != 5 || r1.StartLine != 5 || r1.EndLine != 21 || r1.Private || r1.Global {
		t.Errorf("real1 at %d (%d-%d) private %v global %v", r1.Line, r1.StartLine, r1.EndLine, r1.Private, r1.Global)
	}
	if !strings.HasPrefix(r1.Text, "rule real1") || !strings.HasSuffix(r1.Text, "> 1\n}") || trickySource[r1.Start:r1.End] != r1.Text {
		t.Errorf("real1 text %q", r1.Text)
	}
	want := []MetaDef{
		{Key: "description", Line: 8, Kind: MetaString, Str: `a } brace, rule fake3 { and an " escaped quote // not a comment`},
		{Key: "weight", Line: 9, Kind: MetaInt, Int: -3},
		{Key: "hexw", Line: 10, Kind: MetaInt, Int: 16},
		{Key: "size", Line: 11, Kind: MetaInt, Int: 2048},
		{Key: "flag", Line: 12, Kind: MetaBool, Bool: true},
		{Key: "filetype", Line: 13, Kind: MetaString, Str: ".py\t.pyw"},
	}
	if len(r1.Metas) != len(want) {
		t.Fatalf("real1 metas %+v", r1.Metas)
	}
	for i, w := range want {
		g := r1.Metas[i]
		if g.Key != w.Key || g.Line != w.Line || g.Kind != w.Kind || g.Str != w.Str || g.Int != w.Int || g.Bool != w.Bool {
			t.Errorf("meta %d = %+v, want %+v", i, g, w)
		}
	}
	if !slices.Equal(r1.Modules, []string{"math"}) || slices.Contains(r1.Refs, "entropy") {
		t.Errorf("real1 modules %v refs %v", r1.Modules, r1.Refs)
	}

	r2 := defs.Rules[1]
	if !r2.Private || !r2.Global || r2.Line != 23 || !strings.HasPrefix(r2.Text, "private global rule real2 {") {
		t.Errorf("real2 %+v", r2)
	}
	if !slices.Contains(r2.Refs, "real1") || !slices.Contains(r2.Refs, "real1*") {
		t.Errorf("real2 refs %v", r2.Refs)
	}
	r3 := defs.Rules[2]
	if r3.Line != 25 || r3.EndLine != 31 || !slices.Contains(r3.Refs, "real1") {
		t.Errorf("real3 %+v", r3)
	}
	for _, ref := range r3.Refs {
		if strings.HasPrefix(ref, "re") && ref != "real1" {
			t.Errorf("real3: string identifier taken for a rule: %q", ref)
		}
	}
	r4 := defs.Rules[3]
	if w, _ := r4.Meta("weight"); w.Kind != MetaString || w.Str != "5" {
		t.Errorf("real4 weight %+v", w)
	}
	if w, _ := r4.Meta("w2"); w.Kind != MetaFloat || w.Raw != "1.5" {
		t.Errorf("real4 w2 %+v", w)
	}
	if got := defs.RuleAt(29); got != 2 {
		t.Errorf("RuleAt(29) = %d", got)
	}
	if got := defs.RuleAt(22); got != -1 {
		t.Errorf("RuleAt(22) = %d (a blank line between rules)", got)
	}
}

// Every prefix of a source, however it is cut (inside a comment, a string,
// a regular expression, a hex string), is read without a panic or a hang,
// and never yields a rule that is not in the full source.
func TestParseRuleSourceTruncated(t *testing.T) {
	for i := range len(trickySource) {
		defs := Parse(trickySource[:i])
		for _, r := range defs.Rules {
			if !strings.HasPrefix(r.Name, "real") {
				t.Fatalf("prefix %d: rule %q", i, r.Name)
			}
		}
	}
}

func TestParseRuleSourceMiscellany(t *testing.T) {
	src := "include \"other.yar\"\n" +
		"rule a { meta: weight = 5 weight = \"x\" condition: filesize \\ 2 > 1 }\n" +
		"rule b { strings: $a = \"x\" condition: $a and a }\n" +
		"rule /* odd */ c /* comment between */ { condition: not b }\n" +
		"rule d {\n  condition:\n    uint16(0) == 0x5a4d and\n    \"abc\" matches /[a-z]{2}\\// }\n" +
		"rule unterminated { condition: true"
	defs := Parse(src)
	if len(defs.Includes) != 1 || defs.Includes[0].Arg != "other.yar" || defs.Includes[0].Text != `include "other.yar"` {
		t.Errorf("includes %+v", defs.Includes)
	}
	var names []string
	for _, r := range defs.Rules {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"a", "b", "c", "d", "unterminated"}) {
		t.Fatalf("rules %v", names)
	}
	if m, _ := defs.Rules[0].Meta("weight"); m.Kind != MetaInt || m.Int != 5 {
		t.Errorf("the first weight wins: %+v", m)
	}
	if !slices.Contains(defs.Rules[1].Refs, "a") || !slices.Contains(defs.Rules[2].Refs, "b") {
		t.Errorf("refs %v %v", defs.Rules[1].Refs, defs.Rules[2].Refs)
	}
	if d := defs.Rules[3]; d.Line != 5 || d.EndLine != 8 {
		t.Errorf("d at %d-%d", d.Line, d.EndLine)
	}
	if u := defs.Rules[4]; u.End != len(src) {
		t.Errorf("unterminated rule ends at %d of %d", u.End, len(src))
	}
}
