package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/resource"
)

const (
	kProduct   = "product-key-primary-0001"
	kProduct2  = "product-key-secondary-0002"
	kAPI       = "api-scoped-key-00000003"
	kAll       = "all-apis-key-0000000004"
	kOther     = "other-product-key-00005"
	kBlocked   = "blocked-owner-key-000006"
	kPending   = "pending-owner-key-000007"
	kNoOwner   = "no-owner-key-00000000008"
	kCustom    = "custom-names-key-0000009"
	kMissingOw = "missing-owner-key-000010"
)

func subscriptionConfig() []resource.Resource {
	f := false
	nosub := API("nosub", "nosub", resource.EchoServiceURL)
	nosub.SubscriptionRequired = &f
	custom := API("custom", "custom", resource.EchoServiceURL)
	custom.SubscriptionKeyParameterNames = &resource.SubscriptionKeyParameterNames{Header: "x-key", Query: "key"}
	rs := []resource.Resource{
		API("orders", "orders", resource.EchoServiceURL), Op("orders", "all", "*", "/*"),
		API("public", "public", resource.EchoServiceURL), Op("public", "all", "*", "/*"),
		nosub, Op("nosub", "all", "*", "/*"),
		custom, Op("custom", "all", "*", "/*"),
		Product("starter", true), Link("starter", "orders"), Link("starter", "public"),
		Product("free", false), Link("free", "public"),
		Product("other", true), Link("other", "nosub"),
		User("alice", "active"), User("bob", "blocked"), User("carol", "pending"),
		Sub("s-product", "/products/starter", "active", "/users/alice", kProduct, kProduct2),
		Sub("s-api", "/apis/orders", "active", "/users/alice", kAPI, ""),
		Sub("s-all", "/apis", "active", "/users/alice", kAll, ""),
		Sub("s-other", "/products/other", "active", "/users/alice", kOther, ""),
		Sub("s-blocked", "/apis", "active", "/users/bob", kBlocked, ""),
		Sub("s-pending", "/apis", "active", "/users/carol", kPending, ""),
		Sub("s-noowner", "/apis/orders", "active", "", kNoOwner, ""),
		Sub("s-missing-owner", "/apis", "active", "/users/nobody", kMissingOw, ""),
		Sub("s-custom", "/apis/custom", "active", "/users/alice", kCustom, ""),
	}
	for _, st := range resource.SubscriptionStates {
		if st != "active" {
			rs = append(rs, Sub("s-"+st, "/apis", st, "/users/alice", "state-key-"+st+"-0000000", ""))
		}
	}
	return rs
}

