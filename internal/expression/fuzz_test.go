package expression

import (
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject)`,
	`@(((Jwt)context.Variables["jwt"]).Claims["roles"].Contains("Reader"))`,
	`@(context.Request.Headers["Authorization"][0].Replace("Bearer ", ""))`,
	`@("Bearer " + ((Authorization)context.Variables.GetValueOrDefault("auth-context"))?.AccessToken)`,
	`@(context.LastError.Source == "validate-jwt")`,
	`@{ var body = context.Request.Body.As<JObject>(preserveContent: true); body["x"] = "y"; return body.ToString(); }`,
	`@($"{context.Request.Method} {context.Request.Url.Path}")`,
	`@(context.Variables.GetValueOrDefault<int>("n", 0) + 1)`,
	`@((string)context.Variables["x"])`,
	`@(DateTime.UtcNow.AddMinutes(5).ToString("o"))`,
	`@(Convert.ToBase64String(Encoding.UTF8.GetBytes("a:b")))`,
	`@(context.Request.Url.Query.GetValueOrDefault("q", ""))`,
	`@(context.Subscription?.Id ?? "anonymous")`,
	`@(context.Request.IpAddress)`,
	`@(context.Response.StatusCode >= 500)`,
	`@(((IResponse)context.Variables["tokenResponse"]).Body.As<JObject>()["access_token"].ToString())`,
	`@(context.Request.Headers.Any(h => h.Key.StartsWith("X-")))`,
	`@(String.IsNullOrEmpty((string)context.Variables["x"]))`,
	`@{ if (int.TryParse("12", out var n)) { return n; } return 0; }`,
	`@{ var t = 0; foreach (var s in "a,b".Split(',')) { if (s == "b") { break; } t += s.Length; } return t; }`,
	`@{ var o = new JObject(new JProperty("a", 1)); o["b"] = new JArray(1, "x"); return o.ToString(Formatting.None); }`,
	`@($"{DateTime.UtcNow:yyyy-MM-dd} {(1 > 0 ? "a" : "b")} {{x}}")`,
	`@("a,b,c".Split(',').Select(s => s.ToUpper()).Where(s => s != "B").FirstOrDefault())`,
	`@(TimeSpan.FromSeconds(90).TotalMinutes * 2 - 1 / 3.0 % 2)`,
	`@(context.Variables["n"] is string ? 1 : context.Variables["n"] as string ?? "z")`,
	`@(String.Format("{0:D3}-{1}", 7, "x") + 'c' + @"v""q" + 0x1F + 1e3 + 10L)`,
	`@{ string s = null; s ??= "d"; var i = 1; i++; --i; return s + i; }`,
	`@(-(1) + ~2 & 3 | 4 ^ 5)`,
	`@(!true || false && 1 < 2 == true != false)`,
	`@(context.Request.Body.As<JObject>().SelectToken("$.a[0]['b']"))`,
	`@(Regex.Match("id=42", "id=(\\d+)", RegexOptions.IgnoreCase).Groups[1].Value + "Basic dTpw".AsBasic()?.Username)`,
	`@($"{"x",-4}|{42,5:D3}")`,
	`@{ using (var h = new HMACSHA256(Convert.FromBase64String("a2V5"))) { return Convert.ToBase64String(h.ComputeHash(Encoding.UTF8.GetBytes("m"))); } }`,
	`@(BitConverter.ToString(SHA256.Create().ComputeHash(Encoding.Unicode.GetBytes("x"))).Replace("-", "") + Convert.ToHexString(MD5.HashData(new byte[] {1, 2})))`,
	`@{ var aes = Aes.Create(); aes.Mode = CipherMode.CBC; aes.Padding = PaddingMode.PKCS7; var c = new byte[16].Encrypt(aes); return Encoding.UTF8.GetString(c.Decrypt("Aes", aes.Key, aes.IV)); }`,
	`@(new Uri(new Uri("https://h.example/a/"), "b?c=1").GetLeftPart(UriPartial.Path) + new Random(1).Next(1, 9) + context.Request.Url.ToUri().Port)`,
	`@(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()).UtcDateTime + TimeSpan.FromHours(1) * 1.5 / 2)`,
	`@(String.Join(",", Regex.Matches("a1b2", @"(?<d>\d)").Cast<Match>().Select(m => m.Groups["d"].Value)) + Regex.Replace("ab", "(a)", m => m.Value.ToUpper()))`,
	`@(context.Request.Body.As<JObject>().SelectTokens("$..b[?(@ > 1 && @ != 'x')]").Count() + ((JObject)context.Request.Body.As<JObject>().DeepClone()).Properties().Count())`,
	`@{ var o = JObject.Parse("{\"a\":[1]}"); o.Property("a").Value = new JArray(2); o.Merge(new JObject(new JProperty("b", 1))); ((JArray)o["a"]).Insert(0, 5); return o.ToString(Formatting.None); }`,
	`@{ var f = context.Request.Body.AsFormUrlEncodedContent(preserveContent: true); f["k"] = "v w"; f.Remove("x"); return f.ToFormUrlEncodedContent(); }`,
	`@{ XNamespace ns = "urn:x"; var d = XDocument.Parse("<a xmlns='urn:x'><b k='1'>t</b></a>"); d.Root.Element(ns + "b").SetAttributeValue("k", 2); return d.Root.Descendants().First().ToString() + (string)d.Root.Element(ns + "b").Attribute("k"); }`,
	`@(new XElement("r", new XAttribute("a", 1), new[] {"x", "y"}.Select(s => new XElement("i", s))).ToString(SaveOptions.DisableFormatting))`,
	`@{ using System.Text; using var s = SHA1.Create(); return $@"{s.HashSize:D4} {{x}} ""q""" + context.Request.Headers.GetValueOrDefault("Authorization", "").AsBasic()?.UserId; }`,
	"@{\u00a0var\u2003n = 1;\u00a0return n; }",
	`@{ System.Security.Cryptography.HMACSHA256 h = new System.Security.Cryptography.HMACSHA256 { Key = new byte[] {1} }; System.Collections.Generic.List<string> l = new List<string> { "a" }; return h.HashSize + l.Count; }`,
	`@{ var b = new byte[4]; long t = 0x0102030405; unchecked { b[0] = (byte)(t >> 8); b[1] = (byte)t; } Array.Copy(b, 0, b, 2, 2); return checked(b[0] << 2) + unchecked((int)t); }`,
	`@(new JObject { { "a", 1 }, { "b", new JArray { 1, "x" } } }.ToString() + new JObject { ["c"] = 2 } + new Dictionary<string, string> { ["k"] = "v" }.Count)`,
	`@(Array.Exists(context.Request.Headers["Accept"], a => a.Contains("json")) && Array.IndexOf(new[] {"x"}, "x") == Array.FindIndex(Array.Empty<string>(), s => true) + 1)`,
	`@(new Random(context.RequestId.GetHashCode()).Next(1, 3) + new Guid(Guid.NewGuid().ToByteArray()).GetHashCode())`,
	`@{ var o = new JObject(); try { o["a"] = JToken.Parse("{"); } catch (Exception ex) { o["e"] = ex.Message; } finally { o["f"] = 1; } if (o.Count > 5) { throw new Exception("x"); } return o; }`,
	`@{ int Fib(int n) => n < 2 ? n : Fib(n - 1) + Fib(n - 2); void Note(JObject o, string k) { o[k] = Fib(5); } var r = new JObject(); Note(r, "f"); return r.ToString(); }`,
	`@{ var o = new { error = new { code = "x", n = 1 }, context.Request.Method }; int d = 0; var a = "ab"; for (int i = 0; i < a.Length; i++) { d |= a[i] ^ 'b'; } return JsonConvert.SerializeObject(o) + o.error.code + d; }`,
}

func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src)
		if err != nil {
			se, ok := err.(*SyntaxError)
			if !ok {
				t.Fatalf("Compile(%q) returned %T, want *SyntaxError", src, err)
			}
			if strings.Contains(se.Msg, "internal compiler error") {
				t.Fatalf("Compile(%q): %v", src, err)
			}
			if se.Offset < 0 || se.Offset > len(src) {
				t.Fatalf("Compile(%q): offset %d outside the source", src, se.Offset)
			}
			return
		}
		if p == nil {
			t.Fatal("nil program without error")
		}
	})
}

func FuzzEval(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src)
		if err != nil {
			return
		}
		_, err = p.Eval(testContext())
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("Eval(%q): %v", src, err)
		}
	})
}

// FuzzParseXML: XML bodies (As<XDocument>) never panic the parser, and what
// it prints parses back to the same text.
func FuzzParseXML(f *testing.F) {
	for _, s := range []string{
		`<a x="1"><b>t &amp; u</b><c/></a>`,
		`<?xml version="1.0"?><p:a xmlns:p="urn:p" xmlns="urn:d"><p:b p:k="v"/><c>x<d/>y</c><!--c--></p:a>`,
		`<a><![CDATA[<x>]]></a>`,
		`<a xmlns="urn:x"><b xmlns=""/></a>`,
		`<a>&#x41;&lt;</a>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseXML(nil, s)
		if err != nil {
			return
		}
		out := d.text(false)
		d2, err := parseXML(nil, out)
		if err != nil {
			t.Fatalf("parseXML(%q) printed %q, which does not parse: %v", s, out, err)
		}
		if out2 := d2.text(false); out2 != out {
			t.Fatalf("parseXML(%q): printed %q, then %q", s, out, out2)
		}
	})
}

// FuzzParseForm: form bodies (AsFormUrlEncodedContent) never panic the
// parser, and encoding what it read reads back the same.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"a=1&b=x+y&a=2", "k=%2F%zz", "=&&x", "a%20b=c%3Dd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fd, err := parseForm(s)
		if err != nil {
			return
		}
		enc := fd.encode()
		fd2, err := parseForm(enc)
		if err != nil {
			t.Fatalf("parseForm(%q) encoded as %q, which does not parse: %v", s, enc, err)
		}
		if enc2 := fd2.encode(); enc2 != enc {
			t.Fatalf("parseForm(%q): encoded %q, then %q", s, enc, enc2)
		}
	})
}
