package yarasrc

import (
	"reflect"
	"testing"
)

// Tests of what the rules read from the sources: covers and needles.

func coversOf(t *testing.T, src string) map[string][]StringRef {
	t.Helper()
	sd := Parse(src)
	covers := Covers(sd.Rules)
	out := map[string][]StringRef{}
	for i, r := range sd.Rules {
		out[r.Name] = covers[i]
	}
	return out
}

func TestRuleCovers(t *testing.T) {
	got := coversOf(t, `
rule a { strings: $a = "x" condition: $a }
rule b { strings: $a = "x" $b = "y" $c = "z" condition: $a and ($b or $c) }
rule c { strings: $a = "x" $b = "y" condition: ($a or $b) and #a > 2 }
rule d { strings: $a = "x" $b = "y" condition: any of them }
rule e { strings: $a1 = "x" $a2 = "y" $b = "z" condition: all of ($a*) and $b }
rule f { strings: $a = "x" condition: 2 of ($a, $a) }
rule g { condition: a or d }
rule h { strings: $a = "x" condition: $a and g }
rule i { condition: false }
rule n1 { strings: $a = "x" condition: $a or filesize > 10 }
rule n2 { strings: $a = "x" condition: not $a }
rule n3 { strings: $a = "x" condition: #a == 0 }
rule n4 { strings: $a = "x" condition: $a at 0 }
rule n5 { strings: $a = "x" condition: 0 of them }
rule n6 { condition: true }
rule n7 { strings: $a = "x" condition: n1 and $a or n2 }
rule n8 { strings: $a = "x" condition: #a >= 0 }
rule n9 { condition: pe.is_pe }
rule n10 { condition: undefined_rule }
rule n11 { strings: $a = "x" condition: for any i in (1..#a): (@a[i] > 10) }
rule n12 { strings: $a = "x" condition: $a or }
rule n13 { strings: $a = "x" condition: any of (a*) }
`)
	a := func(rule int32, id string) StringRef { return StringRef{Rule: rule, ID: id} }
	want := map[string][]StringRef{
		"a": {a(0, "$a")},
		"b": {a(1, "$a")},
		"c": {a(2, "$a")},
		"d": {{Rule: 3, Wild: true}},
		"e": {a(4, "$b")},
		"f": {a(5, "$a"), a(5, "$a")},
		"g": {a(0, "$a"), {Rule: 3, Wild: true}},
		"h": {a(7, "$a")},
		"i": {},
	}
	for name, w := range want {
		if !reflect.DeepEqual(got[name], w) {
			t.Errorf("%s: cover %+v, want %+v", name, got[name], w)
		}
	}
	for name, c := range got {
		if name[0] == 'n' && c != nil {
			t.Errorf("%s: cover %+v, want none", name, c)
		}
	}
}

func TestStringNeedles(t *testing.T) {
	sd := Parse(`rule r { strings:
	$text = "Stratum\x41\n"
	$nc = "MiXeD" nocase
	$wide = "wide1" wide
	$both = "both1" ascii wide nocase
	$short = "abc"
	$xor = "xorsecret" xor
	$b64 = "base64secret" base64
	$esc = "bad\q escape"
	$re = /stratum2?\+(tcp|ssl):\/\//
	$rei = /hello\s+WORLDS/i
	$reopt = /abcdefg?hij/
	$rerep = /abcdef{2,3}x/
	$realt = /abcdef|ghijkl/
	$hex = { 4D 5A ?? 00 [1-3] 50 45 00 00 (01 | 02 03 04 05 06) ~11 22 33 44 }
	$hex2 = { 4D5A90004142 }
	condition: any of them }`)
	got := sd.Rules[0].Needles()
	n := func(s string, nocase bool) Needle { return Needle{Bytes: []byte(s), NoCase: nocase} }
	want := map[string][]Needle{
		"$text":  {n("Stratum\x41\n", false)},
		"$nc":    {n("MiXeD", true)},
		"$wide":  {n("w\x00i\x00d\x00e\x001\x00", false)},
		"$both":  {n("both1", true), n("b\x00o\x00t\x00h\x001\x00", true)},
		"$re":    {n("stratum", false)},
		"$rei":   {n("WORLDS", true)},
		"$reopt": {n("abcdef", false)},
		"$rerep": {n("abcde", false)},
		"$hex":   {n("PE\x00\x00", false)},
		"$hex2":  {n("MZ\x90\x00AB", false)},
	}
	if !reflect.DeepEqual(got, want) {
		for k := range got {
			if !reflect.DeepEqual(got[k], want[k]) {
				t.Errorf("%s: %+v, want %+v", k, got[k], want[k])
			}
		}
		for k := range want {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: none, want %+v", k, want[k])
			}
		}
	}
}
