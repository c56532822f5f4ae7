package expression

import "testing"

func TestAnonymousTypes(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(JsonConvert.SerializeObject(new { error = new { code = "denied", status = 403 }, ok = false }))`, `{"error":{"code":"denied","status":403},"ok":false}`},
		{`@{ var o = new { name = "x", n = 2 }; return o.name + o.n; }`, "x2"},
		// A member named by the expression it is read from.
		{`@{ var Method = "m"; var o = new { Method, context.Request.Url.Path }; return o.ToString(); }`, "{ Method = m, Path = /echo/items }"},
		{`@(new { a = 1, b = "t" }.ToString())`, "{ a = 1, b = t }"},
		{`@(JObject.FromObject(new { list = new[] { "a", "b" } }).ToString(Newtonsoft.Json.Formatting.None))`, `{"list":["a","b"]}`},
		{`@(JsonConvert.SerializeObject(new { }))`, `{}`},
	})
	compileErrCases(t, [][3]string{
		{`@(new { a = 1 }.b)`, "does not contain", "b)"},
		{`@(new { a = 1, a = 2 })`, "multiple properties with the same name", "a = 2"},
		{`@(new { context.Request.Method, Method = 1 })`, "multiple properties with the same name", "Method = 1"},
		{`@(new { 1 + 2 })`, "invalid anonymous type member declarator", "1 + 2"},
		{`@(new { a = null })`, "cannot assign <null>", "null"},
	})
}

// TestCharBitwise: chars (one-character strings) widen to their codes for
// ^, & and |, as in the constant-time comparison documents write.
func TestCharBitwise(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@{ var a = "state-1"; var b = "state-1"; int r = 0; for (int i = 0; i < a.Length; i++) { r |= a[i] ^ b[i]; } return r == 0; }`, true},
		{`@{ var a = "state-1"; var b = "state-2"; int r = 0; for (int i = 0; i < a.Length; i++) { r |= a[i] ^ b[i]; } return r == 0; }`, false},
		{`@('a' ^ 'c')`, int64(2)},
		{`@('a' & 0xFF)`, int64(97)},
		{`@(true ^ false)`, true},
	})
	runErrCases(t, [][2]string{
		{`@("ab" ^ "c")`, "a string longer than one char"},
	})
}
