package expression

import (
	"errors"
	"strings"
	"testing"
)

// compileErrCases checks that each source fails to compile with a message
// containing want, at the offset of the text at (the first occurrence).
func compileErrCases(t *testing.T, cases [][3]string) {
	t.Helper()
	for _, c := range cases {
		_, err := Compile(c[0])
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%s) error = %v, want a *SyntaxError", c[0], err)
			continue
		}
		if !strings.Contains(se.Msg, c[1]) {
			t.Errorf("Compile(%s) = %q, want it to contain %q", c[0], se.Msg, c[1])
		}
		if c[2] != "" && se.Offset != strings.Index(c[0], c[2]) {
			t.Errorf("Compile(%s) offset %d, want %d (at %q)", c[0], se.Offset, strings.Index(c[0], c[2]), c[2])
		}
	}
}

func TestLoops(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@{ int s = 0; for (int i = 0; i < 5; i++) { s += i; } return s; }`, int64(10)},
		{`@{ var s = 0; for (var i = 10; i > 0; i -= 3) s += i; return s; }`, int64(22)},
		{`@{ int s = 0; for (int i = 0, j = 10; i < j; i++, j--) { s += j - i; } return s; }`, int64(30)},
		{`@{ int i = 0; int s = 0; for (i = 2, s = 1; i < 4; ++i) { s *= i; } return s + "," + i; }`, "6,4"},
		{`@{ int n = 0; for (;;) { n++; if (n == 7) { break; } } return n; }`, int64(7)},
		{`@{ var b = new System.Text.StringBuilder(); for (int i = 0; i < 6; i++) { if (i % 2 == 0) continue; b.Append(i); } return b.ToString(); }`, "135"},
		// continue in a for still runs the iterator.
		{`@{ int c = 0; for (int i = 0; i < 10; i++) { if (i < 8) { continue; } c++; } return c; }`, int64(2)},
		{`@{ int i = 0; while (i < 100) { i += 7; } return i; }`, int64(105)},
		{`@{ int i = 0; while (true) { if (++i >= 3) break; } return i; }`, int64(3)},
		{`@{ int i = 10; do { i++; } while (i < 5); return i; }`, int64(11)},
		{`@{ int i = 0; int n = 0; do { i++; if (i == 2) continue; n += i; } while (i < 4); return n; }`, int64(8)},
		// Nested loops: break and continue act on the innermost one.
		{`@{ var s = ""; for (int i = 0; i < 3; i++) { for (int j = 0; j < 3; j++) { if (j == i) break; s += i + "" + j + " "; } } return s.Trim(); }`, "10 20 21"},
		{`@{ var s = 0; foreach (var w in "a,b,c".Split(',')) { int k = 0; while (true) { k++; if (k > 2) break; if (k == 1) continue; s += k; } } return s; }`, int64(6)},
		// return from inside loops.
		{`@{ for (int i = 0; ; i++) { if (i * i > 50) { return i; } } }`, int64(8)},
		{`@{ while (true) { return "done"; } }`, "done"},
		{`@{ var a = new[] {"x", "yy", "zzz"}; for (int i = a.Length - 1; i >= 0; i--) { if (a[i].Length == 2) return i; } return -1; }`, int64(1)},
		// A loop variable declared in the for is scoped to it.
		{`@{ int s = 0; for (int i = 0; i < 2; i++) { s++; } for (int i = 0; i < 3; i++) { s++; } return s; }`, int64(5)},
		// A string, character by character (as documents compare secrets).
		{`@{ var x = "abc"; var y = "abd"; int diff = 0; for (int i = 0; i < x.Length; i++) { diff |= x[i] == y[i] ? 0 : 1; } return diff; }`, int64(1)},
		// Inside a lambda body.
		{`@(new[] {"ab", "c", "def"}.Where(w => { int n = 0; for (int i = 0; i < w.Length; i++) n++; return n > 1; }).Count())`, int64(2)},
	})
}

func TestLoopLimits(t *testing.T) {
	runErrCases(t, [][2]string{
		{`@{ while (true) { } }`, "step budget"},
		{`@{ while (true) ; }`, "step budget"},
		{`@{ for (;;) { } }`, "step budget"},
		{`@{ do { } while (true); return 1; }`, "step budget"},
		{`@{ int i = 0; while (i >= 0) { i++; } return i; }`, "step budget"},
		{`@{ for (int i = 0; i < 10; i++) { i--; } return 0; }`, "step budget"},
		{`@{ var s = "x"; while (true) { s += s; } }`, "larger than allowed"},
	})
}

func TestLoopCompileErrors(t *testing.T) {
	compileErrCases(t, [][3]string{
		{`@{ for (var i = 0, j = 1; i < 1; i++) { } return 1; }`, "multiple declarators", "j = 1"},
		{`@{ for (int i = 0; i; i++) { } return 1; }`, "bool", ""},
		{`@{ while ("x") { } return 1; }`, "bool", ""},
		{`@{ for (int i = 0; i < 3; i + 1) { } return 1; }`, "can be used as a statement", "+ 1"},
		{`@{ for (int i = 0; i < 3; i++) { } return i; }`, "'i' does not exist", "i; }"},
		{`@{ while (true) int x = 1; }`, "declaration is not allowed", "int x"},
		{`@{ do { } while (true) return 1; }`, "expected ';'", "return"},
		{`@{ do { } return 1; }`, "expected 'while'", "return"},
		{`@{ int i = 0; while (i < 3) { i++; } }`, "not all code paths return a value", ""},
		{`@{ while (true) { break; } }`, "not all code paths return a value", ""},
		{`@{ continue; }`, "no enclosing loop", "continue"},
		{`@{ for (int i = 0; i < 3; i++) { var f = new[] {1}.Select(x => { break; }); } return 1; }`, "no enclosing loop", "break"},
	})
}

func TestSwitchStatement(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@{ switch ("b") { case "a": return 1; case "b": return 2; default: return 0; } }`, int64(2)},
		{`@{ switch ("z") { case "a": return 1; default: return 0; case "b": return 2; } }`, int64(0)},
		{`@{ var r = ""; switch (context.Request.Method.ToLower()) { case "get": case "head": r = "read"; break; case "post": case "put": r = "write"; break; default: r = "other"; break; } return r; }`, "write"},
		{`@{ int n = 3; string r = "none"; switch (n) { case 1: r = "one"; break; case 3: r = "three"; break; } return r; }`, "three"},
		{`@{ int n = 9; string r = "none"; switch (n) { case 1: r = "one"; break; } return r; }`, "none"},
		{`@{ switch ("abc"[1]) { case 'a': return "A"; case 'b': return "B"; } return "?"; }`, "B"},
		{`@{ switch (2.5) { case 2.5: return true; } return false; }`, true},
		{`@{ string s = null; switch (s) { case null: return "null"; case "": return "empty"; } return "x"; }`, "null"},
		// A variable of the context (dynamic) switched on its run-time value.
		{`@{ switch (context.Variables["n"]) { case 41: return "yes"; default: return "no"; } }`, "yes"},
		// break leaves the switch; continue goes on with the enclosing loop.
		{`@{ var s = ""; foreach (var c in "a1b2".Split('1', '2')) { switch (c) { case "a": s += "A"; break; case "": continue; default: s += c; break; } s += "."; } return s; }`, "A.b."},
		{`@{ int n = 0; for (int i = 0; i < 5; i++) { switch (i % 2) { case 0: n += 10; break; default: n += 1; continue; } n += 100; } return n; }`, int64(332)},
		// A loop inside a section: break leaves the loop only.
		{`@{ int n = 0; switch (1) { case 1: while (true) { n++; if (n == 4) break; } n *= 2; break; } return n; }`, int64(8)},
		// Sections that end in throw, or in a block that returns.
		{`@{ switch (1) { case 1: { return "x"; } default: throw new Exception("no"); } }`, "x"},
		// Pattern labels: type patterns and when clauses.
		{`@{ object o = 42; switch (o) { case string s: return "s:" + s; case int i when i > 100: return "big"; case int i2: return "int:" + i2; } return "?"; }`, "int:42"},
		{`@{ object o = "q"; switch (o) { case string s when s.Length > 3: return "long"; case string s2: return "short " + s2; default: return "?"; } }`, "short q"},
		{`@{ switch (7) { case > 5: return "gt"; default: return "le"; } }`, "gt"},
		{`@{ int v = 3; switch (v) { case var x when x > 2: return x * 2; default: return 0; } }`, int64(6)},
		// A switch that returns in every section (with a default) ends the block.
		{`@{ switch (context.Request.Method) { case "GET": return 1; default: return 2; } }`, int64(2)},
	})
}

