package identity_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tollgate/tollgate/internal/identity"
)

// jwks fetches the published keys and parses them by hand, so the check
// does not share code with the signer.
func (e *env) jwks() map[string]any {
	e.t.Helper()
	resp, err := http.Get(e.idp.URL + "/" + e.tenantID + "/discovery/v2.0/keys")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kty, Kid, Alg, Use, N, E, Crv, X, Y string
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		e.t.Fatal(err)
	}
	out := map[string]any{}
	dec := func(s string) *big.Int {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			e.t.Fatal(err)
		}
		return new(big.Int).SetBytes(b)
	}
	for _, k := range set.Keys {
		switch k.Kty {
		case "RSA":
			out[k.Kid] = &rsa.PublicKey{N: dec(k.N), E: int(dec(k.E).Int64())}
		case "EC":
			out[k.Kid] = &ecdsa.PublicKey{Curve: elliptic.P256(), X: dec(k.X), Y: dec(k.Y)}
		default:
			e.t.Fatalf("unexpected key type %q", k.Kty)
		}
	}
	return out
}

// verifyJWT checks a token with golang-jwt against the published JWKS.
func (e *env) verifyJWT(raw, aud string) (jwt.MapClaims, error) {
	keys := e.jwks()
	c := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, c, func(t *jwt.Token) (any, error) {
		return keys[t.Header["kid"].(string)], nil
	}, jwt.WithValidMethods([]string{"RS256", "ES256"}), jwt.WithIssuer(e.issuer), jwt.WithAudience(aud),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(e.clock.Now))
	return c, err
}

