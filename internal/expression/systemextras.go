package expression

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
)

// Smaller System members documents use: DateTime.ParseExact, Enumerable,
// Char, MidpointRounding, and the (bytes, index, count) overloads of
// Encoding.GetString and Convert.ToBase64String.

// midpointRounding is System.MidpointRounding.
type midpointRounding int

const (
	roundToEven midpointRounding = iota
	roundAwayFromZero
)

var tMidpoint = &typ{name: "MidpointRounding", valueType: true}

// dotnetLayout turns a .NET custom date format into a Go layout for
// parsing; ok is false for a specifier Go cannot parse.
func dotnetLayout(f string) (string, bool) {
	if l, ok := dateTimeFormats[f]; ok && f != "" {
		return l, true
	}
	if f == "o" || f == "O" {
		return time.RFC3339Nano, true
	}
	var b strings.Builder
	good := true
	ok := eachDateToken(f, func(c byte, tok string) {
		n := len(tok)
		switch {
		case c == 0:
			b.WriteString(tok)
		case tok == "yyyy":
			b.WriteString("2006")
		case tok == "yy":
			b.WriteString("06")
		case tok == "MMMM":
			b.WriteString("January")
		case tok == "MMM":
			b.WriteString("Jan")
		case tok == "MM":
			b.WriteString("01")
		case tok == "M":
			b.WriteString("1")
		case tok == "dddd":
			b.WriteString("Monday")
		case tok == "ddd":
			b.WriteString("Mon")
		case tok == "dd":
			b.WriteString("02")
		case tok == "d":
			b.WriteString("2")
		case tok == "HH", tok == "H":
			b.WriteString("15")
		case tok == "hh":
			b.WriteString("03")
		case tok == "h":
			b.WriteString("3")
		case tok == "mm":
			b.WriteString("04")
		case tok == "m":
			b.WriteString("4")
		case tok == "ss":
			b.WriteString("05")
		case tok == "s":
			b.WriteString("5")
		case c == 'f' || c == 'F':
			// Fractions follow a '.' or ',' in Go layouts.
			if s := b.String(); !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, ",") {
				good = false
			}
			b.WriteString(strings.Repeat("9", n))
		case tok == "tt":
			b.WriteString("PM")
		case tok == "zzz":
			b.WriteString("-07:00")
		case tok == "zz":
			b.WriteString("-07")
		case tok == "K":
			b.WriteString("Z07:00")
		case strings.ContainsRune("yMdHhmsftzgK", rune(c)):
			good = false
		default:
			b.WriteString(tok)
		}
	})
	if !ok || !good {
		return "", false
	}
	return b.String(), true
}

func parseExact(s, format string) (time.Time, error) {
	layout, ok := dotnetLayout(format)
	if !ok {
		return time.Time{}, fmt.Errorf("the format '%s' is not supported by ParseExact", format)
	}
	t, err := time.Parse(layout, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, errors.New("String '" + s + "' was not recognized as a valid DateTime.")
	}
	return t.UTC(), nil
}

// bytesRange reads (bytes, index, count) arguments.
func bytesRange(args []any) ([]byte, error) {
	b, err := argBytes(args, 0, "bytes")
	if err != nil || len(args) == 1 {
		return b, err
	}
	if len(args) != 3 {
		return nil, errors.New("give both an index and a count")
	}
	i, err := argInt(args, 1, "index")
	if err != nil {
		return nil, err
	}
	n, err := argInt(args, 2, "count")
	if err != nil {
		return nil, err
	}
	if i < 0 || n < 0 || i > int64(len(b)) || n > int64(len(b))-i {
		return nil, errors.New("Index was out of range. Must be non-negative and less than the size of the collection.")
	}
	return b[i : i+n], nil
}

