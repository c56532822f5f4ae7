package jwtpolicy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/jwtvalidate"
	"github.com/tollgate/tollgate/internal/jwtvalidate/jwtpolicy"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// oidcProvider is an OpenID provider written here from scratch (its own
// keys, issuer and URL layout), reached by discovery.
type oidcProvider struct {
	srv    *httptest.Server
	key    *rsa.PrivateKey
	issuer string
	hits   atomic.Int64
}

func newOIDCProvider(t *testing.T) *oidcProvider {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &oidcProvider{key: k}
	mux := http.NewServeMux()
	mux.HandleFunc("/realms/test/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		json.NewEncoder(w).Encode(map[string]string{"issuer": p.issuer, "jwks_uri": p.srv.URL + "/realms/test/certs"})
	})
	mux.HandleFunc("/realms/test/certs", func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "kc-1", Use: "sig", Algorithm: "RS256"}}})
	})
	p.srv = httptest.NewServer(mux)
	p.issuer = p.srv.URL + "/realms/test"
	t.Cleanup(p.srv.Close)
	return p
}

func (p *oidcProvider) discovery() string {
	return p.srv.URL + "/realms/test/.well-known/openid-configuration"
}

func signRS256(t *testing.T, k *rsa.PrivateKey, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (p *oidcProvider) token(t *testing.T, edit func(jwt.MapClaims)) string {
	now := time.Now()
	c := jwt.MapClaims{"iss": p.issuer, "aud": "colors-api", "sub": "user-7", "azp": "console", "scp": "Colors.Read Profile",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "roles": []string{"Reader"}}
	if edit != nil {
		edit(c)
	}
	return signRS256(t, p.key, "kc-1", c)
}

type source struct{ records []store.Record }

func (s *source) All(context.Context) ([]store.Record, int64, error) {
	out := make([]store.Record, len(s.records))
	for i, r := range s.records {
		r.Body = append([]byte(nil), r.Body...)
		out[i] = r
	}
	return out, 1, nil
}

func rec(t *testing.T, id, kind string, r resource.Resource) store.Record {
	t.Helper()
	resource.SetMeta(r, id)
	r.Normalize()
	if errs := r.Validate(); len(errs) > 0 {
		t.Fatalf("%s: %v", id, errs)
	}
	b, _ := json.Marshal(r)
	parent := ""
	if strings.Count(id, "/") > 2 {
		parent = "/apis/echo"
	}
	return store.Record{ID: id, Kind: kind, Parent: parent, Body: b, ETag: "1"}
}

// gatewayWith serves API "echo" (the built-in echo backend) through a
// real gateway whose policy compiler has the JWT extensions.
func gatewayWith(t *testing.T, deps jwtpolicy.Deps, apiPolicy string) *httptest.Server {
	t.Helper()
	no := false
	c := policy.NewCompiler(policy.Options{Extensions: jwtpolicy.Extensions(deps), Logger: slog.New(slog.DiscardHandler)})
	src := &source{records: []store.Record{
		rec(t, "/apis/echo", "apis", &resource.API{Path: "echo", ServiceURL: resource.EchoServiceURL, SubscriptionRequired: &no}),
		rec(t, "/apis/echo/operations/any", "apis/operations", &resource.Operation{Method: "*", URLTemplate: "/*"}),
		rec(t, "/apis/echo/policies/policy", "apis/policies", &resource.Policy{Format: "rawxml", Value: apiPolicy}),
	}}
	gw := gateway.New(gateway.Options{Source: src, Hasher: keyring.NewHasher([]byte("k")), Policies: c, Logger: slog.New(slog.DiscardHandler)})
	if err := gw.Sync(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv
}

type result struct {
	status  int
	header  http.Header
	body    string
	headers map[string][]string // what the echo backend received
}

func get(t *testing.T, srv *httptest.Server, path string, kv ...string) result {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := result{status: res.StatusCode, header: res.Header, body: string(b)}
	var echo struct {
		Headers map[string][]string `json:"headers"`
	}
	if json.Unmarshal(b, &echo) == nil {
		r.headers = echo.Headers
	}
	return r
}

func deps(t *testing.T) jwtpolicy.Deps {
	return jwtpolicy.Deps{JWT: jwtvalidate.Deps{KeySets: jwtvalidate.NewKeySets(jwtvalidate.KeySetsOptions{})}}
}

func doc(inbound, onError string) string {
	return "<policies><inbound>" + inbound + "</inbound><backend><forward-request/></backend><outbound/><on-error>" + onError + "</on-error></policies>"
}

const reasonOnError = `<set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Source + "/" + context.LastError.Reason)</value></set-header>`

func messageOf(t *testing.T, body string) string {
	var b struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return b.Message
}

// The same policy as the client-credentials walkthrough, against a second
// OpenID provider: discovery, aud, a required scope, the Jwt variable.
func TestValidateJWTWithOpenIDProvider(t *testing.T) {
	p := newOIDCProvider(t)
	srv := gatewayWith(t, deps(t), doc(`
		<validate-jwt header-name="Authorization" require-scheme="Bearer" failed-validation-error-message="Unauthorized. Access token is missing or invalid." output-token-variable-name="jwt">
			<openid-config url="`+p.discovery()+`" />
			<audiences><audience>colors-api</audience></audiences>
			<required-claims><claim name="scp" match="any" separator=" "><value>Colors.Read</value></claim></required-claims>
		</validate-jwt>
		<set-header name="X-Subject" exists-action="override"><value>@(((Jwt)context.Variables["jwt"]).Subject)</value></set-header>
		<set-header name="X-Roles" exists-action="override"><value>@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("roles", ""))</value></set-header>`,
		reasonOnError))
	r := get(t, srv, "/echo/x", "Authorization", "Bearer "+p.token(t, nil))
	if r.status != 200 || len(r.headers["X-Subject"]) == 0 || r.headers["X-Subject"][0] != "user-7" || r.headers["X-Roles"][0] != "Reader" {
		t.Fatalf("valid token: %d %v %s", r.status, r.headers, r.body)
	}
	good := p.token(t, nil)
	for _, c := range []struct{ name, auth, reason string }{
		{"no header", "", "TokenNotPresent"},
		{"wrong scheme", "Basic " + good, "TokenNotPresent"},
		{"tampered", "Bearer " + good[:len(good)-6] + "AAAAAA", "TokenSignatureInvalid"},
		{"unknown kid", "Bearer " + signRS256(t, p.key, "other", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}), "TokenSignatureKeyNotFound"},
		{"wrong issuer", "Bearer " + p.token(t, func(c jwt.MapClaims) { c["iss"] = "https://elsewhere" }), "TokenIssuerNotAllowed"},
		{"wrong audience", "Bearer " + p.token(t, func(c jwt.MapClaims) { c["aud"] = "other" }), "TokenAudienceNotAllowed"},
		{"expired", "Bearer " + p.token(t, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), "TokenExpired"},
		{"not yet valid", "Bearer " + p.token(t, func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), "TokenNotYetValid"},
		{"scope missing", "Bearer " + p.token(t, func(c jwt.MapClaims) { c["scp"] = "Profile" }), "TokenClaimValueNotAllowed"},
		{"claim missing", "Bearer " + p.token(t, func(c jwt.MapClaims) { delete(c, "scp") }), "TokenClaimNotFound"},
		{"garbage", "Bearer a.b.c", "JwtInvalid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r result
			if c.auth == "" {
				r = get(t, srv, "/echo/x")
			} else {
				r = get(t, srv, "/echo/x", "Authorization", c.auth)
			}
			if r.status != 401 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := r.header.Get("X-Reason"); got != "validate-jwt/"+c.reason {
				t.Errorf("LastError = %q, want validate-jwt/%s", got, c.reason)
			}
			if msg := messageOf(t, r.body); msg != "Unauthorized. Access token is missing or invalid." {
				t.Errorf("message %q", msg)
			}
			want := `Bearer error="invalid_token"`
			if c.reason == "TokenNotPresent" {
				want = "Bearer"
			}
			if got := r.header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate %q, want %q", got, want)
			}
		})
	}
}

