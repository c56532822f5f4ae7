package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const petstoreValidate = `openapi: "3.0.3"
info: {title: Pets, version: "1"}
paths:
  /pets:
    get:
      operationId: listPets
      parameters:
        - {name: limit, in: query, schema: {type: integer}}
      responses:
        "200": {description: pets}
    post:
      operationId: createPet
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Pet"}
      responses:
        "200": {description: created}
  /pets/{petId}:
    put:
      operationId: renamePet
      parameters:
        - {name: petId, in: path, required: true, schema: {type: integer}}
      requestBody:
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string, maxLength: 10}
      responses:
        "200": {description: renamed}
components:
  schemas:
    Pet:
      type: object
      required: [id, name]
      properties:
        id: {type: integer, format: int64}
        name: {type: string}
        tag: {type: string, nullable: true}
        category: {$ref: "#/components/schemas/Category"}
    Category:
      type: object
      properties:
        name: {type: string}
`

// importAndValidate starts Tollgate, imports file (named name) as the API
// "pets" at /pets in front of backend, puts policy (inbound policies) on
// it and returns the gateway's URL and the headers of a JSON call with a
// subscription key; cli runs the CLI against the server.
func importAndValidate(t *testing.T, name, file, backend, policy string) (gw string, headers []string, cli *cliServer) {
	t.Helper()
	srv, _ := testServer(t, t.TempDir())
	mg := srv.urls["management"]
	cli = &cliServer{url: mg, env: map[string]string{
		"TOLLGATE_MANAGEMENT_URL": mg, "TOLLGATE_ADMIN_KEY": srv.adminKey, "TOLLGATE_DATA_DIR": t.TempDir(),
	}}
	dir := writeCLIFiles(t, map[string]string{name: file})
	cli.ok(t, "", "import", "openapi", dir+"/"+name, "--api", "pets", "--path", "pets", "--service-url", backend)
	if st, _, b := call(t, "PUT", mg+"/products/unlimited/apis/pets", `{}`, srv.admin()...); st != 201 {
		t.Fatalf("link: %d %s", st, b)
	}
	if st, b := putPolicy(t, srv, "/apis/pets/policies/policy", "<policies><inbound><base />"+policy+
		"</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>"); st != 201 {
		t.Fatalf("PUT policy: %d %s", st, b)
	}
	_, _, sb := call(t, "POST", mg+"/subscriptions/admin-unlimited/listSecrets", "", srv.admin()...)
	var sec map[string]string
	json.Unmarshal(sb, &sec)
	return srv.urls["gateway"], []string{"Ocp-Apim-Subscription-Key", sec["primaryKey"], "Content-Type", "application/json"}, cli
}

const validateJSON = `<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="prevent">
	<content type="application/json" validate-as="json" action="prevent" />
</validate-content>`

// An API imported from an OpenAPI document, with no schema written by
// hand: validate-content checks bodies against the document's schemas and
// validate-parameters checks query parameters against the imported
// operations, through a real gateway.
func TestValidateImportedAPI(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "backend "+r.Method+" "+r.URL.Path)
	}))
	defer backend.Close()
	gw, key, cli := importAndValidate(t, "pets.yaml", petstoreValidate, backend.URL,
		validateJSON+`<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="ignore"/>`)

	for _, ok := range []string{`{"id":1,"name":"Rex"}`, `{"id":2,"name":"Tom","tag":null,"category":{"name":"cats"}}`} {
		if st, _, b := call(t, "POST", gw+"/pets/pets", ok, key...); st != 200 || string(b) != "backend POST /pets" {
			t.Fatalf("valid body %s: %d %s", ok, st, b)
		}
	}
	for _, tc := range []struct{ body, where string }{
		{`{"id":"one","name":"Rex"}`, "/id"},
		{`{"id":1}`, "name"},
		{`{"id":1,"name":"Rex","category":{"name":5}}`, "/category/name: got number, want string"},
	} {
		st, _, b := call(t, "POST", gw+"/pets/pets", tc.body, key...)
		var e struct {
			StatusCode int    `json:"statusCode"`
			Message    string `json:"message"`
		}
		json.Unmarshal(b, &e)
		if st != 400 || e.StatusCode != 400 ||
			!strings.HasPrefix(e.Message, "Body of the request does not conform to the definition Pet, which is associated with the content type application/json. ") ||
			!strings.Contains(e.Message, tc.where) {
			t.Fatalf("invalid body %s: %d %s", tc.body, st, b)
		}
	}

	// Query parameters: the imported operation says limit is an integer.
	if st, _, b := call(t, "GET", gw+"/pets/pets?limit=10", "", key...); st != 200 {
		t.Fatalf("good limit: %d %s", st, b)
	}
	if st, _, b := call(t, "GET", gw+"/pets/pets?limit=ten", "", key...); st != 400 || !strings.Contains(string(b), "limit") {
		t.Fatalf("bad limit: %d %s", st, b)
	}

	// A schema written inline in the operation, not in components.
	if st, _, b := call(t, "PUT", gw+"/pets/pets/7", `{"name":"Rex"}`, key...); st != 200 {
		t.Fatalf("inline schema, valid: %d %s", st, b)
	}
	if st, _, b := call(t, "PUT", gw+"/pets/pets/7", `{"name":"Rex the eleventh"}`, key...); st != 400 || !strings.Contains(string(b), "/name") {
		t.Fatalf("inline schema, invalid: %d %s", st, b)
	}
	if st, _, b := call(t, "PUT", gw+"/pets/pets/seven", `{"name":"Rex"}`, key...); st != 400 || !strings.Contains(string(b), "petId") {
		t.Fatalf("bad path parameter: %d %s", st, b)
	}

	// Re-importing a changed document changes what is checked.
	changed := strings.Replace(petstoreValidate, "name: {type: string}\n        tag", "name: {type: string, minLength: 4}\n        tag", 1)
	dir := writeCLIFiles(t, map[string]string{"pets.yaml": changed})
	cli.ok(t, "", "import", "openapi", dir+"/pets.yaml", "--api", "pets")
	if st, _, b := call(t, "POST", gw+"/pets/pets", `{"id":1,"name":"Rex"}`, key...); st != 400 || !strings.Contains(string(b), "/name") {
		t.Fatalf("after re-import: %d %s", st, b)
	}
}

// A Swagger 2.0 document is kept converted to OpenAPI 3.0: its body
// parameters' definitions are checked the same way.
func TestValidateImportedSwagger(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer backend.Close()
	gw, key, _ := importAndValidate(t, "pets.json", `{"swagger": "2.0", "info": {"title": "Pets", "version": "1"},
		"paths": {"/pets": {"post": {"operationId": "createPet", "consumes": ["application/json"],
			"parameters": [{"name": "pet", "in": "body", "required": true, "schema": {"$ref": "#/definitions/Pet"}}],
			"responses": {"200": {"description": "ok"}}}}},
		"definitions": {"Pet": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}`, backend.URL, validateJSON)
	if st, _, b := call(t, "POST", gw+"/pets/pets", `{"name":"Rex"}`, key...); st != 200 {
		t.Fatalf("valid: %d %s", st, b)
	}
	if st, _, b := call(t, "POST", gw+"/pets/pets", `{"name":7}`, key...); st != 400 || !strings.Contains(string(b), "definition Pet") {
		t.Fatalf("invalid: %d %s", st, b)
	}
}
