package gateway_test

import (
	"maps"
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/internal/resource"
)

const (
	bodyResourceNotFound  = `{"statusCode": 404, "message": "Resource not found"}`
	bodyOperationNotFound = `{"statusCode": 404, "message": "Unable to match incoming request to an operation."}`
	bodyKeyMissing        = `{"statusCode": 401, "message": "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}`
	bodyKeyInvalid        = `{"statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."}`
)

// routingConfig: APIs on nested and neighbouring paths, every kind of
// template, none requiring a subscription so routing alone decides.
func routingConfig(withRoot bool) []resource.Resource {
	open := func(a *resource.API) *resource.API {
		f := false
		a.SubscriptionRequired = &f
		return a
	}
	rs := []resource.Resource{
		open(API("shop", "shop", "http://shop.example/base")),
		open(API("shop-v2", "shop/v2", "http://v2.example")),
		open(API("shopping", "shopping", "http://shopping.example")),
		Op("shop", "home", "GET", "/"),
		Op("shop", "list", "GET", "/items"),
		Op("shop", "get", "GET", "/items/{id}"),
		Op("shop", "special", "GET", "/items/special"),
		Op("shop", "any-item", "*", "/items/{id}"),
		Op("shop", "part", "GET", "/items/{id}/parts/{part}"),
		Op("shop", "delete", "DELETE", "/items/{id}?force={force}"),
		Op("shop", "files", "GET", "/files/*"),
		Op("shop", "me", "GET", "/users/me"),
		Op("shop", "user-put", "PUT", "/users/{uid}"),
		Op("shop", "a-x-c", "GET", "/a/{x}/c"),
		Op("shop", "a-b-d", "GET", "/a/b/d"),
		Op("shop", "anything", "*", "/any/*"),
		Op("shop", "get-star", "GET", "/star/*"),
		Op("shop", "any-star", "*", "/star/*"),
		Op("shop", "spaced", "GET", "/with%20space"),
		Op("shop", "many", "GET", "/many/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}"),
		Op("shop-v2", "v2-list", "GET", "/items"),
		Op("shopping", "cart", "GET", "/cart"),
	}
	if withRoot {
		rs = append(rs, open(API("root", "", "http://root.example")), Op("root", "root-any", "GET", "/*"))
	}
	return rs
}

