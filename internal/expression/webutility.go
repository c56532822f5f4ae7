package expression

import (
	"html"
	"strings"
)

// System.Net.WebUtility: URL and HTML encoding as .NET does it.

const upperHex = "0123456789ABCDEF"

// webURLEncode is WebUtility.UrlEncode: letters, digits and -_.!*() stay,
// space becomes +, every other byte of the UTF-8 text becomes %XX.
func webURLEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_.!*()", c) >= 0:
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		}
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// webURLDecode is WebUtility.UrlDecode: + is a space, %XX a byte; a malformed
// escape is kept as it is.
func webURLDecode(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '+' {
			b = append(b, ' ')
			continue
		}
		if c == '%' && i+2 < len(s) {
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, h<<4|l)
				i += 2
				continue
			}
		}
		b = append(b, c)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// webHTMLEncode is WebUtility.HtmlEncode: &, <, >, " and ' become entities,
// characters 160-255 numeric references.
func webHTMLEncode(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\'':
			b.WriteString("&#39;")
		case r >= 160 && r < 256:
			b.WriteString("&#")
			b.WriteString(toString(int64(r)))
			b.WriteByte(';')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func fillWebUtility() {
	w := staticClass("WebUtility")
	str := func(f func(string) string, grow int) *method {
		return mth(1, 1, tString, ts(tString), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
			if args[0] == nil {
				return nil, nil // .NET returns null for null
			}
			s, err := argStr(args, 0, "value")
			if err != nil {
				return nil, err
			}
			if err := e.grow(len(s) * grow); err != nil {
				return nil, err
			}
			return f(s), nil
		})
	}
	w.methods["UrlEncode"] = str(webURLEncode, 3)
	w.methods["UrlDecode"] = str(webURLDecode, 1)
	w.methods["HtmlEncode"] = str(webHTMLEncode, 6)
	w.methods["HtmlDecode"] = str(html.UnescapeString, 1)
	registerStatic(w)
}
