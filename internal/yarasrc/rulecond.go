package yarasrc

import "strings"

// Which strings a rule cannot match without.
//
// The prefilter (internal/rules/prefilter.go) skips libyara for a file in
// which none of the strings it needs can match. A rule's cover is a set of its own
// strings and those of rules it names such that the rule is false when
// none of them matches: "$a and ($b or $c)" has the covers {$a} and {$b,
// $c}. A rule such as "filesize > 10MB", "not $a" or "#a == 0" is true
// without any string and has none, and a rule set holding one gets no
// prefilter. This file finds covers on a deliberately small part of YARA's
// condition grammar and answers "none" for everything else:
//
//	expr   := and ("or" and)*
//	and    := factor ("and" factor)*
//	factor := "(" expr ")" | "false" | $a | #a (">" N | ">=" N | "==" N)
//	        | ("any" | "all" | N) "of" ("them" | "(" $a, $b*, ... ")")
//	        | rule-name
//
// "$a" and "#a > 0" are false without $a, "any", "all" and "N of" (N at
// least 1) of a set without the set, a rule name without the rule's
// cover; "and" is false when either side is, "or" when both are. Offsets
// ("$a at 0", "in"), "not", arithmetic, filesize, modules, loops and rule
// sets are outside the subset: a condition using them has no cover,
// whatever it says. Being wrong in that direction costs speed only.

// StringRef names strings of a rule: one ("$a"), those with a prefix
// ("$a*": id "$a", wild), or all of them (id "", wild).
type StringRef struct {
	Rule int32
	ID   string
	Wild bool
}

// Has reports whether r names the string id of rule.
func (r StringRef) Has(rule int32, id string) bool {
	return r.Rule == rule && (id == r.ID || (r.Wild && strings.HasPrefix(id, r.ID)))
}

// Covers returns, per rule of defs (in the compiled set's order), a
// cover: strings such that the rule is false when none of them matches;
// nil when there is none. A rule may name only rules defined before it, so
// one pass in order sees every reference already decided.
func Covers(defs []RuleDef) [][]StringRef {
	out := make([][]StringRef, len(defs))
	byName := make(map[string]int, len(defs))
	for i := range defs {
		p := condParser{toks: defs[i].cond, rule: int32(i), ruleCover: func(name string) []StringRef {
			if j, ok := byName[name]; ok {
				return out[j]
			}
			return nil
		}}
		out[i] = p.cover()
		byName[defs[i].Name] = i
	}
	return out
}

// condParser finds a cover of a condition on the subset above: with no
// string of the cover matching, the condition is false.
type condParser struct {
	toks      []token
	i         int
	bad       bool // outside the subset
	rule      int32
	ruleCover func(name string) []StringRef
}

// cover returns the condition's cover, nil when there is none. A rule
// that is false whatever its strings ("false") has an empty, non-nil one.
func (p *condParser) cover() []StringRef {
	if len(p.toks) == 0 {
		return nil
	}
	c := p.or()
	if p.bad || p.i != len(p.toks) {
		return nil
	}
	return c
}

func (p *condParser) peek() token {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return token{kind: tokEOF}
}

// word reports whether the next token is the keyword or punctuation w.
func (p *condParser) word(w string) bool {
	t := p.peek()
	return (t.kind == tokIdent || t.kind == tokPunct) && !t.wild && t.text == w
}

func (p *condParser) fail() []StringRef {
	p.bad = true
	return nil
}

// or: false when both sides are, so the cover is the union.
func (p *condParser) or() []StringRef {
	c := p.and()
	for !p.bad && p.word("or") {
		p.i++
		d := p.and()
		c = append(c, d...)
	}
	return c
}

// and: false when either side is, so either cover will do; the one naming
// fewer strings (a wildcard weighs more) gives the prefilter fewer atoms.
func (p *condParser) and() []StringRef {
	c := p.factor()
	for !p.bad && p.word("and") {
		p.i++
		d := p.factor()
		if coverWeight(d) < coverWeight(c) {
			c = d
		}
	}
	return c
}

