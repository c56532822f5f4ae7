package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestMetricsTokensAndJWT: the token endpoint's grants and the gateway's
// JWT validations (a product with OAuth access) show in /metrics with the
// verified-token cache's hits.
func TestMetricsTokensAndJWT(t *testing.T) {
	srv, out := testServer(t, t.TempDir())
	e := &appsEnv{srv: srv, out: out}
	p := e.do(t, "PUT", "/products/orders", `{"displayName": "Orders", "authenticationType": ["oauth2Token"], "state": "published",
		"application": {"applicationId": "00000000-0000-0000-0000-000000000000"}}`, 201)
	prodAppID := p["application"].(map[string]any)["applicationId"].(string)
	e.do(t, "PUT", "/products/orders/apis/echo-api", `{}`, 201)
	clientID, secret := e.newApp(t, "app1", "/users/admin")
	e.do(t, "PUT", "/clientApplications/app1/productLinks/orders", `{"productId": "/products/orders"}`, 201)
	tok := e.token(t, clientID, secret, "api://"+prodAppID+"/.default")
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {"wrong"}, "scope": {"api://" + prodAppID + "/.default"}}
	if st, _, _ := call(t, "POST", srv.urls["identity"]+"/default/oauth2/v2.0/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded"); st != 401 && st != 400 {
		t.Fatalf("wrong secret: %d", st)
	}
	for i := range 3 {
		if st, _, body := e.gw(t, bearerHeader(tok)...); st != 200 {
			t.Fatalf("call %d: %d %s", i, st, body)
		}
	}
	if st, _, _ := e.gw(t, bearerHeader(tok[:len(tok)-4]+"AAAA")...); st != 401 {
		t.Fatalf("forged token: %d", st)
	}
	st, _, b := call(t, "GET", srv.urls["management"]+"/metrics", "")
	if st != 200 {
		t.Fatalf("/metrics: %d", st)
	}
	text := string(b)
	for _, want := range []string{
		`tollgate_identity_token_requests_total{grant_type="client_credentials",result="issued"} 1`,
		`tollgate_jwt_validations_total{result="valid"} 1`,
		`tollgate_jwt_validations_total{result="cached"} 2`,
		`tollgate_jwt_validations_total{result="invalid"} 1`,
		`tollgate_gateway_requests_total{api="echo-api",operation="retrieve-resource",product="orders",reason="",status_class="2xx"} 3`,
		// The one valid token is in the node's cache; the forged one is not.
		"tollgate_jwt_cache_tokens 1\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var cacheBytes float64
	if _, err := fmt.Sscanf(text[strings.Index(text, "\ntollgate_jwt_cache_bytes ")+1:], "tollgate_jwt_cache_bytes %g", &cacheBytes); err != nil || cacheBytes < float64(len(tok))/2 || cacheBytes > 4096 {
		t.Errorf("tollgate_jwt_cache_bytes %v (%v), want about one token's entry", cacheBytes, err)
	}
	if strings.Contains(text, tok[:20]) {
		t.Error("a token is in /metrics")
	}
	if t.Failed() {
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "tollgate_") && !strings.Contains(l, "_bucket") {
				t.Log(l)
			}
		}
	}
}
