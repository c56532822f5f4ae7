package expression

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// binaryOp applies a binary operator with C# semantics (lifted over null for
// arithmetic, string concatenation when either side is a string). e may be nil
// during constant folding.
func binaryOp(e *env, op string, a, b any) (any, error) {
	switch op {
	case "==":
		return valueEquals(a, b), nil
	case "!=":
		return !valueEquals(a, b), nil
	case "<", ">", "<=", ">=":
		if a == nil || b == nil {
			return false, nil
		}
		c, ok := compareValues(a, b)
		if !ok {
			return nil, opError(op, a, b)
		}
		if c == 2 {
			return false, nil
		}
		switch op {
		case "<":
			return c < 0, nil
		case ">":
			return c > 0, nil
		case "<=":
			return c <= 0, nil
		}
		return c >= 0, nil
	case "+":
		_, as := a.(string)
		_, bs := b.(string)
		if as || bs {
			x, y := toString(a), toString(b)
			if e != nil {
				if err := e.grow(len(x) + len(y)); err != nil {
					return nil, err
				}
			}
			return x + y, nil
		}
	}
	if a == nil || b == nil {
		return nil, nil
	}
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return intOp(op, x, y)
		case float64:
			return floatOp(op, float64(x), y)
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return floatOp(op, x, float64(y))
		case float64:
			return floatOp(op, x, y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch op {
			case "&":
				return x && y, nil
			case "|":
				return x || y, nil
			case "^":
				return x != y, nil
			}
		}
	case time.Time:
		switch y := b.(type) {
		case time.Duration:
			switch op {
			case "+":
				return x.Add(y), nil
			case "-":
				return x.Add(-y), nil
			}
		case time.Time:
			if op == "-" {
				return x.Sub(y), nil
			}
		}
	case time.Duration:
		if y, ok := b.(time.Duration); ok {
			switch op {
			case "+":
				return x + y, nil
			case "-":
				return x - y, nil
			case "/":
				if y == 0 {
					return nil, errDivZero
				}
				return float64(x) / float64(y), nil
			}
		}
		if f, ok := numberOf(b); ok && (op == "*" || op == "/") {
			return scaleDuration(x, f, op == "/")
		}
	}
	if f, ok := numberOf(a); ok && op == "*" {
		if d, ok := b.(time.Duration); ok {
			return scaleDuration(d, f, false)
		}
	}
	return nil, opError(op, a, b)
}

func opError(op string, a, b any) error {
	return fmt.Errorf("Operator '%s' cannot be applied to operands of type '%s' and '%s'", op, typeNameOf(a), typeNameOf(b))
}

func intOp(op string, x, y int64) (any, error) {
	switch op {
	case "+":
		return x + y, nil
	case "-":
		return x - y, nil
	case "*":
		return x * y, nil
	case "/":
		if y == 0 {
			return nil, errDivZero
		}
		return x / y, nil
	case "%":
		if y == 0 {
			return nil, errDivZero
		}
		return x % y, nil
	case "&":
		return x & y, nil
	case "|":
		return x | y, nil
	case "^":
		return x ^ y, nil
	case "<<":
		return x << (y & 63), nil // the count is masked, as for C#'s long
	case ">>":
		return x >> (y & 63), nil
	}
	return nil, opError(op, x, y)
}

// arith is binaryOp, with overflow checks on integer + - * in a checked context.
func arith(e *env, op string, a, b any, checked bool) (any, error) {
	if op == "&" || op == "|" || op == "^" {
		var err error
		if a, err = charCode(op, a, b); err != nil {
			return nil, err
		}
		if b, err = charCode(op, b, a); err != nil {
			return nil, err
		}
	}
	if checked {
		x, xok := a.(int64)
		y, yok := b.(int64)
		if xok && yok {
			var r int64
			switch op {
			case "+":
				r = x + y
				if (r > x) != (y > 0) {
					return nil, errOverflow
				}
				return r, nil
			case "-":
				r = x - y
				if (r < x) != (y > 0) {
					return nil, errOverflow
				}
				return r, nil
			case "*":
				r = x * y
				if x != 0 && (r/x != y || x == -1 && y == math.MinInt64) {
					return nil, errOverflow
				}
				return r, nil
			}
		}
	}
	return binaryOp(e, op, a, b)
}

