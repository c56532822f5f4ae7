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

func TestGetHashCodeAndGuidBytes(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@("abc".GetHashCode() == "ab".Insert(2, "c").GetHashCode())`, true},
		{`@(context.RequestId.GetHashCode() == context.RequestId.GetHashCode())`, true},
		{`@(5.GetHashCode())`, int64(5)},
		{`@(Guid.Empty.GetHashCode() + true.GetHashCode())`, int64(1)},
		{`@{ var o = new JObject(); object p = o; return o.GetHashCode() == p.GetHashCode(); }`, true},
		{`@{ var r = new Random("req-1".GetHashCode()).Next(1, 3); return r >= 1 && r < 3; }`, true},
		{`@(new Random(Guid.NewGuid().GetHashCode()).Next(5, 6))`, int64(5)},
		{`@(Guid.Parse("00112233-4455-6677-8899-aabbccddeeff").ToByteArray()[0])`, int64(0x33)},
		{`@(BitConverter.ToString(Guid.Parse("00112233-4455-6677-8899-aabbccddeeff").ToByteArray()))`, "33-22-11-00-55-44-77-66-88-99-AA-BB-CC-DD-EE-FF"},
		{`@(new Guid(Guid.Parse("00112233-4455-6677-8899-aabbccddeeff").ToByteArray()).ToString())`, "00112233-4455-6677-8899-aabbccddeeff"},
		{`@(new Guid("00112233-4455-6677-8899-aabbccddeeff") == Guid.Parse("00112233445566778899aabbccddeeff"))`, true},
	})
	runErrCases(t, [][2]string{
		{`@(new Guid(new byte[15]))`, "must be exactly 16 bytes"},
		{`@(new Guid(5))`, "not int"},
	})
}
