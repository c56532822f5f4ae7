package expression

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/google/uuid"
)

// Conversions: casts, Convert, Encoding, Guid, Uri and the number types' Parse.

func parseInt(s string) (int64, error) {
	i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, errors.New("Value was either too large or too small for an Int32.")
		}
		return 0, errFormat
	}
	return i, nil
}

func parseDouble(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, errFormat
	}
	return f, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("String was not recognized as a valid Boolean.")
}

// fillConversions fills casts between types, Encoding values, and the static
// classes Guid, Convert, Encoding, Int32, Int64, Double, Boolean and Uri.
func fillConversions() {
	tEncoding.methods = map[string]*method{
		"GetBytes": mth(1, 1, tBytes, ts(tString), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			s, err := argStr(args, 0, "s")
			if err != nil {
				return nil, err
			}
			if err := e.grow(len(s) * 2); err != nil {
				return nil, err
			}
			return encodeString(r.(encoding), s), nil
		}),
		"GetString": mth(1, 1, tString, ts(tBytes), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			b, err := argBytes(args, 0, "bytes")
			if err != nil {
				return nil, err
			}
			if err := e.grow(len(b)); err != nil {
				return nil, err
			}
			return decodeString(r.(encoding), b), nil
		}),
		"GetByteCount": mth(1, 1, tInt, ts(tString), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			s, err := argStr(args, 0, "s")
			if err != nil {
				return nil, err
			}
			return int64(len(encodeString(r.(encoding), s))), nil
		}),
	}

	// Conversions used by casts.
	tString.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case string:
			return v, true
		case int64, float64, bool:
			return toString(v), true // JSON values convert as JValue does
		}
		return nil, false
	}
	tInt.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case int64:
			return v, true
		case float64:
			if math.IsNaN(v) || math.Abs(v) > math.MaxInt64 {
				return nil, false
			}
			return int64(v), true
		case string:
			i, err := parseInt(v)
			return i, err == nil
		case bool:
			if v {
				return int64(1), true
			}
			return int64(0), true
		}
		return nil, false
	}
	tDouble.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case int64:
			return float64(v), true
		case float64:
			return v, true
		case string:
			f, err := parseDouble(v)
			return f, err == nil
		}
		return nil, false
	}
	tBool.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case bool:
			return v, true
		case string:
			b, err := parseBool(v)
			return b, err == nil
		}
		return nil, false
	}
	tDateTime.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case time.Time:
			return v, true
		case string:
			t, err := parseDate(v)
			return t, err == nil
		}
		return nil, false
	}
	sameType := func(t *typ) func(v any) (any, bool) {
		return func(v any) (any, bool) { return v, typeOfValue(v) == t }
	}
	for _, t := range []*typ{tTimeSpan, tGuid, tJwt, tAuth, tResponse, tRequest, tJObject, tJArray, tJProp, tStrArr, tObjArr, tBytes} {
		t.conv = sameType(t)
	}
	tStrArr.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case []string:
			return v, true
		case *JArray:
			out := make([]string, len(v.Items))
			for i, x := range v.Items {
				s, ok := tString.conv(x)
				if !ok && x != nil {
					return nil, false
				}
				out[i], _ = s.(string)
			}
			return out, true
		}
		return nil, false
	}

	guid := staticClass("Guid")
	guid.props["Empty"] = constProp(tGuid, Guid{})
	guid.methods["NewGuid"] = mth(0, 0, tGuid, nil, func(_ *env, _ *callInfo, _ any, _ []any) (any, error) {
		return Guid(uuid.New()), nil
	})
	guid.methods["Parse"], guid.methods["TryParse"] = parsers(tGuid, func(s string) (any, error) { return parseGuid(s) })
	tGuid.methods = map[string]*method{
		"ToByteArray": mth(0, 0, tBytes, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return guidBytes(r.(Guid)), nil
		}),
	}

	conv := staticClass("Convert")
	conv.methods["ToBase64String"] = mth(1, 1, tString, ts(tBytes), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		b, ok := args[0].([]byte)
		if !ok {
			if args[0] == nil {
				return nil, errArgNull("inArray")
			}
			return nil, errCast(args[0], tBytes)
		}
		if err := e.grow(len(b) * 4 / 3); err != nil {
			return nil, err
		}
		return base64.StdEncoding.EncodeToString(b), nil
	})
	conv.methods["FromBase64String"] = mth(1, 1, tBytes, ts(tString), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "s")
		if err != nil {
			return nil, err
		}
		if err := e.grow(len(s)); err != nil {
			return nil, err
		}
		b, err := decodeBase64(s)
		if err != nil {
			return nil, errors.New("The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters.")
		}
		return b, nil
	})
	convTo := func(t *typ) *method {
		return mth(1, 1, t, nil, func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			v := args[0]
			if v == nil {
				return zeroOf(t), nil
			}
			if t == tString {
				return toString(v), nil
			}
			if f, ok := v.(float64); ok && t == tInt {
				return int64(math.RoundToEven(f)), nil // Convert rounds, casts truncate
			}
			r, ok := t.conv(v)
			if !ok {
				if _, isStr := v.(string); isStr {
					return nil, errFormat
				}
				return nil, errCast(v, t)
			}
			return r, nil
		})
	}
	conv.methods["ToInt32"] = convTo(tInt)
	conv.methods["ToInt64"] = convTo(tInt)
	conv.methods["ToDouble"] = convTo(tDouble)
	conv.methods["ToBoolean"] = convTo(tBool)
	conv.methods["ToString"] = convTo(tString)
	conv.methods["ToDateTime"] = convTo(tDateTime)

	enc := staticClass("Encoding")
	enc.props["UTF8"] = constProp(tEncoding, encUTF8)
	enc.props["ASCII"] = constProp(tEncoding, encASCII)
	enc.props["Default"] = constProp(tEncoding, encUTF8)
	enc.props["Unicode"] = constProp(tEncoding, encUnicode)
	enc.props["BigEndianUnicode"] = constProp(tEncoding, encBigEndianUnicode)

	intc := staticClass("Int32")
	intc.props["MaxValue"] = constProp(tInt, int64(math.MaxInt32))
	intc.props["MinValue"] = constProp(tInt, int64(math.MinInt32))
	intc.methods["Parse"], intc.methods["TryParse"] = parsers(tInt, func(s string) (any, error) {
		i, err := parseInt(s)
		if err == nil && (i > math.MaxInt32 || i < math.MinInt32) {
			return nil, errors.New("Value was either too large or too small for an Int32.")
		}
		return i, err
	})
	longc := staticClass("Int64")
	longc.props["MaxValue"] = constProp(tInt, int64(math.MaxInt64))
	longc.props["MinValue"] = constProp(tInt, int64(math.MinInt64))
	longc.methods["Parse"], longc.methods["TryParse"] = parsers(tInt, func(s string) (any, error) { return parseInt(s) })
	dbl := staticClass("Double")
	dbl.methods["Parse"], dbl.methods["TryParse"] = parsers(tDouble, func(s string) (any, error) { return parseDouble(s) })
	dbl.props["NaN"] = constProp(tDouble, math.NaN())
	dbl.props["MaxValue"] = constProp(tDouble, math.MaxFloat64)
	dbl.props["MinValue"] = constProp(tDouble, -math.MaxFloat64)
	boolc := staticClass("Boolean")
	boolc.methods["Parse"], boolc.methods["TryParse"] = parsers(tBool, func(s string) (any, error) { return parseBool(s) })

	uri := staticClass("Uri")
	uri.methods["EscapeDataString"] = mth(1, 1, tString, ts(tString), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "stringToEscape")
		if err != nil {
			return nil, err
		}
		if err := e.grow(len(s) * 3); err != nil {
			return nil, err
		}
		return strings.ReplaceAll(url.QueryEscape(s), "+", "%20"), nil
	})
	uri.methods["UnescapeDataString"] = mth(1, 1, tString, ts(tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "stringToUnescape")
		if err != nil {
			return nil, err
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return s, nil
		}
		return u, nil
	})
	registerStatic(guid, conv, enc, intc, longc, dbl, boolc, uri)
	staticClasses["int"] = intc
	staticClasses["long"] = longc
	staticClasses["double"] = dbl
	staticClasses["bool"] = boolc

	// new Guid(string) or new Guid(byte[]).
	constructors["Guid"] = &method{min: 1, max: 1, resT: tGuid, call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		switch a := args[0].(type) {
		case []byte:
			if len(a) != 16 {
				return nil, errors.New("Byte array for Guid must be exactly 16 bytes long. (Parameter 'b')")
			}
			return Guid(guidBytes(Guid(a))), nil
		case string:
			return parseGuid(a)
		case nil:
			return nil, errArgNull("g")
		}
		return nil, fmt.Errorf("a Guid is made from a string or a byte[], not %s", typeNameOf(args[0]))
	}}
}

