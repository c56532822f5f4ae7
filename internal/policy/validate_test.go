package policy_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

func userSchema(t *testing.T) store.Record {
	return rec(t, "/apis/echo/schemas/userprofile", "apis/schemas", &resource.APISchema{Document: resource.SchemaDocument{
		Components: json.RawMessage(`{"schemas":{"user":{"type":"object","required":["name"],"properties":{"name":{"type":"string","minLength":2},"age":{"type":"integer","minimum":0}}}}}`)}})
}

func TestValidateContent(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}}
	// The reference page's schema example, and its content-type-map one.
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(`
		<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="ignore" errors-variable-name="requestBodyValidation">
			<content type="application/json" validate-as="json" action="prevent" schema-id="userprofile" schema-ref="#/components/schemas/user" />
		</validate-content>`, "", "", "")}, userSchema(t))
	if res := e.do(http.MethodPost, "/echo/u", json, `{"name":"Ada","age":36}`); res.status != 200 || res.echo.Body != `{"name":"Ada","age":36}` {
		t.Fatalf("valid body: %d %s", res.status, res.body)
	}
	res := e.do(http.MethodPost, "/echo/u", json, `{"name":"A","age":-1}`)
	if res.status != 400 {
		t.Fatalf("invalid body: %d %s", res.status, res.body)
	}
	if _, msg := errorBody(t, res.body); !strings.Contains(msg, "/name") && !strings.Contains(msg, "/age") {
		t.Fatalf("message does not say where: %q", msg)
	}
	if res := e.do(http.MethodPost, "/echo/u", json, `{"name":`); res.status != 400 {
		t.Fatalf("malformed JSON: %d", res.status)
	}
	if res := e.do(http.MethodPost, "/echo/u", http.Header{"Content-Type": {"text/plain"}}, `hello`); res.status != 400 {
		t.Fatalf("unspecified content type: %d", res.status)
	}
	if res := e.get("/echo/u"); res.status != 200 {
		t.Fatalf("no body: %d", res.status)
	}

	// detect: the call goes on, the errors are in the variable.
	e = newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(`
		<validate-content unspecified-content-type-action="detect" max-size="1000" size-exceeded-action="detect" errors-variable-name="v">
			<content type="application/json" validate-as="json" action="detect" schema-id="userprofile" schema-ref="#/components/schemas/user" allow-additional-properties="false" />
		</validate-content>
		<set-header name="X-Errors" exists-action="override"><value>@(((JArray)context.Variables["v"]).Count.ToString())</value></set-header>`, "", "", "")}, userSchema(t))
	if res := e.do(http.MethodPost, "/echo/u", json, `{"name":"Ada","extra":1}`); res.status != 200 || res.echo.Header["X-Errors"][0] != "1" {
		t.Fatalf("detect: %d %v %s", res.status, res.echo.Header["X-Errors"], res.body)
	}

	// Size: prevent answers 413.
	e = newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(`
		<validate-content unspecified-content-type-action="ignore" max-size="8" size-exceeded-action="prevent" />`, "", "", "")})
	if res := e.do(http.MethodPost, "/echo/u", json, `{"a":"0123456789"}`); res.status != 413 {
		t.Fatalf("too large: %d", res.status)
	}
	if res := e.do(http.MethodPost, "/echo/u", json, `{}`); res.status != 200 {
		t.Fatalf("small: %d", res.status)
	}

	// The response: the echo has no "name", so it does not conform: 502.
	e = newEnv(t, map[string]string{"/apis/echo/policies/policy": doc("", "", `
		<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="prevent">
			<content type="application/json" validate-as="json" action="prevent" schema-id="userprofile" schema-ref="#/components/schemas/user" />
		</validate-content>`, "")}, userSchema(t))
	if res := e.get("/echo/u"); res.status != 502 {
		t.Fatalf("response validation: %d %s", res.status, res.body)
	}
}

func TestValidateContentChecks(t *testing.T) {
	c := policy.NewCompiler(policy.Options{})
	for _, x := range []string{
		`<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="prevent" errors-variable-name="requestBodyValidation">
			<content type="application/json" validate-as="json" action="detect" allow-additional-properties="false" />
			<content type="application/hal+json" validate-as="json" action="prevent" />
			<content-type-map any-content-type-value="application/json"><type from="application/hal+json" to="application/vnd.contoso+json" /></content-type-map>
		</validate-content>`,
		`<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="ignore" errors-variable-name="requestBodyValidation">
			<content type="application/json" validate-as="json" action="prevent" schema-id="userprofile" schema-ref="#/components/schemas/user" />
		</validate-content>`,
		`<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="prevent">
			<content type="text/xml" validate-as="soap" action="prevent" />
		</validate-content>`,
	} {
		if ps := c.CheckOffline(doc(x, "", "", ""), nil); len(ps) != 0 {
			t.Errorf("%s: %v", x, ps)
		}
	}
	for x, want := range map[string]string{
		`<validate-content max-size="10" size-exceeded-action="prevent" />`:                                                                                                 "unspecified-content-type-action",
		`<validate-content unspecified-content-type-action="prevent" size-exceeded-action="prevent" />`:                                                                     "max-size",
		`<validate-content unspecified-content-type-action="block" max-size="1" size-exceeded-action="prevent" />`:                                                          "unspecified-content-type-action",
		`<validate-content unspecified-content-type-action="prevent" max-size="1" size-exceeded-action="prevent"><content type="a/b" action="prevent"/></validate-content>`: "validate-as",
	} {
		ps := c.CheckOffline(doc(x, "", "", ""), nil)
		if len(ps) == 0 || !strings.Contains(ps[0].Message, want) {
			t.Errorf("%s: want %q, got %v", x, want, ps)
		}
	}
}

