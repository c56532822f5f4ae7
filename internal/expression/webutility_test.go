package expression

import "testing"

// Results of .NET's System.Net.WebUtility.
func TestWebUtility(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(WebUtility.UrlEncode("a b&c=d/é~!*()"))`, "a+b%26c%3Dd%2F%C3%A9%7E!*()"},
		{`@(System.Net.WebUtility.UrlDecode("a+b%26c%3dd%2F%C3%A9%zz"))`, "a b&c=d/é%zz"},
		{`@(WebUtility.HtmlEncode("<a href=\"x\">O'Neil & co</a> ©"))`, "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt; &#169;"},
		{`@(WebUtility.HtmlDecode("&lt;b&gt; &amp;amp; &#39; &#x41; &copy;"))`, "<b> &amp; ' A ©"},
		{`@(WebUtility.UrlEncode(null))`, nil},
	})
}
