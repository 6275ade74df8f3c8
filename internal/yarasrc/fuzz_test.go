package yarasrc

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary sources to the reader, which reads rules the
// mainframe sends: it must not panic or hang, every rule's text must be the
// slice of the source it claims, lines must be in order, and the analyses
// built on it (covers, needles) must not panic either.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		trickySource,
		`rule a { strings: $a = "x" condition: $a }`,
		`import "pe" private rule b { condition: pe.is_pe } global rule c { condition: b and filesize < 10 }`,
		`rule d { strings: $h = { 4D 5A [2-4] ?? 90 } $r = /ab+c(d|e)?/is condition: 2 of them }`,
		`rule e { meta: weight = -3 filetype = ".py" condition: any of ($a*) }`,
		`rule f { strings: $a = "\x41\"q" wide ascii nocase condition: #a > 2 and @a[1] < 100 }`,
		"rule /* comment { */ g { condition: true } // }",
		"include \"other.yar\"\nrule h { condition: false }",
		"rule { } } { rule",
		"\"unterminated",
		"rule i { strings: $a = /unterminated",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		defs := Parse(src)
		prevEnd := 0
		for i := range defs.Rules {
			r := &defs.Rules[i]
			if r.Start < prevEnd || r.End < r.Start || r.End > len(src) {
				t.Fatalf("rule %d %q at [%d,%d) after %d, source of %d bytes", i, r.Name, r.Start, r.End, prevEnd, len(src))
			}
			if src[r.Start:r.End] != r.Text {
				t.Fatalf("rule %q: text is not the source slice it claims", r.Name)
			}
			if r.StartLine > r.Line || r.Line > r.EndLine || r.StartLine < 1 {
				t.Fatalf("rule %q: lines %d, %d, %d out of order", r.Name, r.StartLine, r.Line, r.EndLine)
			}
			if got := 1 + strings.Count(src[:r.Start], "\n"); got != r.StartLine {
				t.Fatalf("rule %q: StartLine %d, its text starts on line %d", r.Name, r.StartLine, got)
			}
			for id, ns := range r.Needles() {
				for _, n := range ns {
					if len(n.Bytes) == 0 {
						t.Fatalf("rule %q string %s: empty needle", r.Name, id)
					}
				}
			}
			_ = defs.RuleAt(r.Line)
		}
		_ = Covers(defs.Rules)
	})
}
