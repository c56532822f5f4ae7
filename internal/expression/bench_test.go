package expression

import (
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Representative expressions, in our C# subset and hand-translated to expr-lang
// (the alternative DESIGN.md names), to compare evaluation cost.
var benchExprs = []struct {
	name, cs, exprLang string
}{
	{"Header", `@(context.Request.Headers.GetValueOrDefault("X-Id","none"))`,
		`context.Request.Headers.GetValueOrDefault("X-Id", "none")`},
	{"JwtClaim", `@(((Jwt)context.Variables["jwt"]).Claims["roles"].Contains("Reader"))`,
		`"Reader" in context.Variables["jwt"].Claims["roles"]`},
	{"Concat", `@(context.Request.Method + " " + context.Request.Url.Path)`,
		`context.Request.Method + " " + context.Request.Url.Path`},
}

func benchCS(b *testing.B, src string) {
	p, err := Compile(src)
	if err != nil {
		b.Fatal(err)
	}
	ctx := testContext()
	if _, err := p.Eval(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Eval(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func benchExprLang(b *testing.B, src string) {
	ctx := testContext()
	env := map[string]any{"context": ctx}
	prog, err := expr.Compile(src, expr.Env(env))
	if err != nil {
		b.Fatal(err)
	}
	var machine vm.VM
	if _, err := machine.Run(prog, env); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := machine.Run(prog, env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalHeader(b *testing.B)   { benchCS(b, benchExprs[0].cs) }
func BenchmarkEvalJwtClaim(b *testing.B) { benchCS(b, benchExprs[1].cs) }
func BenchmarkEvalConcat(b *testing.B)   { benchCS(b, benchExprs[2].cs) }

func BenchmarkEvalInterpolation(b *testing.B) {
	benchCS(b, `@($"{context.Request.Method} {context.Request.Url.Path}")`)
}

func BenchmarkEvalBlock(b *testing.B) {
	benchCS(b, `@{ var s = context.Subscription?.Id ?? "anonymous"; if (context.Response.StatusCode >= 500) { return s + ":error"; } return s; }`)
}

func BenchmarkEvalLambda(b *testing.B) {
	benchCS(b, `@(context.Request.Headers.Any(h => h.Key.StartsWith("X-")))`)
}

func BenchmarkExprLangHeader(b *testing.B)   { benchExprLang(b, benchExprs[0].exprLang) }
func BenchmarkExprLangJwtClaim(b *testing.B) { benchExprLang(b, benchExprs[1].exprLang) }
func BenchmarkExprLangConcat(b *testing.B)   { benchExprLang(b, benchExprs[2].exprLang) }

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(`@{ var body = context.Request.Body.As<JObject>(preserveContent: true); body["x"] = "y"; return body.ToString(); }`); err != nil {
			b.Fatal(err)
		}
	}
}

// TestExprLangTranslationsAgree makes sure the comparison measures equal work.
func TestExprLangTranslationsAgree(t *testing.T) {
	for _, c := range benchExprs {
		ctx := testContext()
		p, err := Compile(c.cs)
		if err != nil {
			t.Fatal(err)
		}
		want, err := p.Eval(ctx)
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]any{"context": ctx}
		got, err := expr.Eval(c.exprLang, env)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != want {
			t.Errorf("%s: expr-lang %v, ours %v", c.name, got, want)
		}
	}
}