func TestClientCredentialsSeed(t *testing.T) {
	e := newEnv(t)
	res, client, secret := e.seedClientCredentials()
	if res.AppID == "" || len(res.IdentifierURIs) != 1 || res.IdentifierURIs[0] != "api://"+res.AppID {
		t.Fatalf("resource app: appId %q identifierUris %v", res.AppID, res.IdentifierURIs)
	}

	// Exactly the seed's request: client_secret_post, scope=<appId>/.default.
	for _, scope := range []string{res.AppID + "/.default", "api://" + res.AppID + "/.default"} {
		st, out := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {client.AppID}, "client_secret": {secret}, "scope": {scope}})
		if st != http.StatusOK {
			t.Fatalf("token: %d %v", st, out)
		}
		at := out["access_token"].(string)
		if out["token_type"] != "Bearer" || out["expires_in"].(float64) != 3600 {
			t.Fatalf("token response %v", out)
		}
		if h := header(t, at); h["typ"] != "at+jwt" || h["alg"] != "RS256" || h["kid"] == nil {
			t.Fatalf("header %v", h)
		}
		c, err := e.verifyJWT(at, res.AppID)
		if err != nil {
			t.Fatalf("independent verification: %v", err)
		}
		for k, want := range map[string]string{"aud": res.AppID, "azp": client.AppID, "client_id": client.AppID, "tid": e.tenantID,
			"oid": client.AppID, "sub": client.AppID, "ver": "2.0", "iss": e.idp.URL + "/" + e.tenantID + "/v2.0"} {
			if str(c[k]) != want {
				t.Errorf("claim %s = %v, want %s", k, c[k], want)
			}
		}
		if roles, _ := c["roles"].([]any); len(roles) != 1 || roles[0] != "APIAccess" {
			t.Errorf("roles %v", c["roles"])
		}
		for _, k := range []string{"iat", "nbf", "exp", "jti"} {
			if c[k] == nil {
				t.Errorf("missing claim %s", k)
			}
		}
	}

	// The tenant's name works in the path too, and Basic authentication.
	st, out, _ := e.postForm("/default/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "scope": {res.AppID + "/.default"}}, client.AppID, secret)
	if st != http.StatusOK {
		t.Fatalf("token by tenant name with Basic: %d %v", st, out)
	}

	// golang.org/x/oauth2/clientcredentials, with each auth style.
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cc := clientcredentials.Config{ClientID: client.AppID, ClientSecret: secret, TokenURL: e.tokenURL(), Scopes: []string{"api://" + res.AppID + "/.default"}, AuthStyle: style}
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatalf("clientcredentials (style %d): %v", style, err)
		}
		if _, err := e.verifyJWT(tok.AccessToken, res.AppID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClientCredentialsErrors(t *testing.T) {
	e := newEnv(t)
	res, client, secret := e.seedClientCredentials()
	scope := res.AppID + "/.default"

	// A wrong secret by Basic: 401 with WWW-Authenticate.
	st, out, h := e.postForm("/"+e.tenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, client.AppID, "wrong")
	if st != http.StatusUnauthorized || out["error"] != "invalid_client" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("wrong secret (basic): %d %v %q", st, out, h.Get("WWW-Authenticate"))
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
	}
	cases := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"wrong secret (post)", url.Values{"grant_type": {"client_credentials"}, "client_id": {client.AppID}, "client_secret": {"nope"}, "scope": {scope}}, 401, "invalid_client"},
		{"no secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {client.AppID}, "scope": {scope}}, 401, "invalid_client"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"00000000-0000-0000-0000-000000000000"}, "client_secret": {secret}, "scope": {scope}}, 401, "invalid_client"},
		{"no scope", url.Values{"grant_type": {"client_credentials"}, "client_id": {client.AppID}, "client_secret": {secret}}, 400, "invalid_scope"},
		{"scope without .default", url.Values{"grant_type": {"client_credentials"}, "client_id": {client.AppID}, "client_secret": {secret}, "scope": {"api://" + res.AppID + "/APIAccess"}}, 400, "invalid_scope"},
		{"unknown resource", url.Values{"grant_type": {"client_credentials"}, "client_id": {client.AppID}, "client_secret": {secret}, "scope": {"api://nothing/.default"}}, 400, "invalid_scope"},
		{"password grant", url.Values{"grant_type": {"password"}, "client_id": {client.AppID}, "client_secret": {secret}, "username": {"a"}, "password": {"b"}}, 400, "unsupported_grant_type"},
		{"implicit-like grant", url.Values{"grant_type": {"implicit"}, "client_id": {client.AppID}, "client_secret": {secret}}, 400, "unsupported_grant_type"},
		{"no grant type", url.Values{"client_id": {client.AppID}, "client_secret": {secret}}, 400, "invalid_request"},
	}
	for _, c := range cases {
		st, out := e.token(c.form)
		if st != c.status || out["error"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, st, out, c.status, c.code)
		}
	}
	// Repeated parameters are refused (RFC 6749 §3.2).
	body := "grant_type=client_credentials&scope=" + url.QueryEscape(scope) + "&client_id=" + client.AppID + "&client_secret=" + secret + "&scope=x"
	resp, err := http.Post(e.tokenURL(), "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("repeated scope: %d", resp.StatusCode)
	}
	// A client without consent gets a token without roles.
	var other appView
	e.must(http.StatusCreated, "PUT", "/directory/applications/unconsented", map[string]any{"displayName": "x"}, &other)
	var added struct {
		SecretText string `json:"secretText"`
	}
	e.must(http.StatusOK, "POST", "/directory/applications/unconsented/addPassword", nil, &added)
	st, out = e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {other.AppID}, "client_secret": {added.SecretText}, "scope": {scope}})
	if st != http.StatusOK {
		t.Fatalf("unconsented: %d %v", st, out)
	}
	if c := claims(t, out["access_token"].(string)); c["roles"] != nil {
		t.Errorf("unconsented client got roles %v", c["roles"])
	}
}