func TestSubscriptionKeys(t *testing.T) {
	type want struct {
		status       int
		body         string // exact, for 401s
		product      string // Call.Product
		subscription string
		user         string
		// pipelineProduct is the product the policies were asked for: ""
		// for API and all-APIs subscriptions.
		pipelineProduct string
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	const keyHeader = "Ocp-Apim-Subscription-Key"
	missing := want{status: 401, body: bodyKeyMissing}
	invalid := want{status: 401, body: bodyKeyInvalid}
	productOK := want{status: 200, product: "starter", subscription: "s-product", user: "alice", pipelineProduct: "/products/starter"}
	cases := []struct {
		name   string
		path   string
		header http.Header
		want   want
	}{
		{"product scope, primary key in header", "/orders/x", hdr(keyHeader, kProduct), productOK},
		{"product scope, secondary key", "/orders/x", hdr(keyHeader, kProduct2), productOK},
		{"header name is case-insensitive", "/orders/x", hdr("ocp-apim-subscription-key", kProduct), productOK},
		{"key in query", "/orders/x?subscription-key=" + kProduct, nil, productOK},
		{"key in query, escaped", "/orders/x?subscription%2Dkey=" + strings.Replace(kProduct, "-", "%2D", 1), nil, productOK},
		{"API scope", "/orders/x", hdr(keyHeader, kAPI), want{status: 200, subscription: "s-api", user: "alice"}},
		{"all-APIs scope", "/orders/x", hdr(keyHeader, kAll), want{status: 200, subscription: "s-all", user: "alice"}},
		{"no key", "/orders/x", nil, missing},
		{"empty header counts as absent", "/orders/x", hdr(keyHeader, ""), missing},
		{"empty query counts as absent", "/orders/x?subscription-key=", nil, missing},
		{"unknown key", "/orders/x", hdr(keyHeader, "no-such-key-0000000000"), invalid},
		{"key too long", "/orders/x", hdr(keyHeader, strings.Repeat("k", 300)), invalid},
		{"product not containing the API", "/orders/x", hdr(keyHeader, kOther), invalid},
		{"API scope of another API", "/orders/x", hdr(keyHeader, kCustom), invalid},
		{"header wins over query", "/orders/x?subscription-key=" + kProduct, hdr(keyHeader, "no-such-key-0000000000"), invalid},
		{"query read only when header absent", "/orders/x?subscription-key=nonsense", hdr(keyHeader, kProduct), productOK},
		{"blocked owner", "/orders/x", hdr(keyHeader, kBlocked), invalid},
		{"pending owner", "/orders/x", hdr(keyHeader, kPending), invalid},
		{"owner missing", "/orders/x", hdr(keyHeader, kMissingOw), invalid},
		{"no owner", "/orders/x", hdr(keyHeader, kNoOwner), want{status: 200, subscription: "s-noowner"}},
		{"open product, no key", "/public/x", nil, want{status: 200, product: "free", pipelineProduct: "/products/free"}},
		{"open product, invalid key", "/public/x", hdr(keyHeader, "no-such-key-0000000000"), invalid},
		{"open product, product key", "/public/x", hdr(keyHeader, kProduct), productOK},
		{"open product, all-APIs key", "/public/x", hdr(keyHeader, kAll), want{status: 200, subscription: "s-all", user: "alice"}},
		{"API without subscription, no key", "/nosub/x", nil, want{status: 200}},
		{"API without subscription, invalid key", "/nosub/x", hdr(keyHeader, "no-such-key-0000000000"), invalid},
		{"API without subscription, valid key", "/nosub/x", hdr(keyHeader, kOther), want{status: 200, product: "other", subscription: "s-other", user: "alice", pipelineProduct: "/products/other"}},
		{"custom header name", "/custom/x", hdr("X-Key", kCustom), want{status: 200, subscription: "s-custom", user: "alice"}},
		{"custom query name", "/custom/x?key=" + kCustom, nil, want{status: 200, subscription: "s-custom", user: "alice"}},
		{"custom names: default header not read", "/custom/x", hdr(keyHeader, kCustom), missing},
		{"custom names: default query not read", "/custom/x?subscription-key=" + kCustom, nil, missing},
	}
	for _, st := range resource.SubscriptionStates {
		if st != "active" {
			cases = append(cases, struct {
				name   string
				path   string
				header http.Header
				want   want
			}{"state " + st, "/orders/x", hdr(keyHeader, "state-key-"+st+"-0000000"), invalid})
		}
	}

	fx := newFixture(t, reporter{}, subscriptionConfig()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := fx.do(t, "GET", tc.path, tc.header, nil)
			if resp.StatusCode != tc.want.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.want.status, body)
			}
			if tc.want.body != "" {
				if string(body) != tc.want.body {
					t.Errorf("body\n got %s\nwant %s", body, tc.want.body)
				}
				return
			}
			rep := decodeReport(t, body)
			if rep.Product != tc.want.product || rep.Subscription != tc.want.subscription || rep.User != tc.want.user {
				t.Errorf("product %q subscription %q user %q, want %q %q %q",
					rep.Product, rep.Subscription, rep.User, tc.want.product, tc.want.subscription, tc.want.user)
			}
			if rep.PipelineProduct != tc.want.pipelineProduct {
				t.Errorf("pipeline product %q, want %q", rep.PipelineProduct, tc.want.pipelineProduct)
			}
			if rep.Subscription != "" && rep.SubscriptionKey == "" {
				t.Error("Call.Subscription.Key is empty")
			}
			if strings.Contains(rep.BackendURL, "subscription-key") {
				t.Errorf("key left in backend URL %s", rep.BackendURL)
			}
		})
	}
}

// The key is removed before forwarding, from the header and from the query,
// and the rest of the query is kept as written.
func TestSubscriptionKeyNotForwarded(t *testing.T) {
	fx := newFixture(t, nil, subscriptionConfig()...)
	for _, tc := range []struct {
		name, path string
		header     http.Header
		wantQuery  map[string][]string
	}{
		{"header", "/orders/res?a=1&b=x%20y", http.Header{"Ocp-Apim-Subscription-Key": {kProduct}}, map[string][]string{"a": {"1"}, "b": {"x y"}}},
		{"query", "/orders/res?a=1&subscription-key=" + kProduct + "&b=2&subscription-key=again", nil, map[string][]string{"a": {"1"}, "b": {"2"}}},
		{"custom header", "/custom/res?key2=v", http.Header{"X-Key": {kCustom}}, map[string][]string{"key2": {"v"}}},
		{"custom query", "/custom/res?key=" + kCustom, nil, map[string][]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := fx.do(t, "GET", tc.path, tc.header, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if strings.Contains(string(body), kProduct) || strings.Contains(string(body), kCustom) {
				t.Errorf("backend saw the key: %s", body)
			}
			var echo struct {
				Query   map[string][]string
				Headers map[string][]string
				Path    string
			}
			if err := json.Unmarshal(body, &echo); err != nil {
				t.Fatal(err)
			}
			if len(echo.Query) != len(tc.wantQuery) {
				t.Errorf("query %v, want %v", echo.Query, tc.wantQuery)
			}
			for k, v := range tc.wantQuery {
				if strings.Join(echo.Query[k], ",") != strings.Join(v, ",") {
					t.Errorf("query %v, want %v", echo.Query, tc.wantQuery)
				}
			}
			if echo.Path != "/res" {
				t.Errorf("path %q", echo.Path)
			}
		})
	}
	// The access log names the subscription, never its key.
	log := fx.log.String()
	if strings.Contains(log, kProduct) || strings.Contains(log, kCustom) {
		t.Errorf("access log contains a key:\n%s", log)
	}
	if !strings.Contains(log, `"subscription":"/subscriptions/s-product"`) {
		t.Errorf("access log lacks the subscription id:\n%s", log)
	}
}