func TestSourcesStaticKeysAndStatus(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-key")
	b64 := base64.StdEncoding.EncodeToString(secret)
	hs := func(edit func(jwt.MapClaims)) string {
		c := jwt.MapClaims{"iss": "me", "exp": time.Now().Add(time.Hour).Unix(), "sub": "s"}
		if edit != nil {
			edit(c)
		}
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		return s
	}
	q := gatewayWith(t, deps(t), doc(`
		<validate-jwt query-parameter-name="access_token" failed-validation-httpcode="403" clock-skew="120">
			<issuer-signing-keys><key>`+b64+`</key></issuer-signing-keys>
			<issuers><issuer>me</issuer></issuers>
		</validate-jwt>`, ""))
	if r := get(t, q, "/echo/items/1?access_token="+hs(nil)); r.status != 200 {
		t.Errorf("query token: %d %s", r.status, r.body)
	}
	if r := get(t, q, "/echo/items/1?access_token="+hs(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() })); r.status != 200 {
		t.Errorf("expired within the skew: %d %s", r.status, r.body)
	}
	r := get(t, q, "/echo/items/1?access_token="+hs(func(c jwt.MapClaims) { c["iss"] = "you" }))
	if r.status != 403 || r.header.Get("WWW-Authenticate") != "" || messageOf(t, r.body) != "Issuer validation failed." {
		t.Errorf("wrong issuer: %d %v %s", r.status, r.header, r.body)
	}

	v := gatewayWith(t, deps(t), doc(`
		<validate-jwt token-value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Token&quot;, &quot;&quot;))" require-expiration-time="false">
			<issuer-signing-keys><key id="k1">`+b64+`</key></issuer-signing-keys>
		</validate-jwt>`, ""))
	if r := get(t, v, "/echo/x", "X-Token", hs(func(c jwt.MapClaims) { delete(c, "exp") })); r.status != 200 {
		t.Errorf("token-value without exp: %d %s", r.status, r.body)
	}
	if r := get(t, v, "/echo/x"); r.status != 401 || messageOf(t, r.body) != "JWT not present." {
		t.Errorf("no token-value: %d %s", r.status, r.body)
	}

	// An RSA key given as n and e.
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ne := gatewayWith(t, deps(t), doc(`<validate-jwt header-name="Authorization"><issuer-signing-keys><key id="r" n="`+
		base64.RawURLEncoding.EncodeToString(rk.N.Bytes())+`" e="AQAB"/></issuer-signing-keys></validate-jwt>`, ""))
	if r := get(t, ne, "/echo/x", "Authorization", "Bearer "+signRS256(t, rk, "r", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})); r.status != 200 {
		t.Errorf("n/e key: %d %s", r.status, r.body)
	}
	if r := get(t, ne, "/echo/x", "Authorization", "Bearer "+hs(nil)); r.status != 401 {
		t.Errorf("HS256 against an RSA key: %d", r.status)
	}

	// A custom header carries the raw token; require-scheme does not apply.
	h := gatewayWith(t, deps(t), doc(`<validate-jwt header-name="X-Jwt" require-scheme="Bearer"><issuer-signing-keys><key>`+b64+`</key></issuer-signing-keys></validate-jwt>`, ""))
	if r := get(t, h, "/echo/x", "X-Jwt", hs(nil)); r.status != 200 {
		t.Errorf("custom header: %d %s", r.status, r.body)
	}
	// Unsigned tokens only with require-signed-tokens="false".
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if r := get(t, h, "/echo/x", "X-Jwt", none); r.status != 401 {
		t.Errorf("alg none accepted: %d", r.status)
	}
	lax := gatewayWith(t, deps(t), doc(`<validate-jwt header-name="X-Jwt" require-signed-tokens="false"/>`, ""))
	if r := get(t, lax, "/echo/x", "X-Jwt", none); r.status != 200 {
		t.Errorf("alg none with require-signed-tokens=false: %d %s", r.status, r.body)
	}
}