func floatOp(op string, x, y float64) (any, error) {
	switch op {
	case "+":
		return x + y, nil
	case "-":
		return x - y, nil
	case "*":
		return x * y, nil
	case "/":
		return x / y, nil
	case "%":
		return math.Mod(x, y), nil
	}
	return nil, opError(op, x, y)
}

// formatValue is ToString(format) for numbers, dates, time spans and GUIDs.
func formatValue(v any, format string) (string, error) {
	switch v := v.(type) {
	case int64:
		return formatNumber(float64(v), v, true, format)
	case float64:
		return formatNumber(v, int64(v), false, format)
	case time.Time:
		return formatDateTime(v, format)
	case time.Duration:
		return formatDuration(v, format)
	case Guid:
		switch format {
		case "D", "d", "":
			return v.String(), nil
		case "N", "n":
			return fmt.Sprintf("%x", v[:]), nil
		case "B", "b":
			return "{" + v.String() + "}", nil
		case "P", "p":
			return "(" + v.String() + ")", nil
		}
		return "", errFormat
	case *JObject, *JArray:
		return toString(v), nil
	}
	return toString(v), nil
}

func formatNumber(f float64, i int64, isInt bool, format string) (string, error) {
	if format == "" {
		if isInt {
			return strconv.FormatInt(i, 10), nil
		}
		return formatDouble(f), nil
	}
	spec := format[0]
	prec := -1
	if len(format) > 1 {
		n, err := strconv.Atoi(format[1:])
		if err != nil || n < 0 || n > 99 {
			return formatCustomNumber(f, format)
		}
		prec = n
	}
	switch spec {
	case 'D', 'd':
		if !isInt {
			return "", errFormat
		}
		s := strconv.FormatInt(abs64(i), 10)
		for len(s) < prec {
			s = "0" + s
		}
		if i < 0 {
			s = "-" + s
		}
		return s, nil
	case 'X', 'x':
		if !isInt {
			return "", errFormat
		}
		s := strconv.FormatUint(uint64(i), 16)
		if i < 0 {
			s = strconv.FormatUint(uint64(uint32(i)), 16)
		}
		if spec == 'X' {
			s = strings.ToUpper(s)
		}
		for len(s) < prec {
			s = "0" + s
		}
		return s, nil
	case 'F', 'f', 'N', 'n':
		if prec < 0 {
			prec = 2
		}
		s := strconv.FormatFloat(f, 'f', prec, 64)
		if spec == 'N' || spec == 'n' {
			s = groupThousands(s)
		}
		return s, nil
	case 'G', 'g':
		if isInt {
			return strconv.FormatInt(i, 10), nil
		}
		return formatDouble(f), nil
	case 'P', 'p':
		if prec < 0 {
			prec = 2
		}
		return groupThousands(strconv.FormatFloat(f*100, 'f', prec, 64)) + " %", nil
	case 'E', 'e':
		if prec < 0 {
			prec = 6
		}
		s := strconv.FormatFloat(f, 'e', prec, 64)
		// Go writes e+06; .NET writes E+006.
		if k := strings.IndexByte(s, 'e'); k >= 0 {
			exp := s[k+2:]
			for len(exp) < 3 {
				exp = "0" + exp
			}
			s = s[:k] + string(spec) + s[k+1:k+2] + exp
		}
		return s, nil
	}
	return formatCustomNumber(f, format)
}

func abs64(i int64) int64 {
	if i < 0 {
		return -i
	}
	return i
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	intPart, frac := s, ""
	if k := strings.IndexByte(s, '.'); k >= 0 {
		intPart, frac = s[:k], s[k:]
	}
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String() + frac
	if neg {
		out = "-" + out
	}
	return out
}