func fillSystemExtras() {
	dt := staticClasses["DateTime"]
	// ParseExact(s, format[, provider[, styles]]): a null provider is accepted too.
	dt.methods["ParseExact"] = mth(2, 4, tDateTime, ts(tString, tString, nil), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "s")
		if err != nil {
			return nil, err
		}
		f, err := argStr(args, 1, "format")
		if err != nil {
			return nil, err
		}
		return parseExact(s, f)
	})
	// TryParseExact(s, format[, provider, styles], out DateTime).
	dt.methods["TryParseExact"] = &method{min: 3, max: 5, resT: tBool, params: ts(tString, tString, nil), outT: tDateTime,
		call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			out := len(args) - 1
			s, ok1 := args[0].(string)
			f, ok2 := args[1].(string)
			args[out] = time.Time{}
			if !ok1 || !ok2 {
				return false, nil
			}
			t, err := parseExact(s, f)
			if err != nil {
				return false, nil
			}
			args[out] = t
			return true, nil
		}}
	staticClasses["DateTimeOffset"].methods["ParseExact"] = dt.methods["ParseExact"]

	// The (bytes, index, count) overloads.
	enc := tEncoding.methods["GetString"]
	tEncoding.methods["GetString"] = mth(1, 3, tString, ts(tBytes, tInt, tInt), func(e *env, ci *callInfo, r any, args []any) (any, error) {
		b, err := bytesRange(args)
		if err != nil {
			return nil, err
		}
		return enc.call(e, ci, r, []any{b})
	})
	conv := staticClasses["Convert"]
	b64 := conv.methods["ToBase64String"]
	conv.methods["ToBase64String"] = mth(1, 3, tString, ts(tBytes, tInt, tInt), func(e *env, ci *callInfo, r any, args []any) (any, error) {
		b, err := bytesRange(args)
		if err != nil {
			return nil, err
		}
		return b64.call(e, ci, r, []any{b})
	})

	// Math.Round(x[, digits][, MidpointRounding]).
	mr := staticClass("MidpointRounding")
	mr.props["ToEven"] = constProp(tMidpoint, roundToEven)
	mr.props["AwayFromZero"] = constProp(tMidpoint, roundAwayFromZero)
	registerStatic(mr)
	mathc := staticClasses["Math"]
	round := mathc.methods["Round"]
	mathc.methods["Round"] = mth(1, 3, tDouble, nil, func(e *env, ci *callInfo, r any, args []any) (any, error) {
		mode := roundToEven
		if m, ok := args[len(args)-1].(midpointRounding); ok {
			mode, args = m, args[:len(args)-1]
		}
		if len(args) == 0 || len(args) > 2 {
			return nil, errors.New("Math.Round takes a value, optional digits and an optional MidpointRounding")
		}
		if mode == roundToEven {
			return round.call(e, ci, r, args)
		}
		x, err := argNum(args, 0, "value")
		if err != nil {
			return nil, err
		}
		p := 1.0
		if len(args) == 2 {
			d, err := argInt(args, 1, "digits")
			if err != nil || d < 0 || d > 15 {
				return nil, errors.New("Rounding digits must be between 0 and 15, inclusive. (Parameter 'digits')")
			}
			p = math.Pow(10, float64(d))
		}
		return math.Round(x*p) / p, nil
	})

	// Enumerable.Range, Repeat, Empty.
	en := staticClass("Enumerable")
	en.methods["Range"] = mth(2, 2, tObjArr, ts(tInt, tInt), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		start, err := argInt(args, 0, "start")
		if err != nil {
			return nil, err
		}
		n, err := argInt(args, 1, "count")
		if err != nil {
			return nil, err
		}
		if n < 0 || start+n-1 > math.MaxInt32 {
			return nil, errors.New("Specified argument was out of the range of valid values. (Parameter 'count')")
		}
		if err := e.grow(int(min(n, MaxStringLen+1)) * 8); err != nil {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			out[i] = start + int64(i)
		}
		return out, nil
	})
	en.methods["Repeat"] = mth(2, 2, tObjArr, ts(nil, tInt), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		n, err := argInt(args, 1, "count")
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, errors.New("Specified argument was out of the range of valid values. (Parameter 'count')")
		}
		if err := e.grow(int(min(n, MaxStringLen+1)) * 8); err != nil {
			return nil, err
		}
		if s, ok := args[0].(string); ok {
			out := make([]string, n)
			for i := range out {
				out[i] = s
			}
			return out, nil
		}
		out := make([]any, n)
		for i := range out {
			out[i] = args[0]
		}
		return out, nil
	})
	en.methods["Empty"] = emptyArray
	registerStatic(en)

	// Char: characters are one-character strings.
	ch := staticClass("Char")
	charTest := func(f func(rune) bool) *method {
		return mth(1, 2, tBool, ts(tString, tInt), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			s, err := argStr(args, 0, "c")
			if err != nil {
				return nil, err
			}
			if len(args) == 2 { // Char.IsDigit(s, index)
				i, err := argInt(args, 1, "index")
				if err != nil {
					return nil, err
				}
				v, err := tString.index.get(nil, s, i)
				if err != nil {
					return nil, err
				}
				s = v.(string)
			}
			for _, r := range s {
				return f(r), nil
			}
			return false, nil
		})
	}
	ch.methods["IsDigit"] = charTest(func(r rune) bool { return r >= '0' && r <= '9' })
	ch.methods["IsNumber"] = charTest(unicode.IsNumber)
	ch.methods["IsLetter"] = charTest(unicode.IsLetter)
	ch.methods["IsLetterOrDigit"] = charTest(func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) })
	ch.methods["IsWhiteSpace"] = charTest(unicode.IsSpace)
	ch.methods["IsUpper"] = charTest(unicode.IsUpper)
	ch.methods["IsLower"] = charTest(unicode.IsLower)
	ch.methods["IsPunctuation"] = charTest(unicode.IsPunct)
	charMap := func(f func(string) string) *method {
		return mth(1, 1, tString, ts(tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			s, err := argStr(args, 0, "c")
			return f(s), err
		})
	}
	ch.methods["ToUpper"] = charMap(strings.ToUpper)
	ch.methods["ToLower"] = charMap(strings.ToLower)
	ch.methods["ToUpperInvariant"] = ch.methods["ToUpper"]
	ch.methods["ToLowerInvariant"] = ch.methods["ToLower"]
	registerStatic(ch)
	staticClasses["char"] = ch
	addObjectMethods(tMidpoint)
}