func TestSwitchCompileErrors(t *testing.T) {
	compileErrCases(t, [][3]string{
		{`@{ var r = 0; switch (1) { case 1: r = 1; case 2: r = 2; break; } return r; }`, "control cannot fall through from one case label ('case 1:') to another", "case 1"},
		{`@{ var r = 0; switch (1) { case 1: r = 1; break; default: r = 2; } return r; }`, "control cannot fall out of switch from the final case label ('default:')", "default"},
		{`@{ switch (1) { case 1: case 2: } return 0; }`, "final case label ('case 2:')", "case 2"},
		{`@{ switch (1) { case 1: return 1; case 1: return 2; } return 0; }`, "multiple cases with the label value '1'", "case 1: return 2"},
		{`@{ switch (1) { default: return 1; default: return 2; } }`, "multiple cases with the label value 'default'", "default: return 2"},
		{`@{ switch ("a") { case 1: return 1; } return 0; }`, "a constant of type 'int' cannot match a value of type 'string'", "1:"},
		{`@{ switch (1) { case 1: goto case 2; case 2: return 0; } return 0; }`, "'goto' statements are not supported", "goto"},
		{`@{ switch (1) { return 1; } }`, "expected 'case' or 'default'", "return"},
		{`@{ switch (1) { case 1: continue; } return 0; }`, "no enclosing loop out of which to continue", "continue"},
		{`@{ switch (1) { case 1: return 1; } }`, "not all code paths return a value", ""},
		{`@{ switch (1) { case 1: break; default: return 1; } }`, "not all code paths return a value", ""},
	})
}