func selfSigned(t *testing.T, key any, pub any) (string, string) {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "signer"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
}

// certificate-id keys, and JWE decryption with a certificate's private key.
func TestCertificatesAndDecryption(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecCert, _ := selfSigned(t, ec, &ec.PublicKey)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	rCert, rKey := selfSigned(t, rk, &rk.PublicKey)
	certs := map[string][2]string{"signer": {ecCert, ""}, "decrypter": {rCert, rKey}}
	d := deps(t)
	d.Certificate = func(_ context.Context, id string) (*resource.Certificate, string, bool, error) {
		c, ok := certs[id]
		if !ok {
			return nil, "", false, nil
		}
		return &resource.Certificate{Data: c[0]}, c[1], true, nil
	}
	srv := gatewayWith(t, d, doc(`
		<validate-jwt header-name="Authorization" require-scheme="Bearer">
			<issuer-signing-keys><key certificate-id="signer"/></issuer-signing-keys>
			<decryption-keys><key certificate-id="decrypter"/></decryption-keys>
		</validate-jwt>`, ""))
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}).SignedString(ec)
	if r := get(t, srv, "/echo/x", "Authorization", "Bearer "+tok); r.status != 200 {
		t.Fatalf("certificate key: %d %s", r.status, r.body)
	}
	enc, _ := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: &rk.PublicKey}, (&jose.EncrypterOptions{}).WithContentType("JWT"))
	obj, _ := enc.Encrypt([]byte(tok))
	jwe, _ := obj.CompactSerialize()
	if r := get(t, srv, "/echo/x", "Authorization", "Bearer "+jwe); r.status != 200 {
		t.Fatalf("JWE: %d %s", r.status, r.body)
	}

	c := policy.NewCompiler(policy.Options{Extensions: jwtpolicy.Extensions(d)})
	for xml, want := range map[string]string{
		`<validate-jwt header-name="A"><issuer-signing-keys><key certificate-id="missing"/></issuer-signing-keys></validate-jwt>`:                                                                 "certificate 'missing' does not exist",
		`<validate-jwt header-name="A"><issuer-signing-keys><key certificate-id="signer"/></issuer-signing-keys><decryption-keys><key certificate-id="signer"/></decryption-keys></validate-jwt>`: "has no private key",
	} {
		ps := c.CheckDocument(context.Background(), "/policies/policy", "<policies><inbound>"+xml+"</inbound></policies>", nil)
		if len(ps) == 0 || !strings.Contains(ps[0].Message, want) {
			t.Errorf("%s: %v, want %q", xml, ps, want)
		}
	}
}

