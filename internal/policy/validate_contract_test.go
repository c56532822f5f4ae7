package policy_test

import (
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// contractOp replaces the env's get-item operation with one that has a
// contract: {id} an integer, query "format" json|xml (required), header
// X-Trace (integer); responses 200 with header X-Backend and 404.
func contractOp(t *testing.T) store.Record {
	return rec(t, "/apis/echo/operations/get-item", "apis/operations", &resource.Operation{Method: "GET", URLTemplate: "/items/{id}",
		TemplateParameters: []resource.ParameterContract{{Name: "id", Type: "integer", Required: true}},
		Request: &resource.RequestContract{
			QueryParameters: []resource.ParameterContract{{Name: "format", Required: true, Values: []string{"json", "xml"}}},
			Headers:         []resource.ParameterContract{{Name: "X-Trace", Type: "integer"}},
		},
		Responses: []resource.ResponseContract{{StatusCode: 200, Headers: []resource.ParameterContract{{Name: "X-Backend", Values: []string{"yes"}}}}, {StatusCode: 404}},
	})
}

func TestValidateParameters(t *testing.T) {
	// The reference page's example (query overridden per parameter).
	e := newEnv(t, map[string]string{"/apis/echo/operations/get-item/policies/policy": doc(`
		<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent" errors-variable-name="requestParametersValidation">
			<headers specified-parameter-action="detect" unspecified-parameter-action="detect">
				<parameter name="X-Trace" action="prevent" />
			</headers>
			<query specified-parameter-action="prevent" unspecified-parameter-action="prevent">
				<parameter name="debug" action="ignore" />
			</query>
			<path specified-parameter-action="prevent" />
		</validate-parameters>`, "", "", "")}, contractOp(t))
	for _, tc := range []struct {
		path   string
		header []string
		want   int
		msg    string
	}{
		{"/echo/items/7?format=json", nil, 200, ""},
		{"/echo/items/7?format=json&debug=1", []string{"X-Other", "1"}, 200, ""}, // overridden query, detected header
		{"/echo/items/7", nil, 400, "Required query parameter 'format' is missing."},
		{"/echo/items/7?format=yaml", nil, 400, "must be one of json, xml"},
		{"/echo/items/7?format=json&extra=1", nil, 400, "Unspecified query parameter 'extra'"},
		{"/echo/items/seven?format=json", nil, 400, "path parameter 'id' must be an integer"},
		{"/echo/items/7?format=json", []string{"X-Trace", "abc"}, 400, "header parameter 'X-Trace' must be an integer"},
	} {
		res := e.get(tc.path, tc.header...)
		if res.status != tc.want {
			t.Errorf("%s %v: %d %s", tc.path, tc.header, res.status, res.body)
			continue
		}
		if tc.msg != "" {
			if _, msg := errorBody(t, res.body); !strings.Contains(msg, tc.msg) {
				t.Errorf("%s: message %q lacks %q", tc.path, msg, tc.msg)
			}
		}
	}
}

func TestValidateHeadersAndStatusCode(t *testing.T) {
	op := contractOp(t)
	e := newEnv(t, map[string]string{"/apis/echo/operations/get-item/policies/policy": doc("", "", `
		<validate-status-code unspecified-status-code-action="prevent" errors-variable-name="sc">
			<status-code code="503" action="ignore" />
		</validate-status-code>
		<validate-headers specified-header-action="prevent" unspecified-header-action="prevent" errors-variable-name="hv" />`, "")}, op)
	// 200 with the specified X-Backend: yes, and standard headers only.
	if res := e.get("/echo/items/7"); res.status != 200 {
		t.Fatalf("conforming response: %d %s", res.status, res.body)
	}
	// An unspecified status.
	e = newEnv(t, map[string]string{"/apis/echo/operations/get-item/policies/policy": doc("", "", `
		<set-status code="418" />
		<validate-status-code unspecified-status-code-action="prevent" />`, "")}, op)
	res := e.get("/echo/items/7")
	if res.status != 502 {
		t.Fatalf("unspecified status: %d %s", res.status, res.body)
	}
	// The reason is on context.LastError; a specified status passes.
	e = newEnv(t, map[string]string{"/apis/echo/operations/get-item/policies/policy": doc("", "", `
		<set-status code="@(context.Request.Url.Query.GetValueOrDefault(&quot;s&quot;, &quot;418&quot;) == &quot;404&quot; ? 404 : 418)" />
		<validate-status-code unspecified-status-code-action="prevent" />`,
		`<set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason + ": " + context.LastError.Message)</value></set-header>`)}, op)
	if res := e.get("/echo/items/7?s=404"); res.status != 404 {
		t.Fatalf("specified status: %d %s", res.status, res.body)
	}
	if res := e.get("/echo/items/7"); res.status != 502 || !strings.Contains(res.header.Get("X-Reason"), "StatusCodeValidationFailed: Unspecified status code 418") {
		t.Fatalf("unspecified status: %d %q", res.status, res.header.Get("X-Reason"))
	}
	// An unspecified response header.
	e = newEnv(t, map[string]string{"/apis/echo/operations/get-item/policies/policy": doc("", "", `
		<set-header name="X-Leak" exists-action="override"><value>1</value></set-header>
		<validate-headers specified-header-action="ignore" unspecified-header-action="prevent" />`, "")}, op)
	if res := e.get("/echo/items/7"); res.status != 502 {
		t.Fatalf("unspecified header: %d %s", res.status, res.body)
	}
	// A specified header with a wrong value; detect lets it through.
	e = newEnv(t, map[string]string{"/apis/echo/operations/get-item/policies/policy": doc("", "", `
		<set-header name="X-Backend" exists-action="override"><value>no</value></set-header>
		<validate-headers specified-header-action="prevent" unspecified-header-action="ignore"><header name="x-backend" action="detect" /></validate-headers>`, "")}, op)
	if res := e.get("/echo/items/7"); res.status != 200 {
		t.Fatalf("detected header: %d %s", res.status, res.body)
	}

	c := policy.NewCompiler(policy.Options{})
	for _, x := range []string{
		// The reference pages' examples.
		`<validate-headers specified-header-action="ignore" unspecified-header-action="prevent" errors-variable-name="responseHeadersValidation" />`,
		`<validate-status-code unspecified-status-code-action="prevent" errors-variable-name="variable name"><status-code code="500" action="ignore" /></validate-status-code>`,
	} {
		if ps := c.CheckOffline(doc("", "", x, ""), nil); len(ps) != 0 {
			t.Errorf("%s: %v", x, ps)
		}
	}
	if ps := c.CheckOffline(doc(`<validate-status-code unspecified-status-code-action="prevent" />`, "", "", ""), nil); len(ps) == 0 {
		t.Error("validate-status-code accepted in inbound")
	}
}
