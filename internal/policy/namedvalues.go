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
	var segs []segment
	out, missing := replaceNamedValues(text, refs, resolve, func(b *strings.Builder, v string, r namedValueRef) {
		ns := b.Len()
		xmlEscape(b, v)
		segs = append(segs, segment{ns, b.Len(), r.start, r.end})
	})
	if len(segs) == 0 {
		return orig, missing
	}
	src := newSource(out)
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

// replaceNamedValues writes text with each reference resolve knows
// replaced by put, and returns the references it did not know.
func replaceNamedValues(text string, refs []namedValueRef, resolve func(name string) (string, bool), put func(b *strings.Builder, v string, r namedValueRef)) (string, []namedValueRef) {
	var b strings.Builder
	var missing []namedValueRef
	last := 0
	for _, r := range refs {
		v, ok := resolve(r.name)
		if !ok {
			missing = append(missing, r)
			continue
		}
		b.WriteString(text[last:r.start])
		put(&b, v, r)
		last = r.end
	}
	b.WriteString(text[last:])
	return b.String(), missing
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

// secretValue is a secret named value substituted into a text.
type secretValue struct {
	name, value string
}

func addSecret(list []secretValue, name, value string) []secretValue {
	if value == "" {
		return list
	}
	for _, s := range list {
		if s.value == value {
			return list
		}
	}
	return append(list, secretValue{name, value})
}

// minSecretPiece is the shortest run of a secret redacted on its own.
// Shorter runs carry too little of the secret to matter and would mangle
// ordinary words of the message.
const minSecretPiece = 3

// redactSecrets replaces what msg shows of a secret named value with
// {{name}}. A message may quote the whole value (an element name, a
// syntax error), its XML-escaped form (the text the reader saw), or only a
// piece of it: an expression parser that reads "A-B" names the identifier
// 'A'. So the whole value goes first, then each run of letters and digits
// in it.
func redactSecrets(msg string, secrets []secretValue) string {
	if len(secrets) == 0 {
		return msg
	}
	for _, s := range secrets {
		ref := "{{" + s.name + "}}"
		msg = strings.ReplaceAll(msg, s.value, ref)
		var b strings.Builder
		xmlEscape(&b, s.value)
		if e := b.String(); e != s.value {
			msg = strings.ReplaceAll(msg, e, ref)
		}
	}
	for _, s := range secrets {
		ref := "{{" + s.name + "}}"
		for _, piece := range secretPieces(s.value) {
			msg = replaceOutsideRefs(msg, piece, ref)
		}
	}
	return msg
}

// secretPieces are the runs of letters and digits in v, longest first so
// a run is redacted before a shorter one inside it.
func secretPieces(v string) []string {
	pieces := strings.FieldsFunc(v, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= 0x80)
	})
	out := pieces[:0]
	for _, p := range pieces {
		if len(p) >= minSecretPiece && p != v {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// replaceOutsideRefs replaces piece by ref in msg, except inside the
// {{name}} references already written (a name may share a piece with the
// value).
func replaceOutsideRefs(msg, piece, ref string) string {
	var b strings.Builder
	for {
		k := strings.Index(msg, piece)
		if k < 0 {
			b.WriteString(msg)
			return b.String()
		}
		if o := strings.LastIndex(msg[:k], "{{"); o >= 0 && !strings.Contains(msg[o:k], "}}") {
			// Inside a reference: copy through its end.
			e := strings.Index(msg[k:], "}}")
			if e >= 0 {
				b.WriteString(msg[:k+e+2])
				msg = msg[k+e+2:]
				continue
			}
		}
		b.WriteString(msg[:k])
		b.WriteString(ref)
		msg = msg[k+len(piece):]
	}
}
