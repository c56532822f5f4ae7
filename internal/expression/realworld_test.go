package expression

import (
	"fmt"
	"strings"
	"testing"
	"time"
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
		{`@{ using (XmlReader r = null) { return 1; } }`, "the type 'XmlReader' is not supported"},
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

func TestShiftsAndIntegerCasts(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(1 << 10)`, int64(1024)},
		{`@(-1024 >> 3)`, int64(-128)},
		{`@(1 + 2 << 3)`, int64(24)},             // + binds tighter than <<
		{`@(1 << 2 < 5)`, true},                  // << binds tighter than <
		{`@(1L << 65)`, int64(2)},                // the count is masked to 6 bits
		{`@((byte)(0x1234L >> 4))`, int64(0x23)}, // a byte keeps the low 8 bits
		{`@((byte)(-1))`, int64(255)},
		{`@((short)70000)`, int64(4464)},
		{`@((int)4294967297L)`, int64(1)},
		{`@((long)4294967297L)`, int64(4294967297)},
		{`@{ var x = 3; x <<= 2; x >>= 1; x |= 1; x &= 7; x ^= 2; return x; }`, int64(5)},
		{`@{ var l = new List<List<string>>(); return l.Count; }`, int64(0)},
	})
	for _, c := range [][2]string{
		{`@("a" << 1)`, "operator '<<' cannot be applied to operands of type 'string' and 'int'"},
		{`@(1.5 >> 1)`, "operator '>>' cannot be applied"},
		{`@(1 > > 1)`, "expected an expression"},
	} {
		if _, err := Compile(c[0]); err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("Compile(%s) error = %v, want %q", c[0], err, c[1])
		}
	}
}

func TestCheckedUnchecked(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(unchecked((byte)300))`, int64(44)},
		{`@(unchecked(long.MaxValue + 1) == long.MinValue)`, true},
		{`@{ long v = 0x0102030405060708; var b = new byte[2]; unchecked { b[0] = (byte)(v >> 8); b[1] = (byte)v; } return b[0] * 1000 + b[1]; }`, int64(7008)},
		{`@(checked((byte)200))`, int64(200)},
		{`@(checked(2 * 3 + 1))`, int64(7)},
		{`@{ checked { var n = 5; n += 2; return n; } }`, int64(7)},
		{`@(checked(unchecked(long.MaxValue + 1) < 0))`, true}, // the inner context wins
		{`@{ long a = long.MaxValue; checked { return unchecked(a + 1) == long.MinValue; } }`, true},
	})
	runErrCases(t, [][2]string{
		{`@{ long a = long.MaxValue; return checked(a + 1); }`, "Arithmetic operation resulted in an overflow."},
		{`@{ long a = long.MinValue; return checked(a - 1); }`, "overflow"},
		{`@{ long a = long.MinValue; return checked(-a); }`, "overflow"},
		{`@{ long a = 1L << 62; return checked(a * 4); }`, "overflow"},
		{`@{ long a = -1; return checked(a * long.MinValue); }`, "overflow"},
		{`@{ var n = 300; return checked((byte)n); }`, "overflow"},
		{`@{ long a = long.MaxValue; checked { a++; } return a; }`, "overflow"},
		{`@{ var i = 4294967296L; return checked((int)i); }`, "overflow"},
	})
	for _, c := range [][2]string{
		{`@(checked(9223372036854775807 + 1))`, "overflows at compile time"},
		{`@(checked 1)`, "expected '('"},
		{`@{ unchecked return 1; }`, ""},
	} {
		if _, err := Compile(c[0]); err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("Compile(%s) error = %v, want %q", c[0], err, c[1])
		}
	}
}