func TestSecretsExpiredAndRemoved(t *testing.T) {
	e := newEnv(t)
	res, client, secret := e.seedClientCredentials()
	tok := func(s string) int {
		st, _ := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {client.AppID}, "client_secret": {s}, "scope": {res.AppID + "/.default"}})
		return st
	}
	var short struct {
		SecretText string `json:"secretText"`
		KeyID      string `json:"keyId"`
		Hint       string `json:"hint"`
	}
	end := e.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	e.must(http.StatusOK, "POST", "/directory/applications/client-app/addPassword", map[string]any{"displayName": "short", "endDateTime": end}, &short)
	if short.Hint != short.SecretText[:3] {
		t.Errorf("hint %q", short.Hint)
	}
	// Both secrets work at once (rotation).
	if tok(secret) != 200 || tok(short.SecretText) != 200 {
		t.Fatal("two active secrets should both work")
	}
	// GET never shows secrets or their hashes.
	var raw map[string]any
	e.must(http.StatusOK, "GET", "/directory/applications/client-app", nil, &raw)
	if raw["secretHashes"] != nil || strings.Contains(str(raw), short.SecretText) {
		t.Fatalf("GET shows secret material: %v", raw)
	}
	if creds, _ := raw["passwordCredentials"].([]any); len(creds) != 2 {
		t.Fatalf("passwordCredentials %v", raw["passwordCredentials"])
	}
	// Expired: refused.
	e.clock.Advance(2 * time.Hour)
	if st := tok(short.SecretText); st != http.StatusUnauthorized {
		t.Errorf("expired secret: %d", st)
	}
	if tok(secret) != 200 {
		t.Error("the other secret should still work")
	}
	// Removed: refused at once.
	var app struct {
		PasswordCredentials []identity.PasswordCredential `json:"passwordCredentials"`
	}
	e.must(http.StatusOK, "GET", "/directory/applications/client-app", nil, &app)
	for _, c := range app.PasswordCredentials {
		if c.KeyID != short.KeyID {
			e.must(http.StatusNoContent, "POST", "/directory/applications/client-app/removePassword", map[string]any{"keyId": c.KeyID}, nil)
		}
	}
	if st := tok(secret); st != http.StatusUnauthorized {
		t.Errorf("removed secret: %d", st)
	}
	e.must(http.StatusNotFound, "POST", "/directory/applications/client-app/removePassword", map[string]any{"keyId": "nope"}, nil)
	// A PUT that replaces the app keeps its secrets (they are not part of
	// the body) and its appId.
	e.must(http.StatusOK, "POST", "/directory/applications/client-app/addPassword", nil, &short)
	var after appView
	e.must(http.StatusOK, "PUT", "/directory/applications/client-app", map[string]any{"displayName": "ClientApp renamed",
		"requiredResourceAccess": []map[string]any{{"resourceAppId": res.AppID, "resourceAccess": []map[string]any{{"id": "APIAccess", "type": "Role"}}}}}, &after)
	if after.AppID != client.AppID {
		t.Fatalf("appId changed on replace: %s -> %s", client.AppID, after.AppID)
	}
	if tok(short.SecretText) != 200 {
		t.Error("secret lost on replace")
	}
	// endDateTime in the past is refused.
	e.must(http.StatusBadRequest, "POST", "/directory/applications/client-app/addPassword", map[string]any{"endDateTime": "2001-01-01T00:00:00Z"}, nil)
}