// formatCustomNumber supports the common custom patterns: "0", "0.00", "#.##",
// "000" (zero padding) and "#,##0.00".
func formatCustomNumber(f float64, format string) (string, error) {
	for _, c := range format {
		if !strings.ContainsRune("0#.,", c) {
			return "", errFormat
		}
	}
	intPat, fracPat := format, ""
	if k := strings.IndexByte(format, '.'); k >= 0 {
		intPat, fracPat = format[:k], format[k+1:]
	}
	minFrac := strings.Count(fracPat, "0")
	maxFrac := len(fracPat)
	s := strconv.FormatFloat(f, 'f', maxFrac, 64)
	if maxFrac > minFrac && strings.Contains(s, ".") {
		k := strings.IndexByte(s, '.')
		for len(s)-k-1 > minFrac && s[len(s)-1] == '0' {
			s = s[:len(s)-1]
		}
		if strings.HasSuffix(s, ".") {
			s = s[:len(s)-1]
		}
	}
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	intPart, frac := s, ""
	if k := strings.IndexByte(s, '.'); k >= 0 {
		intPart, frac = s[:k], s[k:]
	}
	minInt := strings.Count(intPat, "0")
	for len(intPart) < minInt {
		intPart = "0" + intPart
	}
	if minInt == 0 && intPart == "0" {
		intPart = ""
	}
	if strings.Contains(intPat, ",") {
		intPart = groupThousands(intPart)
	}
	out := intPart + frac
	if neg && strings.Trim(out, "0.,") != "" {
		out = "-" + out
	}
	return out, nil
}

var (
	monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	dayNames   = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
)

// formatDateTime is DateTime.ToString(format) with the invariant culture.
// dateTimeFormats are .NET's standard DateTime format strings (invariant
// culture) as Go layouts; "u", "r" and "R" format the time in UTC.
var dateTimeFormats = map[string]string{
	"":  "01/02/2006 15:04:05",
	"s": "2006-01-02T15:04:05",
	"u": "2006-01-02 15:04:05Z",
	"r": "Mon, 02 Jan 2006 15:04:05 GMT", "R": "Mon, 02 Jan 2006 15:04:05 GMT",
	"d": "01/02/2006",
	"D": "Monday, 02 January 2006",
	"t": "15:04",
	"T": "15:04:05",
	"g": "01/02/2006 15:04",
	"G": "01/02/2006 15:04:05",
	"f": "Monday, 02 January 2006 15:04",
	"F": "Monday, 02 January 2006 15:04:05",
	"M": "January 02", "m": "January 02",
	"Y": "2006 January", "y": "2006 January",
}

func formatDateTime(t time.Time, format string) (string, error) {
	switch format {
	case "o", "O":
		s := t.Format("2006-01-02T15:04:05.0000000")
		if t.Location() == time.UTC {
			return s + "Z", nil
		}
		return s + t.Format("-07:00"), nil
	case "u", "r", "R":
		t = t.UTC()
	}
	if layout, ok := dateTimeFormats[format]; ok {
		return t.Format(layout), nil
	}
	if len(format) == 1 {
		return "", errFormat
	}
	var b strings.Builder
	var bad bool
	ok := eachDateToken(format, func(c byte, run string) {
		n := len(run)
		switch c {
		case 0:
			b.WriteString(run)
		case 'y':
			y := t.Year()
			switch {
			case n <= 2:
				fmt.Fprintf(&b, "%0*d", n, y%100)
			default:
				fmt.Fprintf(&b, "%0*d", n, y)
			}
		case 'M':
			switch n {
			case 1:
				fmt.Fprintf(&b, "%d", int(t.Month()))
			case 2:
				fmt.Fprintf(&b, "%02d", int(t.Month()))
			case 3:
				b.WriteString(monthNames[t.Month()-1][:3])
			default:
				b.WriteString(monthNames[t.Month()-1])
			}
		case 'd':
			switch n {
			case 1:
				fmt.Fprintf(&b, "%d", t.Day())
			case 2:
				fmt.Fprintf(&b, "%02d", t.Day())
			case 3:
				b.WriteString(dayNames[t.Weekday()][:3])
			default:
				b.WriteString(dayNames[t.Weekday()])
			}
		case 'H':
			fmt.Fprintf(&b, "%0*d", min(n, 2), t.Hour())
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			fmt.Fprintf(&b, "%0*d", min(n, 2), h)
		case 'm':
			fmt.Fprintf(&b, "%0*d", min(n, 2), t.Minute())
		case 's':
			fmt.Fprintf(&b, "%0*d", min(n, 2), t.Second())
		case 'f', 'F':
			if n > 7 {
				bad = true
				return
			}
			frac := fmt.Sprintf("%09d", t.Nanosecond())[:n]
			if c == 'F' {
				frac = strings.TrimRight(frac, "0")
				if frac == "" {
					// .NET drops the separator before an empty F fraction.
					if s := b.String(); strings.HasSuffix(s, ".") {
						b.Reset()
						b.WriteString(s[:len(s)-1])
					}
				}
			}
			b.WriteString(frac)
		case 't':
			ampm := "AM"
			if t.Hour() >= 12 {
				ampm = "PM"
			}
			b.WriteString(ampm[:min(n, 2)])
		case 'K':
			if t.Location() == time.UTC {
				b.WriteString("Z")
			} else {
				b.WriteString(t.Format("-07:00"))
			}
		case 'z':
			switch n {
			case 1:
				b.WriteString(strings.TrimLeft(t.Format("-07"), "0"))
			case 2:
				b.WriteString(t.Format("-07"))
			default:
				b.WriteString(t.Format("-07:00"))
			}
		default:
			b.WriteString(run)
		}
	})
	if !ok || bad {
		return "", errFormat
	}
	return b.String(), nil
}

