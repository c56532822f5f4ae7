package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/openapi"
	"github.com/tollgate/tollgate/internal/portal"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/teststores"
)

const petsDocument = `{
  "openapi": "3.0.3",
  "info": {"title": "Pets", "version": "1"},
  "servers": [{"url": "https://pets.example.com/pets-api"}],
  "paths": {
    "/pets/{petId}": {
      "put": {
        "operationId": "updatePet",
        "summary": "Update a pet",
        "parameters": [
          {"name": "petId", "in": "path", "required": true, "description": "The pet's number", "schema": {"type": "integer"}},
          {"name": "verbose", "in": "query", "description": "Say more", "schema": {"type": "boolean", "default": false}},
          {"name": "X-Trace", "in": "header", "description": "A <trace> id", "schema": {"type": "string", "enum": ["on", "off"]}}
        ],
        "requestBody": {
          "description": "The pet as it should be",
          "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Pet"},
            "example": {"name": "<script>alert(1)</script>", "tag": "cat"}
          }}
        },
        "responses": {
          "200": {"description": "The pet", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Pet"},
            "examples": {"rex": {"value": {"name": "Rex", "tag": "dog"}}}
          }}},
          "404": {"description": "No such pet"}
        }
      }
    }
  },
  "components": {"schemas": {"Pet": {
    "type": "object", "required": ["name"],
    "properties": {"name": {"type": "string", "description": "Call it <b>anything</b>"}, "tag": {"type": "string"}}
  }}}
}`

// importPets imports petsDocument as the API pets, on the echo backend
// without subscription, in the Starter product, as tollgate import openapi
// does; it returns the name of its operation.
func (e *env) importPets() string {
	e.t.Helper()
	doc, err := openapi.Parse(context.Background(), []byte(petsDocument))
	if err != nil {
		e.t.Fatal(err)
	}
	imp, err := doc.Convert("pets", "")
	if err != nil {
		e.t.Fatal(err)
	}
	no := false
	imp.API.ServiceURL, imp.API.SubscriptionRequired = resource.EchoServiceURL, &no
	e.put("/apis/pets", imp.API)
	for _, o := range imp.Operations {
		e.put(o.ID, o)
	}
	e.put(imp.Spec.ID, imp.Spec)
	e.put("/products/starter/apis/pets", map[string]any{})
	if len(imp.Operations) != 1 {
		e.t.Fatalf("imported %d operations", len(imp.Operations))
	}
	return imp.Operations[0].Name
}

// TestOperationContract: an imported OpenAPI document's parameters,
// examples and schemas show on the operation page, escaped, and pre-fill
// the console; a representation naming an API schema (schemaId and
// typeName) shows that schema.
func TestOperationContract(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t), nil)
	e.seed()
	opName := e.importPets()
	// An operation whose contract names an API schema by id and type.
	e.put("/apis/pets/schemas/owners", map[string]any{"document": map[string]any{"components": map[string]any{"schemas": map[string]any{
		"Owner": map[string]any{"type": "object", "properties": map[string]any{"email": map[string]any{"type": "string", "format": "email"}}}}}}})
	e.put("/apis/pets/operations/get-owner", map[string]any{"displayName": "Get the owner", "method": "GET", "urlTemplate": "/owner",
		"responses": []map[string]any{{"statusCode": 200, "representations": []map[string]any{{"contentType": "application/json", "schemaId": "owners", "typeName": "Owner"}}}}})

	b := e.browser()
	pg := b.get(e.url + "/apis/pets/operations/" + opName)
	if pg.status != http.StatusOK {
		t.Fatalf("operation page: %d %s", pg.status, pg.body)
	}
	mustContain(t, pg,
		// Parameters, with what the contract says of them.
		"<code>petId</code>", "integer", "The pet&#39;s number", "<code>verbose</code>", "boolean", "Say more",
		"<code>X-Trace</code>", "A &lt;trace&gt; id", "<code>on</code>, <code>off</code>",
		// The request: description, example, schema from the document's components.
		"The pet as it should be", "Content type <code>application/json</code>",
		`&#34;name&#34;: &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;`, "#/components/schemas/Pet",
		"Call it &lt;b&gt;anything&lt;/b&gt;", `&#34;required&#34;: [`,
		// Responses.
		"200 · The pet", "404 · No such pet", "<em>rex</em>", "&#34;name&#34;: &#34;Rex&#34;",
		// The console starts with the example and the parameters' defaults.
		`id="p-petId" name="petId" data-in="path" class="param" value="" required`,
		`id="p-verbose" name="verbose" data-in="query" class="param" value="false"`,
		"X-Trace: on\nContent-Type: application/json</textarea>",
		`rows="6">{
  &#34;name&#34;: &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;,`)
	mustNotContain(t, pg, "<script>alert(1)", "<b>anything", `\u003c`)

	pg = b.get(e.url + "/apis/pets/operations/get-owner")
	mustContain(t, pg, "Schema <code>Owner</code>", "&#34;format&#34;: &#34;email&#34;")

	// A representation whose schema is missing shows as unknown, and the
	// page still works.
	e.put("/apis/pets/operations/get-owner", map[string]any{"displayName": "Get the owner", "method": "GET", "urlTemplate": "/owner",
		"responses": []map[string]any{{"statusCode": 200, "representations": []map[string]any{{"contentType": "application/json", "schemaId": "nothing", "typeName": "Owner"}}}}})
	pg = b.get(e.url + "/apis/pets/operations/get-owner")
	if pg.status != http.StatusOK {
		t.Fatalf("operation with a missing schema: %d", pg.status)
	}
	mustContain(t, pg, "Schema <code>Owner</code> (not found")
}

