package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// bearerChecker is a backend that accepts only access tokens of the
// gateway's identity for its own application, signed by the identity
// provider (keys read from its JWKS), carrying the role it was granted.
func bearerChecker(t *testing.T, identityURL, tenant string, aud, oid *string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "no bearer token", http.StatusUnauthorized)
			return
		}
		resp, err := http.Get(identityURL + "/" + tenant + "/discovery/v2.0/keys")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		var keys jose.JSONWebKeySet
		json.NewDecoder(resp.Body).Decode(&keys)
		resp.Body.Close()
		jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
		if err != nil || len(jws.Signatures) != 1 {
			http.Error(w, "malformed token", http.StatusUnauthorized)
			return
		}
		ks := keys.Key(jws.Signatures[0].Header.KeyID)
		if len(ks) == 0 {
			http.Error(w, "unknown key", http.StatusUnauthorized)
			return
		}
		payload, err := jws.Verify(ks[0].Public())
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var c struct {
			Aud   string   `json:"aud"`
			Oid   string   `json:"oid"`
			Tid   string   `json:"tid"`
			Exp   int64    `json:"exp"`
			Roles []string `json:"roles"`
		}
		json.Unmarshal(payload, &c)
		if c.Aud != *aud || c.Oid != *oid || c.Tid != tenant || time.Unix(c.Exp, 0).Before(time.Now()) || !slices.Contains(c.Roles, "Reports.Read") {
			http.Error(w, "token not for this backend: "+string(payload), http.StatusForbidden)
			return
		}
		w.Write([]byte("hello " + c.Oid))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestGatewayIdentity: the gateway's own identity is a service principal of
// the built-in directory, shown by GET /directory, used by new connections'
// default access policy; authentication-managed-identity gets its tokens
// from the built-in provider, at the top of inbound and inside
// send-request, and a backend that checks the bearer token accepts them.
func TestGatewayIdentity(t *testing.T) {
	srv, _ := testServer(t, t.TempDir())
	mg, gw := srv.urls["management"], srv.urls["gateway"]
	do := func(method, path, body string, want int) map[string]any {
		t.Helper()
		return mgmtDo(t, srv, method, path, body, want)
	}
	dir := do("GET", "/directory", "", 200)
	gwID, _ := dir["gateway"].(map[string]any)
	oid, _ := gwID["objectId"].(string)
	if oid == "" || gwID["appId"] != oid || gwID["id"] != "/directory/applications/tollgate-gateway" {
		t.Fatalf("GET /directory: %v", dir)
	}
	if app := do("GET", "/directory/applications/tollgate-gateway", "", 200); app["appId"] != oid {
		t.Fatalf("the gateway's application: %v", app)
	}
	do("DELETE", "/directory/applications/tollgate-gateway", "", 409)
	tenant := dir["tenantId"].(string)

	// A new connection's default access policy names the gateway's identity.
	do("PUT", "/authorizationProviders/upstream", `{"identityProvider": "tollgate", "oauth2": {"grantTypes": {"clientCredentials": {"clientId": "00000000-0000-4000-8000-000000000001", "clientSecret": "nope", "resourceUri": "api://nowhere"}}}}`, 201)
	do("PUT", "/authorizationProviders/upstream/authorizations/c", `{"authorizationType": "OAuth2", "oauth2grantType": "ClientCredentials"}`, 201)
	if ap := do("GET", "/authorizationProviders/upstream/authorizations/c/accessPolicies/gateway", "", 200); ap["objectId"] != oid || ap["tenantId"] != tenant {
		t.Fatalf("default access policy: %v, want object id %s", ap, oid)
	}

	// A backend application with a role granted to the gateway.
	backendApp := do("PUT", "/directory/applications/reports", `{"displayName": "Reports", "identifierUris": ["api://reports"], "appRoles": [{"value": "Reports.Read", "allowedMemberTypes": ["Application"]}]}`, 201)
	aud := backendApp["appId"].(string)
	do("PUT", "/directory/applications/tollgate-gateway", `{"displayName": "Tollgate Gateway", "requiredResourceAccess": [{"resourceAppId": "api://reports", "resourceAccess": [{"id": "Reports.Read", "type": "Role"}]}]}`, 200)
	do("POST", "/directory/applications/tollgate-gateway/grantAdminConsent", "", 200)
	backend := bearerChecker(t, srv.urls["identity"], tenant, &aud, &oid)

	xml := `<policies><inbound><base />
<authentication-managed-identity resource="api://reports" output-token-variable-name="msi" />
<send-request mode="new" response-variable-name="nested" timeout="10">
  <set-url>` + backend.URL + `/nested</set-url>
  <set-method>GET</set-method>
  <authentication-managed-identity resource="api://reports" />
</send-request>
<send-request mode="new" response-variable-name="top" timeout="10">
  <set-url>` + backend.URL + `/top</set-url>
  <set-method>GET</set-method>
  <set-header name="Authorization" exists-action="override"><value>@("Bearer " + (string)context.Variables["msi"])</value></set-header>
</send-request>
<send-request mode="new" response-variable-name="none" timeout="10">
  <set-url>` + backend.URL + `/none</set-url>
  <set-method>GET</set-method>
</send-request>
<return-response><set-status code="200" />
  <set-body>@(((IResponse)context.Variables["nested"]).StatusCode + " " + ((IResponse)context.Variables["nested"]).Body.As<string>() + "|" + ((IResponse)context.Variables["top"]).StatusCode + "|" + ((IResponse)context.Variables["none"]).StatusCode)</set-body>
</return-response>
</inbound></policies>`
	if st, b := putPolicy(t, srv, "/apis/echo-api/policies/policy", xml); st != 201 && st != 200 {
		t.Fatalf("policy: %d %s", st, b)
	}
	_, _, sb := call(t, "POST", mg+"/subscriptions/admin-unlimited/listSecrets", "", srv.admin()...)
	var sec map[string]string
	json.Unmarshal(sb, &sec)
	for i := 0; i < 3; i++ {
		st, _, b := call(t, "GET", gw+"/echo/resource", "", "Ocp-Apim-Subscription-Key", sec["primaryKey"])
		if want := "200 hello " + oid + "|200|401"; st != 200 || strings.TrimSpace(string(b)) != want {
			t.Fatalf("call %d: %d %q, want %q", i, st, b, want)
		}
	}

	// An unknown resource fails clearly, or is ignored.
	bad := `<policies><inbound><base />
<send-request mode="new" response-variable-name="r" timeout="10">
  <set-url>` + backend.URL + `/x</set-url>
  <authentication-managed-identity resource="api://no-such-app" />
</send-request>
<return-response><set-status code="200" /></return-response>
</inbound><on-error><return-response><set-status code="500" /><set-body>@(context.LastError.Reason)</set-body></return-response></on-error></policies>`
	putPolicy(t, srv, "/apis/echo-api/policies/policy", bad)
	if st, _, b := call(t, "GET", gw+"/echo/resource", "", "Ocp-Apim-Subscription-Key", sec["primaryKey"]); st != 500 || string(b) != "ManagedIdentityError" {
		t.Fatalf("unknown resource: %d %s", st, b)
	}
}

// mgmtDo calls the management API as the admin and returns the answer's
// JSON, failing the test unless the status is want.
func mgmtDo(t *testing.T, s *server, method, path, body string, want int) map[string]any {
	t.Helper()
	st, _, b := call(t, method, s.urls["management"]+path, body, s.admin()...)
	if st != want {
		t.Fatalf("%s %s: %d %s", method, path, st, b)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}