// validate-azure-ad-token on the built-in tenant uses the provider's keys
// in process; client-application-ids checks azp.
func TestValidateAzureADTokenBuiltInTenant(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	const iss = "http://127.0.0.1:8003/2f5d1a8e-0000-4000-8000-000000000001/v2.0"
	d := deps(t)
	d.LocalTenant = func(s string) bool { return s == "contoso" || s == "2f5d1a8e-0000-4000-8000-000000000001" }
	d.JWT.LocalKeys = func(context.Context) (jose.JSONWebKeySet, string, error) {
		return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "b1", Use: "sig"}}}, iss, nil
	}
	srv := gatewayWith(t, d, doc(`
		<validate-azure-ad-token tenant-id="contoso" output-token-variable-name="jwt">
			<client-application-ids><application-id>client-app</application-id></client-application-ids>
			<backend-application-ids><application-id>resource-app</application-id></backend-application-ids>
			<required-claims><claim name="roles" match="any"><value>Colors.Reader</value></claim></required-claims>
		</validate-azure-ad-token>`, reasonOnError))
	mk := func(edit func(jwt.MapClaims)) string {
		c := jwt.MapClaims{"iss": iss, "aud": "resource-app", "azp": "client-app", "roles": []string{"Colors.Reader"}, "exp": time.Now().Add(time.Hour).Unix()}
		if edit != nil {
			edit(c)
		}
		return signRS256(t, k, "b1", c)
	}
	if r := get(t, srv, "/echo/x", "Authorization", "Bearer "+mk(nil)); r.status != 200 {
		t.Fatalf("valid: %d %s", r.status, r.body)
	}
	for name, c := range map[string]struct {
		tok, reason string
	}{
		"other client":   {mk(func(c jwt.MapClaims) { c["azp"] = "intruder" }), "TokenClaimValueNotAllowed"},
		"other audience": {mk(func(c jwt.MapClaims) { c["aud"] = "graph" }), "TokenAudienceNotAllowed"},
		"no role":        {mk(func(c jwt.MapClaims) { c["roles"] = []string{"Colors.Writer"} }), "TokenClaimValueNotAllowed"},
		"other issuer":   {mk(func(c jwt.MapClaims) { c["iss"] = "https://login.microsoftonline.com/x/v2.0" }), "TokenIssuerNotAllowed"},
	} {
		r := get(t, srv, "/echo/x", "Authorization", "Bearer "+c.tok)
		if r.status != 401 || r.header.Get("X-Reason") != "validate-azure-ad-token/"+c.reason {
			t.Errorf("%s: %d %q %s", name, r.status, r.header.Get("X-Reason"), r.body)
		}
	}
	if r := get(t, srv, "/echo/x", "Authorization", mk(nil)); r.status != 401 {
		t.Errorf("no Bearer scheme: %d", r.status)
	}
}

