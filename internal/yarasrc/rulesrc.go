package yarasrc

import (
	"strconv"
	"strings"
)

// This file reads the structure of YARA sources without compiling them, for
// the rules check: where each rule is defined, its metadata with their
// literal types, the identifiers its condition uses and the modules a file
// imports. libyara reports none of this with a location (a duplicated rule
// name is one line naming the second definition only; go-yara gives no
// metadata lines at all), so the check locates it here.
//
// The scanner follows libyara 4.2's lexer where it matters for finding rule
// boundaries: comments, text strings, regular expressions (any "/" that
// does not open a comment: YARA divides with "\") and hex strings (a "{"
// after "=") are single tokens, so that a brace, quote or "rule" inside
// them is never taken for structure. It is forgiving: a source that does not compile is
// read as far as it goes, and the compiler reports what is wrong.

// MetaKind is the literal type of a metadata value as written.
type MetaKind int

const (
	MetaOther  MetaKind = iota // missing or not a literal (a syntax error)
	MetaString                 // "text"
	MetaInt                    // 12, -3, 0x10, 0o17, 2KB
	MetaBool                   // true, false
	MetaFloat                  // 1.5: libyara 4.2 rejects it (syntax error)
)

func (k MetaKind) String() string {
	switch k {
	case MetaString:
		return "a string"
	case MetaInt:
		return "an integer"
	case MetaBool:
		return "a boolean"
	case MetaFloat:
		return "a floating-point number"
	}
	return "not a literal"
}

// MetaDef is one "key = value" line of a rule's meta section.
type MetaDef struct {
	Key  string
	Line int
	Kind MetaKind
	Raw  string // the value as written
	Str  string // MetaString: the unescaped text
	Int  int64  // MetaInt: the value (0 when it overflows)
	Bool bool   // MetaBool: the value
}

// RuleDef is one rule as written in a source.
type RuleDef struct {
	Name      string
	Line      int // line of the rule's name
	StartLine int // line of its first keyword (global, private or rule)
	EndLine   int // line of its closing brace
	Private   bool
	Global    bool
	Metas     []MetaDef
	// Refs are the identifiers of the condition that are not fields of a
	// module (x in pe.x) and not string identifiers: the names of other
	// rules, among keywords and loop variables. An entry ending in "*" is a
	// rule-set wildcard ("any of (prefix*)").
	Refs []string
	// Modules are the identifiers of the condition followed by a dot: the
	// modules it uses (pe in pe.is_pe), among other things.
	Modules []string
	// Text is the rule's source from its first keyword to its closing
	// brace, at byte offsets [Start, End) of the source.
	Text       string
	Start, End int
	// strs and cond are the tokens of the strings section and the
	// condition, for the prefilter (needles.go, rulecond.go).
	strs, cond []token
}

// Meta returns the first metadata entry named key, as libyara and the
// client read it (the first occurrence wins), and whether there is one.
func (r *RuleDef) Meta(key string) (MetaDef, bool) {
	for _, m := range r.Metas {
		if m.Key == key {
			return m, true
		}
	}
	return MetaDef{}, false
}

// Directive is an import or include statement.
type Directive struct {
	Arg  string // the module name or include path
	Line int
	Text string // the statement as written
}

// SourceDefs is what [Parse] finds in one source.
type SourceDefs struct {
	Imports  []Directive
	Includes []Directive
	Rules    []RuleDef
}

// RuleAt returns the index of the rule whose lines span line, or -1.
func (s *SourceDefs) RuleAt(line int) int {
	for i := range s.Rules {
		if r := &s.Rules[i]; line >= r.StartLine && line <= r.EndLine {
			return i
		}
	}
	return -1
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokRegex
	tokHex
	tokInt
	tokFloat
	tokStringID // $a #a @a !a, with an optional trailing *
	tokPunct
)

type token struct {
	kind       tokKind
	text       string
	start, end int // byte offsets in the source
	line       int
	wild       bool // an identifier written "name*"
}

type lexer struct {
	src  string
	pos  int
	line int
	prev token // the previous token, for the regex and hex string contexts
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// skipSpace skips white space and comments. An unterminated block comment
// runs to the end of the source, as in libyara.
func (l *lexer) skipSpace() {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\n':
			l.line++
			l.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			l.pos++
		case strings.HasPrefix(l.src[l.pos:], "//"):
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case strings.HasPrefix(l.src[l.pos:], "/*"):
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				end = len(l.src)
			} else {
				end += l.pos + 4
			}
			l.line += strings.Count(l.src[l.pos:end], "\n")
			l.pos = end
		default:
			return
		}
	}
}

func (l *lexer) next() token {
	t := l.scan()
	l.prev = t
	return t
}

