package expression

import (
	"strings"
	"testing"
)

func TestListAndDictionary(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@{
			var l = new List<string>();
			l.Add("b"); l.Add("a"); l.Insert(0, "c");
			l.Sort();
			return String.Join(",", l) + l.Count + l[0] + l.IndexOf("c") + l.Contains("b");
		}`, "a,b,c3a2True"},
		{`@{ List<string> l = new List<string> { "x", "y" }; l.Remove("x"); l.AddRange(new[] {"z"}); return String.Join("|", l.Select(s => s.ToUpper())); }`, "Y|Z"},
		{`@(new List<int> { 3, 1, 2 }.Where(i => (int)i > 1).Count())`, int64(2)},
		{`@{ var l = new List<string>(context.Request.Headers["Accept"]); l.RemoveAt(0); return l[0]; }`, "application/json"},
		{`@{ var l = new List<object>(); l.Add(1); l.Add("a"); l.Add(null); return JsonConvert.SerializeObject(l); }`, `[1,"a",null]`},
		{`@(String.Concat(new List<string> { "a", "b" }))`, "ab"},
		{`@{
			var d = new Dictionary<string, string>();
			d.Add("a", "1");
			d["b"] = "2";
			d["a"] = "3";
			var ok = d.TryGetValue("b", out var v);
			return String.Join(",", d.Keys) + ":" + d["a"] + v + ok + d.ContainsKey("z") + d.Count + d.GetValueOrDefault("z", "-");
		}`, "a,b:32TrueFalse2-"},
		{`@{ var d = new Dictionary<string, object>(); d["n"] = 1; d["s"] = "x"; d.Remove("n"); return JObject.FromObject(d).ToString(Formatting.None); }`, `{"s":"x"}`},
		{`@{ IDictionary<string, int> d = new Dictionary<string, int>(); d["a"] = 2; foreach (var kv in d) { return kv.Key + kv.Value; } return ""; }`, "a2"},
		{`@{ IEnumerable<string> xs = "a,b".Split(','); return xs.Count(); }`, int64(2)},
		{`@(new System.Collections.Generic.List<string>().Count)`, int64(0)},
	})
	runErrCases(t, [][2]string{
		{`@(new List<string>()[0])`, "Index was out of range"},
		{`@{ var d = new Dictionary<string, string>(); d.Add("a", "1"); d.Add("a", "2"); return 1; }`, "An item with the same key has already been added. Key: a"},
		{`@(new Dictionary<string, string>()["x"])`, "The given key 'x' was not present in the dictionary."},
		{`@{ var l = new List<int>(); l.Add("x"); return 1; }`, "Unable to cast object of type 'string' to type 'int'."},
	})
	for _, c := range [][2]string{
		{`@(new Dictionary<int, string>())`, "only dictionaries with string keys are supported"},
		{`@(new IList<string>())`, "cannot create an instance of the interface"},
		{`@(new Dictionary<string, string> { {"a", 1} })`, "cannot convert 'int' to 'string'"},
		{`@(new List<string> { 1 })`, "cannot convert 'int' to 'string'"},
		{`@(new List<string, string>())`, "takes 1 type arguments"},
	} {
		if _, err := Compile(c[0]); err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("Compile(%s) = %v, want %q", c[0], err, c[1])
		}
	}
}
