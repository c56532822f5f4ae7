package expression

import "testing"

func TestRegexMatchesAndGroups(t *testing.T) {
	ctx := testContext()
	ctx.Response.Headers = Headers{"Cache-Control": {"public, max-age=3600"}}
	runEvalCases(t, ctx, []evalCase{
		// The example of APIM's policy expressions page.
		{`@(Regex.Match(context.Response.Headers.GetValueOrDefault("Cache-Control",""), @"max-age=(?<maxAge>\d+)").Groups["maxAge"]?.Value)`, "3600"},
		{`@(Regex.Match("no cache", @"max-age=(?<maxAge>\d+)").Groups["maxAge"].Success)`, false},
		{`@(Regex.Match("x", "y").Groups["nope"].Value)`, ""},
		// .NET numbers unnamed groups first, then named ones.
		{`@(Regex.Match("ab", "(?<n>a)(b)").Groups[1].Value)`, "b"},
		{`@(Regex.Match("ab", "(?<n>a)(b)").Groups[2].Value)`, "a"},
		{`@(Regex.Match("ab", "(?<n>a)(b)").Groups[2].Name)`, "n"},
		{`@(Regex.Match("ab", "(?<n>a)(b)").Groups.Count)`, int64(3)},
		{`@(Regex.Match("xxab", "ab").Index)`, int64(2)},
		{`@(Regex.Match("xxab", "ab").Length)`, int64(2)},
		{`@(Regex.Match("a1b22", @"\d+").NextMatch().Value)`, "22"},
		{`@(Regex.Match("a1b22", @"\d+").NextMatch().NextMatch().Success)`, false},
		{`@(Regex.Matches("a1b22c333", @"\d+").Count)`, int64(3)},
		{`@(Regex.Matches("a1b22c333", @"\d+")[2].Value)`, "333"},
		{`@(String.Join(",", Regex.Matches("a1b22c333", @"\d+").Cast<Match>().Select(m => m.Value)))`, "1,22,333"},
		{`@(String.Join(",", Regex.Matches("a1b22c333", @"(?<d>\d)\d*").Select(m => m.Groups["d"].Value)))`, "1,2,3"},
		{`@{ var n = 0; foreach (Match m in Regex.Matches("a,b,,c", ",")) { n++; } return n; }`, int64(3)},
		{`@(Regex.Matches("abc", "x").Count)`, int64(0)},
		{`@(Regex.Matches("abc", "").Count)`, int64(4)},
		{`@(Regex.Replace("2026-11-21", @"(\d+)-(\d+)-(\d+)", "$3/$2/$1"))`, "21/11/2026"},
		{`@(Regex.Replace("2026-11-21", @"(?<y>\d+)-(?<m>\d+)-(?<d>\d+)", "${d}.${m}.${y}"))`, "21.11.2026"},
		{`@(Regex.Replace("a1b22", @"\d+", m => (int.Parse(m.Value) * 2).ToString()))`, "a2b44"},
		{`@(Regex.Replace("Hello World", "o", "0", RegexOptions.IgnoreCase))`, "Hell0 W0rld"},
		{`@(String.Join("|", Regex.Split("a1b22c", @"\d+")))`, "a|b|c"},
		{`@(new Regex(@"^\d{3}$").IsMatch("123"))`, true},
		{`@(new Regex("B", RegexOptions.IgnoreCase).Match("abc").Index)`, int64(1)},
		{`@(new Regex(@"\s+").Replace("a  b   c", " "))`, "a b c"},
		{`@(new Regex(",").Split("x,y").Length)`, int64(2)},
		{`@(new Regex(@"\d").Matches("1a2").Count)`, int64(2)},
		{`@(System.Text.RegularExpressions.Regex.IsMatch("abc", "^a"))`, true},
		{`@(Regex.Unescape(@"a\.b"))`, "a.b"},
		{`@(new object[] {"a", 1, "b"}.OfType<string>().Length)`, int64(2)},
		{`@(new object[] {"1", 2}.Cast<int>().Length)`, int64(2)},
		// APIM's BasicAuthCredentials has UserId and Password.
		{`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsBasic()?.UserId)`, nil},
		{`@("Basic dXNlcjpwYXNz".AsBasic().UserId + "/" + "Basic dXNlcjpwYXNz".AsBasic().Password)`, "user/pass"},
	})
	runErrCases(t, [][2]string{
		{`@(Regex.Matches("ab", "a")[5])`, "out of the range"},
		{`@(new Regex("(").IsMatch("a"))`, "invalid pattern"},
		{`@(Regex.Replace("a", "a", (string)null))`, "Value cannot be null"},
	})
}
