package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	return "../../internal/openapi/testdata/" + name
}

func mgmtGet(t *testing.T, s *cliServer, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+cliAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// Importing each Petstore through the CLI creates the API and operations
// and keeps the document, which export returns.
func TestImportOpenAPI(t *testing.T) {
	cliBackends(t, func(t *testing.T, s *cliServer) {
		for _, tc := range []struct{ file, api string }{
			{"petstore-2.0.json", "pets2"}, {"petstore-3.0.yaml", "pets3"}, {"petstore-3.1.yaml", "pets31"},
		} {
			out := s.ok(t, "", "import", "openapi", fixture(t, tc.file), "--api", tc.api, "--path", tc.api)
			if !strings.Contains(out, "create /apis/"+tc.api) {
				t.Fatalf("import %s: %s", tc.file, out)
			}
			code, body := mgmtGet(t, s, "/apis/"+tc.api+"/operations/showPetById")
			var op map[string]any
			json.Unmarshal(body, &op)
			if code != 200 || op["urlTemplate"] != "/pets/{petId}" || op["method"] != "GET" || op["templateParameters"] == nil {
				t.Fatalf("%s: operation = %d %s", tc.file, code, body)
			}
			code, body = mgmtGet(t, s, "/apis/"+tc.api+"?export=openapi")
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); code != 200 || err != nil || doc["paths"].(map[string]any)["/pets/{petId}"] == nil {
				t.Fatalf("%s: export = %d %.300s", tc.file, code, body)
			}
		}
		// 3.1 is kept as it was written (webhooks and all).
		_, body := mgmtGet(t, s, "/apis/pets31?export=openapi")
		if !strings.Contains(string(body), `"webhooks"`) || !strings.Contains(string(body), `"3.1.0"`) {
			t.Fatalf("3.1 export lost its content: %.300s", body)
		}

		// Re-import: updates; --delete-missing removes operations the
		// document no longer has.
		extra := "kind: operation\nid: /apis/pets3/operations/legacy\nmethod: GET\nurlTemplate: /legacy\n"
		s.ok(t, extra, "apply", "-f", "-")
		out := s.ok(t, "", "import", "openapi", fixture(t, "petstore-3.0.yaml"), "--api", "pets3")
		if !strings.Contains(out, "update /apis/pets3") || !strings.Contains(out, "0 to create, 3 to update; 1 not in the document are kept") {
			t.Fatalf("re-import: %s", out)
		}
		s.ok(t, "", "import", "openapi", fixture(t, "petstore-3.0.yaml"), "--api", "pets3", "--delete-missing")
		if code, _ := mgmtGet(t, s, "/apis/pets3/operations/legacy"); code != 404 {
			t.Fatalf("legacy operation still there: %d", code)
		}

		// The larger document, fetched from a URL, dry run first.
		lib, err := os.ReadFile(fixture(t, "library-3.0.json"))
		if err != nil {
			t.Fatal(err)
		}
		docSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(lib) }))
		defer docSrv.Close()
		out = s.ok(t, "", "import", "openapi", docSrv.URL+"/openapi.json", "--api", "library", "--dry-run")
		if !strings.Contains(out, "72 to create") || !strings.Contains(out, "dry run") {
			t.Fatalf("dry run: %s", out)
		}
		if code, _ := mgmtGet(t, s, "/apis/library"); code != 404 {
			t.Fatal("dry run created the API")
		}
		s.ok(t, "", "import", "openapi", docSrv.URL+"/openapi.json", "--api", "library")
		code, body := mgmtGet(t, s, "/apis/library/operations?$top=1000")
		var list struct{ Count int }
		json.Unmarshal(body, &list)
		if code != 200 || list.Count != 72 {
			t.Fatalf("library operations: %d %d", code, list.Count)
		}

		// A bad document is refused with the pointer of the problem, and
		// nothing is written.
		bad := writeCLIFiles(t, map[string]string{"bad.yaml": "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths:\n  /pets/{id}:\n    get:\n      responses: {}\n"})
		r := s.cli(t, "", "import", "openapi", bad+"/bad.yaml", "--api", "bad")
		if r.code != 1 || !strings.Contains(r.stderr, "/paths/~1pets~1{id}/get") {
			t.Fatalf("bad document: exit %d: %s", r.code, r.stderr)
		}
		if code, _ := mgmtGet(t, s, "/apis/bad"); code != 404 {
			t.Fatal("a refused document created the API")
		}
		if code, body := mgmtGet(t, s, "/apis/library?export=swagger"); code != 400 {
			t.Fatalf("export=swagger: %d %s", code, body)
		}
	})
}

// An API made by hand is exported as a document made from its operations.
func TestExportGeneratedOpenAPI(t *testing.T) {
	s := newCLIServer(t)
	s.ok(t, "kind: api\nid: shop\npath: shop\ndisplayName: Shop\n---\nkind: operation\nid: shop/get-item\nmethod: GET\nurlTemplate: /items/{id}\n---\nkind: operation\nid: shop/all\nmethod: \"*\"\nurlTemplate: /*\n", "apply", "-f", "-")
	code, body := mgmtGet(t, s, "/apis/shop?export=openapi")
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Info    struct{ Title string }    `json:"info"`
		Servers []struct{ URL string }    `json:"servers"`
		Paths   map[string]map[string]any `json:"paths"`
		Omitted []string                  `json:"x-tollgate-omitted"`
	}
	if err := json.Unmarshal(body, &doc); code != 200 || err != nil {
		t.Fatalf("export: %d %v %s", code, err, body)
	}
	if doc.OpenAPI != "3.0.3" || doc.Info.Title != "Shop" || len(doc.Servers) != 1 || doc.Servers[0].URL != "/shop" ||
		doc.Paths["/items/{id}"]["get"] == nil || len(doc.Omitted) != 1 {
		t.Fatalf("generated document: %s", body)
	}
}
