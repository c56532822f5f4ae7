package management_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/store"
)

// Conditional requests follow RFC 9110 §13 (issue 9, item 14).
func TestConditionalRequests(t *testing.T) {
	user := m{"email": "bo@example.com", "firstName": "Bo", "lastName": "B"}
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		r := a.do("PUT", "/users/bo", user)
		etag := r.header.Get("ETag")
		if r.status != 201 || !strings.HasPrefix(etag, `"`) {
			t.Fatalf("create: %d etag %q", r.status, etag)
		}
		note := func() string {
			t.Helper()
			got := a.must(200, "GET", "/users/bo", nil)["note"]
			s, _ := got.(string)
			return s
		}
		fails := func(method string, body any, header, value, wantMsg string) {
			t.Helper()
			r := a.do(method, "/users/bo", body, header, value)
			if r.status != http.StatusPreconditionFailed {
				t.Fatalf("%s with %s: %s: status %d, want 412: %s", method, header, value, r.status, r.body)
			}
			if _, msg, _ := errorOf(t, r); !strings.Contains(msg, wantMsg) {
				t.Errorf("%s with %s: %s: message %q, want it to say %q", method, header, value, msg, wantMsg)
			}
		}

		// A weak tag never matches If-Match (strong comparison), even
		// when its opaque part is the current one.
		fails("PATCH", m{"note": "weak"}, "If-Match", "W/"+etag, "weak")
		fails("DELETE", nil, "If-Match", "W/"+etag, "weak")
		if got := note(); got == "weak" {
			t.Fatal("a weak If-Match let the write through")
		}
		// Lists: any strong member matching is enough.
		a.must(200, "PATCH", "/users/bo", m{"note": "listed"}, "If-Match", `"stale", `+etag+`, W/"other"`)
		if got := note(); got != "listed" {
			t.Fatalf("note %q after a PATCH with a matching If-Match list", got)
		}
		fails("PATCH", m{"note": "x"}, "If-Match", `"stale", "older"`, "matches none")
		// If-None-Match: * refuses to overwrite an existing item.
		fails("PUT", m{"email": "x@example.com", "firstName": "X", "lastName": "X"}, "If-None-Match", "*", "already exists")
		if got := a.must(200, "GET", "/users/bo", nil)["email"]; got != "bo@example.com" {
			t.Fatalf("If-None-Match: * overwrote the user: email %v", got)
		}
		// ... and creates a missing one.
		a.must(201, "PUT", "/users/new", user, "If-None-Match", "*")
		// If-Match: * on a missing item says it does not exist.
		r2 := a.do("PUT", "/users/nobody", user, "If-Match", "*")
		if r2.status != 412 {
			t.Fatalf("If-Match: * on a missing item: %d", r2.status)
		}
		if _, msg, _ := errorOf(t, r2); !strings.Contains(msg, "does not exist") || strings.Contains(msg, "changed") {
			t.Errorf("If-Match: * on a missing item: %q, want it to say the item does not exist", msg)
		}
		if r := a.do("GET", "/users/nobody", nil); r.status != 404 {
			t.Fatalf("a refused If-Match: * created the item: GET %d", r.status)
		}
		// If-None-Match on GET: 304 when the tag (weakly) matches.
		cur := a.do("GET", "/users/bo", nil).header.Get("ETag")
		for _, v := range []string{cur, "W/" + cur, `"other", ` + cur, "*"} {
			if r := a.do("GET", "/users/bo", nil, "If-None-Match", v); r.status != http.StatusNotModified || len(r.body) != 0 || r.header.Get("ETag") != cur {
				t.Errorf("GET with If-None-Match %s: %d %q etag %q, want 304 without body", v, r.status, r.body, r.header.Get("ETag"))
			}
		}
		a.must(200, "GET", "/users/bo", nil, "If-None-Match", `"other"`)
		// A malformed tag is a 400 naming the header.
		r3 := a.do("PATCH", "/users/bo", m{"note": "x"}, "If-Match", `"unterminated`)
		if code, msg, _ := errorOf(t, r3); r3.status != 400 || !strings.Contains(msg, "If-Match") {
			t.Errorf("malformed If-Match: %d %s %q", r3.status, code, msg)
		}
		// DELETE with a matching list succeeds.
		a.must(204, "DELETE", "/users/bo", nil, "If-Match", `"a", `+cur)
	})
}
