package expression

import (
	"testing"
	"time"
)

func TestSystemExtras(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(DateTime.ParseExact("20200102", "yyyyMMdd", CultureInfo.InvariantCulture))`, time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)},
		{`@(DateTime.ParseExact("02/01/2020 13:04:05", "dd/MM/yyyy HH:mm:ss", null).Month)`, int64(1)},
		{`@(DateTime.ParseExact("2020-01-02T03:04:05.123+02:00", "yyyy-MM-ddTHH:mm:ss.fffzzz", CultureInfo.InvariantCulture).Hour)`, int64(1)},
		{`@(DateTime.ParseExact("Thu, 02 Jan 2020 03:04:05 GMT", "r", CultureInfo.InvariantCulture).Minute)`, int64(4)},
		{`@(DateTime.TryParseExact("x", "yyyy", out var d))`, false},
		{`@(Encoding.UTF8.GetString(new byte[] {104, 105, 33}, 1, 2))`, "i!"},
		{`@(Convert.ToBase64String(new byte[] {1, 2, 3}, 0, 2))`, "AQI="},
		{`@(Math.Round(2.5, MidpointRounding.AwayFromZero))`, 3.0},
		{`@(Math.Round(2.5))`, 2.0},
		{`@(Math.Round(1.005, 2, MidpointRounding.AwayFromZero))`, 1.0},
		{`@(Math.Round(-2.25, 1, MidpointRounding.ToEven))`, -2.2},
		{`@(Enumerable.Range(1, 3).Select(i => ((int)i * 2).ToString()).Last())`, "6"},
		{`@(string.Concat(Enumerable.Repeat("ab", 3)))`, "ababab"},
		{`@(System.Linq.Enumerable.Empty<string>().Count())`, int64(0)},
		{`@(Char.IsDigit("a1"[1]) && !char.IsLetter("1") && Char.IsWhiteSpace(" ") && Char.IsUpper("AbC", 2))`, true},
		{`@(Char.ToUpper("a"))`, "A"},
	})
	runErrCases(t, [][2]string{
		{`@(DateTime.ParseExact("2020", "yyyyMMdd", null))`, "was not recognized as a valid DateTime."},
		{`@(DateTime.ParseExact("2020", "yyyy gg", null))`, "not supported by ParseExact"},
		{`@(Encoding.UTF8.GetString(new byte[] {1}, 1, 2))`, "Index was out of range"},
		{`@(Enumerable.Range(0, 2000000000))`, "larger than allowed"},
	})
}

// TestContextTrace: context.Trace hands its message to Context.Trace, and
// does nothing without one.
func TestContextTrace(t *testing.T) {
	p, err := Compile(`@{ context.Trace("hello " + context.RequestId); return "ok"; }`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	c := &Context{RequestId: "r1", Trace: func(m string) { got = append(got, m) }}
	if s, err := p.EvalString(c); err != nil || s != "ok" || len(got) != 1 || got[0] != "hello r1" {
		t.Errorf("%q %v, traced %q", s, err, got)
	}
	if s, err := p.EvalString(&Context{}); err != nil || s != "ok" {
		t.Errorf("without a sink: %q %v", s, err)
	}
	if _, err := Compile(`@(context.Trace("x"))`); err == nil {
		t.Error("a void call compiled as a value")
	}
}
