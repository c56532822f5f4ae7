package expression

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// DateTime and TimeSpan.

func (e *env) now() time.Time {
	if e != nil && e.ctx != nil && e.ctx.Now != nil {
		return e.ctx.Now().UTC()
	}
	return time.Now().UTC()
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z",
	"2006-01-02 15:04:05",
	"2006-01-02",
	time.RFC1123,
	time.RFC1123Z,
	"01/02/2006 15:04:05",
	"01/02/2006",
}

func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("String was not recognized as a valid DateTime.")
}

func durationOf(f float64, unit time.Duration) (any, error) {
	d := f * float64(unit)
	if math.IsNaN(d) || math.Abs(d) >= math.MaxInt64 {
		return nil, errors.New("TimeSpan overflowed because the duration is too long.")
	}
	return time.Duration(d), nil
}

// fillDateTime fills the members of DateTime and TimeSpan values, their
// static classes and their constructors.
func fillDateTime() {
	dateAdd := func(unit time.Duration) *method {
		return mth(1, 1, tDateTime, ts(tDouble), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			f, err := argNum(args, 0, "value")
			if err != nil {
				return nil, err
			}
			d, err := durationOf(f, unit)
			if err != nil {
				return nil, err
			}
			return r.(time.Time).Add(d.(time.Duration)), nil
		})
	}
	tDateTime.props = map[string]*prop{
		"Year":        pr(tInt, func(v any) any { return int64(v.(time.Time).Year()) }),
		"Month":       pr(tInt, func(v any) any { return int64(v.(time.Time).Month()) }),
		"Day":         pr(tInt, func(v any) any { return int64(v.(time.Time).Day()) }),
		"Hour":        pr(tInt, func(v any) any { return int64(v.(time.Time).Hour()) }),
		"Minute":      pr(tInt, func(v any) any { return int64(v.(time.Time).Minute()) }),
		"Second":      pr(tInt, func(v any) any { return int64(v.(time.Time).Second()) }),
		"Millisecond": pr(tInt, func(v any) any { return int64(v.(time.Time).Nanosecond() / 1e6) }),
		"DayOfYear":   pr(tInt, func(v any) any { return int64(v.(time.Time).YearDay()) }),
		"DayOfWeek":   pr(tString, func(v any) any { return v.(time.Time).Weekday().String() }),
		"Date": pr(tDateTime, func(v any) any {
			t := v.(time.Time)
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
		}),
		"TimeOfDay": pr(tTimeSpan, func(v any) any {
			t := v.(time.Time)
			return t.Sub(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location()))
		}),
		// Ticks count 100 ns since 0001-01-01.
		"Ticks": pr(tInt, func(v any) any {
			t := v.(time.Time)
			return (t.Unix()+62135596800)*10_000_000 + int64(t.Nanosecond()/100)
		}),
	}
	tDateTime.methods = map[string]*method{
		"AddYears": mth(1, 1, tDateTime, ts(tInt), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			n, err := argInt(args, 0, "value")
			if err != nil || n > 10000 || n < -10000 {
				return nil, errors.New("The added or subtracted value results in an un-representable DateTime. (Parameter 'value')")
			}
			return r.(time.Time).AddDate(int(n), 0, 0), nil
		}),
		"AddMonths": mth(1, 1, tDateTime, ts(tInt), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			n, err := argInt(args, 0, "months")
			if err != nil || n > 120000 || n < -120000 {
				return nil, errors.New("The added or subtracted value results in an un-representable DateTime. (Parameter 'months')")
			}
			return r.(time.Time).AddDate(0, int(n), 0), nil
		}),
		"AddDays":         dateAdd(24 * time.Hour),
		"AddHours":        dateAdd(time.Hour),
		"AddMinutes":      dateAdd(time.Minute),
		"AddSeconds":      dateAdd(time.Second),
		"AddMilliseconds": dateAdd(time.Millisecond),
		"AddTicks":        dateAdd(100),
		"Add": mth(1, 1, tDateTime, ts(tTimeSpan), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			d, ok := args[0].(time.Duration)
			if !ok {
				return nil, errCast(args[0], tTimeSpan)
			}
			return r.(time.Time).Add(d), nil
		}),
		"Subtract": {min: 1, max: 1, res: func(ci *callInfo) (*typ, error) {
			if ci.argT[0] == tDateTime {
				return tTimeSpan, nil
			}
			if ci.argT[0] == tTimeSpan {
				return tDateTime, nil
			}
			return tObject, nil
		}, call: func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			switch a := args[0].(type) {
			case time.Time:
				return r.(time.Time).Sub(a), nil
			case time.Duration:
				return r.(time.Time).Add(-a), nil
			}
			return nil, errCast(args[0], tTimeSpan)
		}},
		"ToUniversalTime": mth(0, 0, tDateTime, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return r.(time.Time).UTC(), nil
		}),
		"ToLocalTime": mth(0, 0, tDateTime, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return r.(time.Time).UTC(), nil // the gateway runs in UTC
		}),
		"CompareTo": mth(1, 1, tInt, ts(tDateTime), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			t, ok := args[0].(time.Time)
			if !ok {
				return nil, errCast(args[0], tDateTime)
			}
			return int64(r.(time.Time).Compare(t)), nil
		}),
	}
	durProp := func(f func(d time.Duration) any) *prop {
		return pr(tDouble, func(v any) any { return f(v.(time.Duration)) })
	}
	intProp := func(f func(d time.Duration) int64) *prop {
		return pr(tInt, func(v any) any { return f(v.(time.Duration)) })
	}
	tTimeSpan.props = map[string]*prop{
		"TotalDays":         durProp(func(d time.Duration) any { return d.Hours() / 24 }),
		"TotalHours":        durProp(func(d time.Duration) any { return d.Hours() }),
		"TotalMinutes":      durProp(func(d time.Duration) any { return d.Minutes() }),
		"TotalSeconds":      durProp(func(d time.Duration) any { return d.Seconds() }),
		"TotalMilliseconds": durProp(func(d time.Duration) any { return float64(d) / 1e6 }),
		"Days":              intProp(func(d time.Duration) int64 { return int64(d / (24 * time.Hour)) }),
		"Hours":             intProp(func(d time.Duration) int64 { return int64(d/time.Hour) % 24 }),
		"Minutes":           intProp(func(d time.Duration) int64 { return int64(d/time.Minute) % 60 }),
		"Seconds":           intProp(func(d time.Duration) int64 { return int64(d/time.Second) % 60 }),
		"Milliseconds":      intProp(func(d time.Duration) int64 { return int64(d/time.Millisecond) % 1000 }),
		"Ticks":             intProp(func(d time.Duration) int64 { return int64(d / 100) }),
	}
	tTimeSpan.methods = map[string]*method{
		"Add": mth(1, 1, tTimeSpan, ts(tTimeSpan), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			d, ok := args[0].(time.Duration)
			if !ok {
				return nil, errCast(args[0], tTimeSpan)
			}
			return r.(time.Duration) + d, nil
		}),
		"Subtract": mth(1, 1, tTimeSpan, ts(tTimeSpan), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			d, ok := args[0].(time.Duration)
			if !ok {
				return nil, errCast(args[0], tTimeSpan)
			}
			return r.(time.Duration) - d, nil
		}),
		"Negate": mth(0, 0, tTimeSpan, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return -r.(time.Duration), nil
		}),
	}

	dt := staticClass("DateTime")
	dt.props["UtcNow"] = &prop{t: tDateTime, get: func(e *env, _ any) (any, error) { return e.now(), nil }}
	dt.props["Now"] = dt.props["UtcNow"]
	dt.props["Today"] = &prop{t: tDateTime, get: func(e *env, _ any) (any, error) {
		n := e.now()
		return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC), nil
	}}
	dt.props["MinValue"] = constProp(tDateTime, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))
	dt.props["MaxValue"] = constProp(tDateTime, time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC))
	dt.methods["Parse"], dt.methods["TryParse"] = parsers(tDateTime, func(s string) (any, error) { return parseDate(s) })

	tsp := staticClass("TimeSpan")
	tsp.props["Zero"] = constProp(tTimeSpan, time.Duration(0))
	for name, unit := range map[string]time.Duration{
		"FromDays": 24 * time.Hour, "FromHours": time.Hour, "FromMinutes": time.Minute,
		"FromSeconds": time.Second, "FromMilliseconds": time.Millisecond, "FromTicks": 100,
	} {
		unit := unit
		tsp.methods[name] = mth(1, 1, tTimeSpan, ts(tDouble), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			f, err := argNum(args, 0, "value")
			if err != nil {
				return nil, err
			}
			return durationOf(f, unit)
		})
	}
	tsp.methods["Parse"], tsp.methods["TryParse"] = parsers(tTimeSpan, parseTimeSpan)
	registerStatic(dt, tsp)

	constructors["TimeSpan"] = &method{min: 1, max: 5, resT: tTimeSpan, params: ts(tInt), call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		n := make([]int64, len(args))
		for i := range args {
			var err error
			if n[i], err = argInt(args, i, "value"); err != nil {
				return nil, err
			}
			if n[i] > 1e12 || n[i] < -1e12 && len(args) > 1 {
				return nil, errors.New("TimeSpan overflowed because the duration is too long.")
			}
		}
		switch len(n) {
		case 1:
			return time.Duration(n[0]) * 100, nil
		case 3:
			return time.Duration(n[0])*time.Hour + time.Duration(n[1])*time.Minute + time.Duration(n[2])*time.Second, nil
		case 4:
			return time.Duration(n[0])*24*time.Hour + time.Duration(n[1])*time.Hour + time.Duration(n[2])*time.Minute + time.Duration(n[3])*time.Second, nil
		case 5:
			return time.Duration(n[0])*24*time.Hour + time.Duration(n[1])*time.Hour + time.Duration(n[2])*time.Minute + time.Duration(n[3])*time.Second + time.Duration(n[4])*time.Millisecond, nil
		}
		return nil, errors.New("TimeSpan takes 1, 3, 4 or 5 arguments")
	}}
	constructors["DateTime"] = &method{min: 3, max: 7, resT: tDateTime, params: ts(tInt), call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		n := make([]int, 7)
		for i := range args {
			v, err := argInt(args, i, "value")
			if err != nil {
				return nil, err
			}
			n[i] = int(v)
		}
		if n[0] < 1 || n[0] > 9999 || n[1] < 1 || n[1] > 12 || n[2] < 1 || n[2] > 31 || n[3] < 0 || n[3] > 23 || n[4] < 0 || n[4] > 59 || n[5] < 0 || n[5] > 59 || n[6] < 0 || n[6] > 999 {
			return nil, errors.New("Year, Month, and Day parameters describe an un-representable DateTime.")
		}
		t := time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], n[6]*1e6, time.UTC)
		if t.Day() != n[2] {
			return nil, errors.New("Year, Month, and Day parameters describe an un-representable DateTime.")
		}
		return t, nil
	}}
}

