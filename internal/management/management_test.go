package management_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/teststores"
)

const adminKey = "test-admin-key-0123456789"

// backends runs fn against every store backend available.
func backends(t *testing.T, fn func(t *testing.T, st store.Store)) { teststores.Each(t, fn) }

type api struct {
	t    *testing.T
	srv  *httptest.Server
	st   store.Store
	mgmt *management.Server
}

func newAPI(t *testing.T, st store.Store) *api { return newAPIWith(t, st, nil) }

// newAPIWith is newAPI with options changed by opt (if not nil).
func newAPIWith(t *testing.T, st store.Store, opt func(*management.Options)) *api {
	raw := make([]byte, 32)
	rand.Read(raw)
	kek, err := keyring.NewLocalKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	opts := management.Options{
		Store: st, Registry: resource.NewRegistry(), Keyring: keyring.New(kek),
		Hasher: keyring.NewHasher([]byte("lookup")), AdminKey: adminKey,
	}
	if opt != nil {
		opt(&opts)
	}
	m := management.New(opts)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, st: st, mgmt: m}
}

// testClient gives up on a hanging server, so that a hang fails the test
// with a message rather than hitting the test binary's timeout.
var testClient = &http.Client{Timeout: time.Minute}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, r.body)
	}
	return m
}

func (a *api) do(method, path string, body any, headers ...string) resp {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, a.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := testClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (a *api) must(status int, method, path string, body any, headers ...string) map[string]any {
	a.t.Helper()
	r := a.do(method, path, body, headers...)
	if r.status != status {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.json(a.t)
}

type m = map[string]any

func errorOf(t *testing.T, r resp) (code, message string, details map[string]string) {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details []struct {
				Target, Message string
			} `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Code == "" {
		t.Fatalf("not an error body (%v): %s", err, r.body)
	}
	details = map[string]string{}
	for _, d := range body.Error.Details {
		details[d.Target] = d.Message
	}
	return body.Error.Code, body.Error.Message, details
}

func TestAuthentication(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		for _, h := range []string{"", "Bearer", "Bearer wrong-key", "Basic " + adminKey} {
			r := a.do("GET", "/apis", nil, "Authorization", h)
			if r.status != 401 {
				t.Errorf("Authorization %q: status %d, want 401", h, r.status)
			}
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("Authorization %q: no WWW-Authenticate", h)
			}
		}
		a.must(200, "GET", "/apis", nil)
		// Health and readiness need no credential.
		for _, p := range []string{"/health", "/ready"} {
			if r := a.do("GET", p, nil, "Authorization", ""); r.status != 200 {
				t.Errorf("%s: %d %s", p, r.status, r.body)
			}
		}
	})
}

// TestCRUD creates, reads, replaces, patches, lists and deletes every core
// resource kind.
func TestCRUD(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		cases := []struct {
			path   string
			create m
			patch  m
			check  string // a field whose patched value is checked
		}{
			{"/apis/weather", m{"displayName": "Weather", "path": "weather", "serviceUrl": "https://backend.example/w"}, m{"description": "Forecasts"}, "description"},
			{"/apis/weather/operations/get-forecast", m{"method": "GET", "urlTemplate": "/forecast/{city}"}, m{"displayName": "Get forecast"}, "displayName"},
			{"/products/gold", m{"displayName": "Gold", "subscriptionsLimit": 3}, m{"state": "published"}, "state"},
			{"/products/gold/apis/weather", m{}, nil, ""},
			{"/users/ana", m{"email": "ana@example.com", "firstName": "Ana", "lastName": "Lopez"}, m{"note": "VIP"}, "note"},
			{"/subscriptions/ana-gold", m{"scope": "/products/gold", "ownerId": "/users/ana"}, m{"state": "suspended"}, "state"},
			{"/namedValues/region", m{"displayName": "region", "value": "eu-west"}, m{"tags": []string{"geo"}}, "tags"},
			{"/policies/policy", m{"format": "xml", "value": "<policies><inbound/></policies>"}, m{"value": "<policies><inbound><base/></inbound></policies>"}, "value"},
		}
		for _, c := range cases {
			got := a.must(201, "PUT", c.path, c.create)
			if got["id"] != c.path {
				t.Errorf("%s: id = %v", c.path, got["id"])
			}
			if want := c.path[strings.LastIndexByte(c.path, '/')+1:]; got["name"] != want {
				t.Errorf("%s: name = %v, want %s", c.path, got["name"], want)
			}
			a.must(200, "GET", c.path, nil)
			a.must(200, "PUT", c.path, c.create)
			if c.patch != nil {
				got = a.must(200, "PATCH", c.path, c.patch)
				if !reflect.DeepEqual(jsonRound(got[c.check]), jsonRound(c.patch[c.check])) {
					t.Errorf("%s: after PATCH %s = %v", c.path, c.check, got[c.check])
				}
				// PATCH keeps the fields it does not name.
				for k, v := range c.create {
					if k == c.check {
						continue
					}
					if !reflect.DeepEqual(jsonRound(got[k]), jsonRound(v)) {
						t.Errorf("%s: PATCH lost %s: %v", c.path, k, got[k])
					}
				}
			}
			coll := c.path[:strings.LastIndexByte(c.path, '/')]
			if !strings.HasSuffix(c.path, "/policy") {
				list := a.must(200, "GET", coll, nil)
				if list["count"].(float64) < 1 {
					t.Errorf("%s: list count %v", coll, list["count"])
				}
			}
		}
		// Delete children first, then check 404s.
		for i := len(cases) - 1; i >= 0; i-- {
			p := cases[i].path
			a.must(204, "DELETE", p, nil)
			if r := a.do("GET", p, nil); r.status != 404 {
				t.Errorf("GET %s after delete: %d", p, r.status)
			}
			if r := a.do("DELETE", p, nil); r.status != 404 {
				t.Errorf("second DELETE %s: %d", p, r.status)
			}
		}
	})
}

func jsonRound(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

func TestETag(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		r := a.do("PUT", "/users/bo", m{"email": "bo@example.com", "firstName": "Bo", "lastName": "B"})
		etag := r.header.Get("ETag")
		if r.status != 201 || etag == "" {
			t.Fatalf("create: %d etag %q", r.status, etag)
		}
		a.must(412, "PATCH", "/users/bo", m{"note": "x"}, "If-Match", `"stale"`)
		a.must(200, "PATCH", "/users/bo", m{"note": "x"}, "If-Match", etag)
		// The ETag changed with the write.
		a.must(412, "PUT", "/users/bo", m{"email": "bo@example.com", "firstName": "Bo", "lastName": "B"}, "If-Match", etag)
		a.must(412, "DELETE", "/users/bo", nil, "If-Match", etag)
		a.must(412, "PUT", "/users/nobody", m{"email": "n@example.com", "firstName": "N", "lastName": "N"}, "If-Match", "*")
		a.must(204, "DELETE", "/users/bo", nil, "If-Match", "*")
	})
}

func TestBadRequests(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		before := snapshot(t, st)

		r := a.do("PUT", "/apis/x", m{"path": "x", "displayName": 5, "subscriptionRequired": "yes", "colour": "red", "protocols": []string{"ftp"}})
		if r.status != 400 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		_, _, details := errorOf(t, r)
		for _, target := range []string{"displayName", "subscriptionRequired", "colour", "protocols[0]"} {
			if details[target] == "" {
				t.Errorf("no detail for %s in %v", target, details)
			}
		}
		if !strings.Contains(details["colour"], "unknown") {
			t.Errorf("colour: %q", details["colour"])
		}

		r = a.do("PUT", "/apis/x", `{"path": "x",`)
		if code, _, _ := errorOf(t, r); r.status != 400 || code != "ValidationError" {
			t.Errorf("malformed JSON: %d %s", r.status, r.body)
		}
		// Hidden fields cannot be set.
		r = a.do("PUT", "/subscriptions/s", m{"scope": "/apis", "primaryKeyHash": "00"})
		if _, _, d := errorOf(t, r); r.status != 400 || d["primaryKeyHash"] == "" {
			t.Errorf("hidden field: %d %s", r.status, r.body)
		}
		big := `{"description": "` + strings.Repeat("a", management.MaxBody) + `"}`
		if r := a.do("PUT", "/apis/x", big); r.status != 413 {
			t.Errorf("big body: %d", r.status)
		}
		// An operation under a missing API.
		if r := a.do("PUT", "/apis/nope/operations/o", m{"method": "GET", "urlTemplate": "/"}); r.status != 404 {
			t.Errorf("orphan operation: %d %s", r.status, r.body)
		}
		if r := a.do("PUT", "/subscriptions/s", m{"scope": "/products/none", "ownerId": "/users/none"}); r.status != 400 {
			t.Errorf("dangling references: %d %s", r.status, r.body)
		} else if _, _, d := errorOf(t, r); d["scope"] == "" || d["ownerId"] == "" {
			t.Errorf("dangling references details: %v", d)
		}
		// An invalid name is a bad request, not a missing path (issue 9).
		if r := a.do("PUT", "/apis/Bad Name", m{"path": "b"}); r.status != 400 {
			t.Errorf("bad name: %d", r.status)
		}
		if after := snapshot(t, st); !reflect.DeepEqual(before, after) {
			t.Errorf("rejected requests changed the store:\nbefore %v\nafter  %v", before, after)
		}
	})
}

// snapshot is the whole configuration and its version.
func snapshot(t *testing.T, st store.Store) any {
	recs, v, err := st.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return []any{v, recs}
}

func TestIntegrity(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		a.must(201, "PUT", "/apis/one", m{"path": "shared/path"})
		r := a.do("PUT", "/apis/two", m{"path": "/shared/path/"})
		if r.status != 409 || !strings.Contains(string(r.body), "/apis/one") {
			t.Errorf("duplicate path: %d %s", r.status, r.body)
		}
		a.must(201, "PUT", "/apis/one/operations/get", m{"method": "GET", "urlTemplate": "/items/{id}"})
		if r := a.do("PUT", "/apis/one/operations/get2", m{"method": "get", "urlTemplate": "/items/{other}"}); r.status != 409 {
			t.Errorf("duplicate operation: %d %s", r.status, r.body)
		}
		a.must(201, "PUT", "/apis/one/policies/policy", m{"value": "<policies/>"})
		a.must(201, "PUT", "/apis/one/operations/get/policies/policy", m{"value": "<policies/>"})
		a.must(201, "PUT", "/products/p", m{"displayName": "P"})
		a.must(201, "PUT", "/products/p/apis/one", m{})
		a.must(201, "PUT", "/users/u", m{"email": "u@example.com", "firstName": "U", "lastName": "U"})
		a.must(201, "PUT", "/subscriptions/s", m{"scope": "/products/p", "ownerId": "/users/u"})

		// Deleting the product needs deleteSubscriptions.
		r = a.do("DELETE", "/products/p", nil)
		if r.status != 409 || !strings.Contains(string(r.body), "deleteSubscriptions") {
			t.Errorf("delete product with subscriptions: %d %s", r.status, r.body)
		}
		// Deleting the API removes its operations, policies and links.
		a.must(204, "DELETE", "/apis/one", nil)
		for _, p := range []string{"/apis/one/operations/get", "/apis/one/policies/policy", "/apis/one/operations/get/policies/policy", "/products/p/apis/one"} {
			if r := a.do("GET", p, nil); r.status != 404 {
				t.Errorf("%s survived its API: %d", p, r.status)
			}
		}
		a.must(204, "DELETE", "/products/p?deleteSubscriptions=true", nil)
		if r := a.do("GET", "/subscriptions/s", nil); r.status != 404 {
			t.Errorf("subscription survived its product: %d", r.status)
		}

		// An API belongs to at most one open product.
		a.must(201, "PUT", "/apis/open", m{"path": "open"})
		a.must(201, "PUT", "/products/free1", m{"subscriptionRequired": false})
		a.must(201, "PUT", "/products/free2", m{"subscriptionRequired": false})
		a.must(201, "PUT", "/products/free1/apis/open", m{})
		if r := a.do("PUT", "/products/free2/apis/open", m{}); r.status != 409 {
			t.Errorf("second open product: %d %s", r.status, r.body)
		}
		// Subscription limit per user.
		a.must(201, "PUT", "/products/one-each", m{"subscriptionsLimit": 1})
		a.must(201, "PUT", "/subscriptions/first", m{"scope": "/products/one-each", "ownerId": "/users/u"})
		if r := a.do("PUT", "/subscriptions/second", m{"scope": "/products/one-each", "ownerId": "/users/u"}); r.status != 409 {
			t.Errorf("over the subscriptions limit: %d %s", r.status, r.body)
		}
		if r := a.do("DELETE", "/users/u", nil); r.status != 409 {
			t.Errorf("delete user with subscriptions: %d", r.status)
		}
	})
}

func TestSecrets(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		a.must(201, "PUT", "/products/p", m{})
		got := a.must(201, "PUT", "/subscriptions/s", m{"scope": "/products/p", "primaryKey": "primary-key-0123456789"})
		for _, f := range []string{"primaryKey", "secondaryKey", "primaryKeyHash", "secondaryKeyHash"} {
			if _, ok := got[f]; ok {
				t.Errorf("PUT response shows %s", f)
			}
		}
		got = a.must(200, "GET", "/subscriptions/s", nil)
		if _, ok := got["primaryKey"]; ok {
			t.Error("GET shows primaryKey")
		}
		// The key is sealed in the store, not in the clear.
		rec, err := st.Get(context.Background(), "/subscriptions/s")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(rec.Body, []byte("primary-key-0123456789")) {
			t.Error("the key is stored in the clear")
		}
		sec := a.must(200, "POST", "/subscriptions/s/listSecrets", nil)
		if sec["primaryKey"] != "primary-key-0123456789" || len(sec["secondaryKey"].(string)) != 32 {
			t.Errorf("listSecrets: %v", sec)
		}
		a.must(204, "POST", "/subscriptions/s/regeneratePrimaryKey", nil)
		sec2 := a.must(200, "POST", "/subscriptions/s/listSecrets", nil)
		if sec2["primaryKey"] == sec["primaryKey"] || sec2["secondaryKey"] != sec["secondaryKey"] {
			t.Errorf("after regeneratePrimaryKey: %v", sec2)
		}
		// Replacing without keys keeps them.
		a.must(200, "PUT", "/subscriptions/s", m{"scope": "/products/p", "displayName": "renamed"})
		if sec3 := a.must(200, "POST", "/subscriptions/s/listSecrets", nil); !reflect.DeepEqual(sec3, sec2) {
			t.Errorf("replace lost keys: %v vs %v", sec3, sec2)
		}
		// A key already in use is refused.
		if r := a.do("PUT", "/subscriptions/t", m{"scope": "/products/p", "primaryKey": sec2["secondaryKey"]}); r.status != 400 {
			t.Errorf("reused key: %d %s", r.status, r.body)
		}
		// Secret named values are write-only; plain ones are not.
		got = a.must(201, "PUT", "/namedValues/token", m{"displayName": "token", "value": "s3cret-value", "secret": true})
		if _, ok := got["value"]; ok {
			t.Error("secret named value shown")
		}
		if got := a.must(200, "POST", "/namedValues/token/listValue", nil); got["value"] != "s3cret-value" {
			t.Errorf("listValue: %v", got)
		}
		got = a.must(201, "PUT", "/namedValues/plain", m{"displayName": "plain", "value": "visible"})
		if got["value"] != "visible" {
			t.Errorf("plain named value: %v", got)
		}
	})
}

func TestListPagingAndFilter(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		for _, n := range []string{"alpha", "beta", "gamma", "delta", "epsilon"} {
			a.must(201, "PUT", "/products/"+n, m{"displayName": strings.ToUpper(n[:1]) + n[1:], "state": map[bool]string{true: "published", false: "notPublished"}[len(n) == 5]})
		}
		page := a.must(200, "GET", "/products?$top=2", nil)
		if page["count"].(float64) != 5 || len(page["value"].([]any)) != 2 || page["nextLink"] == nil {
			t.Fatalf("first page: %v", page)
		}
		var names []string
		next := "/products?$top=2"
		for next != "" {
			p := a.must(200, "GET", next, nil)
			for _, v := range p["value"].([]any) {
				names = append(names, v.(map[string]any)["name"].(string))
			}
			next, _ = p["nextLink"].(string)
		}
		if strings.Join(names, ",") != "alpha,beta,delta,epsilon,gamma" {
			t.Errorf("paged names: %v", names)
		}
		for filter, want := range map[string]int{
			"state eq 'published'":                                  3,
			"properties/state ne 'published'":                       2,
			"startswith(displayName,'g') or name eq 'beta'":         2,
			"contains(displayName, 'LT') and not (name eq 'gamma')": 1,
		} {
			p := a.must(200, "GET", "/products?$filter="+urlEscape(filter), nil)
			if int(p["count"].(float64)) != want {
				t.Errorf("%s: count %v, want %d", filter, p["count"], want)
			}
		}
		r := a.do("GET", "/products?$filter="+urlEscape("name eq"), nil)
		if _, _, d := errorOf(t, r); r.status != 400 || d["$filter"] == "" {
			t.Errorf("bad filter: %d %s", r.status, r.body)
		}
		if r := a.do("GET", "/products?$top=0", nil); r.status != 400 {
			t.Errorf("$top=0: %d", r.status)
		}
	})
}

func urlEscape(s string) string {
	return strings.NewReplacer(" ", "%20", "'", "%27", "(", "%28", ")", "%29", ",", "%2C").Replace(s)
}
