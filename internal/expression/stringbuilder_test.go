package expression

import "testing"

func TestStringBuilder(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@{
			var sb = new StringBuilder();
			sb.Append("a").Append(1).Append(true).AppendLine().AppendFormat("{0:D2}-{1}", 5, "x");
			foreach (var h in new[] {"p", "q"}) { sb.Append(h).Append(','); }
			sb.Length--;
			return sb.ToString();
		}`, "a1True\n05-xp,q"},
		{`@(new StringBuilder("hello").Insert(0, ">").Replace("l", "L").Remove(1, 1).ToString())`, ">eLLo"},
		{`@(new StringBuilder("héllo").ToString(1, 3))`, "éll"},
		{`@(new StringBuilder("abc")[1])`, "b"},
		{`@(new StringBuilder(16).Append('-', 3).Append("xyz", 1, 2).Length)`, int64(5)},
		{`@(new StringBuilder("x").Clear().Append("y") + "!")`, "y!"},
	})
	runErrCases(t, [][2]string{
		{`@(new StringBuilder("abc").Remove(2, 5))`, "Index and length must refer to a location within the string."},
		{`@(new StringBuilder("abc").Replace("", "x"))`, "cannot be an empty string"},
		{`@{ var sb = new StringBuilder(); foreach (var i in new string[8]) { sb.Append('x', 600000); } return sb.Length; }`, "larger than allowed"},
	})
}

func TestQualifiedNew(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(new System.Text.StringBuilder("a").Append("b").ToString())`, "ab"},
		{`@(new System.Uri("https://x.example/p").Host)`, "x.example"},
		{`@(new System.Security.Cryptography.HMACSHA256(new byte[] {1}).HashSize)`, int64(256)},
		{`@(new Newtonsoft.Json.Linq.JObject().Count)`, int64(0)},
		{`@(new System.Xml.Linq.XElement("a").ToString())`, "<a />"},
	})
	if _, err := Compile(`@(new System.Nope.Thing())`); err == nil {
		t.Error("new System.Nope.Thing() compiled")
	}
}
