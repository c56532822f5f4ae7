package expression

import "testing"

// Results as Newtonsoft.Json's SelectToken/SelectTokens and JContainer
// mutation give them.
func TestJSONPathAndMutation(t *testing.T) {
	const doc = `JObject.Parse(@"{""store"":{""book"":[{""title"":""A"",""price"":8,""tags"":[""x""]},{""title"":""B"",""price"":12},{""title"":""C"",""price"":20,""isbn"":""1""}],""owner"":{""name"":""Z""}}}")`
	runEvalCases(t, testContext(), []evalCase{
		{`@((string)` + doc + `.SelectToken("$.store.book[1].title"))`, "B"},
		{`@((string)` + doc + `.SelectToken("store.owner.name"))`, "Z"},
		{`@((string)` + doc + `.SelectToken("$['store']['owner']['name']"))`, "Z"},
		{`@((string)` + doc + `.SelectToken("$.store.book[-1].title"))`, "C"},
		{`@(` + doc + `.SelectToken("$.store.nothing"))`, nil},
		{`@((string)` + doc + `.SelectToken("$.store.book[?(@.price > 15)].title"))`, "C"},
		{`@((string)` + doc + `.SelectToken("$..book[?(@.title == 'B')].price").ToString())`, "12"},
		{`@((string)` + doc + `.SelectToken("$..book[?(@.isbn)].title"))`, "C"},
		{`@(String.Join(",", ` + doc + `.SelectTokens("$.store.book[*].title").Select(x => (string)x)))`, "A,B,C"},
		{`@(String.Join(",", ` + doc + `.SelectTokens("$..title").Select(x => (string)x)))`, "A,B,C"},
		{`@(String.Join(",", ` + doc + `.SelectTokens("$.store.book[0:2].title").Select(x => (string)x)))`, "A,B"},
		{`@(String.Join(",", ` + doc + `.SelectTokens("$.store.book[?(@.price >= 8 && @.price < 20)].title").Select(x => (string)x)))`, "A,B"},
		{`@(String.Join(",", ` + doc + `.SelectTokens("$.store.book[?(@.title == 'A' || @.title == 'C')].price").Select(x => x.ToString())))`, "8,20"},
		{`@(` + doc + `.SelectTokens("$..price").Count())`, int64(3)},
		{`@(` + doc + `.SelectTokens("$.store.*").Length)`, int64(2)},
		{`@((string)context.Request.Body.As<JObject>().SelectToken("nested.a.b[1]").ToString())`, "20"},
		// Mutation.
		{`@{ var o = JObject.Parse("{\"a\":1,\"b\":2}"); o.Property("a").Remove(); return o.ToString(Formatting.None); }`, `{"b":2}`},
		{`@{ var o = JObject.Parse("{\"a\":1,\"b\":2}"); o.Property("a").Value = "x"; return o.ToString(Formatting.None); }`, `{"a":"x","b":2}`},
		{`@{ var o = JObject.Parse("{\"a\":1,\"b\":2}"); o.Property("zz")?.Remove(); return o.ToString(Formatting.None); }`, `{"a":1,"b":2}`},
		{`@{ var o = JObject.Parse("{\"a\":1,\"secret\":2,\"password\":3}");
			foreach (var p in o.Properties().Where(p => ((JProperty)p).Name != "a").ToList()) { ((JProperty)p).Remove(); }
			return o.ToString(Formatting.None); }`, `{"a":1}`},
		{`@(String.Join(",", JObject.Parse("{\"a\":1,\"b\":2}").Properties().Select(p => ((JProperty)p).Name)))`, "a,b"},
		{`@{ var o = JObject.Parse("{\"a\":1}"); o.AddFirst(new JProperty("z", true)); o.Add(new JProperty("c", new JArray(1, 2))); o["d"] = new JObject(); o["d"]["e"] = "f"; return o.ToString(Formatting.None); }`, `{"z":true,"a":1,"c":[1,2],"d":{"e":"f"}}`},
		{`@{ var o = JObject.Parse("{\"a\":{\"x\":1},\"l\":[1]}"); o.Merge(JObject.Parse("{\"a\":{\"y\":2},\"l\":[2],\"n\":null,\"b\":3}")); return o.ToString(Formatting.None); }`, `{"a":{"x":1,"y":2},"l":[1,2],"n":null,"b":3}`},
		{`@{ var a = JArray.Parse("[1,2,3]"); a.RemoveAt(0); a.Insert(1, "x"); a.AddFirst(0); a.Remove(3); return a.ToString(Formatting.None) + a.IndexOf("x"); }`, `[0,2,"x"]2`},
		{`@{ var a = JArray.Parse("[1,2]"); a.Clear(); return a.Count; }`, int64(0)},
		{`@{ var o = JObject.Parse("{\"a\":{\"b\":1}}"); var c = o.DeepClone(); c["a"]["b"] = 2; return o.ToString(Formatting.None) + c.ToString(Formatting.None); }`, `{"a":{"b":1}}{"a":{"b":2}}`},
		{`@(JObject.Parse("{\"a\":1}").TryGetValue("a", out var v) ? v : -1)`, int64(1)},
		{`@(JArray.FromObject(new[] {"a", "b"}).Count)`, int64(2)},
		{`@(JObject.FromObject(JObject.Parse("{\"a\":1}")).ToString(Formatting.None))`, `{"a":1}`},
	})
	runErrCases(t, [][2]string{
		{`@(` + doc + `.SelectToken("$..title"))`, "Path returned multiple tokens."},
		{`@(` + doc + `.SelectToken("$.nope", true))`, "Path '$.nope' does not exist."},
		{`@(` + doc + `.SelectToken("$.store[?(@.x ==]"))`, "bad JSON path"},
		{`@(` + doc + `.SelectToken("$.store.book[abc]"))`, "bad JSON path"},
		{`@{ new JProperty("a", 1).Remove(); return 1; }`, "The parent is missing."},
		{`@{ JArray.Parse("[1]").RemoveAt(3); return 1; }`, "Index must be within the bounds"},
	})
}