func TestSwitchExpression(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(context.Request.Method switch { "GET" => 1, "POST" => 2, _ => 0 })`, int64(2)},
		{`@("x" switch { "a" => 1, "b" => 2, _ => 0 })`, int64(0)},
		{`@(5 switch { < 0 => "neg", 0 => "zero", > 100 => "big", _ => "pos" })`, "pos"},
		{`@(3 switch { 1 => 1.5, _ => 2 })`, 2.0},
		{`@(((object)"s") switch { int i => "int " + i, string s when s.Length > 1 => "long", string s => "str " + s, null => "null", _ => "other" })`, "str s"},
		{`@((context.Variables["nil"]) switch { null => "null", _ => "x" })`, "null"},
		{`@(1 + 2 switch { 2 => 10, _ => 20 })`, int64(11)}, // switch binds tighter than +
		{`@{ var kind = context.Request.Url.Path.EndsWith("items") switch { true => "list", false => "one" }; return kind; }`, "list"},
	})
	runErrCases(t, [][2]string{
		{`@(4 switch { 1 => "a", 2 => "b" })`, "Non-exhaustive switch expression failed to match its input."},
	})
	compileErrCases(t, [][3]string{
		{`@(1 switch { 1 => "a", _ => 2 })`, "no best type", "2 }"},
		{`@(1 switch { })`, "at least one arm", "switch"},
	})
}

// The shapes documents use these statements in (written for this test).
func TestStatementsAsDocumentsUseThem(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		// A constant-time comparison of two secrets.
		{`@{ var a = "s3cret"; var b = context.Variables.GetValueOrDefault<string>("x", ""); if (a.Length != b.Length) { return false; } bool same = true; for (int i = 0; i < a.Length; i++) { same &= a[i] == b[i]; } return same; }`, false},
		// A mock backend choosing its answer by a request value.
		{`@{ var item = context.Request.Url.Path.Split('/').Last(); string price; switch (item.ToLower()) { case "items": price = "10"; break; case "widgets": case "gadgets": price = "20"; break; default: price = "0"; break; } return new JObject(new JProperty("item", item), new JProperty("price", price)).ToString(Newtonsoft.Json.Formatting.None); }`, `{"item":"items","price":"10"}`},
		// A body that may not be JSON.
		{`@{ try { var o = JObject.Parse(context.Variables.GetValueOrDefault<string>("x")); return (string)o["a"]; } catch (JsonReaderException) { return "not json"; } catch (Exception ex) { return ex.Message; } }`, "not json"},
		// Pick the first backend not yet tried, round-robin.
		{`@{ var backends = new JArray("b1", "b2", "b3"); int start = 1; for (int k = 0; k < backends.Count; k++) { var i = (start + k) % backends.Count; if ((string)backends[i] != "b2") { return (string)backends[i]; } } return "none"; }`, "b3"},
		// A decode that falls back to the raw value.
		{`@{ var raw = "a%2"; try { var d = System.Net.WebUtility.UrlDecode(raw); if (d == raw) throw new FormatException("unchanged"); return d; } catch (Exception) { return raw; } }`, "a%2"},
		// Retry-style loop with a counter and a condition.
		{`@{ int attempts = 0; string token = null; while (token == null && attempts < 3) { attempts++; if (attempts == 2) { token = "t" + attempts; } } return token ?? "none"; }`, "t2"},
	})
}

// Local functions: break and continue belong to the function, a recursive
// call's catch sees its own frame, and throw; needs a catch of the function.
func TestStatementsInLocalFunctions(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@{ int F(int n) { try { if (n == 0) throw new Exception("z"); return F(n - 1); } catch (Exception e) when (n == 3) { return 99 + n; } } return F(5); }`, int64(102)},
		{`@{ int n = 0; void H() { for (int i = 0; i < 3; i++) { switch (i) { case 1: continue; default: n++; break; } } } H(); return n; }`, int64(2)},
		{`@{ string K(object o) => o switch { string s => "s" + s, int i => "i" + i, _ => throw new ArgumentException("bad") }; try { return K("a") + K(1) + K(2.5); } catch (ArgumentException e) { return e.Message; } }`, "bad"},
	})
	compileErrCases(t, [][3]string{
		{`@{ switch (1) { case 1: void G() { break; } G(); break; } return 1; }`, "no enclosing loop out of which to break", "break; }"},
		{`@{ try { throw new Exception("x"); } catch { void T() { throw; } T(); } return 1; }`, "only allowed in a catch clause", "throw; }"},
	})
}

// TestLoopOverLargeStringsIsBounded: method calls pay for the text they
// are given, so a loop of calls on a 1 MiB string ends at the step budget
// after scanning about 400 MB, not after 100,000 full scans.
func TestLoopOverLargeStringsIsBounded(t *testing.T) {
	ctx := testContext()
	ctx.Variables["big"] = strings.Repeat("a", 1<<20)
	p, err := Compile(`@{ var s = (string)context.Variables["big"]; int n = 0; foreach (var x in new string[100000]) { n += s.Replace("b", "").Length; } return n; }`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Eval(ctx)
	if err == nil || !strings.Contains(err.Error(), "step budget") {
		t.Fatalf("got %v, want the step budget", err)
	}
	// A few calls on a large body stay well within it.
	p, err = Compile(`@{ var s = (string)context.Variables["big"]; int n = 0; for (int i = 0; i < 100; i++) { n += s.IndexOf("b") < 0 ? 1 : 0; } return n; }`)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Eval(ctx); err != nil || v != int64(100) {
		t.Fatalf("100 scans: %v %v", v, err)
	}
}