func TestArrayStatics(t *testing.T) {
	ctx := testContext()
	runEvalCases(t, ctx, []evalCase{
		{`@(Array.Exists("read,write".Split(','), p => p == "write"))`, true},
		{`@(Array.Exists(new string[0], p => p.Length > 0))`, false},
		{`@(System.Array.Exists(new byte[] {1, 2}, b => b > 1))`, true},
		{`@(Array.TrueForAll(new[] {"ab", "cd"}, s => s.Length == 2))`, true},
		{`@(Array.Find(new[] {"a", "bb", "cc"}, s => s.Length == 2))`, "bb"},
		{`@(Array.Find(new[] {"a"}, s => s == "z"))`, nil},
		{`@(Array.Find(new byte[] {3}, b => b == 9))`, int64(0)},
		{`@(Array.FindIndex(new[] {"a", "b"}, s => s == "b"))`, int64(1)},
		{`@(string.Join("|", Array.FindAll(new[] {"a", "bb", "cc"}, s => s.Length == 2)))`, "bb|cc"},
		{`@(Array.FindAll(new byte[] {1, 2, 3}, b => b != 2).Length)`, int64(2)},
		{`@(Array.IndexOf(new[] {"x", "y", "x"}, "x", 1))`, int64(2)},
		{`@(Array.IndexOf(new[] {"x"}, "q"))`, int64(-1)},
		{`@{ var a = new[] {"a", "b", "c"}; Array.Reverse(a); return string.Join("", a); }`, "cba"},
		{`@{ var a = new byte[] {1, 2, 3, 4}; Array.Reverse(a, 1, 2); return BitConverter.ToString(a); }`, "01-03-02-04"},
		{`@{ var d = new byte[4]; Array.Copy(new byte[] {9, 8, 7}, 1, d, 2, 2); return BitConverter.ToString(d); }`, "00-00-08-07"},
		{`@{ var d = new string[2]; Array.Copy(new[] {"p", "q", "r"}, d, 2); return d[1]; }`, "q"},
		{`@{ var d = new object[2]; Array.Copy(new byte[] {5, 6}, d, 2); return d[1]; }`, int64(6)},
		{`@{ var a = new byte[] {1, 2, 3, 4}; Array.Copy(a, 0, a, 1, 3); return BitConverter.ToString(a); }`, "01-01-02-03"},
		{`@(Array.Empty<string>().Length + Enumerable.Empty<object>().Count())`, int64(0)},
		{`@{ var b = new byte[2]; b[1] = 200; return b[1]; }`, int64(200)},
		{`@{ var s = new[] {"a"}; s[0] = "z"; return s[0]; }`, "z"},
	})
	runErrCases(t, [][2]string{
		{`@{ Array.Copy(new byte[2], 1, new byte[2], 0, 2); return 0; }`, "Source array was not long enough"},
		{`@{ Array.Copy(new byte[2], new byte[1], 2); return 0; }`, "Destination array was not long enough"},
		{`@{ Array.Copy(new byte[2], -1, new byte[2], 0, 1); return 0; }`, "Non-negative number required"},
		{`@{ var d = new byte[1]; Array.Copy(new[] {"x"}, d, 1); return d; }`, "cannot store x in a byte"},
		{`@{ Array.Reverse(new byte[2], 1, 5); return 0; }`, "out of bounds"},
		{`@(Array.Exists((string[])null, s => true))`, "Value cannot be null"},
		{`@{ var b = new byte[1]; b[0] = 256; return b; }`, "cannot store 256 in a byte"},
	})
	for _, c := range [][2]string{
		{`@(Array.Exists("ab", c => true))`, "the first argument of 'Array.Exists' must be an array"},
		{`@(Array.Copy(new byte[1], 0, 5, 0, 1))`, "Array.Copy takes (source array, source index"},
		{`@(Array.Copy(new byte[1], 1))`, "no overload for method 'Copy' takes 2 arguments"},
		{`@(Array.Reverse(new byte[1], 1))`, "no overload for method 'Reverse' takes 2 arguments"},
		{`@(Array.Exists(new[] {"a"}, "a"))`, "must be a lambda expression"},
		{`@(Array.Exists(new[] {"a"}, s => s.Nope))`, "'string' does not contain a definition for 'Nope'"},
		{`@(Array.Sort(new[] {"a"}))`, "'Array' does not contain a method 'Sort'"},
	} {
		if _, err := Compile(c[0]); err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("Compile(%s) error = %v, want %q", c[0], err, c[1])
		}
	}
}