func parseTimeSpan(s string) (any, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var days, h, m int64
	var sec float64
	rest := s
	if i := strings.IndexByte(rest, '.'); i >= 0 && i < strings.IndexByte(rest+":", ':') {
		d, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return nil, errFormat
		}
		days, rest = d, rest[i+1:]
	}
	parts := strings.Split(rest, ":")
	var err error
	switch len(parts) {
	case 1:
		if days != 0 {
			return nil, errFormat
		}
		days, err = strconv.ParseInt(parts[0], 10, 64)
	case 2, 3:
		if h, err = strconv.ParseInt(parts[0], 10, 64); err == nil {
			m, err = strconv.ParseInt(parts[1], 10, 64)
		}
		if err == nil && len(parts) == 3 {
			sec, err = strconv.ParseFloat(parts[2], 64)
		}
	default:
		return nil, errFormat
	}
	if err != nil || h > 23 || m > 59 || sec >= 60 || days > 10_000_000 || h < 0 || m < 0 || sec < 0 || days < 0 {
		return nil, errFormat
	}
	d := time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second))
	if neg {
		d = -d
	}
	return d, nil
}

// fillDateTimeOffset adds DateTimeOffset. Its values are the instant in UTC
// (the gateway runs in UTC, so every offset is +00:00): they are DateTime
// values with the DateTimeOffset members (ToUnixTimeSeconds, UtcDateTime, ...).
func fillDateTimeOffset() {
	unixEpoch := time.Unix(0, 0).UTC()
	tDateTime.props["UtcDateTime"] = pr(tDateTime, func(v any) any { return v })
	tDateTime.props["DateTime"] = tDateTime.props["UtcDateTime"]
	tDateTime.props["LocalDateTime"] = tDateTime.props["UtcDateTime"]
	tDateTime.props["Offset"] = constProp(tTimeSpan, time.Duration(0))
	tDateTime.props["UtcTicks"] = tDateTime.props["Ticks"]
	tDateTime.methods["ToUnixTimeSeconds"] = mth(0, 0, tInt, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
		return r.(time.Time).Unix(), nil
	})
	tDateTime.methods["ToUnixTimeMilliseconds"] = mth(0, 0, tInt, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
		return r.(time.Time).UnixMilli(), nil
	})
	tDateTime.methods["ToOffset"] = mth(1, 1, tDateTime, ts(tTimeSpan), func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
		return r, nil
	})
	dto := staticClass("DateTimeOffset")
	dt := staticClasses["DateTime"]
	for _, name := range []string{"UtcNow", "Now", "MinValue", "MaxValue"} {
		dto.props[name] = dt.props[name]
	}
	dto.props["UnixEpoch"] = constProp(tDateTime, unixEpoch)
	dt.props["UnixEpoch"] = dto.props["UnixEpoch"]
	dto.methods["Parse"], dto.methods["TryParse"] = dt.methods["Parse"], dt.methods["TryParse"]
	fromUnix := func(unit time.Duration, max int64) *method {
		return mth(1, 1, tDateTime, ts(tInt), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			n, err := argInt(args, 0, "seconds")
			if err != nil {
				return nil, err
			}
			if n < -max || n > max {
				return nil, errors.New("Valid values are between -62135596800 and 253402300799, inclusive. (Parameter 'seconds')")
			}
			if unit == time.Second {
				return time.Unix(n, 0).UTC(), nil
			}
			return time.UnixMilli(n).UTC(), nil
		})
	}
	dto.methods["FromUnixTimeSeconds"] = fromUnix(time.Second, 253402300799)
	dto.methods["FromUnixTimeMilliseconds"] = fromUnix(time.Millisecond, 253402300799999)
	registerStatic(dto)
	typeNames["DateTimeOffset"] = tDateTime
	// new DateTimeOffset(dateTime) and new DateTimeOffset(y, M, d, h, m, s[, ms], offset).
	constructors["DateTimeOffset"] = mth(1, 8, tDateTime, nil, func(e *env, ci *callInfo, _ any, args []any) (any, error) {
		if t, ok := args[0].(time.Time); ok {
			if len(args) > 2 {
				return nil, errors.New("new DateTimeOffset(dateTime[, offset]) takes one or two arguments")
			}
			if len(args) == 2 {
				off, ok := args[1].(time.Duration)
				if !ok {
					return nil, errCast(args[1], tTimeSpan)
				}
				return t.Add(-off), nil // the DateTime is the local time at that offset
			}
			return t, nil
		}
		off, ok := args[len(args)-1].(time.Duration)
		if !ok || len(args) < 7 {
			return nil, errors.New("new DateTimeOffset takes a DateTime, or year, month, day, hour, minute, second[, millisecond] and a TimeSpan offset")
		}
		t, err := constructors["DateTime"].call(e, ci, nil, args[:len(args)-1])
		if err != nil {
			return nil, err
		}
		return t.(time.Time).Add(-off), nil
	})
}
