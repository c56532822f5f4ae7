package expression

import "testing"

func TestInterpolationEdgeCases(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@($"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}")`, "2026-11-21T12:00:00Z"},
		{`@($"{context.Variables["n"]:D5}|{2.5:F2}|{42,5}|{42,-5}|")`, "00041|2.50|   42|42   |"},
		{`@($"{{literal}} {context.Request.Method} }}{{")`, "{literal} POST }{"},
		{`@($"{context.Request.Headers.GetValueOrDefault("X-Id", "none")}")`, "abc"},
		{`@($"{(context.Request.Method == "POST" ? "yes" : "no")}")`, "yes"},
		{`@($@"C:\{context.Request.Method}\""q""")`, `C:\POST\"q"`},
		{`@(@$"{context.Request.Method}\n")`, `POST\n`},
		{`@($"outer {$"inner {1 + 1}"} done")`, "outer inner 2 done"},
		{`@($"{'x'}{"y"}")`, "xy"},
		{`@($"{new[] {"a", "b"}.Length}")`, "2"},
		{`@($"a\tb\u0041")`, "a\tbA"},
		{`@($"")`, ""},
		{`@($"{null}")`, ""},
		{`@($"{context.Api.Name.Replace(" ", "-"):G}")`, "Echo-API"},
	})
	for _, src := range []string{`@($"{")`, `@($"}")`, `@($"{1")`, `@($"{}")`} {
		if _, err := Compile(src); err == nil {
			t.Errorf("Compile(%s) succeeded, want an error", src)
		}
	}
}