func TestAPISchemaValidation(t *testing.T) {
	for _, s := range []resource.APISchema{
		{},
		{Document: resource.SchemaDocument{Value: "not json"}},
		{Document: resource.SchemaDocument{Value: `{}`, Definitions: json.RawMessage(`{}`)}},
	} {
		s.Normalize()
		if errs := s.Validate(); len(errs) == 0 {
			t.Errorf("%+v accepted", s)
		}
	}
}

// Without schema-id, validate-content takes the schema from the
// operation's representation (schemaId and typeName), as an OpenAPI
// import leaves it.
func TestValidateContentFromOperationRepresentation(t *testing.T) {
	op := rec(t, "/apis/echo/operations/post", "apis/operations", &resource.Operation{Method: "POST", URLTemplate: "/*",
		Request: &resource.RequestContract{Representations: []resource.RepresentationContract{{ContentType: "application/json", SchemaID: "userprofile", TypeName: "user"}}}})
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(`
		<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="prevent">
			<content type="application/json" validate-as="json" action="prevent" />
		</validate-content>`, "", "", "")}, userSchema(t), op)
	h := http.Header{"Content-Type": {"application/json"}}
	if res := e.do(http.MethodPost, "/echo/u", h, `{"name":"Ada"}`); res.status != 200 {
		t.Fatalf("valid: %d %s", res.status, res.body)
	}
	if res := e.do(http.MethodPost, "/echo/u", h, `{"age":3}`); res.status != 400 {
		t.Fatalf("invalid against the representation's schema: %d %s", res.status, res.body)
	}
}

// A schema-id naming a missing schema is the configuration's fault: 500,
// not the caller's 400.
func TestValidateContentMissingSchema(t *testing.T) {
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(`
		<validate-content unspecified-content-type-action="prevent" max-size="1024" size-exceeded-action="prevent">
			<content type="application/json" validate-as="json" action="prevent" schema-id="nope" />
		</validate-content>`, "", "", "")})
	if res := e.do(http.MethodPost, "/echo/u", http.Header{"Content-Type": {"application/json"}}, `{}`); res.status != 500 {
		t.Fatalf("missing schema: %d %s", res.status, res.body)
	}
}

// An imported operation's representation names its schema with schemaRef
// only: validate-content finds it in the API's OpenAPI document, with
// OpenAPI 3.0's nullable and 3.1's JSON Schema 2020-12.
func TestValidateContentFromImportedSpecification(t *testing.T) {
	op := rec(t, "/apis/echo/operations/post", "apis/operations", &resource.Operation{Method: "POST", URLTemplate: "/*",
		Request: &resource.RequestContract{Representations: []resource.RepresentationContract{{ContentType: "application/json", SchemaRef: "#/components/schemas/Pet"}}}})
	policyDoc := map[string]string{"/apis/echo/policies/policy": doc(`
		<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="prevent">
			<content type="application/json" validate-as="json" action="prevent" />
		</validate-content>`, "", "", "")}
	h := http.Header{"Content-Type": {"application/json"}}
	for _, tc := range []struct{ name, spec string }{
		{"3.0", `{"openapi":"3.0.3","info":{"title":"p","version":"1"},"paths":{},"components":{"schemas":{
			"Pet":{"type":"object","required":["id","name"],"properties":{"id":{"type":"integer","format":"int64"},"name":{"type":"string"},"tag":{"type":"string","nullable":true},"owner":{"$ref":"#/components/schemas/Owner"}}},
			"Owner":{"type":"object","properties":{"nullable":{"type":"string"}}}}}}`},
		{"3.1", `{"openapi":"3.1.0","info":{"title":"p","version":"1"},"components":{"schemas":{
			"Pet":{"type":"object","required":["id","name"],"properties":{"id":{"type":"integer"},"name":{"type":"string"},"tag":{"type":["string","null"]},"owner":{"$ref":"#/components/schemas/Owner"}}},
			"Owner":{"type":"object","properties":{"nullable":{"type":"string"}},"unevaluatedProperties":true}}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := rec(t, "/apis/echo/specifications/openapi", "apis/specifications", &resource.Specification{Value: tc.spec})
			e := newEnv(t, policyDoc, spec, op)
			for _, ok := range []string{`{"id":1,"name":"Rex"}`, `{"id":1,"name":"Rex","tag":null}`, `{"id":1,"name":"Rex","owner":{"nullable":"x"}}`} {
				if res := e.do(http.MethodPost, "/echo/u", h, ok); res.status != 200 {
					t.Fatalf("valid %s: %d %s", ok, res.status, res.body)
				}
			}
			for _, bad := range []string{`{"id":"one","name":"Rex"}`, `{"id":1}`, `{"id":1,"name":"Rex","tag":5}`, `{"id":1,"name":"Rex","owner":{"nullable":null}}`} {
				res := e.do(http.MethodPost, "/echo/u", h, bad)
				if res.status != 400 {
					t.Fatalf("invalid %s: %d %s", bad, res.status, res.body)
				}
				if code, msg := errorBody(t, res.body); code != 400 || !strings.HasPrefix(msg, "Body of the request does not conform to the definition Pet, which is associated with the content type application/json. /") {
					t.Fatalf("invalid %s: %d %q", bad, code, msg)
				}
			}
		})
	}
	// Without the document, the configuration is at fault: 500.
	e := newEnv(t, policyDoc, op)
	if res := e.do(http.MethodPost, "/echo/u", h, `{"id":1}`); res.status != 500 {
		t.Fatalf("no specification: %d %s", res.status, res.body)
	}
}
