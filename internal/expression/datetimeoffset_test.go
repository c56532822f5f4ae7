package expression

import (
	"testing"
	"time"
)

func TestDateTimeOffset(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(DateTimeOffset.UtcNow.ToUnixTimeSeconds())`, testNow.Unix()},
		{`@(DateTimeOffset.Now.ToUnixTimeMilliseconds())`, testNow.UnixMilli()},
		{`@(DateTimeOffset.FromUnixTimeSeconds(1700000000).ToString("o"))`, "2023-11-14T22:13:20.0000000Z"},
		{`@(DateTimeOffset.FromUnixTimeMilliseconds(1700000000123).Millisecond)`, int64(123)},
		{`@(DateTimeOffset.FromUnixTimeSeconds(0) == DateTimeOffset.UnixEpoch)`, true},
		{`@(DateTimeOffset.Parse("2026-01-02T03:04:05+02:00").UtcDateTime.Hour)`, int64(1)},
		{`@(DateTimeOffset.UtcNow.Offset)`, time.Duration(0)},
		{`@(new DateTimeOffset(DateTime.UtcNow).ToUnixTimeSeconds())`, testNow.Unix()},
		{`@(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)).ToString("u"))`, "2026-01-02 01:04:05Z"},
		{`@((DateTimeOffset.UtcNow.AddMinutes(5) - DateTimeOffset.UtcNow).TotalSeconds)`, 300.0},
		{`@{ DateTimeOffset d; return DateTimeOffset.TryParse("nope", out d); }`, false},
		{`@(DateTime.UtcNow.ToUnixTimeSeconds() - DateTime.UnixEpoch.ToUnixTimeSeconds())`, testNow.Unix()},
		{`@((TimeSpan.FromMinutes(90) - TimeSpan.FromHours(1)).TotalMinutes)`, 30.0},
		{`@((TimeSpan.FromSeconds(10) * 3).TotalSeconds)`, 30.0},
	})
	runErrCases(t, [][2]string{
		{`@(DateTimeOffset.FromUnixTimeSeconds(999999999999))`, "Valid values are between"},
	})
}

func TestTimeSpanArithmetic(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(TimeSpan.FromMinutes(1) * 2.5)`, 150 * time.Second},
		{`@(2 * TimeSpan.FromMinutes(1))`, 2 * time.Minute},
		{`@(TimeSpan.FromMinutes(1) / 4)`, 15 * time.Second},
		{`@(TimeSpan.FromHours(1) / TimeSpan.FromMinutes(15))`, 4.0},
		{`@(DateTime.UtcNow - TimeSpan.FromDays(1) < DateTime.UtcNow)`, true},
		{`@(TimeSpan.FromSeconds(90).ToString())`, "00:01:30"},
	})
	runErrCases(t, [][2]string{
		{`@(TimeSpan.FromHours(1) / TimeSpan.Zero)`, "Attempted to divide by zero."},
		{`@(TimeSpan.FromHours(1) / 0)`, "Not-a-Number"},
	})
}
