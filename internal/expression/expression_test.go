package expression

import (
	"encoding/base64"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// makeJWT builds an unsigned token with the given payload JSON.
func makeJWT(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT","kid":"k1"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

var testToken = makeJWT(`{"sub":"alice","iss":"https://idp","aud":["api","web"],"exp":1800000000,"iat":1794990000,"jti":"id-1","roles":["Reader","Writer"],"scp":"read write","n":5}`)

func testContext() *Context {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+testToken)
	h.Set("X-Id", "abc")
	h.Add("Accept", "text/html")
	h.Add("Accept", "application/json")
	h.Set("Content-Type", "application/json")
	jwt, err := ParseJwt(testToken)
	if err != nil {
		panic(err)
	}
	tokenBody := []byte(`{"access_token":"tok-123","expires_in":3600}`)
	return &Context{
		Request: &Request{
			Method: "POST",
			Url: &URL{Scheme: "https", Host: "api.example.com", Port: 443, Path: "/echo/items",
				Query: QueryParams{"q": {"cats"}, "tag": {"a", "b"}}, QueryString: "?q=cats&tag=a&tag=b"},
			Headers:   Headers(h),
			IpAddress: "203.0.113.7",
			Body:      BytesBody([]byte(`{"name":"widget","count":3,"price":2.5,"tags":["x","y"],"nested":{"a":{"b":[10,20]}},"ok":true,"none":null}`)),
		},
		Response: &Response{StatusCode: 502, StatusReason: "Bad Gateway", Headers: Headers(http.Header{"X-Backend": {"b1"}})},
		Variables: Variables{
			"x":             "hello",
			"n":             int64(41),
			"d":             2.5,
			"flag":          true,
			"jwt":           jwt,
			"auth-context":  &Authorization{AccessToken: "at-1", Claims: map[string]any{"scope": "s1"}},
			"tokenResponse": &Response{StatusCode: 200, Body: BytesBody(tokenBody)},
			"list":          []string{"a", "b", "c"},
			"nil":           nil,
			"nstr":          "17",
		},
		Api:          &API{Id: "echo", Name: "Echo API", Path: "echo", ServiceUrl: &URL{Scheme: "http", Host: "backend", Port: 8080, Path: "/v1"}, Version: "v1", IsCurrentRevision: true},
		Operation:    &Operation{Id: "create", Name: "Create item", Method: "POST", UrlTemplate: "/items"},
		Subscription: &Subscription{Id: "sub1", Name: "Sub One", Key: "k", PrimaryKey: "pk", SecondaryKey: "sk", CreatedDate: testNow.Add(-24 * time.Hour)},
		User:         &User{Id: "u1", Email: "u1@example.com", FirstName: "Una", LastName: "One"},
		LastError:    &LastError{Source: "validate-jwt", Reason: "TokenExpired", Message: "expired", Scope: "api", Section: "inbound", Path: "choose[1]/when[1]", PolicyId: "p1"},
		RequestId:    "req-1",
		Timestamp:    testNow,
		Deployment:   &Deployment{Region: "local", ServiceName: "tollgate", Gateway: "gw1"},
		Elapsed:      func() time.Duration { return 1500 * time.Millisecond },
		Now:          func() time.Time { return testNow },
	}
}

type evalCase struct {
	src  string
	want any
}

func runEvalCases(t *testing.T, ctx *Context, cases []evalCase) {
	t.Helper()
	for _, c := range cases {
		p, err := Compile(c.src)
		if err != nil {
			t.Errorf("Compile(%s): %v", c.src, err)
			continue
		}
		got, err := p.Eval(ctx)
		if err != nil {
			t.Errorf("Eval(%s): %v", c.src, err)
			continue
		}
		if !sameValue(got, c.want) {
			t.Errorf("Eval(%s) = %#v (%T), want %#v (%T)", c.src, got, got, c.want, c.want)
		}
	}
}

func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return reflect.DeepEqual(a, b)
}

