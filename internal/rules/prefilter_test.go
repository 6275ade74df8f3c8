package rules

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"
	"time"
)

// prefilterRules exercise every way to a cover and every kind of needle.
var prefilterRules = map[string]string{"a": `
rule lit { strings: $a = "Stratum" nocase condition: $a }
rule widestr { strings: $w = "evilpay" wide condition: $w }
rule both { strings: $b = "dualmode" ascii wide nocase condition: $b }
rule re1 { strings: $r = /x(ab|cd)+yz[0-9]{2,4}pqrs/ condition: $r }
rule re2 { strings: $r = /hello\s+world/i condition: #r > 1 }
rule hex1 { strings: $h = { 4D 5A ?? 00 [1-3] 50 45 00 00 } condition: $h }
rule and1 { strings: $x = "xmrig" nocase $y = "randomx" condition: $x and $y }
rule ofs { strings: $p = "alpha1" $q = "beta22" $r = "gamma333" condition: 2 of ($p, $q, $r) }
rule refr { condition: lit or and1 }
private rule priv { strings: $z = "zzqzz" condition: $z }
rule usepriv { strings: $k = "kkxkk" condition: priv and $k }
rule anyofthem { strings: $a1 = "one_1" $a2 = "two_2" condition: any of them }
rule wild { strings: $s1 = "wild_a" $s2 = "wild_b" condition: all of ($s*) }
rule xorr { strings: $x = "xorsecret" xor condition: $x }
rule b64 { strings: $b = "base64secret" base64 condition: $b }
rule opt { strings: $o = /colou?r_schem?e/ condition: $o }
`}

// prefilterFewRules have few enough first pairs for the vector search.
var prefilterFewRules = map[string]string{"a": `
rule lit { strings: $a = "Stratum" nocase condition: $a }
rule and1 { strings: $x = "xmrig" nocase $y = "randomx" condition: $x and $y }
rule opt { strings: $o = /colou?r_schem?e/ condition: $o }
rule hex1 { strings: $h = { 4D 5A ?? 00 [1-3] 50 45 00 00 } condition: $h }
`}

// TestPrefilterNeverHidesAMatch: on random data seeded with whole and
// partial matches of every string, in every case and encoding, whenever
// libyara finds a rule the prefilter must have let the file through; and
// it does turn files away.
func TestPrefilterNeverHidesAMatch(t *testing.T) {
	t.Run("many", func(t *testing.T) { prefilterAgainstLibyara(t, prefilterRules, false) })
	t.Run("few", func(t *testing.T) { prefilterAgainstLibyara(t, prefilterFewRules, true) })
}

func prefilterAgainstLibyara(t *testing.T, rules map[string]string, vector bool) {
	rs, err := Compile("", rules)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	pf := rs.c.pre
	if pf == nil {
		t.Fatal("no prefilter for a set where every rule has a cover")
	}
	if got := pf.t.ntargets > 0; got != vector {
		t.Fatalf("vector search %v, want %v", got, vector)
	}
	m, err := rs.NewMatcher(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	wide := func(s string) string {
		var b []byte
		for _, c := range []byte(s) {
			b = append(b, c, 0)
		}
		return string(b)
	}
	xor := func(s string, k byte) string {
		b := []byte(s)
		for i := range b {
			b[i] ^= k
		}
		return string(b)
	}
	seeds := []string{
		"STRATUM", "stRaTum", wide("evilpay"), "evilpay", wide("DualMode"), "dualMODE",
		"xababyz123pqrs", "xcdyz99pqrs", "hello  world HELLO\tWORLD", "hello world",
		"MZ\x90\x00\x01\x02PE\x00\x00", "MZ\x90\x00\x01\x02\x03\x04PE\x00\x00", "XMRig randomx", "xmrig",
		"alpha1 beta22", "gamma333", "wild_a wild_b", "wild_a", "zzqzz kkxkk", "kkxkk",
		"one_1", "two_2", xor("xorsecret", 5), xor("xorsecret", 200),
		base64.StdEncoding.EncodeToString([]byte("base64secret")),
		base64.StdEncoding.EncodeToString([]byte("xbase64secret")),
		"color_scheme", "colour_schee",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var matched, skipped int
	for range 6000 {
		var b bytes.Buffer
		for range rng.IntN(4) {
			n := rng.IntN(300)
			for range n {
				if rng.IntN(2) == 0 {
					b.WriteByte(byte(rng.IntN(256)))
				} else {
					b.WriteByte(byte('a' + rng.IntN(26)))
				}
			}
			s := seeds[rng.IntN(len(seeds))]
			switch rng.IntN(3) {
			case 0: // a part of it
				i := rng.IntN(len(s))
				s = s[i : i+rng.IntN(len(s)-i)+1]
			case 1: // flipped case
				s = string(bytes.ToUpper([]byte(s)))
			}
			b.WriteString(s)
		}
		data := b.Bytes()
		got, err := m.Match(data, nil)
		may := pf.mayMatch(data)
		if (len(got) > 0 || err != nil) && !may {
			t.Fatalf("prefilter turned away %q, where libyara found %v (err %v)", data, got, err)
		}
		if len(got) > 0 {
			matched++
		}
		if !may {
			skipped++
		}
	}
	if matched < 300 || skipped < 500 {
		t.Errorf("the test exercises too little: %d of 6000 matched, %d turned away", matched, skipped)
	}
}

// TestPrefilterRefused: a set with a rule true without strings, a string
// without atoms or a needed atom of one byte gets no prefilter.
func TestPrefilterRefused(t *testing.T) {
	for name, src := range map[string]string{
		"filesize":    `rule a { strings: $a = "abcdef" condition: $a } rule b { condition: filesize > 10 }`,
		"not":         `rule a { strings: $a = "abcdef" condition: not $a }`,
		"no atom":     `rule a { strings: $a = /[a-z]+[0-9]*/ condition: $a }`,
		"one byte":    `rule a { strings: $a = "q" condition: $a }`,
		"count":       `rule a { strings: $a = "abcdef" condition: #a < 3 }`,
		"global true": `global rule g { condition: true } rule a { strings: $a = "abcdef" condition: $a }`,
	} {
		rs, err := Compile("", map[string]string{"a": src})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rs.c.pre != nil {
			t.Errorf("%s: a prefilter with %d needles", name, rs.c.pre.needles)
		}
		rs.Close()
	}
}