func (l *lexer) scan() token {
	l.skipSpace()
	t := token{start: l.pos, line: l.line}
	if l.pos >= len(l.src) {
		t.kind = tokEOF
		t.end = l.pos
		return t
	}
	c := l.src[l.pos]
	switch {
	case c == '"':
		t.kind = tokString
		l.pos++
		for l.pos < len(l.src) && l.src[l.pos] != '"' && l.src[l.pos] != '\n' {
			if l.src[l.pos] == '\\' && l.pos+1 < len(l.src) && l.src[l.pos+1] != '\n' {
				l.pos++
			}
			l.pos++
		}
		if l.pos < len(l.src) && l.src[l.pos] == '"' {
			l.pos++
		}
	case c == '/':
		// Any slash that does not open a comment opens a regular
		// expression (YARA divides with a backslash). It ends at the first
		// unescaped slash, even in a character class, as libyara's lexer
		// reads it; then come its modifiers.
		t.kind = tokRegex
		l.pos++
		for l.pos < len(l.src) && l.src[l.pos] != '/' && l.src[l.pos] != '\n' {
			if l.src[l.pos] == '\\' && l.pos+1 < len(l.src) && l.src[l.pos+1] != '\n' {
				l.pos++
			}
			l.pos++
		}
		if l.pos < len(l.src) && l.src[l.pos] == '/' {
			l.pos++
			for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
				l.pos++
			}
		}
	case c == '{' && l.prev.kind == tokPunct && l.prev.text == "=":
		// A hex string: comments may sit inside it.
		t.kind = tokHex
		l.pos++
		for l.pos < len(l.src) && l.src[l.pos] != '}' {
			switch {
			case strings.HasPrefix(l.src[l.pos:], "//"), strings.HasPrefix(l.src[l.pos:], "/*"):
				l.skipSpace()
			default:
				if l.src[l.pos] == '\n' {
					l.line++
				}
				l.pos++
			}
		}
		if l.pos < len(l.src) {
			l.pos++
		}
	case isIdentStart(c):
		t.kind = tokIdent
		for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
			l.pos++
		}
		if l.pos < len(l.src) && l.src[l.pos] == '*' {
			t.wild = true
			l.pos++
		}
	case isDigit(c):
		t.kind = tokInt
		switch {
		case strings.HasPrefix(l.src[l.pos:], "0x") || strings.HasPrefix(l.src[l.pos:], "0o"):
			l.pos += 2
			for l.pos < len(l.src) && isHexDigit(l.src[l.pos]) {
				l.pos++
			}
		default:
			for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
				l.pos++
			}
			if l.pos+1 < len(l.src) && l.src[l.pos] == '.' && isDigit(l.src[l.pos+1]) {
				t.kind = tokFloat
				l.pos++
				for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
					l.pos++
				}
			} else if strings.HasPrefix(l.src[l.pos:], "KB") || strings.HasPrefix(l.src[l.pos:], "MB") {
				l.pos += 2
			}
		}
	case (c == '$' || c == '#' || c == '@' || c == '!') &&
		(c == '$' || (l.pos+1 < len(l.src) && (isIdentChar(l.src[l.pos+1]) || l.src[l.pos+1] == '*'))):
		t.kind = tokStringID
		l.pos++
		for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
			l.pos++
		}
		if l.pos < len(l.src) && l.src[l.pos] == '*' {
			t.wild = true
			l.pos++
		}
	default:
		t.kind = tokPunct
		l.pos++
		if l.pos < len(l.src) {
			switch two := l.src[l.pos-1 : l.pos+1]; two {
			case "==", "!=", "<=", ">=", "<<", ">>", "..":
				l.pos++
			}
		}
	}
	t.end = l.pos
	t.text = l.src[t.start:t.end]
	return t
}

// Parse reads the imports, includes and rules of one YARA source.
// It never fails: what does not parse is skipped, and the compiler is left
// to report it.
func Parse(src string) SourceDefs {
	p := &ruleParser{lx: lexer{src: src, line: 1}}
	p.advance()
	var out SourceDefs
	for p.tok.kind != tokEOF {
		t := p.tok
		switch {
		case t.kind == tokIdent && (t.text == "import" || t.text == "include"):
			p.advance()
			if p.tok.kind != tokString {
				continue
			}
			d := Directive{Arg: unquoteYARA(p.tok.text), Line: t.line, Text: src[t.start:p.tok.end]}
			if t.text == "import" {
				out.Imports = append(out.Imports, d)
			} else {
				out.Includes = append(out.Includes, d)
			}
			p.advance()
		case t.kind == tokIdent && (t.text == "rule" || t.text == "private" || t.text == "global"):
			if r, ok := p.rule(); ok {
				out.Rules = append(out.Rules, r)
			}
		default:
			p.advance()
		}
	}
	return out
}

type ruleParser struct {
	lx  lexer
	tok token
}

func (p *ruleParser) advance() { p.tok = p.lx.next() }

func (p *ruleParser) is(kind tokKind, text string) bool {
	return p.tok.kind == kind && p.tok.text == text
}