// eachDateToken splits a .NET custom date format into runs of one character
// ("yyyy", "MM", "-") and literal text (quoted or \-escaped, given with c 0).
// It is false for an unterminated quote.
func eachDateToken(format string, f func(c byte, run string)) bool {
	for i := 0; i < len(format); {
		c := format[i]
		switch c {
		case '\'', '"':
			end := strings.IndexByte(format[i+1:], c)
			if end < 0 {
				return false
			}
			f(0, format[i+1:i+1+end])
			i += end + 2
			continue
		case '\\':
			if i+1 < len(format) {
				f(0, format[i+1:i+2])
			}
			i += 2
			continue
		}
		n := 1
		for i+n < len(format) && format[i+n] == c {
			n++
		}
		f(c, format[i:i+n])
		i += n
	}
	return true
}

// formatDuration is TimeSpan.ToString(format): "c", "g" and custom patterns.
func formatDuration(d time.Duration, format string) (string, error) {
	switch format {
	case "", "c", "t", "T":
		return formatTimeSpan(d), nil
	case "g", "G":
		return formatTimeSpan(d), nil
	}
	neg := d < 0
	if neg {
		d = -d
	}
	days := int64(d / (24 * time.Hour))
	h := int64(d/time.Hour) % 24
	m := int64(d/time.Minute) % 60
	s := int64(d/time.Second) % 60
	var b strings.Builder
	for i := 0; i < len(format); {
		c := format[i]
		n := 1
		for i+n < len(format) && format[i+n] == c {
			n++
		}
		switch c {
		case 'd':
			fmt.Fprintf(&b, "%0*d", n, days)
		case 'h':
			fmt.Fprintf(&b, "%0*d", min(n, 2), h)
		case 'm':
			fmt.Fprintf(&b, "%0*d", min(n, 2), m)
		case 's':
			fmt.Fprintf(&b, "%0*d", min(n, 2), s)
		case 'f', 'F':
			if n > 7 {
				return "", errFormat
			}
			b.WriteString(fmt.Sprintf("%09d", int64(d%time.Second))[:n])
		case '\\':
			if i+1 < len(format) {
				b.WriteByte(format[i+1])
			}
			i += 2
			continue
		case '\'', '"':
			end := strings.IndexByte(format[i+1:], c)
			if end < 0 {
				return "", errFormat
			}
			b.WriteString(format[i+1 : i+1+end])
			i += end + 2
			continue
		default:
			// .NET refuses unquoted literals in TimeSpan formats.
			return "", errFormat
		}
		i += n
	}
	return b.String(), nil
}

func numberOf(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// scaleDuration is TimeSpan * double and TimeSpan / double.
func scaleDuration(d time.Duration, f float64, divide bool) (any, error) {
	if divide {
		if f == 0 {
			return nil, errors.New("TimeSpan does not accept floating point Not-a-Number values.")
		}
		f = 1 / f
	}
	r := math.Round(float64(d) * f)
	if math.IsNaN(r) || math.Abs(r) >= math.MaxInt64 {
		return nil, errors.New("TimeSpan overflowed because the duration is too long.")
	}
	return time.Duration(r), nil
}

// charCode widens a char (a one-character string) to its code, as C# does
// for bitwise operators; other values are returned as they are.
func charCode(op string, v, other any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 || size != len(s) || r > 0xFFFF {
		return nil, fmt.Errorf("Operator '%s' cannot be applied to operands of type '%s' and '%s': a string longer than one char", op, typeNameOf(v), typeNameOf(other))
	}
	return int64(r), nil
}