// The examples of the issue, with the values they must produce.
func TestRealExpressions(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject)`, "alice"}, // the scheme is skipped
		{`@(context.Request.Headers.GetValueOrDefault("X-Id","").AsJwt()?.Subject)`, nil},
		{`@(context.Request.Headers.GetValueOrDefault("cookie", "a=1; token=t2; b=3").Split(';').Select(x => x.Trim()).Select(c => c.Split('=')).SingleOrDefault(c => c[0] == "token")?[1])`, "t2"},
		{`@(context.Request.Headers.GetValueOrDefault("Authorization","").Replace("Bearer ", "").AsJwt()?.Subject)`, "alice"},
		{`@(((Jwt)context.Variables["jwt"]).Claims["roles"].Contains("Reader"))`, true},
		{`@(((Jwt)context.Variables["jwt"]).Claims["roles"].Contains("Admin"))`, false},
		{`@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("roles", ""))`, "Reader,Writer"},
		{`@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("scp", ""))`, "read write"},
		{`@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("missing", "none"))`, "none"},
		{`@(context.Request.Headers["Authorization"][0].Replace("Bearer ", ""))`, testToken},
		{`@("Bearer " + ((Authorization)context.Variables.GetValueOrDefault("auth-context"))?.AccessToken)`, "Bearer at-1"},
		{`@("Bearer " + ((Authorization)context.Variables.GetValueOrDefault("nope"))?.AccessToken)`, "Bearer "},
		{`@(context.LastError.Source == "validate-jwt")`, true},
		{`@{ var body = context.Request.Body.As<JObject>(preserveContent: true); body["x"] = "y"; return body.ToString(); }`,
			"{\n  \"name\": \"widget\",\n  \"count\": 3,\n  \"price\": 2.5,\n  \"tags\": [\n    \"x\",\n    \"y\"\n  ],\n  \"nested\": {\n    \"a\": {\n      \"b\": [\n        10,\n        20\n      ]\n    }\n  },\n  \"ok\": true,\n  \"none\": null,\n  \"x\": \"y\"\n}"},
		{`@($"{context.Request.Method} {context.Request.Url.Path}")`, "POST /echo/items"},
		{`@(context.Variables.GetValueOrDefault<int>("n", 0) + 1)`, int64(42)},
		{`@(context.Variables.GetValueOrDefault<int>("missing", 0) + 1)`, int64(1)},
		{`@(context.Variables.GetValueOrDefault("n", 0) + 1)`, int64(42)},
		{`@((string)context.Variables["x"])`, "hello"},
		{`@(DateTime.UtcNow.AddMinutes(5).ToString("o"))`, "2026-11-21T12:05:00.0000000Z"},
		{`@(Convert.ToBase64String(Encoding.UTF8.GetBytes("a:b")))`, "YTpi"},
		{`@(Encoding.UTF8.GetString(Convert.FromBase64String("YTpi")))`, "a:b"},
		{`@(context.Request.Url.Query.GetValueOrDefault("q", ""))`, "cats"},
		{`@(context.Request.Url.Query.GetValueOrDefault("tag", ""))`, "a,b"},
		{`@(context.Subscription?.Id ?? "anonymous")`, "sub1"},
		{`@(context.Request.IpAddress)`, "203.0.113.7"},
		{`@(context.Response.StatusCode >= 500)`, true},
		{`@(((IResponse)context.Variables["tokenResponse"]).Body.As<JObject>()["access_token"].ToString())`, "tok-123"},
		{`@(context.Request.Headers.Any(h => h.Key.StartsWith("X-")))`, true},
		{`@(context.Request.Headers.Any(h => h.Key.StartsWith("Y-")))`, false},
		{`@(String.IsNullOrEmpty((string)context.Variables["x"]))`, false},
		{`@{ int n; if (int.TryParse((string)context.Variables["nstr"], out n)) { return n * 2; } return -1; }`, int64(34)},
		{`@{ if (int.TryParse("x1", out var n)) { return n; } return -1; }`, int64(-1)},
		{`@{ return int.TryParse("12", out var n) ? n : 0; }`, int64(12)},
	})
}

func TestNullPropagation(t *testing.T) {
	ctx := testContext()
	ctx.Subscription = nil
	ctx.User = nil
	ctx.Product = nil
	ctx.LastError = nil
	runEvalCases(t, ctx, []evalCase{
		{`@(context.Subscription?.Id ?? "anonymous")`, "anonymous"},
		{`@(context.Subscription?.Id)`, nil},
		{`@(context.Subscription?.Name.Length)`, nil}, // ?. short-circuits the whole chain
		{`@(context.Subscription == null)`, true},
		{`@(context.Product?.Name == null)`, true},
		{`@(context.User?.Email?.ToLower() ?? "none")`, "none"},
		{`@(context.LastError?.Source == "validate-jwt")`, false},
		{`@(context.Variables.GetValueOrDefault("nil") ?? "dflt")`, "dflt"},
		{`@((string)context.Variables.GetValueOrDefault("missing"))`, nil},
		{`@(((Jwt)null)?.Subject)`, nil},
		{`@("abc".AsJwt() == null)`, true},
		{`@(context.Request.Body.As<JObject>()["missing"])`, nil},
		{`@(context.Request.Body.As<JObject>()["missing"]?.ToString() ?? "-")`, "-"},
		{`@((context.Subscription?.Id ?? "x").Length)`, int64(1)},
		{`@(context.Subscription?.CreatedDate.Year)`, nil},
		{`@(null + "a")`, "a"},
		{`@(context.Subscription?.CreatedDate > DateTime.UtcNow)`, false},
		{`@(context.Request.Headers?["X-Id"]?[0])`, "abc"},
	})
	for _, src := range []string{
		`@(context.Subscription.Id)`,
		`@(context.User.Email.Length)`,
		`@(((Jwt)context.Variables["nil"]).Subject)`,
	} {
		p, err := Compile(src)
		if err != nil {
			t.Fatalf("Compile(%s): %v", src, err)
		}
		_, err = p.Eval(ctx)
		var re *RuntimeError
		if !errors.As(err, &re) || re.Msg != "Object reference not set to an instance of an object." {
			t.Errorf("Eval(%s) error = %v, want a null reference RuntimeError", src, err)
		}
	}
}

func TestLiteralsAndOperators(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(1)`, int64(1)},
		{`@(1.5)`, 1.5},
		{`@(1e3)`, 1000.0},
		{`@(10L)`, int64(10)},
		{`@(2.5m)`, 2.5},
		{`@(0x1F)`, int64(31)},
		{`@("a\tb\"c\\")`, "a\tb\"c\\"},
		{`@(@"C:\path ""q""")`, `C:\path "q"`},
		{`@('x')`, "x"},
		{`@('\n')`, "\n"},
		{`@("\u00e9")`, "é"},
		{`@(true)`, true},
		{`@(null)`, nil},
		{`@(1 + 2 * 3)`, int64(7)},
		{`@((1 + 2) * 3)`, int64(9)},
		{`@(7 / 2)`, int64(3)},
		{`@(-7 / 2)`, int64(-3)},
		{`@(7 % 3)`, int64(1)},
		{`@(7 / 2.0)`, 3.5},
		{`@(1 + 0.5)`, 1.5},
		{`@(-(3))`, int64(-3)},
		{`@(1 < 2.5)`, true},
		{`@(2 == 2.0)`, true},
		{`@(3 != 4)`, true},
		{`@("a" + 1)`, "a1"},
		{`@(1 + "a")`, "1a"},
		{`@("a" + true)`, "aTrue"},
		{`@("a" + 1.5)`, "a1.5"},
		{`@("a" + null)`, "a"},
		{`@(1 + 2 + "a")`, "3a"},
		{`@("a" + 1 + 2)`, "a12"},
		{`@(true && false || true)`, true},
		{`@(!true)`, false},
		{`@(true ? "y" : "n")`, "y"},
		{`@(1 > 2 ? 1 : 2.5)`, 2.5},
		{`@(null ?? null ?? "z")`, "z"},
		{`@(6 & 3)`, int64(2)},
		{`@(6 | 3)`, int64(7)},
		{`@(6 ^ 3)`, int64(5)},
		{`@(~0)`, int64(-1)},
		{`@(true ^ true)`, false},
		{`@("abc" == "abc")`, true},
		{`@("abc" != "ABC")`, true},
		{`@(context.Variables["n"] == 41)`, true},
		{`@(context.Variables["d"] > 2)`, true},
		{`@((int)context.Variables["n"] + 1)`, int64(42)},
		{`@((double)context.Variables["n"])`, 41.0},
		{`@((int)2.9)`, int64(2)},
		{`@((int)-2.9)`, int64(-2)},
		{`@((double)-1)`, -1.0},
		{`@((bool)context.Variables["flag"])`, true},
		{`@(context.Variables["x"] as string)`, "hello"},
		{`@(context.Variables["n"] as string)`, nil},
		{`@(context.Variables["x"] is string)`, true},
		{`@(context.Variables["n"] is string)`, false},
		{`@(context.Variables["nil"] is null)`, true},
		{`@(context.Variables["x"] is not null)`, true},
		{`@(1.0 / 0)`, posInf()},
		{`@(0.1 + 0.2)`, 0.30000000000000004},
		{`@(context.Response.StatusCode / 100 == 5)`, true},
	})
}

func posInf() float64 { var z float64; return 1 / z }

