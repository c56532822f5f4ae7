package openapi

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/resource"
)

func load(t *testing.T, name string) *Imported {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(context.Background(), data)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	imp, err := doc.Convert("pets", "")
	if err != nil {
		t.Fatal(err)
	}
	return imp
}

func TestPetstores(t *testing.T) {
	for _, tc := range []struct {
		file, format string
		ops          int
	}{
		{"petstore-2.0.json", "swagger-2.0", 3},
		{"petstore-3.0.yaml", "openapi-3.0", 3},
		{"petstore-3.1.yaml", "openapi-3.1", 2},
	} {
		t.Run(tc.file, func(t *testing.T) {
			imp := load(t, tc.file)
			if imp.Spec.SourceFormat != tc.format || !strings.Contains(imp.Spec.Value, `"/pets/{petId}"`) {
				t.Fatalf("spec %s: %.200s", imp.Spec.SourceFormat, imp.Spec.Value)
			}
			if imp.API.DisplayName != "Swagger Petstore" || imp.API.Path != "v1" || imp.API.ServiceURL != "http://petstore.swagger.io/v1" {
				t.Fatalf("api = %+v", imp.API)
			}
			if len(imp.Operations) != tc.ops {
				t.Fatalf("%d operations, want %d", len(imp.Operations), tc.ops)
			}
			byName := map[string]int{}
			for i, o := range imp.Operations {
				byName[o.Name] = i
			}
			list := imp.Operations[byName["listPets"]]
			if list.Method != "GET" || list.URLTemplate != "/pets" || list.DisplayName != "List all pets" {
				t.Fatalf("listPets = %+v", list)
			}
			if list.Request == nil || len(list.Request.QueryParameters) != 1 || list.Request.QueryParameters[0].Name != "limit" || list.Request.QueryParameters[0].Type != "integer" {
				t.Fatalf("listPets request = %+v", list.Request)
			}
			if len(list.Responses) == 0 || list.Responses[0].StatusCode != 200 || len(list.Responses[0].Representations) != 1 ||
				list.Responses[0].Representations[0].ContentType != "application/json" {
				t.Fatalf("listPets responses = %+v", list.Responses)
			}
			show := imp.Operations[byName["showPetById"]]
			if show.URLTemplate != "/pets/{petId}" || len(show.TemplateParameters) != 1 || show.TemplateParameters[0].Name != "petId" || !show.TemplateParameters[0].Required {
				t.Fatalf("showPetById = %+v", show)
			}
		})
	}
	// Examples and response headers survive.
	imp := load(t, "petstore-3.0.yaml")
	for _, o := range imp.Operations {
		switch o.Name {
		case "listPets":
			r := o.Responses[0]
			if len(r.Headers) != 1 || r.Headers[0].Name != "x-next" || string(r.Representations[0].Examples["two"]) != `[{"id":1,"name":"Rex"},{"id":2,"name":"Tom"}]` {
				t.Errorf("listPets 200 = %+v", r)
			}
			if len(imp.Skipped) == 0 || !strings.Contains(strings.Join(imp.Skipped, "\n"), `response "default"`) {
				t.Errorf("skipped = %v", imp.Skipped)
			}
		case "createPets":
			if o.Request == nil || len(o.Request.Representations) != 1 || string(o.Request.Representations[0].Examples["default"]) != `{"id":3,"name":"Kitty"}` ||
				o.Request.Representations[0].SchemaRef != "#/components/schemas/Pet" {
				t.Errorf("createPets request = %+v", o.Request)
			}
		}
	}
}

func TestLargeDescription(t *testing.T) {
	imp := load(t, "library-3.0.json")
	if len(imp.Operations) != 72 {
		t.Fatalf("%d operations, want 72", len(imp.Operations))
	}
	if imp.API.Path != "library/v2" || imp.API.ServiceURL != "https://library.example.com/library/v2" {
		t.Fatalf("api = %+v", imp.API)
	}
	for _, o := range imp.Operations {
		if o.Name == "get-book" {
			if len(o.TemplateParameters) != 1 || o.TemplateParameters[0].Name != "bookId" {
				t.Fatalf("path-level parameter lost: %+v", o)
			}
			if len(o.Responses) != 2 || o.Responses[1].StatusCode != 404 || o.Responses[1].Representations[0].ContentType != "application/problem+json" {
				t.Fatalf("referenced response lost: %+v", o.Responses)
			}
		}
		if o.Name == "list-books" {
			q := o.Request.QueryParameters
			if len(q) != 2 || q[0].DefaultValue != "20" || strings.Join(q[1].Values, ",") != "asc,desc" || len(o.Request.Headers) != 1 {
				t.Fatalf("list-books request = %+v", o.Request)
			}
		}
	}
}

