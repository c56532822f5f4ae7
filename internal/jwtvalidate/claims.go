package jwtvalidate

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"unicode/utf8"
)

// The payload is read without building a map of every claim: the checks
// need a handful of members, and decoding a whole Entra token into
// map[string]any costs more than a third of an RSA verification. members
// is a strict single-pass JSON reader (FuzzMembers holds it to
// encoding/json's verdicts) that hands out the top-level members raw.

// members calls fn with each top-level member of the JSON object b: its
// name (unescaped) and its raw value. It reports false when b is not a
// well-formed JSON object. name is only valid during the call.
func members(b []byte, fn func(name, val []byte)) bool {
	p := jsonReader{b: b}
	p.space()
	if !p.eat('{') {
		return false
	}
	p.space()
	if p.eat('}') {
		p.space()
		return p.i == len(b)
	}
	for {
		start := p.i
		hasEscape, ok := p.str()
		if !ok {
			return false
		}
		name := b[start+1 : p.i-1]
		if hasEscape || !utf8.Valid(name) {
			var key string
			if json.Unmarshal(b[start:p.i], &key) != nil {
				return false
			}
			name = []byte(key)
		}
		p.space()
		if !p.eat(':') {
			return false
		}
		p.space()
		vstart := p.i
		if !p.value(1) {
			return false
		}
		fn(name, b[vstart:p.i])
		p.space()
		if p.eat('}') {
			p.space()
			return p.i == len(b)
		}
		if !p.eat(',') {
			return false
		}
		p.space()
	}
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

type jsonReader struct {
	b []byte
	i int
}

func (p *jsonReader) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonReader) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonReader) value(depth int) bool {
	if p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return false
		}
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		p.i++
		p.space()
		if p.eat(close) {
			return true
		}
		for {
			if c == '{' {
				if _, ok := p.str(); !ok {
					return false
				}
				p.space()
				if !p.eat(':') {
					return false
				}
				p.space()
			}
			if !p.value(depth + 1) {
				return false
			}
			p.space()
			if p.eat(close) {
				return true
			}
			if !p.eat(',') {
				return false
			}
			p.space()
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return false
}

func (p *jsonReader) literal(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

func (p *jsonReader) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

func (p *jsonReader) number() bool {
	p.eat('-')
	if p.eat('0') {
		// no leading zeros
	} else if p.digits() == 0 {
		return false
	}
	if p.eat('.') && p.digits() == 0 {
		return false
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if !p.eat('+') {
			p.eat('-')
		}
		if p.digits() == 0 {
			return false
		}
	}
	return true
}

// str reads a string at p.i (which must be '"').
func (p *jsonReader) str() (hasEscape, ok bool) {
	if !p.eat('"') {
		return false, false
	}
	for p.i < len(p.b) {
		// Most of a token's payload is plain string bytes: skip them eight
		// at a time.
		for len(p.b)-p.i >= 8 && !special8(binary.LittleEndian.Uint64(p.b[p.i:])) {
			p.i += 8
		}
		if p.i >= len(p.b) {
			break
		}
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return hasEscape, true
		case c < 0x20:
			return false, false
		case c == '\\':
			hasEscape = true
			p.i++
			if p.i >= len(p.b) {
				return false, false
			}
			switch p.b[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				if len(p.b)-p.i < 5 {
					return false, false
				}
				for _, h := range p.b[p.i+1 : p.i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false, false
					}
				}
				p.i += 5
			default:
				return false, false
			}
		default:
			p.i++
		}
	}
	return false, false
}

// special8 reports whether any of the eight bytes in x ends or escapes a
// string's plain run: '"', '\\' or a control character. Each term is the
// classic exact "some byte is zero" (or "below n") word test.
func special8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (x - ones*0x20) &^ x
	q := x ^ (ones * '"')
	quote := (q - ones) &^ q
	b := x ^ (ones * '\\')
	backslash := (b - ones) &^ b
	return (below|quote|backslash)&highs != 0
}

// jsonString reads a raw JSON string value; ok is false for other values.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	if !needsDecode(body) {
		return string(body), true
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// jsonBytes is jsonString without the copy: the value's bytes, straight
// from raw unless it has escapes or invalid UTF-8.
func jsonBytes(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	body := raw[1 : len(raw)-1]
	if !needsDecode(body) {
		return body, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	return []byte(s), true
}

// needsDecode reports whether a string's body has escapes or bytes that
// encoding/json would replace (invalid UTF-8).
func needsDecode(body []byte) bool {
	return bytes.IndexByte(body, '\\') >= 0 || !utf8.Valid(body)
}

// jsonAny decodes a raw value the way encoding/json would into any.
func jsonAny(raw []byte) any {
	var v any
	_ = json.Unmarshal(raw, &v)
	return v
}