func TestStrings(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@("Hello".Contains("ell"))`, true},
		{`@("Hello".Contains("ELL", StringComparison.OrdinalIgnoreCase))`, true},
		{`@("Hello".StartsWith("He"))`, true},
		{`@("Hello".StartsWith("he", StringComparison.OrdinalIgnoreCase))`, true},
		{`@("Hello".EndsWith("lo"))`, true},
		{`@("a-b-c".Replace("-", "+"))`, "a+b+c"},
		{`@("a,b,,c".Split(','))`, []string{"a", "b", "", "c"}},
		{`@("a,b,,c".Split(',').Length)`, int64(4)},
		{`@("a,b;c".Split(',', ';'))`, []string{"a", "b", "c"}},
		{`@("a, b".Split(new[] {", "}, StringSplitOptions.None))`, []string{"a", "b"}},
		{`@("a,,b".Split(new char[] {','}, StringSplitOptions.RemoveEmptyEntries))`, []string{"a", "b"}},
		{`@("a b  c".Split(' ')[1])`, "b"},
		{`@("Bearer xyz".Split(' ')[1])`, "xyz"},
		{`@("Hello".Substring(1))`, "ello"},
		{`@("Hello".Substring(1, 3))`, "ell"},
		{`@("Hello".ToLower())`, "hello"},
		{`@("Hello".ToUpper())`, "HELLO"},
		{`@("Hello".ToUpperInvariant())`, "HELLO"},
		{`@("  x ".Trim())`, "x"},
		{`@("--x--".Trim('-'))`, "x"},
		{`@("--x--".TrimStart('-'))`, "x--"},
		{`@("--x--".TrimEnd('-'))`, "--x"},
		{`@("Hello".IndexOf("l"))`, int64(2)},
		{`@("Hello".IndexOf("z"))`, int64(-1)},
		{`@("Hello".IndexOf("l", 3))`, int64(3)},
		{`@("Hello".LastIndexOf("l"))`, int64(3)},
		{`@("Hello".Length)`, int64(5)},
		{`@("héllo".Length)`, int64(5)},
		{`@("héllo".Substring(1, 2))`, "él"},
		{`@("Hello".Equals("Hello"))`, true},
		{`@("Hello".Equals("hello", StringComparison.OrdinalIgnoreCase))`, true},
		{`@("Hello".Equals(null))`, false},
		{`@("Hello"[1])`, "e"},
		{`@("7".PadLeft(3, '0'))`, "007"},
		{`@("7".PadRight(3))`, "7  "},
		{`@("Hello".Remove(2))`, "He"},
		{`@("Hello".Insert(0, ">"))`, ">Hello"},
		{`@("abc".ToString())`, "abc"},
		{`@(String.IsNullOrEmpty(""))`, true},
		{`@(string.IsNullOrEmpty(null))`, true},
		{`@(String.IsNullOrWhiteSpace(" "))`, true},
		{`@(String.Join(",", "a,b".Split(',')))`, "a,b"},
		{`@(string.Join("-", "a", "b", 3))`, "a-b-3"},
		{`@(String.Format("{0}-{1:D3}", "x", 7))`, "x-007"},
		{`@(String.Concat("a", 1, true))`, "a1True"},
		{`@(string.Empty)`, ""},
		{`@($"a{1 + 1}b{{c}}")`, "a2b{c}"},
		{`@($"{context.Variables["x"]}!")`, "hello!"},
		{`@($"{DateTime.UtcNow:yyyy-MM-dd}")`, "2026-11-21"},
		{`@($"{3.14159:F2}")`, "3.14"},
		{`@($"[{"ab",4}][{"ab",-4}][{7,3:D2}]")`, "[  ab][ab  ][ 07]"},
		{`@($"{Math.Max(1, 2)}")`, "2"},
		{`@($"{(1 > 0 ? "y" : "n")}")`, "y"},
		{`@($@"{"q"}\d")`, `q\d`},
		{`@(Uri.EscapeDataString("a b&c"))`, "a%20b%26c"},
		{`@(Uri.UnescapeDataString("a%20b"))`, "a b"},
		{`@("abc".ToCharArray().Length)`, int64(3)},
	})
}

func TestContextMembers(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(context.Request.Method)`, "POST"},
		{`@(context.Request.Url.Host)`, "api.example.com"},
		{`@(context.Request.Url.Scheme)`, "https"},
		{`@(context.Request.Url.Port)`, int64(443)},
		{`@(context.Request.Url.QueryString)`, "?q=cats&tag=a&tag=b"},
		{`@(context.Request.Url.ToString())`, "https://api.example.com/echo/items?q=cats&tag=a&tag=b"},
		{`@(context.Request.Url.Query["tag"][1])`, "b"},
		{`@(context.Request.Url.Query.ContainsKey("q"))`, true},
		{`@(context.Request.Headers.GetValueOrDefault("x-id", "none"))`, "abc"},
		{`@(context.Request.Headers.GetValueOrDefault("X-Missing", "none"))`, "none"},
		{`@(context.Request.Headers.GetValueOrDefault("X-Missing"))`, nil},
		{`@(context.Request.Headers.GetValueOrDefault("Accept", ""))`, "text/html,application/json"},
		{`@(context.Request.Headers.ContainsKey("content-type"))`, true},
		{`@(context.Request.Headers["accept"].Length)`, int64(2)},
		{`@(context.Request.Headers.Count)`, int64(4)},
		{`@(context.Request.Headers.Where(h => h.Key.StartsWith("X")).Count())`, int64(1)},
		{`@(context.Request.Headers.Select(h => h.Key).First())`, "Accept"},
		{`@(context.Request.Headers.FirstOrDefault(h => h.Key == "Nope").Key)`, nil},
		{`@(context.Request.Body.As<string>().Length > 10)`, true},
		{`@(context.Request.Body.As<JObject>()["count"])`, int64(3)},
		{`@((int)context.Request.Body.As<JObject>()["count"] * 2)`, int64(6)},
		{`@(context.Request.Body.As<JObject>()["price"])`, 2.5},
		{`@((string)context.Request.Body.As<JObject>()["name"])`, "widget"},
		{`@(context.Request.Body.As<JObject>()["tags"][1])`, "y"},
		{`@(context.Request.Body.As<JObject>()["nested"]["a"]["b"][0])`, int64(10)},
		{`@(context.Request.Body.As<JObject>().SelectToken("nested.a.b[1]"))`, int64(20)},
		{`@(context.Request.Body.As<JObject>().SelectToken("$.tags[0]"))`, "x"},
		{`@(context.Request.Body.As<JObject>().Value<string>("name"))`, "widget"},
		{`@(context.Request.Body.As<JObject>().Value<int>("count"))`, int64(3)},
		{`@(context.Request.Body.As<JObject>()["ok"].Value<bool>())`, true},
		{`@(context.Request.Body.As<JObject>()["tags"].Count())`, int64(2)},
		{`@(((JArray)context.Request.Body.As<JObject>()["tags"]).Count)`, int64(2)},
		{`@(context.Request.Body.As<JObject>().ContainsKey("name"))`, true},
		{`@(context.Request.Body.As<JObject>()["nested"].ToString(Newtonsoft.Json.Formatting.None))`, `{"a":{"b":[10,20]}}`},
		{`@(context.Request.Body.As<JObject>().ToString(Formatting.None).Length > 0)`, true},
		{`@(context.Response.StatusCode)`, int64(502)},
		{`@(context.Response.StatusReason)`, "Bad Gateway"},
		{`@(context.Response.Headers.GetValueOrDefault("x-backend", ""))`, "b1"},
		{`@(context.Variables.ContainsKey("x"))`, true},
		{`@(context.Variables.ContainsKey("zz"))`, false},
		{`@(context.Variables.GetValueOrDefault<string>("x"))`, "hello"},
		{`@(context.Variables.GetValueOrDefault<string>("zz", "dflt"))`, "dflt"},
		{`@(context.Variables.GetValueOrDefault<bool>("zz"))`, false},
		{`@(context.Variables.GetValueOrDefault("x", "d"))`, "hello"},
		{`@(context.Variables.GetValueOrDefault<double>("zz", 1))`, 1.0},
		{`@(((string[])context.Variables["list"]).Length)`, int64(3)},
		{`@(context.Api.Id)`, "echo"},
		{`@(context.Api.Name)`, "Echo API"},
		{`@(context.Api.Path)`, "echo"},
		{`@(context.Api.ServiceUrl.Host)`, "backend"},
		{`@(context.Api.Version)`, "v1"},
		{`@(context.Api.IsCurrentRevision)`, true},
		{`@(context.Operation.Id)`, "create"},
		{`@(context.Operation.Method)`, "POST"},
		{`@(context.Operation.UrlTemplate)`, "/items"},
		{`@(context.Subscription.Key)`, "k"},
		{`@(context.Subscription.PrimaryKey)`, "pk"},
		{`@(context.Subscription.CreatedDate < context.Timestamp)`, true},
		{`@(context.User.Email)`, "u1@example.com"},
		{`@(context.User.FirstName + " " + context.User.LastName)`, "Una One"},
		{`@(context.LastError.Reason)`, "TokenExpired"},
		{`@(context.LastError.Message)`, "expired"},
		{`@(context.LastError.Scope)`, "api"},
		{`@(context.LastError.Section)`, "inbound"},
		{`@(context.LastError.Path)`, "choose[1]/when[1]"},
		{`@(context.LastError.PolicyId)`, "p1"},
		{`@(context.RequestId)`, "req-1"},
		{`@(context.Timestamp)`, testNow},
		{`@(context.Deployment.Region)`, "local"},
		{`@(context.Elapsed.TotalMilliseconds)`, 1500.0},
		{`@(context.Elapsed.TotalSeconds > 1)`, true},
		{`@(context.Product == null)`, true},
	})
}