func TestDirectoryValidation(t *testing.T) {
	e := newEnv(t)
	bad := []struct {
		name string
		body map[string]any
	}{
		{"duplicate role value", map[string]any{"appRoles": []map[string]any{
			{"value": "R", "allowedMemberTypes": []string{"User"}}, {"value": "R", "allowedMemberTypes": []string{"Application"}}}}},
		{"duplicate scope value", map[string]any{"api": map[string]any{"oauth2PermissionScopes": []map[string]any{{"value": "S"}, {"value": "S"}}}}},
		{"redirect with fragment", map[string]any{"web": map[string]any{"redirectUris": []string{"https://app.example.com/cb#x"}}}},
		{"http on a non-loopback host", map[string]any{"web": map[string]any{"redirectUris": []string{"http://app.example.com/cb"}}}},
		{"custom scheme on web", map[string]any{"web": map[string]any{"redirectUris": []string{"myapp://cb"}}}},
		{"bad member type", map[string]any{"appRoles": []map[string]any{{"value": "R", "allowedMemberTypes": []string{"Robot"}}}}},
		{"bad scope type", map[string]any{"api": map[string]any{"oauth2PermissionScopes": []map[string]any{{"value": "S", "type": "Everyone"}}}}},
		{"bad appId", map[string]any{"appId": "not-a-uuid"}},
		{"unknown field", map[string]any{"secretHashes": map[string]string{"a": "b"}}},
	}
	for _, b := range bad {
		var errBody struct {
			Error struct {
				Code    string
				Details []struct{ Target, Message string }
			}
		}
		if st := e.call("PUT", "/directory/applications/bad", b.body, &errBody); st != http.StatusBadRequest || errBody.Error.Code != "ValidationError" {
			t.Errorf("%s: status %d %+v", b.name, st, errBody)
		}
	}
	// Allowed: https, loopback http, custom scheme for native apps.
	e.must(http.StatusCreated, "PUT", "/directory/applications/good", map[string]any{
		"web":          map[string]any{"redirectUris": []string{"https://app.example.com/cb", "http://localhost:8080/cb"}},
		"spa":          map[string]any{"redirectUris": []string{"http://127.0.0.1:3000/"}},
		"publicClient": map[string]any{"redirectUris": []string{"com.example.app:/oauth", "http://[::1]/cb"}},
	}, nil)
	// identifierUris are unique across the directory.
	e.must(http.StatusCreated, "PUT", "/directory/applications/one", map[string]any{"identifierUris": []string{"api://shared"}}, nil)
	e.must(http.StatusBadRequest, "PUT", "/directory/applications/two", map[string]any{"identifierUris": []string{"api://shared"}}, nil)
	// Users: unique UPN, valid role assignments.
	e.must(http.StatusCreated, "PUT", "/directory/users/bob", map[string]any{"userPrincipalName": "bob@example.com"}, nil)
	e.must(http.StatusBadRequest, "PUT", "/directory/users/bob2", map[string]any{"userPrincipalName": "BOB@example.com"}, nil)
	e.must(http.StatusBadRequest, "PUT", "/directory/users/carol", map[string]any{"userPrincipalName": "carol@example.com",
		"appRoleAssignments": []map[string]any{{"resourceAppId": "api://shared", "appRoleId": "Nope"}}}, nil)
	e.must(http.StatusBadRequest, "POST", "/directory/users/bob/setPassword", map[string]any{"password": "short"}, nil)
	var user map[string]any
	e.must(http.StatusOK, "GET", "/directory/users/bob", nil, &user)
	if user["objectId"] == nil || user["passwordHash"] != nil || user["accountEnabled"] != true {
		t.Errorf("user %v", user)
	}
	// grantAdminConsent refuses what it cannot resolve.
	e.must(http.StatusCreated, "PUT", "/directory/applications/asker", map[string]any{"requiredResourceAccess": []map[string]any{
		{"resourceAppId": "api://missing", "resourceAccess": []map[string]any{{"id": "X", "type": "Role"}}}}}, nil)
	e.must(http.StatusBadRequest, "POST", "/directory/applications/asker/grantAdminConsent", nil, nil)
	// The built-in management app cannot be deleted or lose its roles.
	e.must(http.StatusConflict, "DELETE", "/directory/applications/tollgate-management", nil, nil)
	e.must(http.StatusBadRequest, "PUT", "/directory/applications/tollgate-management", map[string]any{"displayName": "x"}, nil)
}