func TestRouting(t *testing.T) {
	type want struct {
		status int
		body   string // exact, for errors
		api    string
		op     string
		params map[string]string
		// backend is the URL the call is forwarded to.
		backend string
	}
	cases := []struct {
		name         string
		root         bool
		method, path string
		want         want
	}{
		{"literal", false, "GET", "/shop/items", want{status: 200, api: "shop", op: "list", backend: "http://shop.example/base/items"}},
		{"trailing slash ignored", false, "GET", "/shop/items/", want{status: 200, api: "shop", op: "list", backend: "http://shop.example/base/items/"}},
		{"param", false, "GET", "/shop/items/42", want{status: 200, api: "shop", op: "get", params: map[string]string{"id": "42"}, backend: "http://shop.example/base/items/42"}},
		{"literal beats param", false, "GET", "/shop/items/special", want{status: 200, api: "shop", op: "special"}},
		{"method * when no specific method", false, "POST", "/shop/items/42", want{status: 200, api: "shop", op: "any-item", params: map[string]string{"id": "42"}}},
		{"specific method beats *", false, "GET", "/shop/items/7", want{status: 200, api: "shop", op: "get", params: map[string]string{"id": "7"}}},
		{"two params, decoded", false, "GET", "/shop/items/42/parts/p%20x", want{status: 200, api: "shop", op: "part", params: map[string]string{"id": "42", "part": "p x"}, backend: "http://shop.example/base/items/42/parts/p%20x"}},
		{"template query ignored", false, "DELETE", "/shop/items/7?force=true", want{status: 200, api: "shop", op: "delete", params: map[string]string{"id": "7"}, backend: "http://shop.example/base/items/7?force=true"}},
		{"wildcard, no more segments", false, "GET", "/shop/files", want{status: 200, api: "shop", op: "files"}},
		{"wildcard, many segments", false, "GET", "/shop/files/a/b/c.txt", want{status: 200, api: "shop", op: "files", backend: "http://shop.example/base/files/a/b/c.txt"}},
		{"wildcard, specific method beats *", false, "GET", "/shop/star/x", want{status: 200, api: "shop", op: "get-star"}},
		{"wildcard, method *", false, "POST", "/shop/star/x", want{status: 200, api: "shop", op: "any-star"}},
		{"wildcard with method *", false, "PATCH", "/shop/any/x/y", want{status: 200, api: "shop", op: "anything"}},
		{"API root operation", false, "GET", "/shop", want{status: 200, api: "shop", op: "home", backend: "http://shop.example/base"}},
		{"API root operation with slash", false, "GET", "/shop/", want{status: 200, api: "shop", op: "home", backend: "http://shop.example/base/"}},
		{"literal, method mismatch falls back to param", false, "PUT", "/shop/users/me", want{status: 200, api: "shop", op: "user-put", params: map[string]string{"uid": "me"}}},
		{"literal with method", false, "GET", "/shop/users/me", want{status: 200, api: "shop", op: "me"}},
		{"backtracking from a literal", false, "GET", "/shop/a/b/c", want{status: 200, api: "shop", op: "a-x-c", params: map[string]string{"x": "b"}}},
		{"literal path", false, "GET", "/shop/a/b/d", want{status: 200, api: "shop", op: "a-b-d"}},
		{"encoded literal segment", false, "GET", "/sh%6Fp/items", want{status: 200, api: "shop", op: "list"}},
		{"escaped literal in template", false, "GET", "/shop/with%20space", want{status: 200, api: "shop", op: "spaced"}},
		{"more parameters than the inline captures", false, "GET", "/shop/many/1/2/3/4/5/6/7/8/9/10", want{status: 200, api: "shop", op: "many",
			params: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8", "i": "9", "j": "10"}}},
		{"longest prefix", false, "GET", "/shop/v2/items", want{status: 200, api: "shop-v2", op: "v2-list", backend: "http://v2.example/items"}},
		{"longest prefix even without an operation", false, "GET", "/shop/v2", want{status: 404, body: bodyOperationNotFound}},
		{"neighbour path", false, "GET", "/shopping/cart", want{status: 200, api: "shopping", op: "cart"}},
		{"segment boundary", false, "GET", "/shopp/cart", want{status: 404, body: bodyResourceNotFound}},
		{"no API", false, "GET", "/nothing/here", want{status: 404, body: bodyResourceNotFound}},
		{"case sensitive", false, "GET", "/Shop/items", want{status: 404, body: bodyResourceNotFound}},
		{"no operation: extra segment", false, "GET", "/shop/items/42/extra", want{status: 404, body: bodyOperationNotFound}},
		{"no operation: method", false, "POST", "/shop/items", want{status: 404, body: bodyOperationNotFound}},
		{"encoded slash does not split", false, "GET", "/shop/items%2F42", want{status: 404, body: bodyOperationNotFound}},
		{"encoded slash inside a param", false, "GET", "/shop/items/a%2Fb", want{status: 200, api: "shop", op: "get", params: map[string]string{"id": "a/b"}, backend: "http://shop.example/base/items/a%2Fb"}},
		{"empty param segment", false, "GET", "/shop/items//parts/x", want{status: 404, body: bodyOperationNotFound}},
		{"dot segments refused", false, "GET", "/shop/../shopping/cart", want{status: 400, body: `{"statusCode": 400, "message": "Invalid request path."}`}},
		{"encoded dot segments refused", false, "GET", "/shop/%2e%2e/x", want{status: 400, body: `{"statusCode": 400, "message": "Invalid request path."}`}},
		{"root API catches the rest", true, "GET", "/nothing/here", want{status: 200, api: "root", op: "root-any", backend: "http://root.example/nothing/here"}},
		{"root API does not shadow others", true, "GET", "/shop/items", want{status: 200, api: "shop", op: "list"}},
		{"root API, bare slash", true, "GET", "/", want{status: 200, api: "root", op: "root-any", backend: "http://root.example/"}},
	}
	fixtures := map[bool]*fixture{
		false: newFixture(t, reporter{}, routingConfig(false)...),
		true:  newFixture(t, reporter{}, routingConfig(true)...),
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := fixtures[tc.root]
			resp, body := f.do(t, tc.method, tc.path, nil, nil)
			if resp.StatusCode != tc.want.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.want.status, body)
			}
			if tc.want.body != "" {
				if string(body) != tc.want.body {
					t.Errorf("body\n got %s\nwant %s", body, tc.want.body)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				return
			}
			rep := decodeReport(t, body)
			if rep.API != tc.want.api || rep.Operation != tc.want.op {
				t.Errorf("routed to %s/%s, want %s/%s", rep.API, rep.Operation, tc.want.api, tc.want.op)
			}
			if rep.PipelineAPI != "/apis/"+tc.want.api || rep.PipelineOp != "/apis/"+tc.want.api+"/operations/"+tc.want.op {
				t.Errorf("pipeline asked for %s %s", rep.PipelineAPI, rep.PipelineOp)
			}
			if !maps.Equal(rep.Params, tc.want.params) {
				t.Errorf("params %v, want %v", rep.Params, tc.want.params)
			}
			if tc.want.backend != "" && rep.BackendURL != tc.want.backend {
				t.Errorf("backend URL %s, want %s", rep.BackendURL, tc.want.backend)
			}
		})
	}
}

func TestPreflight(t *testing.T) {
	f := false
	cors := API("cors", "cors", "http://cors.example")
	cors.SubscriptionRequired = &f
	nocors := API("nocors", "nocors", "http://nocors.example")
	// A subscription-required API whose wildcard operation matches OPTIONS.
	keyed := API("keyed", "keyed", "http://keyed.example")
	fx := newFixture(t, reporter{}, cors, Op("cors", "get", "GET", "/x"), nocors, Op("nocors", "get", "GET", "/x"),
		keyed, Op("keyed", "all", "*", "/*"))
	preflight := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}}

	// The API's cors pipeline answers a preflight no operation matches,
	// without a subscription check.
	resp, body := fx.do(t, http.MethodOptions, "/cors/x", preflight, nil)
	if resp.StatusCode != 200 || decodeReport(t, body).PipelineOp != "preflight" {
		t.Errorf("cors preflight: %d %s", resp.StatusCode, body)
	}
	// ... and one an operation matches, before the subscription check.
	resp, body = fx.do(t, http.MethodOptions, "/keyed/x", preflight, nil)
	if resp.StatusCode != 200 || decodeReport(t, body).PipelineOp != "preflight" {
		t.Errorf("cors preflight on a keyed API with a wildcard operation: %d %s", resp.StatusCode, body)
	}
	// A plain OPTIONS (no preflight headers) is an ordinary request.
	resp, body = fx.do(t, http.MethodOptions, "/keyed/x", nil, nil)
	if resp.StatusCode != 401 {
		t.Errorf("plain OPTIONS without a key: %d %s", resp.StatusCode, body)
	}
	resp, body = fx.do(t, http.MethodOptions, "/nocors/x", preflight, nil)
	if resp.StatusCode != 404 || string(body) != bodyOperationNotFound {
		t.Errorf("no cors policy: %d %s", resp.StatusCode, body)
	}
}