func TestJwtAndAuthorization(t *testing.T) {
	exp := time.Unix(1800000000, 0).UTC()
	runEvalCases(t, testContext(), []evalCase{
		{`@(((Jwt)context.Variables["jwt"]).Subject)`, "alice"},
		{`@(((Jwt)context.Variables["jwt"]).Issuer)`, "https://idp"},
		{`@(((Jwt)context.Variables["jwt"]).Id)`, "id-1"},
		{`@(((Jwt)context.Variables["jwt"]).Audiences.Contains("web"))`, true},
		{`@(((Jwt)context.Variables["jwt"]).Audiences.Length)`, int64(2)},
		{`@(((Jwt)context.Variables["jwt"]).ExpirationTime)`, exp},
		{`@(((Jwt)context.Variables["jwt"]).ExpirationTime > DateTime.UtcNow)`, true},
		{`@(((Jwt)context.Variables["jwt"]).NotBefore)`, nil},
		{`@(((Jwt)context.Variables["jwt"]).Claims["n"][0])`, "5"},
		{`@(((Jwt)context.Variables["jwt"]).Claims.ContainsKey("roles"))`, true},
		{`@(((Jwt)context.Variables["jwt"]).Algorithm)`, "RS256"},
		{`@(context.Variables["jwt"] is Jwt)`, true},
		{`@(((Authorization)context.Variables["auth-context"]).Claims["scope"])`, "s1"},
		{`@(context.Request.Headers.GetValueOrDefault("Authorization", "").Split(' ')[1].AsJwt().Claims.GetValueOrDefault("roles", ""))`, "Reader,Writer"},
		{`@("a.b.c".AsJwt())`, nil},
		{`@("".AsJwt())`, nil},
	})
}

func TestDatesAndConversions(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(DateTime.UtcNow)`, testNow},
		{`@(DateTime.Now.Year)`, int64(2026)},
		{`@(DateTime.UtcNow.AddHours(1).Hour)`, int64(13)},
		{`@(DateTime.UtcNow.AddDays(-1).Day)`, int64(20)},
		{`@(DateTime.UtcNow.AddSeconds(30).ToString("s"))`, "2026-11-21T12:00:30"},
		{`@(DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"))`, "2026-11-21T12:00:00.000Z"},
		{`@(DateTime.UtcNow.ToString("r"))`, "Sat, 21 Nov 2026 12:00:00 GMT"},
		{`@(DateTime.UtcNow.AddMilliseconds(120).ToString("HH:mm:ss.FFF"))`, "12:00:00.12"},
		{`@(DateTime.UtcNow.ToString("HH:mm:ss.FFF"))`, "12:00:00"},
		{`@(new JArray(1e20, 3.0).ToString(Formatting.None))`, "[1E+20,3.0]"},
		{`@(DateTime.UtcNow.ToString("dddd, MMM d"))`, "Saturday, Nov 21"},
		{`@(DateTime.UtcNow.ToString())`, "11/21/2026 12:00:00"},
		{`@(DateTime.Parse("2026-01-02T03:04:05Z").Month)`, int64(1)},
		{`@(DateTime.UtcNow - DateTime.UtcNow.AddMinutes(-90))`, 90 * time.Minute},
		{`@((DateTime.UtcNow - context.Subscription.CreatedDate).TotalHours)`, 24.0},
		{`@(DateTime.UtcNow + TimeSpan.FromMinutes(1) > DateTime.UtcNow)`, true},
		{`@(DateTime.UtcNow.Add(TimeSpan.FromSeconds(1)).Second)`, int64(1)},
		{`@(TimeSpan.FromSeconds(90).ToString())`, "00:01:30"},
		{`@(TimeSpan.FromDays(1.5).ToString())`, "1.12:00:00"},
		{`@(TimeSpan.FromMinutes(2).TotalSeconds)`, 120.0},
		{`@(new TimeSpan(1, 2, 3).TotalSeconds)`, 3723.0},
		{`@(new DateTime(2025, 2, 3).ToString("yyyy-MM-dd"))`, "2025-02-03"},
		{`@(TimeSpan.Parse("01:02:03").TotalSeconds)`, 3723.0},
		{`@(int.Parse("42") + 1)`, int64(43)},
		{`@(Int32.Parse(" 7 "))`, int64(7)},
		{`@(long.Parse("9000000000"))`, int64(9000000000)},
		{`@(double.Parse("2.5") * 2)`, 5.0},
		{`@(bool.Parse("True"))`, true},
		{`@(Convert.ToInt32("12"))`, int64(12)},
		{`@(Convert.ToInt32(2.5))`, int64(2)},
		{`@(Convert.ToString(5))`, "5"},
		{`@(Convert.ToBoolean("false"))`, false},
		{`@(Guid.NewGuid().ToString().Length)`, int64(36)},
		{`@(Guid.NewGuid().ToString("N").Length)`, int64(32)},
		{`@(Guid.Parse("01234567-89ab-cdef-0123-456789abcdef").ToString())`, "01234567-89ab-cdef-0123-456789abcdef"},
		{`@(Guid.NewGuid() != Guid.NewGuid())`, true},
		{`@(1.5.ToString())`, "1.5"},
		{`@((1e20).ToString())`, "1E+20"},
		{`@(42.ToString("D5"))`, "00042"},
		{`@(255.ToString("X"))`, "FF"},
		{`@(1234.5.ToString("N1"))`, "1,234.5"},
		{`@(2.345.ToString("0.00"))`, "2.35"},
		{`@(true.ToString())`, "True"},
		{`@(Math.Max(3, 7))`, int64(7)},
		{`@(Math.Min(3, 2.5))`, 2.5},
		{`@(Math.Abs(-3))`, int64(3)},
		{`@(Math.Round(2.5))`, 2.0},
		{`@(Math.Floor(2.7))`, 2.0},
		{`@(Math.Pow(2, 10))`, 1024.0},
		{`@(Encoding.ASCII.GetBytes("é")[0])`, int64('?')},
		{`@(System.Text.Encoding.UTF8.GetBytes("ab").Length)`, int64(2)},
		{`@(Newtonsoft.Json.JsonConvert.SerializeObject("a\"b"))`, `"a\"b"`},
		{`@(JObject.Parse("{\"a\":1}")["a"])`, int64(1)},
		{`@(JArray.Parse("[1,2]").Count)`, int64(2)},
		{`@(JsonConvert.DeserializeObject("[1,2]").ToString(Formatting.None))`, "[1,2]"},
	})
}

