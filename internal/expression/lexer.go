package expression

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind int

const (
	tkEOF tokKind = iota
	tkIdent
	tkInt
	tkDouble
	tkString // regular, verbatim and char literals (chars are strings of length one)
	tkInterp // $"..." with its raw parts
	tkOp
)

type token struct {
	kind tokKind
	pos  int
	text string // identifier or operator text; decoded value for strings
	ival int64
	fval float64
	// for tkInterp: the parts, alternating literal text and hole source
	parts []interpPart
}

type interpPart struct {
	lit    string
	hole   bool
	src    string // hole expression text
	pos    int    // offset of src in the whole source
	align  string // text after ',' in the hole
	format string // text after ':' in the hole
}

// lexer turns the source into tokens; it works on the whole source so that
// positions are offsets into it.
type lexer struct {
	src  string
	pos  int
	toks []token
}

// operators, longest first within each leading byte.
var operators = []string{
	"??=", "?.", "?[", "??", "=>", "==", "!=", "<=", ">=", "&&", "||", "++", "--",
	"+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
	"(", ")", "{", "}", "[", "]", ".", ",", ";", ":", "?", "<", ">", "!", "+", "-", "*", "/", "%", "=", "&", "|", "^", "~",
}

func lexAll(src string, start, end int) ([]token, *SyntaxError) {
	lx := &lexer{src: src[:end], pos: start}
	for {
		t, err := lx.next()
		if err != nil {
			return nil, err
		}
		lx.toks = append(lx.toks, t)
		if t.kind == tkEOF {
			return lx.toks, nil
		}
		if len(lx.toks) > MaxSourceLen {
			return nil, &SyntaxError{Offset: t.pos, Msg: "expression too long"}
		}
	}
}

func (lx *lexer) errf(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Offset: pos, Msg: fmt.Sprintf(format, args...)}
}

func (lx *lexer) skipSpace() *SyntaxError {
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			lx.pos++
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(lx.src[lx.pos:])
			if !isSpaceRune(r) {
				return nil
			}
			lx.pos += size
		case strings.HasPrefix(lx.src[lx.pos:], "//"):
			for lx.pos < len(lx.src) && lx.src[lx.pos] != '\n' {
				lx.pos++
			}
		case strings.HasPrefix(lx.src[lx.pos:], "/*"):
			end := strings.Index(lx.src[lx.pos+2:], "*/")
			if end < 0 {
				return lx.errf(lx.pos, "unterminated comment")
			}
			lx.pos += end + 4
		default:
			return nil
		}
	}
	return nil
}

