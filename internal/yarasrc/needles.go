package yarasrc

import "strings"

// Needles: byte sequences every match of a string contains.
//
// libyara's atoms are at most four bytes, and four bytes of a string are
// often common where its whole text is rare ("stra" of "stratum" is in
// every "abstract"). For the prefilter (internal/rules/prefilter.go) a
// longer sequence that every match must contain is better: it gives up on
// fewer files.
// This file reads such needles from a rule's strings section, on the
// plain forms only, and answers "none" (the prefilter then takes the
// string's atoms) for anything else:
//
//   - a text string: its text (in ASCII and, with "wide", UTF-16LE form);
//     nocase makes the needle case-insensitive in ASCII, as libyara's is.
//     xor and base64 strings have none.
//   - a regular expression without a top-level alternative: the longest
//     run of plain characters that its top-level sequence requires
//     ("stratum" of /stratum2?\+(tcp|ssl)/: "2" is optional, then a group);
//     the "i" flag or nocase makes it case-insensitive.
//   - a hex string: its longest run of fixed bytes outside groups.

// Needle is a byte sequence every match of a string contains; with
// NoCase, ASCII letters match either case.
type Needle struct {
	Bytes  []byte
	NoCase bool
}

// Needles returns, per named string of the rule, the needles one of which
// every match of that string contains (see stringNeedles).
func (r *RuleDef) Needles() map[string][]Needle { return stringNeedles(r.strs) }

// minNeedle is the shortest needle worth using instead of the atoms.
const minNeedle = 4

// stringNeedles reads a rule's strings section (its tokens) and returns,
// per named string, the needles one of which every match contains; a
// string with none is absent. Anonymous strings ("$") are left out.
func stringNeedles(toks []token) map[string][]Needle {
	out := map[string][]Needle{}
	for i := 0; i < len(toks); {
		id := toks[i]
		if id.kind != tokStringID || i+2 >= len(toks) || toks[i+1].text != "=" {
			return out // not as expected: keep what was read
		}
		val := toks[i+2]
		i += 3
		mods := map[string]bool{}
		for i < len(toks) && toks[i].kind != tokStringID {
			if toks[i].kind == tokIdent {
				mods[toks[i].text] = true
			}
			i++
		}
		if id.text == "$" || mods["xor"] || mods["base64"] || mods["base64wide"] {
			continue
		}
		var lit []byte
		nocase := mods["nocase"]
		ok := false
		switch val.kind {
		case tokString:
			lit, ok = unquoteStrict(val.text)
		case tokRegex:
			var flags string
			lit, flags, ok = regexRun(val.text)
			nocase = nocase || strings.Contains(flags, "i")
		case tokHex:
			lit, ok = hexRun(val.text)
			nocase = false
		}
		if !ok || len(lit) < minNeedle {
			continue
		}
		var ns []Needle
		if mods["ascii"] || !mods["wide"] {
			ns = append(ns, Needle{Bytes: lit, NoCase: nocase})
		}
		if mods["wide"] && val.kind != tokHex {
			w := make([]byte, 0, 2*len(lit))
			for _, c := range lit {
				w = append(w, c, 0)
			}
			ns = append(ns, Needle{Bytes: w, NoCase: nocase})
		}
		out[id.text] = ns
	}
	return out
}

