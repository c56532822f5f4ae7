package management_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/store"
)

// Request bodies and paths that encoding/json or the router used to accept
// silently are refused with 400 naming what is wrong, and nothing is stored
// (issue 9, item 13).
func TestValidationGaps(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		before := snapshot(t, st)
		refused := func(method, path string, body any, target, wantMsg string) {
			t.Helper()
			r := a.do(method, path, body)
			if r.status != http.StatusBadRequest {
				t.Errorf("%s %s %.60q: status %d, want 400: %s", method, path, body, r.status, r.body)
				return
			}
			_, msg, details := errorOf(t, r)
			got := msg
			if target != "" {
				got = details[target]
			}
			if !strings.Contains(got, wantMsg) {
				t.Errorf("%s %s %.60q: want %q in %s, got %s", method, path, body, wantMsg, target, r.body)
			}
		}
		refused("PUT", "/apis/x", "null", "body", "null")
		refused("PUT", "/apis/x", `{"path":"a","path":"b"}`, "path", "more than once")
		refused("PUT", "/apis/x", `{"path":"a","subscriptionKeyParameterNames":{"header":"h","header":"i"}}`, "subscriptionKeyParameterNames.header", "more than once")
		refused("POST", "/subscriptions/s/regeneratePrimaryKey", `{"a":1,"a":2}`, "a", "more than once")
		refused("PUT", "/apis/x", []byte("{\"path\":\"a\",\"displayName\":\"\xff\xfe\"}"), "body", "UTF-8")
		refused("PUT", "/apis/x", `{"path":"a","displayName":"a\u0000b"}`, "displayName", "NUL")
		refused("PUT", "/apis/x", `{"path":"a","protocols":["http\u0000"]}`, "protocols", "NUL")
		for _, p := range []string{"../x", "a/./b", "a/..", "%2e%2E/x"} {
			refused("PUT", "/apis/x", m{"path": p}, "path", "'..'")
		}
		refused("PUT", "/apis/x", m{"path": "a", "displayName": strings.Repeat("d", 301)}, "displayName", "at most 300")
		refused("PUT", "/apis/x", m{"path": "a", "description": strings.Repeat("d", 40000)}, "description", "at most")
		refused("PUT", "/products/p", m{"displayName": "P", "description": strings.Repeat("é", 1001)}, "description", "at most 1000")
		refused("PUT", "/users/u", m{"email": "u@example.com", "firstName": strings.Repeat("f", 101), "lastName": "L"}, "firstName", "at most 100")
		for _, path := range []string{"/apis/Bad Name", "/apis/-x", "/apis/..", "/apis/" + strings.Repeat("n", 81), "/apis/ok/operations/b@d", "/apis/b@d/operations"} {
			refused("PUT", path, m{"path": "b"}, "", "not a valid name")
			if r := a.do("GET", path, nil); r.status != http.StatusBadRequest {
				t.Errorf("GET %s: %d, want 400", path, r.status)
			}
		}
		if after := snapshot(t, st); !reflect.DeepEqual(before, after) {
			t.Fatalf("a refused request changed the store:\nbefore %v\nafter  %v", before, after)
		}
		// Limits hold at the boundary, and in characters, not bytes.
		a.must(201, "PUT", "/apis/x", m{"path": "a", "displayName": strings.Repeat("é", 300)})
	})
}

// Names are case-insensitive, as in APIM: a case-variant of an existing
// name is the same resource; it is found by any spelling and is never
// created a second time (issue 9, item 13).
func TestNamesAreCaseInsensitive(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		a.must(201, "PUT", "/apis/CaseA", m{"path": "casea", "serviceUrl": "http://127.0.0.1:1"})
		r := a.do("PUT", "/apis/casea", m{"path": "other", "serviceUrl": "http://127.0.0.1:1"})
		if r.status != http.StatusConflict {
			t.Fatalf("PUT of a case-variant: %d, want 409: %s", r.status, r.body)
		}
		if _, msg, _ := errorOf(t, r); !strings.Contains(msg, "/apis/CaseA") {
			t.Errorf("409 does not name the existing resource: %s", msg)
		}
		if got := a.must(200, "GET", "/apis/CASEA", nil); got["id"] != "/apis/CaseA" || got["path"] != "casea" {
			t.Errorf("GET by a case-variant: %v", got)
		}
		a.must(200, "PATCH", "/apis/casea", m{"displayName": "Patched"})
		a.must(201, "PUT", "/apis/CASEA/operations/Get", m{"method": "GET", "urlTemplate": "/"})
		if r := a.do("PUT", "/apis/casea/operations/GET", m{"method": "GET", "urlTemplate": "/x"}); r.status != http.StatusConflict {
			t.Errorf("PUT of a case-variant child: %d, want 409: %s", r.status, r.body)
		}
		ops := a.must(200, "GET", "/apis/casea/operations", nil)
		if ops["count"] != 1.0 {
			t.Fatalf("operations listed by a case-variant parent: %v", ops)
		}
		recs, err := st.List(t.Context(), "apis", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].ID != "/apis/CaseA" || !strings.Contains(string(recs[0].Body), "Patched") {
			t.Fatalf("stored APIs: %v", recs)
		}
		// The operation was stored under the API's own spelling, where the
		// gateway looks for it.
		if _, err := st.Get(t.Context(), "/apis/CaseA/operations/Get"); err != nil {
			t.Fatalf("operation created through a case-variant parent: %v", err)
		}
		a.must(204, "DELETE", "/apis/caseA", nil)
		if recs, _, _ := st.All(t.Context()); len(recs) != 0 {
			t.Fatalf("after DELETE by a case-variant: %v", recs)
		}
	})
}
