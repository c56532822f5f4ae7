package expression

import "testing"

func TestFormUrlEncodedBody(t *testing.T) {
	ctx := testContext()
	ctx.Request.Body = BytesBody([]byte("grant_type=client_credentials&scope=a+b&scope=c%2Fd&client_id=app%201&empty="))
	runEvalCases(t, ctx, []evalCase{
		{`@(context.Request.Body.AsFormUrlEncodedContent(preserveContent: true)["grant_type"][0])`, "client_credentials"},
		{`@(context.Request.Body.AsFormUrlEncodedContent()["scope"][0])`, "a b"},
		{`@(context.Request.Body.AsFormUrlEncodedContent().GetValueOrDefault("scope", ""))`, "a b,c/d"},
		{`@(context.Request.Body.AsFormUrlEncodedContent()["client_id"].First())`, "app 1"},
		{`@(context.Request.Body.AsFormUrlEncodedContent()["empty"][0])`, ""},
		{`@(context.Request.Body.AsFormUrlEncoded().ContainsKey("nope"))`, false},
		{`@(context.Request.Body.AsFormUrlEncodedContent().Count)`, int64(4)},
		{`@(String.Join(",", context.Request.Body.AsFormUrlEncodedContent().Keys))`, "grant_type,scope,client_id,empty"},
		{`@{
			var form = context.Request.Body.AsFormUrlEncodedContent(preserveContent: true);
			form["client_id"] = "other app";
			form.Remove("empty");
			form.Add("client_secret", new[] {"s&1"});
			return form.ToFormUrlEncodedContent();
		}`, "grant_type=client_credentials&scope=a+b&scope=c%2Fd&client_id=other+app&client_secret=s%261"},
		{`@("a=1&b=2".AsFormUrlEncodedContent()["b"][0])`, "2"},
		{`@(context.Request.Body.AsFormUrlEncodedContent().Any(kv => kv.Key == "scope" && kv.Value.Length == 2))`, true},
	})
	ctx.Request.Body = BytesBody([]byte("a=%zz"))
	p, err := Compile(`@(context.Request.Body.AsFormUrlEncodedContent().Count)`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(ctx); err == nil {
		t.Error("a malformed form body was accepted")
	}
	runErrCases(t, [][2]string{
		{`@{ var f = "a=1".AsFormUrlEncodedContent(); f.Add("a", "2"); return 1; }`, "An item with the same key has already been added."},
		{`@("a=1".AsFormUrlEncodedContent()["b"])`, "The given key 'b' was not present in the dictionary."},
	})
}