// The correlation-id shape: a Guid assembled from random bytes and the clock.
func TestGuidFromClockBytes(t *testing.T) {
	ctx := testContext()
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	ctx.Now = func() time.Time { return now }
	ticks := uint64(now.Unix()+62135596800) * 10_000_000
	want := ""
	for i := 0; i < 6; i++ {
		want += fmt.Sprintf("%02x", byte(ticks>>(8*i)))
	}
	want += " 16"
	runEvalCases(t, ctx, []evalCase{{`@{
		var id = new byte[16];
		Array.Copy(Guid.NewGuid().ToByteArray(), 0, id, 0, 10);
		long now = DateTime.Now.Ticks;
		byte[] tail = new byte[6];
		unchecked
		{
			tail[0] = (byte)now;
			tail[1] = (byte)(now >> 8);
			tail[2] = (byte)(now >> 16);
			tail[3] = (byte)(now >> 24);
			tail[4] = (byte)(now >> 32);
			tail[5] = (byte)(now >> 40);
		}
		Array.Copy(tail, 0, id, 10, 6);
		var g = new Guid(id);
		return g.ToString().Substring(24) + " " + g.ToByteArray().Length;
	}`, want}})
}

func TestInitializers(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@{ var h = new HMACSHA256 { Key = Encoding.UTF8.GetBytes("k") }; return Convert.ToBase64String(h.ComputeHash(new byte[0])) == Convert.ToBase64String(new HMACSHA256(Encoding.UTF8.GetBytes("k")).ComputeHash(new byte[0])); }`, true},
		{`@(new System.Security.Cryptography.HMACSHA1() { Key = new byte[] {1} }.HashSize)`, int64(160)},
		{`@(new JObject { { "a", 1 }, { "b", "x" } }.ToString(Formatting.None))`, `{"a":1,"b":"x"}`},
		{`@(new JObject { ["a"] = 1, ["b"] = new JArray { 2, "y" } }.ToString(Formatting.None))`, `{"a":1,"b":[2,"y"]}`},
		{`@(new JArray { 1, "x", true, }.Count)`, int64(3)},
		{`@(new JArray() { }.Count)`, int64(0)},
		{`@(string.Join(",", new List<string> { "a", "b" }))`, "a,b"},
		{`@(new List<string>(new[] {"x"}) { "y" }.Count)`, int64(2)},
		{`@(new Dictionary<string, string> { { "k", "v" }, { "l", "w" } }["l"])`, "w"},
		{`@(new Dictionary<string, int> { ["k"] = 2, ["k"] = 3 }["k"])`, int64(3)},
		{`@(new string[] { "a", "b" }.Length + new [] { "c" }.Length)`, int64(3)},
		{`@(new StringBuilder { Length = 0 }.Append("q").ToString())`, "q"},
		{`@{ using (var h = new HMACSHA256 { Key = new byte[] {1} }) { return h.ComputeHash(new byte[0]).Length; } }`, int64(32)},
		{`@{ var o = new JObject { ["in"] = new JObject { ["n"] = 1 }, ["list"] = new JArray { new JObject { { "k", "v" } } } }; return o.ToString(Formatting.None); }`, `{"in":{"n":1},"list":[{"k":"v"}]}`},
		{`@{ JObject Make(int n) => n == 0 ? new JObject() : new JObject { ["c"] = Make(n - 1), ["n"] = n }; return Make(2).ToString(Formatting.None); }`, `{"c":{"c":{},"n":1},"n":2}`},
	})
	runErrCases(t, [][2]string{
		{`@(new Dictionary<string, string> { { "k", "v" }, { "k", "w" } })`, "An item with the same key has already been added"},
		{`@(new HMACSHA256 { Key = null })`, "takes a byte[] key"},
	})
	for _, c := range [][2]string{
		{`@(new HMACSHA256 { Nope = 1 })`, "does not contain a definition for 'Nope'"},
		{`@(new HMACSHA256 { HashSize = 1 })`, "the property 'HashSize' is read-only"},
		{`@(new HMACSHA256 { Key = "x" })`, "cannot implicitly convert type 'string' to 'byte[]'"},
		{`@(new JObject { { "a", 1, 2 } })`, "no overload for method 'Add' takes 3 arguments"},
		{`@(new JObject { { } })`, "an element initializer cannot be empty"},
		{`@(new JObject { ["a"] = 1, { "b", 2 } })`, "cannot mix member assignments"},
		{`@(new HMACSHA256 { 1 })`, "cannot have a collection initializer"},
		{`@(new List<string> { "a", 2 })`, "cannot convert 'int' to 'string'"},
		{`@(new Dictionary<string, int> { ["a"] = "b" })`, "cannot convert 'string' to 'int'"},
		{`@(new Dictionary<string, int> { { 1, 2 } })`, "argument 1 of 'Add': cannot convert from 'int' to 'string'"},
		{`@(new JObject { a = })`, "expected an expression"},
	} {
		if _, err := Compile(c[0]); err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("Compile(%s) error = %v, want %q", c[0], err, c[1])
		}
	}
}

func TestLocalFunctions(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		// Called before and after its declaration; a void function that
		// changes a captured variable.
		{`@{
			var total = 0;
			Add(2);
			void Add(int n) { total += n; }
			Add(3);
			return total;
		}`, int64(5)},
		{`@{ string Twice(string s) => s + s; return Twice("ab") + Twice("c"); }`, "ababcc"},
		// Recursion: each call has its own parameters and locals.
		{`@{
			int Fib(int n) { if (n < 2) { return n; } var a = Fib(n - 1); var b = Fib(n - 2); return a + b; }
			return Fib(15);
		}`, int64(610)},
		// Mutual recursion, and a function declared after its caller.
		{`@{
			bool IsEven(int n) { if (n == 0) { return true; } return IsOdd(n - 1); }
			bool IsOdd(int n) { if (n == 0) { return false; } return IsEven(n - 1); }
			return IsEven(10) && IsOdd(7);
		}`, true},
		// The BFF shape: build a JObject from responses through a helper.
		{`@{
			var result = new JObject();
			var status = 200;
			void Collect(JObject into, string name, IResponse r) {
				if (r == null) { status = 207; into.Add(name, ""); return; }
				into.Add(name, r.StatusCode);
			}
			JObject Part(string name) {
				var part = new JObject();
				Collect(part, name, context.Variables.GetValueOrDefault<IResponse>(name));
				return part;
			}
			result["a"] = Part("missing");
			result["status"] = status;
			return result.ToString(Formatting.None);
		}`, `{"a":{"missing":""},"status":207}`},
		{`@{ static double Half(int n) => n / 2.0; return Half(3); }`, 1.5},
		{`@{ double D(int n) => n; return D(2); }`, 2.0},
		{`@{ int Sum(JArray a) { var s = 0; foreach (var x in a) { s += (int)x; } return s; } return Sum(new JArray { 1, 2, 3 }); }`, int64(6)},
		{`@{ int F(int n) { int G(int m) => m * n; return G(3); } return F(2) + F(5); }`, int64(21)},
		{`@{ var xs = new[] {"a", "bb"}; int Longer(int min) => xs.Count(s => s.Length > min); return Longer(0) * 10 + Longer(1); }`, int64(21)},
	})
	runErrCases(t, [][2]string{
		{`@{ int Loop(int n) => Loop(n + 1); return Loop(0); }`, "local function calls nested more than 200 deep"},
		{`@{ int F(int n) => n; object o = "x"; return F(o); }`, "Unable to cast object of type 'string' to type 'int'"},
		{`@{ int F(int n) => n == 0 ? 0 : F(n - 1) + F(n - 1); return F(40); }`, "step budget"},
		{`@{ void Spin() { foreach (var c in "a,b".Split(',')) { Spin(); } } Spin(); return 1; }`, "nested more than"},
	})
	for _, c := range [][2]string{
		{`@{ int F(int n) => n; return F(); }`, "'F' takes 1 arguments, not 0"},
		{`@{ int F(int n) => n; return F("x"); }`, "argument 1 of 'F': cannot convert from 'string' to 'int'"},
		{`@{ int F() { } return F(); }`, "not all code paths of 'F' return a value"},
		{`@{ void F() { return 1; } F(); return 1; }`, "'F' returns void"},
		{`@{ int F() { return; } return F(); }`, "'F' must return a value of type 'int'"},
		{`@{ int F() => "x"; return F(); }`, "cannot implicitly convert type 'string' to 'int'"},
		{`@{ void F() { } return F(); }`, "the method returns no value"},
		{`@{ void F() { } var g = F; return 1; }`, "'F' is a local function; call it with ()"},
		{`@{ void F() { } void F() { } return 1; }`, "already defined"},
		{`@{ var F = 1; void F() { } return 1; }`, "already defined"},
		{`@{ void F(ref int x) { } return 1; }`, "'ref' parameters are not supported"},
		{`@{ void F(int x = 1) { } return 1; }`, "optional parameters are not supported"},
		{`@{ foreach (var c in "a,b".Split(',')) { void F() { break; } } return 1; }`, "no enclosing loop"},
		{`@{ if (true) int F() => 1; return 1; }`, "declared directly in a block"},
		{`@{ void F() => 1; return 1; }`, "only assignment and call expressions"},
		{`@{ int F() { return x; } var x = 1; return F(); }`, "the name 'x' does not exist"},
		{`@{ Nope F() => 1; return 1; }`, ""},
		{`@{ void F() { } F = null; return 1; }`, "cannot assign to 'F'"},
	} {
		if _, err := Compile(c[0]); err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("Compile(%s) error = %v, want %q", c[0], err, c[1])
		}
	}
}

func TestTryCatchThrow(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		// The BFF shape: a body that may not be JSON is kept as text.
		{`@{
			var o = new JObject();
			void Put(string name, string body) {
				try { o.Add(name, JToken.Parse(body)); }
				catch (Exception ex) { o.Add(name, body); }
			}
			Put("a", "[1]");
			Put("b", "not json");
			return o.ToString(Formatting.None);
		}`, `{"a":[1],"b":"not json"}`},
		{`@{ try { return ((string)null).Length; } catch (Exception e) { return e.Message; } }`, "Object reference not set to an instance of an object."},
		{`@{ try { throw new Exception("boom"); } catch (System.Exception e) { return e.Message + "|" + e.ToString(); } }`, "boom|System.Exception: boom"},
		{`@{ var log = ""; try { log += "t"; } finally { log += "f"; } return log; }`, "tf"},
		{`@{ var log = ""; try { try { int.Parse("x"); } finally { log += "f"; } } catch { log += "c"; } return log; }`, "fc"},
		{`@{ var n = 0; foreach (var s in "a,b,c".Split(',')) { try { if (s == "b") { break; } n++; } finally { n += 10; } } return n; }`, int64(21)},
		{`@{ try { return 1; } finally { var x = 2; } }`, int64(1)},
		{`@{ try { try { throw new Exception("in"); } catch { throw; } } catch (Exception e) { return e.Message; } }`, "in"},
	})
	runErrCases(t, [][2]string{
		{`@{ if (context.Request.Method == "GET") { return 1; } throw new Exception("only GET"); }`, "only GET"},
		{`@{ throw new Exception(); }`, "Exception of type 'System.Exception' was thrown."},
		// Limits are not exceptions.
		{`@{ try { foreach (var x in Enumerable.Range(0, 1000)) { foreach (var y in Enumerable.Range(0, 1000)) { } } return 0; } catch { return 1; } }`, "step budget"},
		{`@{ try { return Enumerable.Range(0, 2000000).Count(); } catch { return 1; } }`, "larger than allowed"},
		{`@{ int F(int n) => F(n + 1); try { return F(0); } catch { return 1; } }`, "nested more than"},
		{`@{ try { return 1; } finally { int.Parse("x"); } }`, "Input string was not in a correct format."},
		{`@{ try { throw new Exception("a"); } catch { throw new Exception("b"); } }`, "b"},
		{`@{ object o = 5; throw (Exception)o; }`, "Unable to cast"},
	})
	for _, c := range [][2]string{
		{`@{ try { return 1; } }`, "expected 'catch' or 'finally'"},
		{`@{ try { return 1; } catch (string s) { return 2; } }`, "the type caught must be an Exception, not 'string'"},
		{`@{ try { return 1; } catch { return 2; } catch (Exception e) { return 3; } }`, "already catches all exceptions"},
		{`@{ try { } finally { return 1; } return 2; }`, "control cannot leave the body of a finally clause"},
		{`@{ foreach (var s in "a".Split(',')) { try { } finally { continue; } } return 2; }`, "control cannot leave"},
		{`@{ throw; }`, "only allowed in a catch clause"},
		{`@{ throw "x"; }`, "only an Exception can be thrown, not 'string'"},
		{`@{ try { var x = 1; } catch { return x; } return 0; }`, "the name 'x' does not exist"},
	} {
		if _, err := Compile(c[0]); err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("Compile(%s) error = %v, want %q", c[0], err, c[1])
		}
	}
}