// guidBytes is Guid.ToByteArray: .NET stores the first three fields little
// endian. Swapping them is its own inverse, so it also reads such bytes back.
func guidBytes(g Guid) []byte {
	b := g[:]
	return []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]}
}

// decodeBase64 is Convert.FromBase64String: white space is ignored.
func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
}

func parseGuid(s string) (Guid, error) {
	s = strings.Trim(strings.TrimSpace(s), "{}()")
	s = strings.ReplaceAll(s, "-", "")
	var g Guid
	if len(s) != 32 {
		return g, errors.New("Unrecognized Guid format.")
	}
	for i := 0; i < 16; i++ {
		b, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return g, errors.New("Unrecognized Guid format.")
		}
		g[i] = byte(b)
	}
	return g, nil
}

// encodeString is Encoding.GetBytes: characters ASCII cannot hold become
// '?'; Unicode is UTF-16 (little-endian unless BigEndianUnicode).
func encodeString(enc encoding, s string) []byte {
	switch enc {
	case encASCII:
		b := make([]byte, 0, len(s))
		for _, c := range s {
			if c > 127 {
				c = '?'
			}
			b = append(b, byte(c))
		}
		return b
	case encUnicode, encBigEndianUnicode:
		u := utf16.Encode([]rune(s))
		b := make([]byte, 2*len(u))
		for i, x := range u {
			if enc == encUnicode {
				b[2*i], b[2*i+1] = byte(x), byte(x>>8)
			} else {
				b[2*i], b[2*i+1] = byte(x>>8), byte(x)
			}
		}
		return b
	}
	return []byte(s)
}

// decodeString is Encoding.GetString; invalid input becomes U+FFFD (ASCII:
// bytes above 127 become '?').
func decodeString(enc encoding, b []byte) string {
	switch enc {
	case encASCII:
		r := make([]byte, len(b))
		for i, x := range b {
			if x > 127 {
				x = '?'
			}
			r[i] = x
		}
		return string(r)
	case encUnicode, encBigEndianUnicode:
		u := make([]uint16, len(b)/2)
		for i := range u {
			if enc == encUnicode {
				u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
			} else {
				u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
			}
		}
		s := string(utf16.Decode(u))
		if len(b)%2 == 1 {
			s += "\uFFFD"
		}
		return s
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
