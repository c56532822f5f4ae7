package expression

import (
	"strings"
	"testing"
)

// Constructs that APIM policy documents found in the wild use.

func TestUnicodeWhitespace(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{"@{\u00a0var\u00a0n = 2;\u2003return\tn\f*\v3;\u2028}", int64(6)},
		{"\u00a0@(\u3000\"a\"\u202f+ \"b\")\u00a0", "ab"},
	})
	if _, err := Compile("@(1 \u200b+ 1)"); err == nil {
		t.Error("a zero-width space (Cf, not Zs) compiled as white space")
	}
}

func TestQualifiedTypeNames(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@{ System.Security.Cryptography.HMACSHA256 h = new System.Security.Cryptography.HMACSHA256(new byte[] {7}); return h.ComputeHash(new byte[0]).Length; }`, int64(32)},
		{`@{ System.Collections.Generic.List<string> l = new System.Collections.Generic.List<string>(); l.Add("q"); return l.Count; }`, int64(1)},
		{`@{ System.Collections.Generic.Dictionary<string, Newtonsoft.Json.Linq.JObject> d = new Dictionary<string, JObject>(); return d.Count; }`, int64(0)},
		{`@{ byte[] b = new byte[3]; System.String[] s = new string[] {"x"}; return b.Length + s.Length; }`, int64(4)},
		{`@{ System.Int32 n = 4; Newtonsoft.Json.Linq.JObject o = new Newtonsoft.Json.Linq.JObject(); o["n"] = n; return (System.String)o["n"].ToString(); }`, "4"},
		{`@{ var n = 0; foreach (System.String s in "a,b".Split(',')) { n++; } return n; }`, int64(2)},
		{`@{ using (System.Security.Cryptography.SHA256 h = System.Security.Cryptography.SHA256.Create()) { return h.HashSize; } }`, int64(256)},
		{`@((System.Int64)2.5)`, int64(2)},
	})
	for _, c := range [][2]string{
		{`@{ System.Foo.JObject o = null; return 1; }`, "the type 'System.Foo.JObject' is not supported"},
		{`@(new System.Nope.Thing())`, "'new System' is not supported"},
		{`@{ System.Collections.Generic.List l = null; return 1; }`, ""},
	} {
		if _, err := Compile(c[0]); err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("Compile(%s) error = %v, want %q", c[0], err, c[1])
		}
	}
}
