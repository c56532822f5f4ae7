package policy_test

import (
	"strings"
	"testing"
)

func appendHeader(v string) string {
	return `<set-header name="X-Trace" exists-action="append"><value>` + v + `</value></set-header>`
}

func TestScopeCompositionOrder(t *testing.T) {
	e := newEnv(t, map[string]string{
		"/policies/policy":               doc(appendHeader("global"), "", `<set-header name="X-Out" exists-action="append"><value>global</value></set-header>`, ""),
		"/products/open/policies/policy": doc("<base/>"+appendHeader("product"), "", "", ""),
		"/apis/echo/policies/policy":     doc(appendHeader("api-before")+"<base/>"+appendHeader("api-after"), "", `<base/><set-header name="X-Out" exists-action="append"><value>api</value></set-header>`, ""),
		// The operation's outbound has no <base/>: nothing broader runs there.
		"/apis/echo/operations/get-item/policies/policy": doc("<base/>"+appendHeader("operation"), "", `<set-header name="X-Out" exists-action="append"><value>operation</value></set-header>`, ""),
	})
	r := e.get("/echo/items/7")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	got := strings.Join(r.echo.Header["X-Trace"], ",")
	if want := "api-before,global,product,api-after,operation"; got != want {
		t.Errorf("inbound order %q, want %q", got, want)
	}
	if got := strings.Join(r.header.Values("X-Out"), ","); got != "operation" {
		t.Errorf("operation outbound without <base/>: X-Out %q", got)
	}
	// Another operation has no document: it inherits everything, and the
	// API's outbound runs global's first.
	r = e.get("/echo/other")
	if got := strings.Join(r.echo.Header["X-Trace"], ","); got != "api-before,global,product,api-after" {
		t.Errorf("inherited inbound %q", got)
	}
	if got := strings.Join(r.header.Values("X-Out"), ","); got != "global,api" {
		t.Errorf("inherited outbound %q", got)
	}
}

func TestBackendWithoutBaseDoesNotForward(t *testing.T) {
	e := newEnv(t, map[string]string{
		"/apis/echo/policies/policy": doc("", `<return-response><set-status code="202" reason="Accepted"/><set-body>no backend</set-body></return-response>`, "", ""),
	})
	r := e.get("/echo/x")
	if r.status != 202 || r.body != "no backend" || r.header.Get("X-Backend") != "" {
		t.Fatalf("got %d %q %v", r.status, r.body, r.header)
	}
}

func TestLastErrorFields(t *testing.T) {
	onError := `<return-response><set-status code="418"/>` +
		`<set-header name="X-Source" exists-action="override"><value>@(context.LastError.Source)</value></set-header>` +
		`<set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header>` +
		`<set-header name="X-Scope" exists-action="override"><value>@(context.LastError.Scope)</value></set-header>` +
		`<set-header name="X-Section" exists-action="override"><value>@(context.LastError.Section)</value></set-header>` +
		`<set-header name="X-Path" exists-action="override"><value>@(context.LastError.Path)</value></set-header>` +
		`<set-header name="X-Policy-Id" exists-action="override"><value>@(context.LastError.PolicyId)</value></set-header>` +
		`<set-body>@(context.LastError.Message)</set-body></return-response>`
	e := newEnv(t, map[string]string{
		"/policies/policy": doc("", "", "", onError),
		"/apis/echo/policies/policy": doc(`<base/><choose>
			<when condition="@(context.Request.Url.Path.Contains(&quot;nope&quot;))"><set-variable name="a" value="1"/></when>
			<when condition="@(context.Request.Headers.GetValueOrDefault("X-Go", "") == "yes")">
				<check-header id="needs-key" name="X-Key" failed-check-httpcode="401" failed-check-error-message="Key please" ignore-case="false"/>
			</when></choose>`, "", "", "<base/>"),
	})
	r := e.get("/echo/x", "X-Go", "yes")
	if r.status != 418 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	want := map[string]string{"X-Source": "check-header", "X-Reason": "HeaderNotFound", "X-Scope": "api", "X-Section": "inbound",
		"X-Path": "choose[1]/when[2]/check-header[1]", "X-Policy-Id": "needs-key"}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if r.body != "Header X-Key was not found in the request. Access denied." {
		t.Errorf("message %q", r.body)
	}
	// Without on-error the caller gets the configured status and message.
	if err := e.reload(map[string]string{"/apis/echo/policies/policy": doc(`<check-header name="X-Key" failed-check-httpcode="401" failed-check-error-message="Key please" ignore-case="true"><value>abc</value></check-header>`, "", "", "")}); err != nil {
		t.Fatal(err)
	}
	r = e.get("/echo/x", "X-Key", "nope")
	if code, msg := errorBody(t, r.body); r.status != 401 || code != 401 || msg != "Key please" {
		t.Errorf("got %d %s", r.status, r.body)
	}
	if r = e.get("/echo/x", "X-Key", "ABC"); r.status != 200 {
		t.Errorf("ignore-case: %d %s", r.status, r.body)
	}
}

func TestExpressionRuntimeErrorRunsOnError(t *testing.T) {
	e := newEnv(t, map[string]string{
		"/apis/echo/policies/policy": doc(`<set-variable name="n" value="@(int.Parse(&quot;x&quot;))"/>`, "", "",
			`<set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason + "/" + context.LastError.Source)</value></set-header>`),
	})
	r := e.get("/echo/x")
	if r.status != 500 || r.header.Get("X-Reason") != "ExpressionValueEvaluationFailure/set-variable" {
		t.Fatalf("got %d %v %s", r.status, r.header, r.body)
	}
	if code, msg := errorBody(t, r.body); code != 500 || !strings.HasPrefix(msg, "Internal server error") {
		t.Errorf("body %s", r.body)
	}
}

func TestRelaxedDialectDocument(t *testing.T) {
	e := newEnv(t, map[string]string{
		"/apis/echo/policies/policy": `<!-- pasted from APIM -->
<policies>
	<inbound>
		<base />
		<choose>
			<when condition="@(context.Request.Headers.GetValueOrDefault("X-A", "") == "1" && context.Request.Method != "POST")">
				<set-header name="X-Cmp" exists-action="override">
					<value>@(context.Request.Headers.GetValueOrDefault("X-N", "0").Length < 3 ? "short" : "long")</value>
				</set-header>
			</when>
			<otherwise>
				<set-header name="X-Cmp" exists-action="override"><value>other</value></set-header>
			</otherwise>
		</choose>
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`,
	})
	if r := e.get("/echo/x", "X-A", "1", "X-N", "12"); r.echo.Header["X-Cmp"][0] != "short" {
		t.Errorf("got %v", r.echo.Header["X-Cmp"])
	}
	if r := e.get("/echo/x", "X-A", "1", "X-N", "1234"); r.echo.Header["X-Cmp"][0] != "long" {
		t.Errorf("got %v", r.echo.Header["X-Cmp"])
	}
	if r := e.get("/echo/x"); r.echo.Header["X-Cmp"][0] != "other" {
		t.Errorf("got %v", r.echo.Header["X-Cmp"])
	}
}