// unquoteStrict resolves a text string's escapes as libyara does, and
// fails on any it does not know.
func unquoteStrict(lit string) ([]byte, bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return nil, false
	}
	s := lit[1 : len(lit)-1]
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b = append(b, s[i])
			continue
		}
		if i+1 >= len(s) {
			return nil, false
		}
		i++
		switch s[i] {
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		case '"', '\\':
			b = append(b, s[i])
		case 'x':
			if i+2 >= len(s) || !isHexDigit(s[i+1]) || !isHexDigit(s[i+2]) {
				return nil, false
			}
			b = append(b, hexVal(s[i+1])<<4|hexVal(s[i+2]))
			i += 2
		default:
			return nil, false
		}
	}
	return b, true
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// regexRun returns the longest run of plain characters in the top-level
// sequence of a /regex/flags token, and the flags. It fails on a top-level
// alternative and on anything it does not read with certainty.
func regexRun(tok string) (run []byte, flags string, ok bool) {
	end := strings.LastIndexByte(tok, '/')
	if len(tok) < 2 || tok[0] != '/' || end < 1 {
		return nil, "", false
	}
	re, flags := tok[1:end], tok[end+1:]
	var r longestRun
	for i := 0; i < len(re); {
		c := re[i]
		var lit byte
		switch {
		case c == '|':
			return nil, "", false
		case c == '(' || c == '[':
			j, ok := skipGroup(re, i)
			if !ok {
				return nil, "", false
			}
			r.flush()
			i = j
			continue
		case c == '\\':
			if i+1 >= len(re) {
				return nil, "", false
			}
			e := re[i+1]
			switch {
			case e == 'x':
				if i+3 >= len(re) || !isHexDigit(re[i+2]) || !isHexDigit(re[i+3]) {
					return nil, "", false
				}
				lit = hexVal(re[i+2])<<4 | hexVal(re[i+3])
				i += 4
			case e == 'n':
				lit, i = '\n', i+2
			case e == 't':
				lit, i = '\t', i+2
			case e == 'r':
				lit, i = '\r', i+2
			case strings.IndexByte(`\/.+*?()[]{}|^$-"`, e) >= 0:
				lit, i = e, i+2
			default: // \w \d \s \b and the like are classes or anchors
				r.flush()
				i += 2
				continue
			}
		case c == '.' || c == '^' || c == '$':
			r.flush()
			i++
			continue
		case c == '*' || c == '?' || c == '{':
			// The quantified character is optional (or, for {n,m}, repeated
			// an unknown number of times): it leaves the run.
			if len(r.cur) > 0 {
				r.cur = r.cur[:len(r.cur)-1]
			}
			r.flush()
			if c == '{' {
				j := strings.IndexByte(re[i:], '}')
				if j < 0 || strings.Trim(re[i+1:i+j], "0123456789,") != "" {
					return nil, "", false
				}
				i += j + 1
			} else {
				i++
			}
			continue
		case c == '+':
			r.flush() // once at least, then an unknown number of times
			i++
			continue
		case c == ')' || c == ']' || c == '}':
			return nil, "", false
		default:
			lit, i = c, i+1
		}
		// A quantifier after a character applies to it alone: it is taken
		// out above, when the quantifier is read.
		r.cur = append(r.cur, lit)
	}
	r.flush()
	return r.best, flags, true
}

// longestRun keeps the longest of the runs of bytes read.
type longestRun struct{ best, cur []byte }

// flush ends the current run.
func (r *longestRun) flush() {
	if len(r.cur) > len(r.best) {
		r.best = r.cur
	}
	r.cur = nil
}

// skipGroup returns the index after the group or class opening at i.
func skipGroup(re string, i int) (int, bool) {
	depth := 0
	class := false
	for ; i < len(re); i++ {
		switch c := re[i]; {
		case c == '\\':
			i++
		case class:
			if c == ']' {
				class = false
				if depth == 0 {
					return i + 1, true
				}
			}
		case c == '[':
			class = true
		case c == '(':
			depth++
		case c == ')':
			if depth--; depth == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

// hexRun returns the longest run of fixed bytes of a { hex } token
// outside groups.
func hexRun(tok string) ([]byte, bool) {
	if len(tok) < 2 || tok[0] != '{' || tok[len(tok)-1] != '}' {
		return nil, false
	}
	h := tok[1 : len(tok)-1]
	var r longestRun
	for i := 0; i < len(h); {
		c := h[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isHexDigit(c) && i+1 < len(h) && isHexDigit(h[i+1]):
			r.cur = append(r.cur, hexVal(c)<<4|hexVal(h[i+1]))
			i += 2
		case c == '?' || c == '~' || (isHexDigit(c) && i+1 < len(h) && h[i+1] == '?'):
			r.flush()
			if c == '~' {
				i++
			}
			i += 2
		case c == '[':
			j := strings.IndexByte(h[i:], ']')
			if j < 0 {
				return nil, false
			}
			r.flush()
			i += j + 1
		case c == '(':
			depth := 0
			j := i
			for ; j < len(h); j++ {
				if h[j] == '(' {
					depth++
				} else if h[j] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			if j >= len(h) {
				return nil, false
			}
			r.flush()
			i = j + 1
		default:
			return nil, false // comments, or what we do not read
		}
	}
	r.flush()
	return r.best, true
}
