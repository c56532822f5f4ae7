package expression

// Fuzz seeds with the control statements (kept apart from fuzz_test.go's
// list so that branches adding seeds do not collide).
func init() {
	fuzzSeeds = append(fuzzSeeds,
		`@{ int s = 0; for (int i = 0, j = 3; i < j; i++, j--) { if (i == 1) continue; s += i * j; } return s; }`,
		`@{ var i = 0; while (i < 3) { i++; } do { i--; } while (i > 0); return i; }`,
		`@{ while (true) { } }`,
		`@{ for (;;) { try { throw new Exception("x"); } catch { continue; } } }`,
		`@{ switch (context.Request.Method) { case "GET": case "HEAD": return 1; case "POST": break; default: throw new InvalidOperationException("m"); } return 0; }`,
		`@{ object o = 3; switch (o) { case string s when s.Length > 0: return s; case int n: return n.ToString(); case null: return "null"; default: return "?"; } }`,
		`@(context.Response.StatusCode switch { < 300 => "ok", 404 => "missing", >= 500 => "error", _ => "other" })`,
		`@{ try { return JObject.Parse("{").ToString(); } catch (JsonReaderException e) when (e.Message != "") { return e.Message; } catch (Exception) { throw; } finally { } }`,
		`@{ try { try { throw new ArgumentNullException("p", "m"); } finally { var x = 1; } } catch (ArgumentException e) { return e.ToString() + e.InnerException?.Message; } }`,
		`@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("oid", new string[] {""})[0])`,
	)
}
