package expression

import "testing"

func TestUriAndRandom(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(new Uri("https://Api.Example.com/a/b.json?x=1&y=2#frag").Host)`, "api.example.com"},
		{`@(new Uri("https://api.example.com/a/b.json?x=1&y=2#frag").AbsolutePath)`, "/a/b.json"},
		{`@(new Uri("https://api.example.com/a/b.json?x=1&y=2#frag").Query)`, "?x=1&y=2"},
		{`@(new Uri("https://api.example.com/a/b.json?x=1&y=2#frag").PathAndQuery)`, "/a/b.json?x=1&y=2"},
		{`@(new Uri("https://api.example.com/a/b.json?x=1&y=2#frag").Fragment)`, "#frag"},
		{`@(new Uri("https://api.example.com/a/b.json?x=1").Port)`, int64(443)},
		{`@(new Uri("http://api.example.com:8080").Authority)`, "api.example.com:8080"},
		{`@(new Uri("http://api.example.com:8080").AbsoluteUri)`, "http://api.example.com:8080/"},
		{`@(new Uri("https://api.example.com:443/x").ToString())`, "https://api.example.com/x"},
		{`@(new Uri("https://api.example.com/a/b/c").Segments.Length)`, int64(4)},
		{`@(new Uri("https://api.example.com/a/b/c").Segments[1])`, "a/"},
		{`@(new Uri("https://api.example.com/a/b?q=1").GetLeftPart(UriPartial.Path))`, "https://api.example.com/a/b"},
		{`@(new Uri("https://api.example.com/a/b?q=1").GetLeftPart(UriPartial.Authority))`, "https://api.example.com"},
		{`@(new Uri(new Uri("https://api.example.com/v1/items/"), "../orders?id=2").AbsoluteUri)`, "https://api.example.com/v1/orders?id=2"},
		{`@(new Uri("/relative/path", UriKind.Relative).IsAbsoluteUri)`, false},
		{`@(new Uri("/relative/path", UriKind.Relative).OriginalString)`, "/relative/path"},
		{`@(Uri.IsWellFormedUriString("https://x.example/a", UriKind.Absolute))`, true},
		{`@(Uri.IsWellFormedUriString("not a uri", UriKind.Absolute))`, false},
		{`@(Uri.TryCreate("https://x.example/a", UriKind.Absolute, out var u) ? u.Host : "no")`, "x.example"},
		{`@(Uri.TryCreate("nope", UriKind.Absolute, out Uri u) ? u.Host : "no")`, "no"},
		{`@(context.Request.Url.ToUri().Host)`, "api.example.com"},
		{`@(context.Api.ServiceUrl.ToUri().Port)`, int64(8080)},
		{`@(System.Uri.EscapeDataString("a b"))`, "a%20b"},
		{`@{ var r = new Random(); var n = r.Next(5, 10); return n >= 5 && n < 10; }`, true},
		{`@{ var r = new Random(); var n = r.Next(3); return n >= 0 && n < 3; }`, true},
		{`@(new Random().Next(7, 7))`, int64(7)},
		{`@(new Random().Next(1))`, int64(0)},
		{`@{ var d = new Random(42).NextDouble(); return d >= 0 && d < 1; }`, true},
		{`@(new Random(42).Next() == new Random(42).Next())`, true},
		{`@{ var b = new byte[8]; new Random().NextBytes(b); return b.Length; }`, int64(8)},
		{`@(Random.Shared.Next(2) < 2)`, true},
	})
	runErrCases(t, [][2]string{
		{`@(new Uri("not a uri").Host)`, "Invalid URI: The format of the URI could not be determined."},
		{`@(new Uri("/rel", UriKind.Relative).Host)`, "not supported for a relative URI"},
		{`@(new Random().Next(5, 1))`, "'minValue' cannot be greater than maxValue."},
		{`@(new Random().Next(-1))`, "'maxValue' must be greater than or equal to zero."},
	})
}

func TestUsing(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@{ using System.Text; using System.Security.Cryptography; return Encoding.UTF8.GetBytes("ab").Length; }`, int64(2)},
		{`@{ using (var sha = SHA256.Create()) { return sha.ComputeHash(new byte[0]).Length; } }`, int64(32)},
		{`@{ using (SHA256 sha = SHA256.Create()) return sha.HashSize; }`, int64(256)},
		{`@{ using var sha = SHA1.Create(); return sha.HashSize; }`, int64(160)},
		{`@{ using (SHA256.Create()) { } return 1; }`, int64(1)},
	})
	for _, src := range []string{
		`@{ using (var x = 1) { } return x; }`, // scoped to the statement
		`@{ using System.Text return 1; }`,
		`@{ using ( }`,
	} {
		if _, err := Compile(src); err == nil {
			t.Errorf("Compile(%s) succeeded, want an error", src)
		}
	}
}