// Every bad attribute and element is refused when the document is saved,
// at its line and column.
func TestCompileProblems(t *testing.T) {
	c := policy.NewCompiler(policy.Options{Extensions: jwtpolicy.Extensions(jwtpolicy.Deps{})})
	wrap := func(s string) string { return "<policies><inbound>\n" + s + "\n</inbound></policies>" }
	for _, cs := range []struct{ xml, want string }{
		{`<validate-jwt header-name="Authorization" bogus="1"><openid-config url="https://x/"/></validate-jwt>`, "unknown attribute 'bogus'"},
		{`<validate-jwt header-name="A" query-parameter-name="q"><openid-config url="https://x/"/></validate-jwt>`, "only one of"},
		{`<validate-jwt><openid-config url="https://x/"/></validate-jwt>`, "is required"},
		{`<validate-jwt header-name="A"/>`, "no signing keys"},
		{`<validate-jwt header-name="A b"><openid-config url="https://x/"/></validate-jwt>`, "must be a header name"},
		{`<validate-jwt header-name="A" require-scheme="Bearer x"><openid-config url="https://x/"/></validate-jwt>`, "authentication scheme"},
		{`<validate-jwt header-name="A" clock-skew="-1"><openid-config url="https://x/"/></validate-jwt>`, "clock-skew"},
		{`<validate-jwt header-name="A" require-signed-tokens="maybe"><openid-config url="https://x/"/></validate-jwt>`, "true or false"},
		{`<validate-jwt header-name="A" require-expiration-time="1"><openid-config url="https://x/"/></validate-jwt>`, "true or false"},
		{`<validate-jwt header-name="A" failed-validation-httpcode="99"><openid-config url="https://x/"/></validate-jwt>`, "between 100 and 599"},
		{`<validate-jwt header-name="A" output-token-variable-name="@(1)"><openid-config url="https://x/"/></validate-jwt>`, "does not accept an expression"},
		{`<validate-jwt header-name="A"><openid-config/></validate-jwt>`, "'url' is required"},
		{`<validate-jwt header-name="A"><openid-config url="ftp://x"/></validate-jwt>`, "http or https"},
		{`<validate-jwt header-name="A"><openid-config url="https://x/" x="1"/></validate-jwt>`, "unknown attribute 'x'"},
		{`<validate-jwt header-name="A"><issuer-signing-keys><key>!!!</key></issuer-signing-keys></validate-jwt>`, "not base64"},
		{`<validate-jwt header-name="A"><issuer-signing-keys><key>c2hvcnQ=</key></issuer-signing-keys></validate-jwt>`, "at least 32 bytes"},
		{`<validate-jwt header-name="A"><issuer-signing-keys><key n="AQAB"/></issuer-signing-keys></validate-jwt>`, "n and e"},
		{`<validate-jwt header-name="A"><issuer-signing-keys><key n="AQAB" e="AQAB">` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `</key></issuer-signing-keys></validate-jwt>`, "not both"},
		{`<validate-jwt header-name="A"><openid-config url="https://x/"/><decryption-keys><key>` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `</key></decryption-keys></validate-jwt>`, "RSA-OAEP-256 with A256GCM"},
		{`<validate-jwt header-name="A"><openid-config url="https://x/"/><issuers><issuer>@(1)</issuer></issuers></validate-jwt>`, "does not accept an expression"},
		{`<validate-jwt header-name="A"><openid-config url="https://x/"/><audiences/></validate-jwt>`, "at least one <audience>"},
		{`<validate-jwt header-name="A"><openid-config url="https://x/"/><issuers><issuer/></issuers></validate-jwt>`, "must not be empty"},
		{`<validate-jwt header-name="A"><openid-config url="https://x/"/><required-claims><claim name="x" match="some"/></required-claims></validate-jwt>`, "must be one of all, any"},
		{`<validate-jwt header-name="A"><openid-config url="https://x/"/><required-claims><claim/></required-claims></validate-jwt>`, "'name' is required"},
		{`<validate-jwt header-name="A"><openid-config url="https://x/"/><required-claims><claim name="x"><other/></claim></required-claims></validate-jwt>`, "unexpected element <other>"},
		{`<validate-jwt header-name="A"><openid-config url="https://x/"/><extras/></validate-jwt>`, "unexpected element <extras>"},
		{`<validate-jwt header-name="A"><openid-config url="https://x/"/><claim name="roles" match="any"><value>x</value></claim></validate-jwt>`, "unexpected element <claim>: wrap it in <required-claims>"},
		{`<validate-jwt header-name="A"><openid-config url="https://x/"/>text</validate-jwt>`, "unexpected text"},
		{`<validate-azure-ad-token><client-application-ids><application-id>x</application-id></client-application-ids></validate-azure-ad-token>`, "'tenant-id' is required"},
		{`<validate-azure-ad-token tenant-id="a/b"/>`, "tenant id"},
		{`<validate-azure-ad-token tenant-id="t"><issuers/></validate-azure-ad-token>`, "unexpected element <issuers>"},
		{`<validate-jwt header-name="A"><openid-config url="https://x/"/><audiences><audience>@(</audience></audiences></validate-jwt>`, "unterminated expression"},
		{`<validate-jwt header-name="A"><issuer-signing-keys><key certificate-id="c" n="x"/></issuer-signing-keys></validate-jwt>`, "not several"},
	} {
		ps := c.CheckOffline(wrap(cs.xml), map[string]string{})
		found := false
		for _, p := range ps {
			if strings.Contains(p.Message, cs.want) && p.Line == 2 && p.Column > 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: problems %v, want %q at line 2", cs.xml, ps, cs.want)
		}
	}
	ok := wrap(`<validate-azure-ad-token tenant-id="contoso.onmicrosoft.com"><client-application-ids><application-id>app</application-id></client-application-ids><backend-application-ids><application-id>api</application-id></backend-application-ids></validate-azure-ad-token>`)
	if ps := c.CheckOffline(ok, map[string]string{}); len(ps) > 0 {
		t.Errorf("valid validate-azure-ad-token: %v", ps)
	}
	// Offline the certificate cannot be read: the server checks it.
	cert := wrap(`<validate-jwt header-name="A"><issuer-signing-keys><key certificate-id="my-cert"/></issuer-signing-keys><audiences><audience>api</audience></audiences></validate-jwt>`)
	if ps := c.CheckOffline(cert, map[string]string{}); len(ps) > 0 {
		t.Errorf("certificate-id offline: %v", ps)
	}
	if ps := c.CheckOffline(`<policies><outbound><validate-jwt header-name="A"><openid-config url="https://x/"/></validate-jwt></outbound></policies>`, map[string]string{}); len(ps) == 0 {
		t.Error("validate-jwt accepted in outbound")
	}
}