// rule reads "[global] [private] rule NAME [: TAGS] { ... }" from the
// current token.
func (p *ruleParser) rule() (RuleDef, bool) {
	var r RuleDef
	start := p.tok
	for p.tok.kind == tokIdent && (p.tok.text == "private" || p.tok.text == "global") {
		if p.tok.text == "private" {
			r.Private = true
		} else {
			r.Global = true
		}
		p.advance()
	}
	if !p.is(tokIdent, "rule") {
		return r, false
	}
	p.advance()
	if p.tok.kind != tokIdent {
		return r, false
	}
	r.Name, r.Line, r.StartLine = p.tok.text, p.tok.line, start.line
	p.advance()
	if p.is(tokPunct, ":") {
		p.advance()
		for p.tok.kind == tokIdent {
			p.advance()
		}
	}
	if !p.is(tokPunct, "{") {
		return r, false
	}
	p.advance()
	depth := 1
	section := ""
	closed := false
	var last token
	for p.tok.kind != tokEOF {
		t := p.tok
		if t.kind == tokPunct && t.text == "{" {
			depth++
		}
		if t.kind == tokPunct && t.text == "}" {
			if depth--; depth == 0 {
				last, closed = t, true
				p.advance()
				break
			}
		}
		if t.kind == tokIdent && (t.text == "meta" || t.text == "strings" || t.text == "condition") && !t.wild {
			save := p.lx
			p.advance()
			if p.is(tokPunct, ":") {
				section = t.text
				p.advance()
				continue
			}
			// Not a section header after all: read t again as itself.
			p.lx = save
			p.tok = t
		}
		switch section {
		case "strings":
			r.strs = append(r.strs, t)
		case "condition":
			r.cond = append(r.cond, t)
		}
		switch section {
		case "meta":
			if t.kind == tokIdent {
				p.advance()
				if p.is(tokPunct, "=") {
					p.advance()
					r.Metas = append(r.Metas, p.metaValue(t))
				}
				continue
			}
		case "condition":
			if t.kind == tokIdent && !(last.kind == tokPunct && last.text == ".") {
				p.advance()
				if p.is(tokPunct, ".") {
					r.Modules = appendUnique(r.Modules, t.text)
				} else {
					name := t.text
					if t.wild {
						name = strings.TrimSuffix(name, "*") + "*"
					}
					r.Refs = appendUnique(r.Refs, name)
				}
				last = t
				continue
			}
		}
		last = t
		p.advance()
	}
	if !closed {
		// Unterminated: the rule runs to the end of the source.
		last = token{end: len(p.lx.src), line: p.lx.line}
	}
	r.EndLine = last.line
	r.Start, r.End = start.start, last.end
	r.Text = p.lx.src[r.Start:r.End]
	return r, true
}

// metaValue reads the value of the meta entry key; the current token is
// the one after "=".
func (p *ruleParser) metaValue(key token) MetaDef {
	m := MetaDef{Key: key.text, Line: key.line}
	t := p.tok
	neg := false
	if t.kind == tokPunct && t.text == "-" {
		p.advance()
		neg = true
		t = p.tok
	}
	m.Raw = t.text
	if neg {
		m.Raw = "-" + t.text
	}
	switch {
	case t.kind == tokString && !neg:
		m.Kind, m.Str = MetaString, unquoteYARA(t.text)
	case t.kind == tokInt:
		m.Kind = MetaInt
		m.Int, _ = parseYARAInt(t.text)
		if neg {
			m.Int = -m.Int
		}
	case t.kind == tokFloat:
		m.Kind = MetaFloat
	case t.kind == tokIdent && (t.text == "true" || t.text == "false") && !neg:
		m.Kind, m.Bool = MetaBool, t.text == "true"
	default:
		return m // leave the token to the caller
	}
	p.advance()
	return m
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// parseYARAInt reads an integer literal as libyara does: decimal with an
// optional KB or MB multiplier, 0x hexadecimal or 0o octal.
func parseYARAInt(s string) (int64, bool) {
	mult := int64(1)
	switch {
	case strings.HasPrefix(s, "0x"):
		v, err := strconv.ParseInt(s[2:], 16, 64)
		return v, err == nil
	case strings.HasPrefix(s, "0o"):
		v, err := strconv.ParseInt(s[2:], 8, 64)
		return v, err == nil
	case strings.HasSuffix(s, "KB"):
		s, mult = s[:len(s)-2], 1024
	case strings.HasSuffix(s, "MB"):
		s, mult = s[:len(s)-2], 1024*1024
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v * mult, err == nil
}

// unquoteYARA returns the text of a "..." literal with libyara's escapes
// (\" \\ \n \t \r \xHH) resolved; anything else is kept as written.
func unquoteYARA(lit string) string {
	s := strings.TrimPrefix(lit, `"`)
	s = strings.TrimSuffix(s, `"`)
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '"', '\\':
			b.WriteByte(s[i])
		case 'x':
			if i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]) {
				v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
				b.WriteByte(byte(v))
				i += 2
			} else {
				b.WriteString(`\x`)
			}
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
