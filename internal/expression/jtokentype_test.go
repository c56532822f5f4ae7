package expression

import "testing"

func TestJTokenType(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(context.Request.Body.As<JObject>()["tags"].Type == JTokenType.Array)`, true},
		{`@(context.Request.Body.As<JObject>()["nested"].Type.ToString())`, "Object"},
		{`@(context.Request.Body.As<JObject>()["name"].Type == JTokenType.String)`, true},
		{`@(context.Request.Body.As<JObject>()["count"].Type.ToString() + context.Request.Body.As<JObject>()["price"].Type + context.Request.Body.As<JObject>()["ok"].Type)`, "IntegerFloatBoolean"},
		{`@(context.Request.Body.As<JObject>().Type)`, jTokenType(1)},
		{`@(context.Request.Body.As<JObject>().Property("name").Type == JTokenType.Property)`, true},
		{`@(context.Request.Body.As<JObject>().Properties().Where(p => ((JProperty)p).Value?.Type == JTokenType.Array).Count())`, int64(1)},
		{`@((string)context.Request.Body.As<JObject>()["name"].Value)`, "widget"},
		{`@(Newtonsoft.Json.Linq.JTokenType.Null.ToString())`, "Null"},
	})
	// Type is a JSON member: a string that is not read as a JToken has none.
	if _, err := Compile(`@("abc".Type)`); err == nil {
		t.Error(`"abc".Type compiled`)
	}
	runErrCases(t, [][2]string{
		{`@(context.Variables["list"].Type)`, "'string[]' does not contain a definition for 'Type'"},
	})
}