// An <audience> expression is evaluated per request, also for a token
// served from the verified-token cache; literal audiences beside it still
// count.
func TestAudienceExpression(t *testing.T) {
	p := newOIDCProvider(t)
	srv := gatewayWith(t, deps(t), doc(`
		<set-variable name="aud" value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Aud&quot;, &quot;&quot;))" />
		<validate-jwt header-name="Authorization" require-scheme="Bearer">
			<openid-config url="`+p.discovery()+`" />
			<audiences>
				<audience>@(context.Variables.GetValueOrDefault&lt;string&gt;("aud"))</audience>
				<audience>fixed-aud</audience>
			</audiences>
		</validate-jwt>`, reasonOnError))
	tok := p.token(t, nil) // aud colors-api
	fixed := p.token(t, func(c jwt.MapClaims) { c["aud"] = []string{"x", "fixed-aud"} })
	for _, c := range []struct {
		name, tok, aud string
		status         int
	}{
		{"expression matches", tok, "colors-api", 200},
		{"cached, expression matches", tok, "colors-api", 200},
		{"cached, expression differs", tok, "other-api", 401},
		{"cached, expression empty", tok, "", 401},
		{"literal matches", fixed, "other-api", 200},
		{"expression matches again", tok, "colors-api", 200},
	} {
		r := get(t, srv, "/echo/x", "Authorization", "Bearer "+c.tok, "X-Aud", c.aud)
		if r.status != c.status {
			t.Fatalf("%s: status %d, want %d: %s", c.name, r.status, c.status, r.body)
		}
		if c.status == 401 {
			if got := r.header.Get("X-Reason"); got != "validate-jwt/TokenAudienceNotAllowed" {
				t.Errorf("%s: LastError %q", c.name, got)
			}
			if msg := messageOf(t, r.body); msg != "Audience validation failed." {
				t.Errorf("%s: message %q", c.name, msg)
			}
		}
	}
}