func TestCollectionsAndLambdas(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@("a,b,c".Split(',').Any())`, true},
		{`@("a,b,c".Split(',').Any(s => s == "b"))`, true},
		{`@("a,b,c".Split(',').All(s => s.Length == 1))`, true},
		{`@("a,b,c".Split(',').Count())`, int64(3)},
		{`@("a,b,c".Split(',').Count(s => s != "a"))`, int64(2)},
		{`@("a,b,c".Split(',').First())`, "a"},
		{`@(JArray.Parse("[1,2]").First.ToString())`, "1"},
		{`@(JArray.Parse("[1,2]").Last.ToString())`, "2"},
		{`@(JArray.Parse("[]").First == null)`, true},
		{`@(JArray.Parse("[1,2]").First().ToString())`, "1"},
		{`@(JArray.Parse("[1,2]").Last(t => (int)t < 2).ToString())`, "1"},
		{`@("a,b,c".Split(',').Single(s => s == "b"))`, "b"},
		{`@("a,b,c".Split(',').SingleOrDefault(s => s == "z"))`, nil},
		{`@("a,b,c".Split(',').First(s => s != "a"))`, "b"},
		{`@("a,b,c".Split(',').Last())`, "c"},
		{`@("a,b,c".Split(',').FirstOrDefault(s => s == "z"))`, nil},
		{`@("a,b,c".Split(',').FirstOrDefault(s => s == "z") ?? "none")`, "none"},
		{`@("a,b,c".Split(',').Select(s => s.ToUpper()))`, []string{"A", "B", "C"}},
		{`@(String.Join("|", "a,b,c".Split(',').Select(s => s + "!")))`, "a!|b!|c!"},
		{`@("a,b,c".Split(',').Select(s => s.Length))`, []any{int64(1), int64(1), int64(1)}},
		{`@("a,b,c".Split(',').Where(s => s != "b"))`, []string{"a", "c"}},
		{`@("a,b,c".Split(',').Where(s => s != "b").ToArray().Length)`, int64(2)},
		{`@("a,a,b".Split(',').Distinct().Count())`, int64(2)},
		{`@("a,b,c".Split(',').Skip(1).First())`, "b"},
		{`@("a,b,c".Split(',').Take(2).Last())`, "b"},
		{`@("a,b,c".Split(',').Contains("c"))`, true},
		{`@(new[] {"x", "y"}.Length)`, int64(2)},
		{`@(new string[] {"x", "y"}[1])`, "y"},
		{`@(new[] {1, 2}.Count())`, int64(2)},
		{`@(context.Variables.Any(v => v.Key == "x"))`, true},
		{`@(context.Request.Body.As<JObject>()["tags"].Any(t => t.ToString() == "y"))`, true},
		{`@(context.Request.Body.As<JObject>().Select(p => p.Key).First())`, "name"},
		{`@(((Jwt)context.Variables["jwt"]).Claims.Any(c => c.Key == "roles" && c.Value.Contains("Writer")))`, true},
		{`@("a,b".Split(',').Any(s => { var u = s.ToUpper(); return u == "B"; }))`, true},
		{`@(context.Request.Headers.Any((h) => h.Value.Length > 1))`, true},
	})
}

func TestBlocks(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@{ return 1; }`, int64(1)},
		{`@{ var x = 1; x = x + 2; return x; }`, int64(3)},
		{`@{ var x = 1; x += 2; x *= 3; return x; }`, int64(9)},
		{`@{ var s = "a"; s += "b"; return s; }`, "ab"},
		{`@{ var i = 1; i++; ++i; return i; }`, int64(3)},
		{`@{ string s = null; s ??= "d"; return s; }`, "d"},
		{`@{ string s = (string)context.Variables["x"]; if (s == "hello") { return "yes"; } else { return "no"; } }`, "yes"},
		{`@{ if (false) return 1; else if (true) return 2; else return 3; }`, int64(2)},
		{`@{ var n = 0; if (n > 0) { n = 1; } return n; }`, int64(0)},
		{`@{ var total = 0; foreach (var s in "a,bb,ccc".Split(',')) { total += s.Length; } return total; }`, int64(6)},
		{`@{ foreach (var s in "a,bb,ccc".Split(',')) { if (s.Length == 2) { return s; } } return "none"; }`, "bb"},
		{`@{ var n = 0; foreach (var s in "a,b,c".Split(',')) { if (s == "b") { continue; } n++; } return n; }`, int64(2)},
		{`@{ var n = 0; foreach (var s in "a,b,c".Split(',')) { if (s == "b") { break; } n++; } return n; }`, int64(1)},
		{`@{ var o = new JObject(); o["a"] = 1; o["b"] = new JArray("x", "y"); o.Add("c", true); return o.ToString(Formatting.None); }`, `{"a":1,"b":["x","y"],"c":true}`},
		{`@{ var o = new JObject(new JProperty("name", "n"), new JProperty("v", 2)); return o.ToString(Formatting.None); }`, `{"name":"n","v":2}`},
		{`@{ var a = new JArray(); a.Add(1); a.Add("two"); return a.ToString(Formatting.None); }`, `[1,"two"]`},
		{`@{ var body = context.Request.Body.As<JObject>(); body.Remove("nested"); body["count"] = (int)body["count"] + 1; return body["count"]; }`, int64(4)},
		{`@{ var body = context.Request.Body.As<JObject>(); body["tags"][0] = "z"; return body["tags"][0]; }`, "z"},
		{`@{ // comment
			/* block */ return "c"; }`, "c"},
		{`@{ var jwt = context.Request.Headers.GetValueOrDefault("Authorization", "").Replace("Bearer ", "").AsJwt(); if (jwt == null) { return "anonymous"; } return jwt.Subject; }`, "alice"},
		{`@{ var t = new JObject(); t["when"] = DateTime.UtcNow; return t.ToString(Formatting.None); }`, `{"when":"2026-11-21T12:00:00Z"}`},
		{`@{ var x = 1; { var y = 2; x += y; } return x; }`, int64(3)},
	})
}

