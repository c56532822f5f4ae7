package expression

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// TestRandomCalls calls every method and property of the known types with
// arguments drawn from a pool of awkward values, through dynamic receivers so
// that compile-time checks do not filter them. Nothing may panic.
func TestRandomCalls(t *testing.T) {
	receivers := []struct {
		src string
		t   *typ
	}{
		{`""`, tString}, {`"a,b"`, tString}, {`"é"`, tString}, {`"Bearer x.y.z"`, tString},
		{`0`, tInt}, {`-1`, tInt}, {`2.5`, tDouble}, {`true`, tBool},
		{`DateTime.UtcNow`, tDateTime}, {`TimeSpan.FromSeconds(-1)`, tTimeSpan}, {`Guid.NewGuid()`, tGuid},
		{`"a,b".Split(',')`, tStrArr}, {`new[] {1, "x"}`, tObjArr}, {`Encoding.UTF8.GetBytes("ab")`, tBytes},
		{`context.Request.Headers`, tHeaders}, {`context.Request.Url.Query`, tQuery}, {`context.Variables`, tVars},
		{`context.Request.Body.As<JObject>()`, tJObject}, {`context.Request.Body.As<JObject>()["tags"]`, tJArray},
		{`((Jwt)context.Variables["jwt"])`, tJwt}, {`((Jwt)context.Variables["jwt"]).Claims`, tClaims},
		{`context.Request`, tRequest}, {`context.Response`, tResponse}, {`context.Request.Url`, tURL},
		{`context.Request.Body`, tBody}, {`context`, tContext},
		{`new JProperty("a", 1)`, tJProp}, {`context.Request.Headers.First()`, tKV}, {`context.Variables.First()`, tKVObj},
		{`Encoding.UTF8`, tEncoding},
		{`Regex.Match("ab", "(a)")`, tMatch}, {`"Basic dXNlcjpwYXNz".AsBasic()`, tBasic},
		{`Regex.Matches("ab", "(a)")`, tMatches}, {`new Regex("a")`, tRegex}, {`Regex.Match("ab", "(a)").Groups`, tGroups},
		{`SHA256.Create()`, tHashAlg}, {`new HMACSHA1(new byte[] {1})`, tHashAlg}, {`Aes.Create()`, tSymAlg},
		{`new byte[16]`, tBytes}, {`new Uri("https://h.example/a?b=1#c")`, tUri}, {`new Uri("/r", UriKind.Relative)`, tUri},
		{`new Random(1)`, tRandom}, {`XDocument.Parse("<a x='1'><b>t</b></a>")`, tXDocument},
		{`XElement.Parse("<a x='1'><b>t</b></a>")`, tXElement}, {`XElement.Parse("<a x='1'/>").Attribute("x")`, tXAttribute},
		{`XElement.Parse("<a/>").Name`, tXName}, {`XNamespace.Get("urn:x")`, tXNamespace},
		{`"a=1&b=2".AsFormUrlEncodedContent()`, tForm}, {`new StringBuilder("ab")`, tStringBuilder},
		{`new List<string> { "a" }`, tList}, {`new Dictionary<string, object>()`, tDict},
		{`JObject.Parse("{\"a\":1}").Property("a")`, tJProp}, {`CultureInfo.InvariantCulture`, tCulture},
	}
	args := []string{
		`""`, `"a"`, `","`, `null`, `0`, `-1`, `1`, `100000000`, `2.5`, `true`,
		`DateTime.UtcNow`, `TimeSpan.Zero`, `StringComparison.OrdinalIgnoreCase`,
		`StringSplitOptions.RemoveEmptyEntries`, `Formatting.None`, `x => x`, `x => true`,
		`x => null`, `"a,b".Split(',')`, `new JObject()`, `Encoding.UTF8.GetBytes("a")`,
		`"o"`, `"D3"`, `"yyyy"`, `"{0}"`,
		`new byte[16]`, `"Aes"`, `Aes.Create()`, `"$.a"`, `"<a/>"`, `new XElement("e")`, `"https://h/"`,
		`UriKind.Absolute`, `UriPartial.Path`, `new List<string>()`, `SaveOptions.DisableFormatting`,
	}
	var statics []string
	for name, st := range staticClasses {
		for m := range st.methods {
			statics = append(statics, name+"."+m)
		}
	}
	sort.Strings(statics)

	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	ctx := testContext()
	n, ok := 0, 0
	for i := 0; i < 10000; i++ {
		var b strings.Builder
		b.WriteString("@(")
		nargs := rng.IntN(4)
		if rng.IntN(4) == 0 {
			b.WriteString(pick(statics))
		} else {
			r := receivers[rng.IntN(len(receivers))]
			names := make([]string, 0, len(r.t.methods))
			for name := range r.t.methods {
				names = append(names, name)
			}
			sort.Strings(names)
			name := pick(names)
			m := r.t.methods[name]
			nargs = m.min + rng.IntN(3)
			if m.max >= 0 && nargs > m.max {
				nargs = m.max
			}
			b.WriteString("((object)(" + r.src + "))." + name)
			if m.generic || rng.IntN(10) == 0 {
				b.WriteString("<" + pick([]string{"string", "int", "JObject", "bool", "double", "Jwt", "JToken"}) + ">")
			}
		}
		b.WriteString("(")
		for k := nargs; k > 0; k-- {
			a := pick(args)
			if !strings.Contains(a, "=>") && rng.IntN(2) == 0 {
				a = "(object)(" + a + ")" // skip the compile-time argument checks
			}
			b.WriteString(a)
			if k > 1 {
				b.WriteString(", ")
			}
		}
		b.WriteString("))")
		src := b.String()
		p, err := Compile(src)
		if err != nil {
			if strings.Contains(err.Error(), "internal") {
				t.Fatalf("Compile(%s): %v", src, err)
			}
			continue
		}
		n++
		_, err = p.EvalString(ctx)
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Errorf("Eval(%s): %v", src, err)
		}
		if err == nil {
			ok++
		} else if testing.Verbose() && rng.IntN(200) == 0 {
			t.Logf("%s: %v", src, err)
		}
	}
	t.Logf("%d compiled, %d evaluated without error", n, ok)
	if n < 5000 || ok < 1500 {
		t.Fatalf("only %d random calls compiled", n)
	}
}
