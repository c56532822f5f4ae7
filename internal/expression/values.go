package expression

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Guid is a System.Guid.
type Guid [16]byte

func (g Guid) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16])
}

// stringComparison is System.StringComparison; only whether it ignores case matters.
type stringComparison int

const (
	cmpOrdinal stringComparison = iota
	cmpIgnoreCase
)

// splitOptions is System.StringSplitOptions.
type splitOptions int

// jsonFormatting is Newtonsoft.Json.Formatting.
type jsonFormatting int

// kvPair is a KeyValuePair<string, string[]> (headers, query parameters, claims).
type kvPair struct {
	Key   string
	Value []string
}

// kvObj is a KeyValuePair<string, object> (variables, JObject properties).
type kvObj struct {
	Key   string
	Value any
}

// jProperty is a Newtonsoft JProperty: built with new JProperty(...) to add
// to an object, or read with Property(name) / Properties(), when owner is the
// object it belongs to (so Remove() and Value = ... change that object).
type jProperty struct {
	Name  string
	Value any
	owner *JObject
}

// encoding is a System.Text.Encoding.
type encoding int

const (
	encUTF8 encoding = iota
	encASCII
	encUnicode
	encBigEndianUnicode
)

// toString is C#'s ToString() of a value, with null as "".
func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return formatDouble(v)
	case time.Time:
		return v.Format("01/02/2006 15:04:05")
	case time.Duration:
		return formatTimeSpan(v)
	case Guid:
		return v.String()
	case *JObject:
		return v.String()
	case *JArray:
		return v.String()
	case *anonObject:
		return v.String()
	case []string:
		return "System.String[]"
	case []any:
		return "System.Object[]"
	case []byte:
		return "System.Byte[]"
	case kvPair:
		return "[" + v.Key + ", System.String[]]"
	case kvObj:
		return "[" + v.Key + ", " + toString(v.Value) + "]"
	case jProperty:
		return jsonText(&JObject{keys: []string{v.Name}, vals: map[string]any{v.Name: v.Value}}, "  ")
	case stringComparison:
		if v == cmpIgnoreCase {
			return "OrdinalIgnoreCase"
		}
		return "Ordinal"
	case *URL:
		return v.String()
	case *sysURI:
		return v.String()
	case *xElement:
		return v.text(true)
	case *xDocument:
		return v.text(true)
	case *xAttribute:
		return v.String()
	case xNamespace:
		return "{" + string(v) + "}"
	case xName:
		return v.String()
	case *stringBuilder:
		return v.s.String()
	case *exceptionVal:
		return v.String()
	case jTokenType:
		if int(v) < len(jTokenTypeNames) {
			return jTokenTypeNames[v]
		}
	}
	return typeNameOf(v)
}

// String prints the URL as APIM does: scheme://host[:port]path?query.
func (u *URL) String() string {
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteString("://")
	b.WriteString(u.Host)
	if u.Port != 0 && !(u.Port == 443 && u.Scheme == "https" || u.Port == 80 && u.Scheme == "http") {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(u.Port))
	}
	b.WriteString(u.Path)
	b.WriteString(u.QueryString)
	return b.String()
}

// formatDouble prints a double as .NET does (shortest round-trip form,
// exponent notation from 1E+15 and below 1E-05).
func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "∞"
	case math.IsInf(f, -1):
		return "-∞"
	case f == 0:
		return "0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	i := strings.IndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	if exp >= 15 || exp < -5 {
		mant := e[:i]
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		return fmt.Sprintf("%sE%s%02d", mant, sign, exp)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// formatTimeSpan is TimeSpan's "c" format: [-][d.]hh:mm:ss[.fffffff].
func formatTimeSpan(d time.Duration) string {
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		if d == math.MinInt64 {
			d = math.MaxInt64
		} else {
			d = -d
		}
	}
	ticks := int64(d / 100)
	days := ticks / (864_000_000_000)
	ticks %= 864_000_000_000
	if days > 0 {
		fmt.Fprintf(&b, "%d.", days)
	}
	h := ticks / 36_000_000_000
	ticks %= 36_000_000_000
	m := ticks / 600_000_000
	ticks %= 600_000_000
	s := ticks / 10_000_000
	ticks %= 10_000_000
	fmt.Fprintf(&b, "%02d:%02d:%02d", h, m, s)
	if ticks > 0 {
		fmt.Fprintf(&b, ".%07d", ticks)
	}
	return b.String()
}

// typeNameOf names a value's type as a C# user would know it.
func typeNameOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "double"
	case time.Time:
		return "DateTime"
	case time.Duration:
		return "TimeSpan"
	case Guid:
		return "Guid"
	case []string:
		return "string[]"
	case []any:
		return "object[]"
	case []byte:
		return "byte[]"
	case *lambdaVal:
		return "lambda expression"
	}
	if t := typeOfValue(v); t != tObject {
		return t.name
	}
	return fmt.Sprintf("%T", v)
}

// valueEquals is C#'s == for the values expressions handle.
func valueEquals(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		if !ok {
			if n, isName := b.(xName); isName {
				return n.String() == x // XName == string
			}
		}
		return ok && x == y
	case int64:
		switch y := b.(type) {
		case int64:
			return x == y
		case float64:
			return float64(x) == y
		}
		return false
	case float64:
		switch y := b.(type) {
		case int64:
			return x == float64(y)
		case float64:
			return x == y
		}
		return false
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case time.Duration:
		y, ok := b.(time.Duration)
		return ok && x == y
	case Guid:
		y, ok := b.(Guid)
		return ok && x == y
	case stringComparison:
		y, ok := b.(stringComparison)
		return ok && x == y
	case []string:
		y, ok := b.([]string)
		return ok && len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0])
	case []any:
		y, ok := b.([]any)
		return ok && len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0])
	case []byte:
		y, ok := b.([]byte)
		return ok && len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0])
	case kvPair, kvObj, jProperty:
		return false
	case xName:
		return toString(b) == x.String() && (typeOfValue(b) == tXName || typeOfValue(b) == tString)
	}
	// Reference types: pointers compare by identity; maps, slices and
	// functions (not comparable in Go) by the identity of what they point to.
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb {
		return false
	}
	if !ta.Comparable() {
		switch ta.Kind() {
		case reflect.Map, reflect.Slice, reflect.Func:
			return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
		}
		return false
	}
	return a == b
}

// compareValues orders numbers, strings (ordinal), dates and time spans; ok is
// false when the two cannot be compared.
func compareValues(a, b any) (int, bool) {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp3(x, y), true
		case float64:
			return cmpFloat(float64(x), y), true
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return cmpFloat(x, float64(y)), true
		case float64:
			return cmpFloat(x, y), true
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y), true
		}
	case time.Duration:
		if y, ok := b.(time.Duration); ok {
			return cmp3(x, y), true
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), true
		}
	}
	return 0, false
}

func cmp3[T int64 | time.Duration](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpFloat returns 2 when either is NaN, so every relational test is false.
func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == b:
		return 0
	}
	return 2
}