// validate-azure-ad-token takes an <audience> expression too.
func TestAzureADTokenAudienceExpression(t *testing.T) {
	p := newOIDCProvider(t)
	d := deps(t)
	d.LocalTenant = func(tenant string) bool { return tenant == "local" }
	d.JWT.LocalKeys = func(context.Context) (jose.JSONWebKeySet, string, error) {
		return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "kc-1", Use: "sig"}}}, p.issuer, nil
	}
	srv := gatewayWith(t, d, doc(`
		<validate-azure-ad-token tenant-id="local">
			<audiences><audience>@(context.Request.Headers.GetValueOrDefault("X-Aud", ""))</audience></audiences>
		</validate-azure-ad-token>`, reasonOnError))
	tok := p.token(t, nil)
	if r := get(t, srv, "/echo/x", "Authorization", "Bearer "+tok, "X-Aud", "colors-api"); r.status != 200 {
		t.Fatalf("audience matches: %d %s", r.status, r.body)
	}
	r := get(t, srv, "/echo/x", "Authorization", "Bearer "+tok, "X-Aud", "other")
	if r.status != 401 || r.header.Get("X-Reason") != "validate-azure-ad-token/TokenAudienceNotAllowed" {
		t.Fatalf("audience differs: %d %q %s", r.status, r.header.Get("X-Reason"), r.body)
	}
}
