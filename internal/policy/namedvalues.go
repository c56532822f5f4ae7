package policy

import (
	"sort"
	"strings"
)

// Named values are substituted into a document's text before it is read,
// as APIM does, so a {{name}} may stand anywhere: in an attribute, in text,
// inside an expression. Values are XML-escaped on the way in: the reader
// decodes entities everywhere (expressions included), so the value arrives
// intact wherever it lands, and a secret containing '"' or '<' cannot break
// the markup around it.

// namedValueRef is one {{name}} in a text.
type namedValueRef struct {
	name       string
	start, end int // offsets of "{{" and just after "}}"
}

// findNamedValues lists the {{name}} references of text.
func findNamedValues(text string) []namedValueRef {
	var out []namedValueRef
	for i := 0; ; {
		k := strings.Index(text[i:], "{{")
		if k < 0 {
			return out
		}
		s := i + k
		j := s + 2
		for j < len(text) && isNamedValueChar(text[j]) {
			j++
		}
		if j > s+2 && strings.HasPrefix(text[j:], "}}") {
			out = append(out, namedValueRef{name: text[s+2 : j], start: s, end: j + 2})
			i = j + 2
			continue
		}
		i = s + 1
	}
}

func isNamedValueChar(c byte) bool {
	return c == '.' || c == '-' || c == '_' || c == '~' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// substitution is a text with named values replaced, and the map back to
// the original offsets for error positions.
type segment struct{ newStart, newEnd, origStart, origEnd int }

// substitute replaces every reference resolve knows. It returns the source
// to read (positions map back to the original text) and the references
// that resolve did not know.
func substitute(text string, resolve func(name string) (string, bool)) (*source, []namedValueRef) {
	refs := findNamedValues(text)
	orig := newSource(text)
	if len(refs) == 0 {
		return orig, nil
	}
	var b strings.Builder
	var segs []segment
	var missing []namedValueRef
	last := 0
	for _, r := range refs {
		v, ok := resolve(r.name)
		if !ok {
			missing = append(missing, r)
			continue
		}
		b.WriteString(text[last:r.start])
		ns := b.Len()
		xmlEscape(&b, v)
		segs = append(segs, segment{ns, b.Len(), r.start, r.end})
		last = r.end
	}
	if len(segs) == 0 {
		return orig, missing
	}
	b.WriteString(text[last:])
	src := newSource(b.String())
	src.orig = orig
	src.remap = func(off int) int {
		i := sort.Search(len(segs), func(i int) bool { return segs[i].newStart > off }) - 1
		if i < 0 {
			return off
		}
		s := segs[i]
		if off < s.newEnd {
			return s.origStart
		}
		return s.origEnd + off - s.newEnd
	}
	return src, missing
}

func xmlEscape(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			b.WriteByte(c)
		}
	}
}