func TestBadDocuments(t *testing.T) {
	for _, tc := range []struct{ name, doc, pointer, msg string }{
		{"not yaml", "{openapi: [", "", "neither JSON nor YAML"},
		{"no version", `{"info": {"title": "x", "version": "1"}}`, "", "neither an openapi nor a swagger field"},
		{"version", `{"openapi": "4.0.0", "info": {"title": "x", "version": "1"}, "paths": {}}`, "/openapi", "not supported"},
		{"swagger version", `{"swagger": "1.2"}`, "/swagger", "not supported"},
		{"missing info title", "openapi: 3.0.0\ninfo:\n  version: '1'\npaths: {}\n", "/info", "title"},
		{"bad operation", "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths:\n  /pets/{id}:\n    get:\n      responses: {}\n", "/paths/~1pets~1{id}/get", ""},
		{"bad schema", "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths: {}\ncomponents:\n  schemas:\n    Pet: {type: object, required: 5}\n", "", "required"},
		{"dangling ref", "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths:\n  /p:\n    get:\n      responses:\n        '200': {$ref: '#/components/responses/Nope'}\n", "/components/responses/Nope", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(context.Background(), []byte(tc.doc))
			var oe *Error
			if !errors.As(err, &oe) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if tc.pointer != "" && oe.Pointer != tc.pointer {
				t.Errorf("pointer = %q, want %q (%v)", oe.Pointer, tc.pointer, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

func TestOperationNames(t *testing.T) {
	used := map[string]bool{}
	for _, tc := range []struct{ id, method, path, want string }{
		{"listPets", "GET", "/pets", "listPets"},
		{"", "GET", "/pets/{id}", "get-pets-id"},
		{"list pets!", "GET", "/x", "list-pets"},
		{"listPets", "GET", "/other", "listPets-2"},
		{"ListPets", "GET", "/other", "ListPets-3"},
	} {
		if got := uniqueName(operationName(tc.id, tc.method, tc.path), used); got != tc.want {
			t.Errorf("name(%q, %s %s) = %q, want %q", tc.id, tc.method, tc.path, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"petstore-2.0.json", "petstore-3.0.yaml", "petstore-3.1.yaml"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(context.Background(), data)
		if err != nil {
			return
		}
		if _, err := doc.Convert("fuzz", ""); err != nil {
			t.Fatal(err)
		}
	})
}

// A document generated from imported operations describes the same paths,
// methods and parameters, and is itself a valid document.
func TestGenerateRoundTrip(t *testing.T) {
	imp := load(t, "library-3.0.json")
	star := &resource.Operation{Method: "*", URLTemplate: "/*"}
	resource.SetMeta(star, "/apis/pets/operations/all")
	doc, err := Generate(context.Background(), imp.API, append(imp.Operations, star))
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(context.Background(), doc)
	if err != nil {
		t.Fatalf("generated document does not parse: %v\n%.500s", err, doc)
	}
	again, err := back.Convert("pets", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Operations) != len(imp.Operations) {
		t.Fatalf("%d operations after the round trip, want %d", len(again.Operations), len(imp.Operations))
	}
	want := map[string]*resource.Operation{}
	for _, o := range imp.Operations {
		want[o.Name] = o
	}
	for _, o := range again.Operations {
		w := want[o.Name]
		if w == nil || w.Method != o.Method || w.URLTemplate != o.URLTemplate || len(w.TemplateParameters) != len(o.TemplateParameters) ||
			len(w.Responses) != len(o.Responses) {
			t.Errorf("%s: %+v, want %+v", o.Name, o, w)
		}
	}
	if !strings.Contains(string(doc), `"x-tollgate-omitted":["* /*"]`) {
		t.Errorf("the * operation is not listed as omitted: %.300s", doc)
	}
}