// isSpaceRune reports whether r is white space or a line break to C#:
// documents pasted from web pages carry no-break spaces (U+00A0) and other
// Unicode space separators.
func isSpaceRune(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\f', '\v', '\u0085', '\u2028', '\u2029':
		return true
	}
	return unicode.Is(unicode.Zs, r)
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isIdentPart(r rune) bool  { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func (lx *lexer) next() (token, *SyntaxError) {
	if err := lx.skipSpace(); err != nil {
		return token{}, err
	}
	start := lx.pos
	if lx.pos >= len(lx.src) {
		return token{kind: tkEOF, pos: start}, nil
	}
	rest := lx.src[lx.pos:]
	c := rest[0]
	switch {
	case c == '"':
		s, err := lx.regularString(start + 1)
		return token{kind: tkString, pos: start, text: s}, err
	case c == '\'':
		return lx.charLit()
	case strings.HasPrefix(rest, "@\""):
		s, err := lx.verbatimString(start + 2)
		return token{kind: tkString, pos: start, text: s}, err
	case strings.HasPrefix(rest, "$\"") || strings.HasPrefix(rest, "$@\"") || strings.HasPrefix(rest, "@$\""):
		return lx.interpolated()
	case c >= '0' && c <= '9' || c == '.' && len(rest) > 1 && rest[1] >= '0' && rest[1] <= '9':
		return lx.number()
	}
	r, size := utf8.DecodeRuneInString(rest)
	if c == '@' && len(rest) > 1 {
		// @identifier escapes a keyword.
		if r2, _ := utf8.DecodeRuneInString(rest[1:]); isIdentStart(r2) {
			lx.pos++
			t, err := lx.next()
			t.pos = start
			return t, err
		}
	}
	if isIdentStart(r) {
		lx.pos += size
		for lx.pos < len(lx.src) {
			r, size := utf8.DecodeRuneInString(lx.src[lx.pos:])
			if !isIdentPart(r) {
				break
			}
			lx.pos += size
		}
		return token{kind: tkIdent, pos: start, text: lx.src[start:lx.pos]}, nil
	}
	for _, op := range operators {
		if strings.HasPrefix(rest, op) {
			// "?." followed by a digit is "?" then ".5".
			if op == "?." && len(rest) > 2 && rest[2] >= '0' && rest[2] <= '9' {
				continue
			}
			lx.pos += len(op)
			return token{kind: tkOp, pos: start, text: op}, nil
		}
	}
	return token{}, lx.errf(start, "unexpected character %q", r)
}

func (lx *lexer) number() (token, *SyntaxError) {
	start := lx.pos
	s := lx.src
	isHex := strings.HasPrefix(s[lx.pos:], "0x") || strings.HasPrefix(s[lx.pos:], "0X")
	if isHex {
		lx.pos += 2
		for lx.pos < len(s) && (isHexDigit(s[lx.pos]) || s[lx.pos] == '_') {
			lx.pos++
		}
		text := strings.ReplaceAll(s[start+2:lx.pos], "_", "")
		lx.skipIntSuffix()
		v, err := strconv.ParseUint(text, 16, 64)
		if err != nil {
			return token{}, lx.errf(start, "bad number %q", s[start:lx.pos])
		}
		return token{kind: tkInt, pos: start, ival: int64(v)}, nil
	}
	isFloat := false
	digits := func() {
		for lx.pos < len(s) && (s[lx.pos] >= '0' && s[lx.pos] <= '9' || s[lx.pos] == '_') {
			lx.pos++
		}
	}
	digits()
	if lx.pos+1 < len(s) && s[lx.pos] == '.' && s[lx.pos+1] >= '0' && s[lx.pos+1] <= '9' {
		isFloat = true
		lx.pos++
		digits()
	}
	if lx.pos < len(s) && (s[lx.pos] == 'e' || s[lx.pos] == 'E') {
		p := lx.pos + 1
		if p < len(s) && (s[p] == '+' || s[p] == '-') {
			p++
		}
		if p < len(s) && s[p] >= '0' && s[p] <= '9' {
			isFloat = true
			lx.pos = p
			digits()
		}
	}
	text := strings.ReplaceAll(s[start:lx.pos], "_", "")
	if lx.pos < len(s) {
		switch s[lx.pos] {
		case 'd', 'D', 'f', 'F', 'm', 'M':
			isFloat = true
			lx.pos++
		}
	}
	if isFloat {
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return token{}, lx.errf(start, "bad number %q", s[start:lx.pos])
		}
		return token{kind: tkDouble, pos: start, fval: v}, nil
	}
	lx.skipIntSuffix()
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return token{}, lx.errf(start, "integral constant %q is too large", text)
	}
	return token{kind: tkInt, pos: start, ival: v}, nil
}

func (lx *lexer) skipIntSuffix() {
	for n := 0; n < 2 && lx.pos < len(lx.src); n++ {
		switch lx.src[lx.pos] {
		case 'l', 'L', 'u', 'U':
			lx.pos++
		default:
			return
		}
	}
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// escape decodes one escape sequence starting after the backslash.
func (lx *lexer) escape(b *strings.Builder) *SyntaxError {
	if lx.pos >= len(lx.src) {
		return lx.errf(lx.pos, "unterminated string")
	}
	c := lx.src[lx.pos]
	lx.pos++
	switch c {
	case 'n':
		b.WriteByte('\n')
	case 't':
		b.WriteByte('\t')
	case 'r':
		b.WriteByte('\r')
	case '0':
		b.WriteByte(0)
	case '\\', '"', '\'':
		b.WriteByte(c)
	case 'a':
		b.WriteByte('\a')
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'v':
		b.WriteByte('\v')
	case 'u', 'x':
		n := 4
		end := lx.pos
		for end < len(lx.src) && end-lx.pos < n && isHexDigit(lx.src[end]) {
			end++
		}
		if c == 'u' && end-lx.pos != 4 || end == lx.pos {
			return lx.errf(lx.pos-2, "bad escape sequence")
		}
		v, _ := strconv.ParseUint(lx.src[lx.pos:end], 16, 32)
		lx.pos = end
		b.WriteRune(rune(v))
	default:
		return lx.errf(lx.pos-2, "unrecognized escape sequence \\%c", c)
	}
	return nil
}

func (lx *lexer) regularString(from int) (string, *SyntaxError) {
	start := from - 1
	lx.pos = from
	var b strings.Builder
	for {
		if lx.pos >= len(lx.src) || lx.src[lx.pos] == '\n' {
			return "", lx.errf(start, "unterminated string")
		}
		c := lx.src[lx.pos]
		switch c {
		case '"':
			lx.pos++
			return b.String(), nil
		case '\\':
			lx.pos++
			if err := lx.escape(&b); err != nil {
				return "", err
			}
		default:
			b.WriteByte(c)
			lx.pos++
		}
	}
}

func (lx *lexer) verbatimString(from int) (string, *SyntaxError) {
	start := from - 2
	lx.pos = from
	var b strings.Builder
	for {
		if lx.pos >= len(lx.src) {
			return "", lx.errf(start, "unterminated string")
		}
		c := lx.src[lx.pos]
		if c == '"' {
			if lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] == '"' {
				b.WriteByte('"')
				lx.pos += 2
				continue
			}
			lx.pos++
			return b.String(), nil
		}
		b.WriteByte(c)
		lx.pos++
	}
}