func TestEvalStringAndBool(t *testing.T) {
	ctx := testContext()
	for _, c := range []struct{ src, want string }{
		{`@(true)`, "True"},
		{`@(1 == 2)`, "False"},
		{`@(null)`, ""},
		{`@(42)`, "42"},
		{`@(2.50)`, "2.5"},
		{`@(TimeSpan.FromHours(2))`, "02:00:00"},
		{`@(context.Timestamp)`, "11/21/2026 12:00:00"},
		{`@("a,b".Split(','))`, "System.String[]"},
		{`@(new JObject(new JProperty("a", 1)))`, "{\n  \"a\": 1\n}"},
	} {
		p, err := Compile(c.src)
		if err != nil {
			t.Fatalf("Compile(%s): %v", c.src, err)
		}
		got, err := p.EvalString(ctx)
		if err != nil || got != c.want {
			t.Errorf("EvalString(%s) = %q, %v; want %q", c.src, got, err, c.want)
		}
	}
	p, _ := Compile(`@(context.Response.StatusCode == 502)`)
	if b, err := p.EvalBool(ctx); err != nil || !b {
		t.Errorf("EvalBool = %v, %v", b, err)
	}
	p, _ = Compile(`@("x")`)
	if _, err := p.EvalBool(ctx); err == nil {
		t.Error("EvalBool of a string: no error")
	}
	if !IsExpression("  @(x)") || !IsExpression("@{ return 1; }") || IsExpression("plain") || IsExpression("a@(x)") {
		t.Error("IsExpression is wrong")
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		src    string
		offset int
		msg    string
	}{
		{`@(context.Reqest)`, 10, "does not contain a definition for 'Reqest'"},
		{`@(context.request.Method)`, 10, "did you mean 'Request'?"},
		{`@("a".toUpper())`, 6, "did you mean 'ToUpper'?"},
		{`@(context.Request.Headers.GetValue("x"))`, 26, "does not contain a method 'GetValue'"},
		{`@(context.Request.Headers.GetValueOrDefault("a", "b", "c"))`, 26, "takes 3 arguments"},
		{`@(foo.Bar)`, 2, "the name 'foo' does not exist"},
		{`@((Jwt)"abc")`, 2, "cannot convert type 'string' to 'Jwt'"},
		{`@((int)"5")`, 2, "cannot convert type 'string' to 'int'"},
		{`@(1 +)`, 5, "expected an expression"},
		{`@(1`, 3, "expected ')'"},
		{`@("abc`, 2, "unterminated string"},
		{`@(context.Request.Method.Lenght)`, 25, "does not contain a definition for 'Lenght'"},
		{`@(context.Request.Method())`, 18, "is a property"},
		{`@(context.Request.Headers.GetValueOrDefault)`, 26, "call it with ()"},
		{`@(context.Request.Body.As<int>())`, 23, "As<int> is not supported"},
		{`@(context.Request.Body.As())`, 23, "type argument"},
		{`@{ return 1 }`, 12, "expected ';'"},
		{`@{ var x = 1; }`, 14, "not all code paths return a value"},
		{`@{ var x = 1; var x = 2; return x; }`, 14, "already defined"},
		{`@{ return y; }`, 10, "the name 'y' does not exist"},
		{`@{ lock (context) { } return 1; }`, 3, "'lock' statements are not supported"},
		{`@(h => h)`, 2, "only allowed as a method argument"},
		{`@(true + 1)`, 7, "operator '+' cannot be applied to operands of type 'bool' and 'int'"},
		{`@("a" < "b")`, 6, "operator '<' cannot be applied"},
		{`@(!"a")`, 3, "cannot implicitly convert type 'string' to 'bool'"},
		{`@(1 ? 2 : 3)`, 2, "cannot implicitly convert type 'int' to 'bool'"},
		{`@(context.Api.Id = "x")`, 14, "read-only"},
		{`@(DateTime)`, 2, "is a type"},
		{`@(DateTime.Utcnow)`, 11, "does not contain a definition for 'Utcnow'"},
		{`@(new Foo())`, 6, "'new Foo' is not supported"},
		{`@("a".Contains(1))`, 15, "cannot convert from 'int' to 'string'"},
		{`@(context.Request.Headers[0])`, 26, "must be of type 'string'"},
		{`@(context.Request[0])`, 17, "cannot apply indexing"},
		{`@(typeof(string))`, 2, "'typeof' is not supported"},
		{`@(x)`, 2, "the name 'x' does not exist"},
		{`plain`, 0, `starts with "@(" or "@{"`},
		{`@(1) 2`, 5, "unexpected"},
		{`@("a".Replace("a"))`, 6, "takes 1 arguments"},
		{`@(context.Variables.GetValueOrDefault<int>("n", "x"))`, 20, "does not match"},
		{`@(context.Request.Body.As<string>(preserve: true))`, 34, "no parameter named 'preserve'"},
		{`@((Foo)x)`, 3, "cannot cast to 'Foo'"},
		{`@($"{}")`, 4, "empty interpolation hole"},
		{`@($"{1 +}")`, 8, "expected an expression"},
		{`@{ foreach (var s in "a".Split(',')) { var b = "a".Split(',').Any(x => { break; }); } return 1; }`, 73, "no enclosing loop"},
	}
	for _, c := range cases {
		_, err := Compile(c.src)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%s) error = %v, want a *SyntaxError", c.src, err)
			continue
		}
		if se.Offset != c.offset || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("Compile(%s) = offset %d %q, want offset %d containing %q", c.src, se.Offset, se.Msg, c.offset, c.msg)
		}
	}
}

func TestRuntimeErrors(t *testing.T) {
	cases := []struct {
		src string
		msg string
	}{
		{`@(context.Variables["missing"])`, "The given key 'missing' was not present in the dictionary."},
		{`@(context.Request.Headers["X-Missing"])`, "The given key 'X-Missing' was not present in the dictionary."},
		{`@((Jwt)context.Variables["x"])`, "Unable to cast object of type 'string' to type 'Jwt'."},
		{`@((int)context.Variables["x"])`, "Unable to cast object of type 'string' to type 'int'."},
		{`@((int)context.Variables["nil"])`, "Object reference not set to an instance of an object."},
		{`@(1 / (context.Variables.Count - context.Variables.Count))`, "Attempted to divide by zero."},
		{`@("abc".Substring(5))`, "startIndex cannot be larger than length of string."},
		{`@("abc".Split(',')[3])`, "Index was outside the bounds of the array."},
		{`@(int.Parse("x"))`, "Input string was not in a correct format."},
		{`@(context.Variables["x"].Nope)`, "'string' does not contain a definition for 'Nope'"},
		{`@(context.Variables["x"].Nope())`, "'string' does not contain a method 'Nope'"},
		{`@(context.Variables["n"][0])`, "cannot apply indexing"},
		{`@("a,b".Split(',').First(s => s == "z"))`, "Sequence contains no matching element."},
		{`@("a,a".Split(',').Single(s => s == "a"))`, "more than one matching element"},
		{`@(((IResponse)context.Variables["tokenResponse"]).Body.As<JArray>())`, "not a JSON array"},
		{`@(context.Variables["x"] == "hello" && context.Variables["nil"])`, "Nullable object must have a value."},
		{`@(DateTime.Parse("not a date"))`, "String was not recognized as a valid DateTime."},
		{`@(Convert.FromBase64String("!!"))`, "not a valid Base-64 string"},
		{`@("a".Replace("", "b"))`, "String cannot be of zero length."},
		{`@(context.Variables["x"] > 1)`, "Operator '>' cannot be applied"},
		{`@("abc".Contains(context.Variables.GetValueOrDefault<string>("nope")))`, "Value cannot be null."},
	}
	ctx := testContext()
	for _, c := range cases {
		p, err := Compile(c.src)
		if err != nil {
			t.Errorf("Compile(%s): %v", c.src, err)
			continue
		}
		v, err := p.Eval(ctx)
		var re *RuntimeError
		if !errors.As(err, &re) {
			t.Errorf("Eval(%s) = %v, %v; want a *RuntimeError", c.src, v, err)
			continue
		}
		if !strings.Contains(re.Msg, c.msg) {
			t.Errorf("Eval(%s) error %q, want it to contain %q", c.src, re.Msg, c.msg)
		}
		if re.Offset <= 0 || re.Offset >= len(c.src) {
			t.Errorf("Eval(%s) error offset %d is outside the expression", c.src, re.Offset)
		}
	}
}