// TestPortalChangesAudited: what a developer does in the portal is in the
// audit log as done by the developer, through the portal, from their
// address: subscribing, regenerating a key, cancelling, the management
// user made on first sign-in, a sign-up; on both backends.
func TestPortalChangesAudited(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		e.seed()
		b := e.browser()
		b.signIn("alice@example.com")
		csrf := b.csrf()
		pg := b.post(e.url+"/products/starter/subscribe", url.Values{"csrf": {csrf}, "accept": {"yes"}})
		mustContain(t, pg, "You are subscribed")
		sub := subIDRe.FindStringSubmatch(pg.body)[1]
		b.post(e.url+"/subscriptions/"+sub+"/regenerate", url.Values{"csrf": {csrf}, "key": {"secondary"}})
		b.post(e.url+"/subscriptions/"+sub+"/cancel", url.Values{"csrf": {csrf}})
		entries := e.auditOf(t, "/subscriptions/"+sub)
		if len(entries) != 3 || entries[0].Action != "create" {
			t.Fatalf("audit entries of %s: %+v", sub, entries)
		}
		want := auditEntry{Actor: "/users/alice", App: portal.PortalActorApp, Remote: "127.0.0.1"}
		for _, en := range entries {
			if en.Actor != want.Actor || en.App != want.App || en.Remote != want.Remote {
				t.Fatalf("%s recorded as %+v, want the developer through the portal", en.Action, en)
			}
		}

		// bob's first sign-in makes /users/bob, as bob.
		e.browser().signIn("bob@example.com")
		if got := e.auditOf(t, "/users/bob"); len(got) != 1 || got[0].Actor != "/users/bob" || got[0].App != portal.PortalActorApp {
			t.Fatalf("first sign-in recorded as %+v", got)
		}

		// A sign-up: the new developer makes their accounts.
		anon := e.browser()
		form := url.Values{"csrf": {anon.csrf()}, "email": {"carol@example.com"}, "firstName": {"Carol"}, "password": {password}, "confirm": {password}}
		mustContain(t, anon.post(e.url+"/signup", form), "carol@example.com")
		recs, err := e.store.List(t.Context(), "users", "")
		if err != nil {
			t.Fatal(err)
		}
		carol := ""
		for _, r := range recs {
			if strings.Contains(string(r.Body), "carol@example.com") {
				carol = r.ID
			}
		}
		got := e.auditOf(t, carol)
		if carol == "" || len(got) != 1 || got[0].Actor != carol || got[0].App != portal.PortalActorApp {
			t.Fatalf("sign-up of %q recorded as %+v", carol, got)
		}
	})
}

type auditEntry struct{ Actor, App, Remote, Action string }

// auditOf reads the audit log's entries of one path through the
// management API.
func (e *env) auditOf(t *testing.T, path string) []auditEntry {
	t.Helper()
	status, body := e.mgmtCall(http.MethodGet, "/auditLog?$filter="+url.QueryEscape("path eq '"+path+"'"), "")
	if status != http.StatusOK {
		t.Fatalf("GET /auditLog: %d %s", status, body)
	}
	var log struct{ Value []auditEntry }
	if err := json.Unmarshal([]byte(body), &log); err != nil {
		t.Fatal(err)
	}
	return log.Value
}