func (lx *lexer) charLit() (token, *SyntaxError) {
	start := lx.pos
	lx.pos++
	var b strings.Builder
	if lx.pos < len(lx.src) && lx.src[lx.pos] == '\\' {
		lx.pos++
		if err := lx.escape(&b); err != nil {
			return token{}, err
		}
	} else if lx.pos < len(lx.src) {
		r, size := utf8.DecodeRuneInString(lx.src[lx.pos:])
		b.WriteRune(r)
		lx.pos += size
	}
	if lx.pos >= len(lx.src) || lx.src[lx.pos] != '\'' || b.Len() == 0 {
		return token{}, lx.errf(start, "bad character literal")
	}
	lx.pos++
	return token{kind: tkString, pos: start, text: b.String()}, nil
}

// interpolated reads $"..." (or $@"..."), splitting it into literal text and the
// source of each {hole}; the parser compiles the holes.
func (lx *lexer) interpolated() (token, *SyntaxError) {
	start := lx.pos
	verbatim := lx.src[lx.pos+1] == '@' || lx.src[lx.pos] == '@'
	if verbatim {
		lx.pos += 3
	} else {
		lx.pos += 2
	}
	t := token{kind: tkInterp, pos: start}
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			t.parts = append(t.parts, interpPart{lit: b.String()})
			b.Reset()
		}
	}
	for {
		if lx.pos >= len(lx.src) || !verbatim && lx.src[lx.pos] == '\n' {
			return token{}, lx.errf(start, "unterminated interpolated string")
		}
		c := lx.src[lx.pos]
		switch {
		case c == '"':
			if verbatim && lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] == '"' {
				b.WriteByte('"')
				lx.pos += 2
				continue
			}
			lx.pos++
			flush()
			return t, nil
		case c == '\\' && !verbatim:
			lx.pos++
			if err := lx.escape(&b); err != nil {
				return token{}, err
			}
		case c == '{' && lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] == '{',
			c == '}' && lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] == '}':
			b.WriteByte(c)
			lx.pos += 2
		case c == '}':
			return token{}, lx.errf(lx.pos, "'}' in an interpolated string must be written '}}'")
		case c == '{':
			flush()
			part, err := lx.hole()
			if err != nil {
				return token{}, err
			}
			t.parts = append(t.parts, part)
		default:
			b.WriteByte(c)
			lx.pos++
		}
	}
}

// hole scans one {expression[:format]} of an interpolated string, skipping over
// nested strings, parentheses and braces.
func (lx *lexer) hole() (interpPart, *SyntaxError) {
	open := lx.pos
	lx.pos++
	from := lx.pos
	depth := 0
	formatAt, alignAt := -1, -1
	for {
		if lx.pos >= len(lx.src) {
			return interpPart{}, lx.errf(open, "unterminated interpolation hole")
		}
		c := lx.src[lx.pos]
		switch {
		case c == '"' || c == '\'' || c == '@' && lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] == '"' ||
			c == '$' && lx.pos+1 < len(lx.src) && (lx.src[lx.pos+1] == '"' || lx.src[lx.pos+1] == '@'):
			if formatAt >= 0 {
				lx.pos++
				continue
			}
			if _, err := lx.next(); err != nil {
				return interpPart{}, err
			}
		case c == '(' || c == '[' || c == '{':
			depth++
			lx.pos++
		case c == ')' || c == ']':
			depth--
			lx.pos++
		case c == '}' && depth > 0:
			depth--
			lx.pos++
		case c == '}':
			end := lx.pos
			lx.pos++
			p := interpPart{hole: true, pos: from}
			srcEnd := end
			if formatAt >= 0 {
				p.format = lx.src[formatAt+1 : end]
				srcEnd = formatAt
			}
			if alignAt >= 0 {
				p.align = lx.src[alignAt+1 : srcEnd]
				srcEnd = alignAt
			}
			p.src = lx.src[from:srcEnd]
			if strings.TrimSpace(p.src) == "" {
				return interpPart{}, lx.errf(open, "empty interpolation hole")
			}
			return p, nil
		case c == ',' && depth == 0 && formatAt < 0 && alignAt < 0:
			alignAt = lx.pos
			lx.pos++
		case c == ':' && depth == 0 && formatAt < 0:
			// As in C#, a ':' at depth 0 starts the format (a conditional
			// operator in a hole must be parenthesized).
			formatAt = lx.pos
			lx.pos++
		default:
			lx.pos++
		}
	}
}
