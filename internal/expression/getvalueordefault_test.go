package expression

import "testing"

// Jwt.Claims, Headers and Query are IReadOnlyDictionary<string, string[]>:
// APIM's GetValueOrDefault(name, "default") joins the values, and .NET's
// GetValueOrDefault(name, new string[] {...}) returns them.
func TestStringArrayDictionaryGetValueOrDefault(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("roles", ""))`, "Reader,Writer"},
		{`@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("roles", new string[] {""}))`, []string{"Reader", "Writer"}},
		{`@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("oid", new string[] {""}))`, []string{""}},
		{`@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("oid", new string[] {"none"})[0])`, "none"},
		{`@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("roles", new string[0]).Length)`, int64(2)},
		{`@(context.Request.Headers.GetValueOrDefault("Accept", new[] {"*/*"}).Last())`, "application/json"},
		{`@(context.Request.Url.Query.GetValueOrDefault("none", new string[0]).Length)`, int64(0)},
		{`@(context.Request.Url.Query.GetValueOrDefault("tag", "x"))`, "a,b"},
		{`@(context.Request.Url.Query.GetValueOrDefault("none", (string)null))`, nil},
		{`@(context.Request.Headers.GetValueOrDefault("none", context.Variables["x"]))`, "hello"},
	})
	compileErrCases(t, [][3]string{
		{`@(context.Request.Headers.GetValueOrDefault("a", 1))`, "cannot convert from 'int' to 'string' or 'string[]'", "GetValueOrDefault"},
		{`@(context.Request.Headers.GetValueOrDefault("a", new string[] {""}).ToUpper())`, "'string[]' does not contain", "ToUpper"},
	})
}