func TestBootstrapAndDirectoryInfo(t *testing.T) {
	e := newEnv(t)
	var info identity.DirectoryInfo
	e.must(http.StatusOK, "GET", "/directory", nil, &info)
	if info.TenantID != e.tenantID || info.Name != "default" || info.Issuer != e.idp.URL+"/"+e.tenantID+"/v2.0" {
		t.Fatalf("directory info %+v", info)
	}
	// Bootstrap again (another node, a restart): same tenant, same app.
	var before appView
	e.must(http.StatusOK, "GET", "/directory/applications/tollgate-management", nil, &before)
	if err := e.p.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	e2 := newEnvOn(t, e.store, e.kr)
	if e2.tenantID != e.tenantID {
		t.Fatalf("tenant changed: %s -> %s", e.tenantID, e2.tenantID)
	}
	var after appView
	e.must(http.StatusOK, "GET", "/directory/applications/tollgate-management", nil, &after)
	if after.AppID != before.AppID || len(after.AppRoles) != 2 || after.IdentifierURIs[0] != identity.ManagementIdentifier {
		t.Fatalf("management app %+v", after)
	}
	// An unknown tenant is a 404.
	resp, err := http.Get(e.idp.URL + "/other/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown tenant: %d", resp.StatusCode)
	}
}

func TestManagementAPIByToken(t *testing.T) {
	e := newEnv(t)
	var mgmtApp appView
	e.must(http.StatusOK, "GET", "/directory/applications/tollgate-management", nil, &mgmtApp)
	mk := func(name, role string) string {
		e.must(http.StatusCreated, "PUT", "/directory/applications/"+name, map[string]any{"requiredResourceAccess": []map[string]any{
			{"resourceAppId": identity.ManagementIdentifier, "resourceAccess": []map[string]any{{"id": role, "type": "Role"}}}}}, nil)
		var app appView
		e.must(http.StatusOK, "GET", "/directory/applications/"+name, nil, &app)
		var added struct {
			SecretText string `json:"secretText"`
		}
		e.must(http.StatusOK, "POST", "/directory/applications/"+name+"/addPassword", nil, &added)
		e.must(http.StatusOK, "POST", "/directory/applications/"+name+"/grantAdminConsent", nil, nil)
		cc := clientcredentials.Config{ClientID: app.AppID, ClientSecret: added.SecretText, TokenURL: e.tokenURL(), Scopes: []string{identity.ManagementIdentifier + "/.default"}}
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	rw := mk("automation", identity.RoleManagementReadWrite)
	ro := mk("dashboard", identity.RoleManagementRead)

	if st := e.callWith(rw, "PUT", "/directory/users/dave", map[string]any{"userPrincipalName": "dave@example.com"}, nil); st != http.StatusCreated {
		t.Errorf("read-write token PUT: %d", st)
	}
	if st := e.callWith(ro, "GET", "/directory/users/dave", nil, nil); st != http.StatusOK {
		t.Errorf("read-only token GET: %d", st)
	}
	if st := e.callWith(ro, "PUT", "/directory/users/erin", map[string]any{"userPrincipalName": "erin@example.com"}, nil); st != http.StatusForbidden {
		t.Errorf("read-only token PUT: %d", st)
	}
	// A token for another audience, a tampered token, and an expired one
	// are refused.
	res, client, secret := e.seedClientCredentials()
	_ = client
	st, out := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {client.AppID}, "client_secret": {secret}, "scope": {res.AppID + "/.default"}})
	if st != 200 {
		t.Fatal(out)
	}
	if st := e.callWith(out["access_token"].(string), "GET", "/directory/users/dave", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("other audience: %d", st)
	}
	if st := e.callWith(rw[:len(rw)-4]+"AAAA", "GET", "/directory/users/dave", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("tampered: %d", st)
	}
	if roles, err := e.p.VerifyManagementToken(context.Background(), rw); err != nil || roles[0] != identity.RoleManagementReadWrite {
		t.Errorf("VerifyManagementToken: %v %v", roles, err)
	}
	e.clock.Advance(2 * time.Hour)
	if st := e.callWith(rw, "GET", "/directory/users/dave", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("expired: %d", st)
	}
	// The root admin key still works.
	e.must(http.StatusOK, "GET", "/directory/users/dave", nil, nil)
}