func TestRuntimeErrorOffset(t *testing.T) {
	src := `@(context.Subscription.Id)`
	p, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext()
	ctx.Subscription = nil
	_, err = p.Eval(ctx)
	var re *RuntimeError
	if !errors.As(err, &re) || src[re.Offset:re.Offset+2] != "Id" {
		t.Fatalf("error %v: want the offset of 'Id'", err)
	}
}

func TestLimits(t *testing.T) {
	ctx := testContext()
	// Step budget: nested loops over a 1000-element array would take 1e6 steps.
	src := `@{ var a = "` + strings.Repeat("x,", 999) + `x".Split(','); var n = 0; foreach (var i in a) { foreach (var j in a) { n++; } } return n; }`
	p, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(ctx); err == nil || !strings.Contains(err.Error(), "step budget") {
		t.Errorf("step budget not enforced: %v", err)
	}
	// String growth: doubling a string passes 1 MiB quickly.
	p, err = Compile(`@{ var s = "xxxxxxxxxxxxxxxx"; foreach (var i in "` + strings.Repeat("a,", 40) + `a".Split(',')) { s = s + s; } return s.Length; }`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(ctx); err == nil || !strings.Contains(err.Error(), "larger than allowed") {
		t.Errorf("string growth not bounded: %v", err)
	}
	// Body size is bounded.
	big := &Context{Request: &Request{Body: &Body{Load: func() ([]byte, error) { return make([]byte, 100), nil }, Limit: 10}}}
	p, _ = Compile(`@(context.Request.Body.As<string>())`)
	if _, err := p.Eval(big); err == nil || !strings.Contains(err.Error(), "larger than 10 bytes") {
		t.Errorf("body limit not enforced: %v", err)
	}
	// Deep nesting is refused at compile time, not by a stack overflow.
	if _, err := Compile("@(" + strings.Repeat("(", 10000) + "1" + strings.Repeat(")", 10000) + ")"); err == nil {
		t.Error("deep nesting compiled")
	}
	// A nil context is not a panic.
	p, _ = Compile(`@(context.Request.Method)`)
	if _, err := p.Eval(nil); err == nil {
		t.Error("nil context: no error")
	}
}

func TestProgramConcurrentUse(t *testing.T) {
	p, err := Compile(`@{ var h = context.Request.Headers.GetValueOrDefault("X-Id", "none"); var n = 0; foreach (var s in "a,b,c".Split(',')) { n++; } return h + n; }`)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			ctx := testContext()
			for i := 0; i < 200; i++ {
				v, err := p.Eval(ctx)
				if err != nil || v != "abc3" {
					done <- errors.New("wrong result")
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestBodyReadErrorAndHeadersLive(t *testing.T) {
	h := http.Header{}
	ctx := &Context{Request: &Request{Headers: Headers(h), Body: &Body{Load: func() ([]byte, error) { return nil, errors.New("boom") }}}}
	p, _ := Compile(`@(context.Request.Headers.GetValueOrDefault("X-Late", "none"))`)
	if v, _ := p.Eval(ctx); v != "none" {
		t.Fatalf("got %v", v)
	}
	h.Set("X-Late", "now") // a set-header after compile is visible
	if v, _ := p.Eval(ctx); v != "now" {
		t.Fatalf("got %v, want the live header", v)
	}
	p, _ = Compile(`@(context.Request.Body.As<string>())`)
	if _, err := p.Eval(ctx); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("body error not reported: %v", err)
	}
}

func TestParseJwt(t *testing.T) {
	j, err := ParseJwt(testToken)
	if err != nil {
		t.Fatal(err)
	}
	if j.Subject != "alice" || j.Issuer != "https://idp" || len(j.Audiences) != 2 || j.ExpirationTime == nil || j.Header["kid"] != "k1" {
		t.Errorf("bad parse: %+v", j)
	}
	for _, bad := range []string{"", "a.b", "a.b.c", "Bearer " + testToken, makeJWT(`[1]`), makeJWT(`not json`)} {
		if _, err := ParseJwt(bad); err == nil {
			t.Errorf("ParseJwt(%q): no error", bad)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	v, err := ParseJSON([]byte(`{"b":1,"a":[true,null,"s",1.5,{"z":{}}],"c":"<&>"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := v.(*JObject).MarshalJSON()
	if string(got) != `{"b":1,"a":[true,null,"s",1.5,{"z":{}}],"c":"<&>"}` {
		t.Errorf("round trip = %s", got)
	}
	for _, bad := range []string{``, `{`, `{"a":1} x`, `[1,]`, strings.Repeat("[", 300) + strings.Repeat("]", 300)} {
		if _, err := ParseJSON([]byte(bad)); err == nil {
			t.Errorf("ParseJSON(%q): no error", bad)
		}
	}
}

// Hostile expressions end in an error or a value, never a panic, a hang or
// unbounded memory.
func TestHostileExpressions(t *testing.T) {
	ctx := testContext()
	for _, c := range []struct{ src, errPart string }{
		{`@{ var o = new JObject(); o["a"] = o; return o.ToString(Formatting.None); }`, ""},
		{`@{ var a = new JArray(); a.Add(a); a.Add(a); return a.ToString(Formatting.None); }`, ""},
		{`@{ var a = new JArray(); a.Add(1); foreach (var i in "` + strings.Repeat("x,", 60) + `x".Split(',')) { var b = new JArray(); b.Add(a); b.Add(a); a = b; } return a.ToString(); }`, "larger than allowed"},
		{`@("x".PadLeft(100000000))`, "larger than allowed"},
		{`@(new string[] {"a"}[5])`, "Index was outside"},
		{`@("abc"[-1])`, "Index was outside"},
		{`@("abc"[3])`, "Index was outside"},
		{`@((int)1e300)`, "Unable to cast"},
		{`@(long.MinValue / -1)`, ""},
		{`@(long.MinValue % -1)`, ""},
		{`@(TimeSpan.FromDays(1e300))`, "TimeSpan overflowed"},
		{`@(DateTime.MaxValue.AddYears(100000))`, "un-representable"},
		{`@(new DateTime(2025, 2, 30))`, "un-representable"},
		{`@(Math.Round(1.5, 16))`, "Rounding digits"},
		{`@(1.5.ToString("E"))`, ""},
		{`@(42.ToString("D999"))`, "Input string"}, // precision above 99 is refused
		{`@(String.Format("{5}", 1))`, "Index (zero based)"},
		{`@(String.Format("{0", 1))`, "Input string"},
		{`@(context.Request.Headers.First().Value[9])`, "Index was outside"},
		{`@("a".Substring(0, -1))`, "Index and length"},
		{`@("é".Substring(1))`, ""},
		{`@("é".Substring(2))`, "startIndex"},
		{`@(new TimeSpan(1))`, ""},
		{`@(Convert.ToInt32(null))`, ""},
		{`@(context.Variables["list"][1])`, ""},
		{`@(JObject.Parse("[1]"))`, "not a JObject"},
		{`@(TimeSpan.Parse("99:99"))`, "Input string"},
		{`@(context.Variables.GetValueOrDefault<Jwt>("x"))`, "Unable to cast"},
	} {
		p, err := Compile(c.src)
		if err != nil {
			t.Errorf("Compile(%s): %v", c.src, err)
			continue
		}
		v, err := p.EvalString(ctx)
		switch {
		case err != nil && strings.Contains(err.Error(), "internal error"):
			t.Errorf("Eval(%s) panicked: %v", c.src, err)
		case c.errPart == "" && err != nil:
			t.Errorf("Eval(%s): %v", c.src, err)
		case c.errPart != "" && (err == nil || !strings.Contains(err.Error(), c.errPart)):
			t.Errorf("Eval(%s) = %.40q, %v; want an error containing %q", c.src, v, err, c.errPart)
		}
	}
}

func TestTypedLocalsHoldTheirType(t *testing.T) {
	ctx := testContext()
	ctx.Variables["nilJwt"] = (*Jwt)(nil)
	ctx.Variables["goInt"] = 7
	runEvalCases(t, ctx, []evalCase{
		{`@{ double d = 1; return d; }`, 1.0},
		{`@(context.Request.Headers.GetValueOrDefault("X-None", context.Variables["n"]).Length)`, int64(2)},
		{`@(context.Variables.GetValueOrDefault<string>("none", context.Variables["n"]).Length)`, int64(2)},
		{`@{ string s = context.Variables["x"]; return s.Length; }`, int64(5)},
		{`@{ int n = 0; n += context.Variables["d"]; return n; }`, int64(2)},
		{`@(((Jwt)context.Variables["nilJwt"])?.Subject ?? "none")`, "none"},
		{`@(context.Variables["nilJwt"] == null)`, true},
		{`@((int)context.Variables["goInt"] + 1)`, int64(8)},
	})
	for _, src := range []string{
		`@{ string s = context.Variables["jwt"]; return s.Length; }`,
		`@{ DateTime d = DateTime.UtcNow; d = context.Variables["x"]; return d.Year; }`,
	} {
		p, err := Compile(src)
		if err != nil {
			t.Fatalf("Compile(%s): %v", src, err)
		}
		_, err = p.Eval(ctx)
		if err == nil || strings.Contains(err.Error(), "internal error") {
			t.Errorf("Eval(%s) = %v, want a cast error", src, err)
		}
	}
}

func TestResultType(t *testing.T) {
	for src, want := range map[string]string{
		`@(context.Response.StatusCode >= 500)`:       "bool",
		`@(context.Request.Method)`:                   "string",
		`@(context.Variables["x"])`:                   "object",
		`@(1 + 2)`:                                    "int",
		`@(null)`:                                     "object",
		`@{ if (true) { return "a"; } return null; }`: "string",
		`@{ if (true) { return "a"; } return 1; }`:    "object",
		`@{ var b = "a,b".Split(',').Any(s => { return s == "a"; }); return b; }`: "bool",
		`@(context.Request.Body.As<JObject>())`:                                   "JObject",
	} {
		p, err := Compile(src)
		if err != nil {
			t.Fatalf("Compile(%s): %v", src, err)
		}
		if got := p.ResultType(); got != want {
			t.Errorf("ResultType(%s) = %s, want %s", src, got, want)
		}
	}
}

func TestDocumentedExtras(t *testing.T) {
	long := `@("a,b"` + strings.Repeat(`.Split(',').First()`, 60) + `)`
	runEvalCases(t, testContext(), []evalCase{
		{`@(Newtonsoft.Json.Linq.JObject.Parse("{\"a\":[1]}")["a"][0])`, int64(1)},
		{`@(Math.Sqrt(16))`, 4.0},
		{`@{ if (DateTime.TryParse("2026-01-01", out var d)) { return d.Year; } return 0; }`, int64(2026)},
		{`@((int?)context.Variables.GetValueOrDefault("missing") ?? 7)`, int64(7)},
		{`@(String.Compare("a", "b"))`, int64(-1)},
		{`@(context.Subscription!.Id)`, "sub1"},
		{`@(JObject.FromObject("a,b".Split(',')).ToString(Formatting.None))`, `["a","b"]`},
		{`@(new JArray("a,b".Split(',')).Count)`, int64(2)},
		{`@(DateTime.UtcNow.Date.TimeOfDay.TotalSeconds)`, 0.0},
		{`@("a b\tc".Split())`, []string{"a", "b", "c"}},
		{`@(" a , b ".Split(',', StringSplitOptions.TrimEntries))`, []string{"a", "b"}},
		{long, "a"},
		{`@(Regex.IsMatch("abc-123", "^[a-z]+-\\d+$"))`, true},
		{`@(Regex.IsMatch("ABC", "abc", RegexOptions.IgnoreCase))`, true},
		{`@(Regex.Match("id=42;", "id=(\\d+)").Groups[1].Value)`, "42"},
		{`@(Regex.Match("x", "(\\d+)").Success)`, false},
		{`@(((object)Regex.Match("ab", "(a)(b)")).Groups[2].Value)`, "b"},
		{`@(Regex.Replace("a1b22", "\\d+", "#"))`, "a#b#"},
		{`@(Regex.Replace("john smith", "(\\w+) (\\w+)", "$2x $1"))`, "smithx john"},
		{`@(Regex.Escape("a.b"))`, `a\.b`},
		{`@("Basic dXNlcjpwYXNz".AsBasic().Username)`, "user"},
		{`@("Basic dXNlcjpwYXNz".AsBasic().Password)`, "pass"},
		{`@("Bearer x".AsBasic()?.Username ?? "none")`, "none"},
	})
	p, err := Compile(`@(Regex.IsMatch("a", "(?<=a)b"))`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(testContext()); err == nil || !strings.Contains(err.Error(), "invalid pattern") {
		t.Errorf("lookbehind: %v, want an invalid pattern error", err)
	}
}
