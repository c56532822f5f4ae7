package expression

import (
	"errors"
	"strings"
	"testing"
)

func TestTryCatch(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@{ try { throw new Exception("boom"); } catch (Exception ex) { return "caught " + ex.Message; } }`, "caught boom"},
		{`@{ try { return 1; } catch { return 2; } }`, int64(1)},
		{`@{ try { throw new InvalidOperationException("x"); } catch { return "any"; } }`, "any"},
		{`@{ try { throw new FormatException("f"); } catch (ArgumentException) { return "arg"; } catch (FormatException e) { return "fmt " + e.Message; } }`, "fmt f"},
		// A base type catches its subclasses, in the order of the clauses.
		{`@{ try { throw new ArgumentNullException("name"); } catch (ArgumentException e) { return e.Message; } }`, "Value cannot be null. (Parameter 'name')"},
		{`@{ try { throw new ArgumentException("bad", "p"); } catch (Exception e) { return e.Message; } }`, "bad (Parameter 'p')"},
		{`@{ try { throw new System.InvalidOperationException(); } catch (SystemException e) { return e.Message; } }`, "Operation is not valid due to the current state of the object."},
		{`@{ try { throw new Exception(); } catch (Exception e) { return e.Message; } }`, "Exception of type 'System.Exception' was thrown."},
		{`@{ try { throw new Exception("outer", new FormatException("inner")); } catch (Exception e) { return e.InnerException.Message + "/" + (e.GetBaseException() is FormatException); } }`, "inner/True"},
		{`@{ try { throw new NotSupportedException("n"); } catch (Exception e) { return e.ToString(); } }`, "System.NotSupportedException: n"},
		{`@{ try { throw new Exception("m"); } catch (Exception e) { return e is InvalidOperationException; } }`, false},
		{`@{ try { throw new ArgumentOutOfRangeException("i"); } catch (Exception e) { return e is ArgumentException && e is SystemException; } }`, true},
		// when filters.
		{`@{ try { throw new Exception("b"); } catch (Exception e) when (e.Message == "a") { return 1; } catch (Exception e) when (e.Message == "b") { return 2; } }`, int64(2)},
		// An exception in a filter counts as false.
		{`@{ try { throw new Exception("x"); } catch (Exception e) when (int.Parse(e.Message) > 0) { return 1; } catch { return 2; } }`, int64(2)},
		// A variable assigned before the throw keeps its value.
		{`@{ var s = "a"; try { s += "b"; throw new Exception(); } catch { s += "c"; } return s; }`, "abc"},
		// Nested try: the inner catch does not match, the outer one does.
		{`@{ try { try { throw new FormatException("f"); } catch (KeyNotFoundException) { return "inner"; } } catch (FormatException) { return "outer"; } }`, "outer"},
		// Rethrow.
		{`@{ var log = ""; try { try { throw new FormatException("f"); } catch (Exception) { log += "1"; throw; } } catch (FormatException e) { log += "2" + e.Message; } return log; }`, "12f"},
		{`@{ try { try { throw new FormatException("f"); } catch (Exception e) { throw e; } } catch (FormatException e) { return "again " + e.Message; } }`, "again f"},
		// A throw from inside a lambda and a loop.
		{`@{ try { return new[] {"1", "x"}.Select(s => { if (s == "x") { throw new ArgumentException("no x"); } return s; }).Count(); } catch (ArgumentException e) { return e.Message; } }`, "no x"},
		{`@{ int i = 0; try { while (true) { if (++i == 5) throw new Exception("stop"); } } catch { } return i; }`, int64(5)},
		{`@{ var r = 0; for (int i = 0; i < 3; i++) { try { if (i == 1) throw new Exception(); r += 1; } catch { r += 10; continue; } finally { r += 100; } } return r; }`, int64(312)},
	})
}

func TestFinally(t *testing.T) {
	ctx := testContext()
	runEvalCases(t, ctx, []evalCase{
		{`@{ var s = ""; try { s += "t"; } finally { s += "f"; } return s; }`, "tf"},
		// finally runs on return; the value returned is the one computed before.
		{`@{ var b = new System.Text.StringBuilder(); try { b.Append("t"); return b.ToString(); } finally { b.Append("f"); } }`, "t"},
	})
	runEvalCases(t, ctx, []evalCase{
		// finally runs on throw, and then the exception goes on.
		{`@{ var s = ""; try { try { throw new Exception("x"); } finally { s += "f"; } } catch (Exception e) { s += e.Message; } return s; }`, "fx"},
		// ... after the catch that handles it.
		{`@{ var s = ""; try { throw new Exception("x"); } catch { s += "c"; } finally { s += "f"; } return s; }`, "cf"},
		// ... on break and continue.
		{`@{ var s = ""; foreach (var c in "ab".Split(',')) { try { break; } finally { s += "f"; } } return s; }`, "f"},
		{`@{ var n = 0; for (int i = 0; i < 3; i++) { try { continue; } finally { n++; } } return n; }`, int64(3)},
		// A throw in a catch still runs the finally.
		{`@{ var s = ""; try { try { throw new Exception("a"); } catch { throw new Exception("b"); } finally { s += "f"; } } catch (Exception e) { s += e.Message; } return s; }`, "fb"},
	})
	compileErrCases(t, [][3]string{
		{`@{ try { } finally { return 1; } }`, "control cannot leave the body of a finally clause", "return 1"},
		{`@{ foreach (var c in "a".Split(',')) { try { } finally { break; } } return 1; }`, "control cannot leave the body of a finally clause", "break"},
		{`@{ try { return 1; } }`, "expected 'catch' or 'finally'", ""},
	})
}

func TestRuntimeErrorsAreCatchable(t *testing.T) {
	// Each runtime error of the interpreter is caught by its .NET type.
	cases := []struct{ body, typ string }{
		{`JObject.Parse("{not json");`, "JsonReaderException"},
		{`JToken.Parse("[1,");`, "JsonException"},
		{`JObject.Parse("[1]");`, "JsonReaderException"},
		{`int.Parse("x1");`, "FormatException"},
		{`string s = null; var n = s.Length;`, "NullReferenceException"},
		{`object o = "s"; var i = (int)o;`, "InvalidCastException"},
		{`var d = new Dictionary<string, string>(); var v = d["missing"];`, "KeyNotFoundException"},
		{`var z = 0; var q = 1 / z;`, "DivideByZeroException"},
		{`var a = new[] {"x"}; var v = a[3];`, "IndexOutOfRangeException"},
		{`var v = "abc".Substring(5);`, "ArgumentOutOfRangeException"},
		{`var v = new List<string>().First();`, "InvalidOperationException"},
		{`var n = 1; var v = checked(long.MaxValue + n);`, "OverflowException"},
		{`var u = new Uri("not a uri");`, "UriFormatException"},
		{`var x = XDocument.Parse("<a>");`, "XmlException"},
		{`var v = Convert.FromBase64String("!!");`, "FormatException"},
		{`var d = new Dictionary<string, int>(); d.Add("k", 1); d.Add("k", 2);`, "ArgumentException"},
		{`var v = "a".Replace(null, "b");`, "ArgumentNullException"},
		{`var v = 4 switch { 1 => 1 };`, "SwitchExpressionException"},
	}
	for _, c := range cases {
		for _, catchAs := range []string{c.typ, "Exception", "SystemException"} {
			src := `@{ try { ` + c.body + ` return "not thrown"; } catch (` + catchAs + ` e) { return (e is ` + c.typ + `) + ": " + e.Message; } }`
			if catchAs == "SystemException" && strings.HasPrefix(c.typ, "Json") {
				continue // Newtonsoft's exceptions derive from Exception only
			}
			p, err := Compile(src)
			if err != nil {
				t.Errorf("Compile(%s): %v", src, err)
				continue
			}
			v, err := p.Eval(testContext())
			if err != nil {
				t.Errorf("Eval(%s): %v", src, err)
				continue
			}
			if s, _ := v.(string); !strings.HasPrefix(s, "True: ") || len(s) == len("True: ") {
				t.Errorf("Eval(%s) = %q, want %s with a message", src, v, c.typ)
			}
		}
	}
	// The JSON parse error is a JsonReaderException, which a JsonException clause catches.
	runEvalCases(t, testContext(), []evalCase{
		{`@{ try { return JObject.Parse("{").ToString(); } catch (JsonReaderException) { return "bad json"; } }`, "bad json"},
		{`@{ try { return JObject.Parse("{").ToString(); } catch (Newtonsoft.Json.JsonException) { return "bad json"; } }`, "bad json"},
		{`@{ try { return int.Parse("x").ToString(); } catch (JsonException) { return "json"; } catch (FormatException) { return "format"; } }`, "format"},
	})
}

func TestUncaughtThrow(t *testing.T) {
	for _, c := range []struct{ src, msg string }{
		{`@{ throw new Exception("the backend said no"); }`, "the backend said no"},
		{`@{ try { throw new FormatException("f"); } catch (KeyNotFoundException) { return 1; } }`, "f"},
		{`@{ try { throw new Exception("a"); } catch { throw; } }`, "a"},
		{`@{ Exception e = null; throw e; }`, errNullRef.Error()},
		{`@{ object o = "x"; throw (Exception)o; }`, "Unable to cast"},
		{`@(new[] {"a"}.Select(s => { throw new InvalidOperationException("in lambda"); return s; }).First())`, "in lambda"},
	} {
		p, err := Compile(c.src)
		if err != nil {
			t.Errorf("Compile(%s): %v", c.src, err)
			continue
		}
		_, err = p.Eval(testContext())
		var re *RuntimeError
		if !errors.As(err, &re) || re.Msg != c.msg && !strings.HasPrefix(re.Msg, c.msg) {
			t.Errorf("Eval(%s) error = %v, want the message %q", c.src, err, c.msg)
			continue
		}
		if re.Offset <= 0 || re.Offset >= len(c.src) {
			t.Errorf("Eval(%s) offset %d outside the source", c.src, re.Offset)
		}
	}
	// The offset of an uncaught throw is that of the throw statement.
	src := `@{ var a = 1; throw new Exception("x"); }`
	p, _ := Compile(src)
	_, err := p.Eval(testContext())
	var re *RuntimeError
	if !errors.As(err, &re) || re.Offset != strings.Index(src, "throw") {
		t.Errorf("Eval(%s) = %v, want offset %d", src, err, strings.Index(src, "throw"))
	}
}

// The evaluation's limits are not exceptions: a catch cannot stop them and no
// finally runs after them.
func TestLimitsAreNotCatchable(t *testing.T) {
	runErrCases(t, [][2]string{
		{`@{ try { while (true) { } } catch { } return 1; }`, "step budget"},
		{`@{ try { while (true) { } } catch (Exception) { return 2; } }`, "step budget"},
		{`@{ try { for (;;) { } } catch (Exception e) when (true) { return 2; } finally { } }`, "step budget"},
		{`@{ while (true) { try { while (true) { } } catch { } } }`, "step budget"},
		{`@{ var s = "x"; try { while (true) { s += s; } } catch (Exception) { return s.Length; } }`, "larger than allowed"},
		// The finally of a limit does not run (here it would loop forever again).
		{`@{ try { while (true) { } } finally { while (true) { } } }`, "step budget"},
		// A limit raised in a when filter ends the evaluation too.
		{`@{ try { throw new Exception(); } catch when (new[] {1}.Select(x => { while (true) { } return true; }).First()) { return 1; } }`, "step budget"},
		{`@{ int n = 0; while (true) { try { throw new Exception(); } catch { n++; } } }`, "step budget"},
	})
	// A thrown exception with the same words is still an exception.
	runEvalCases(t, testContext(), []evalCase{
		{`@{ try { throw new Exception("the expression exceeded its step budget"); } catch (Exception e) { return "caught"; } }`, "caught"},
	})
}

func TestExceptionCompileErrors(t *testing.T) {
	compileErrCases(t, [][3]string{
		{`@{ throw; }`, "only allowed in a catch clause", "throw"},
		{`@{ throw "x"; }`, "only an Exception can be thrown, not 'string'", `"x"`},
		{`@{ try { } catch (string s) { } return 1; }`, "must be an Exception, not 'string'", "string"},
		{`@{ try { } catch (Exception) { } catch (FormatException) { } return 1; }`, "a previous catch clause already catches", "catch (Format"},
		{`@{ try { } catch (Exception e) { } return e.Message; }`, "'e' does not exist", "e.Message"},
		{`@{ try { return 1; } catch (Exception e) { return 2; } catch (ArgumentException e) { return 3; } }`, "a previous catch clause", "catch (Arg"},
		{`@{ try { return 1; } catch (Exception e) { } }`, "not all code paths return a value", ""},
		{`@{ var e = new Exception("x"); try { } catch (Exception e) { } return 1; }`, "already defined", "catch (Exception e)"},
	})
}

func TestThrowExpression(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@((string)context.Variables["x"] ?? throw new ArgumentNullException("x"))`, "hello"},
		{`@(context.Variables.ContainsKey("n") ? 1 : throw new KeyNotFoundException())`, int64(1)},
		{`@(3 switch { 3 => "three", _ => throw new ArgumentOutOfRangeException("v") })`, "three"},
		{`@{ try { var v = (string)context.Variables["nil"] ?? throw new InvalidOperationException("no value"); return v; } catch (InvalidOperationException e) { return e.Message; } }`, "no value"},
	})
	runErrCases(t, [][2]string{
		{`@(9 switch { 3 => "three", _ => throw new ArgumentOutOfRangeException("v") })`, "Specified argument was out of the range of valid values. (Parameter 'v')"},
		{`@(context.Variables.GetValueOrDefault<string>("none") ?? throw new Exception("missing none"))`, "missing none"},
	})
	compileErrCases(t, [][3]string{
		{`@(1 ?? throw "x")`, "only an Exception can be thrown", `"x"`},
	})
}

func TestExceptionValues(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@{ Exception e = new FormatException("f"); return (e as FormatException)?.Message + (e as KeyNotFoundException)?.Message; }`, "f"},
		{`@{ object o = new ArgumentException("m"); return ((Exception)o).Message; }`, "m"},
		{`@{ var l = new List<Exception>(); l.Add(new TimeoutException()); return l[0].Message; }`, "The operation has timed out."},
		{`@("" + new FormatException("x"))`, "System.FormatException: x"},
		{`@(new Exception("a", new Newtonsoft.Json.JsonReaderException("b")).ToString())`, "System.Exception: a ---> Newtonsoft.Json.JsonReaderException: b"},
		{`@(new KeyNotFoundException().Message)`, "The given key was not present in the dictionary."},
		{`@(new ArgumentOutOfRangeException("i", "too big").Message)`, "too big (Parameter 'i')"},
	})
	runErrCases(t, [][2]string{
		{`@{ object o = new Exception("m"); return ((FormatException)o).Message; }`, "Unable to cast object of type 'Exception' to type 'FormatException'."},
	})
}