func coverWeight(c []StringRef) int {
	w := 0
	for _, r := range c {
		if w++; r.Wild {
			w += 7
		}
	}
	return w
}

func (p *condParser) factor() []StringRef {
	t := p.peek()
	switch {
	case p.word("("):
		p.i++
		c := p.or()
		if !p.word(")") {
			return p.fail()
		}
		p.i++
		return c
	case t.kind == tokStringID && !t.wild && strings.HasPrefix(t.text, "$") && t.text != "$":
		p.i++
		if p.word("at") || p.word("in") {
			return p.fail()
		}
		return []StringRef{{Rule: p.rule, ID: t.text}}
	case t.kind == tokStringID && !t.wild && strings.HasPrefix(t.text, "#") && t.text != "#":
		p.i++
		op := p.peek()
		if op.kind != tokPunct || !(op.text == ">" || op.text == ">=" || op.text == "==") {
			return p.fail()
		}
		p.i++
		n, ok := p.count()
		// #a is 0: "#a > n" is false for n >= 0, the others for n >= 1.
		if !ok || (n < 1 && op.text != ">") {
			return p.fail()
		}
		return []StringRef{{Rule: p.rule, ID: "$" + t.text[1:]}}
	case t.kind == tokInt || p.word("any") || p.word("all"):
		p.i++
		if t.kind == tokInt {
			if n, ok := parseYARAInt(t.text); !ok || n < 1 {
				return p.fail()
			}
		}
		if !p.word("of") {
			return p.fail()
		}
		p.i++
		set := p.stringSet()
		if set == nil || p.word("at") || p.word("in") || p.word("%") {
			return p.fail()
		}
		// "all of" is false when any one of the set is: the set itself is
		// a cover too, and the simplest.
		return set
	case p.word("false"):
		p.i++
		return []StringRef{}
	case t.kind == tokIdent && !t.wild && !condKeywords[t.text]:
		p.i++
		if p.word(".") || p.word("(") || p.word("[") {
			return p.fail() // a module field or function, or a loop variable
		}
		c := p.ruleCover(t.text)
		if c == nil {
			return p.fail()
		}
		return c
	}
	return p.fail()
}

// count reads a non-negative decimal or hexadecimal integer.
func (p *condParser) count() (int64, bool) {
	t := p.peek()
	if t.kind != tokInt || strings.HasSuffix(t.text, "KB") || strings.HasSuffix(t.text, "MB") {
		return 0, false
	}
	n, ok := parseYARAInt(t.text)
	if !ok || n < 0 {
		return 0, false
	}
	p.i++
	return n, true
}

// stringSet reads "them" or a parenthesised list of string identifiers
// (wildcards included), nil for anything else (a rule set, outside the
// subset).
func (p *condParser) stringSet() []StringRef {
	if p.word("them") {
		p.i++
		return []StringRef{{Rule: p.rule, Wild: true}}
	}
	if !p.word("(") {
		return nil
	}
	p.i++
	var set []StringRef
	for {
		t := p.peek()
		if t.kind != tokStringID || !strings.HasPrefix(t.text, "$") {
			return nil
		}
		p.i++
		set = append(set, StringRef{Rule: p.rule, ID: strings.TrimSuffix(t.text, "*"), Wild: t.wild})
		if p.word(")") {
			p.i++
			return set
		}
		if !p.word(",") {
			return nil
		}
		p.i++
	}
}

// condKeywords are the identifiers of YARA's conditions that are not rule
// names.
var condKeywords = map[string]bool{
	"all": true, "and": true, "any": true, "at": true, "contains": true, "defined": true,
	"endswith": true, "entrypoint": true, "false": true, "filesize": true, "for": true,
	"icontains": true, "iendswith": true, "iequals": true, "in": true, "istartswith": true,
	"matches": true, "none": true, "not": true, "of": true, "or": true, "startswith": true,
	"them": true, "true": true,
}
