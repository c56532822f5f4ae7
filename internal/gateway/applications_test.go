package gateway_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/jwtvalidate"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// appKeys signs test tokens; the validator trusts only the first key.
type appKeys struct {
	trusted, other *rsa.PrivateKey
	v              *jwtvalidate.Validator
}

func newAppKeys(tb testing.TB) *appKeys {
	tb.Helper()
	k := &appKeys{}
	for _, p := range []**rsa.PrivateKey{&k.trusted, &k.other} {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			tb.Fatal(err)
		}
		*p = key
	}
	v, err := jwtvalidate.New(jwtvalidate.Config{SigningKeys: []jwtvalidate.StaticKey{{ID: "k1", PublicKey: &k.trusted.PublicKey}}}, jwtvalidate.Deps{})
	if err != nil {
		tb.Fatal(err)
	}
	k.v = v
	return k
}

func (k *appKeys) sign(tb testing.TB, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	tb.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = "k1"
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// appToken is a client-credentials token of the client id for a product.
func (k *appKeys) appToken(tb testing.TB, aud, client, role string) string {
	return k.sign(tb, k.trusted, jwt.MapClaims{"aud": aud, "azp": client, "roles": []string{role}, "idtyp": "app"})
}

func oauthProduct(name string, keysToo bool) *resource.Product {
	p := Product(name, true)
	p.AuthenticationType = []string{resource.AuthOAuth2Token}
	if keysToo {
		p.AuthenticationType = append(p.AuthenticationType, resource.AuthSubscriptionKey)
	}
	p.Application = &resource.ProductApplication{ApplicationID: name + "-aud", Audience: "api://" + name + "-aud", Role: resource.ProductRole(name)}
	return p
}

func clientAppRecord(tb testing.TB, name, owner, state string) store.Record {
	tb.Helper()
	a := &resource.ClientApplication{DisplayName: "App " + name, OwnerID: owner, State: state, ApplicationID: name + "-client", CreatedDate: "2026-01-01T00:00:00.000Z"}
	resource.SetMeta(a, "/clientApplications/"+name)
	body, err := json.Marshal(a)
	if err != nil {
		tb.Fatal(err)
	}
	return store.Record{ID: a.ID, Kind: "clientApplications", Body: body, ETag: "1"}
}

func productLinkRecord(app, link, product string) store.Record {
	body, _ := json.Marshal(map[string]string{"productId": "/products/" + product})
	id := "/clientApplications/" + app + "/productLinks/" + link
	return store.Record{ID: id, Kind: "clientApplications/productLinks", Parent: "/clientApplications/" + app, Body: body, ETag: "1"}
}

// appReporter answers with what the gateway put in the Call.
type appReporter struct{}

func (appReporter) Compile(context.Context, []store.Record) (gateway.Policies, error) {
	return appReporter{}, nil
}
func (appReporter) Pipeline(apiID, operationID, productID string) gateway.Pipeline {
	return appReporter{}
}
func (appReporter) Preflight(string) gateway.Pipeline { return nil }
func (appReporter) Serve(w http.ResponseWriter, r *http.Request, c *gateway.Call, _ gateway.Forwarder) {
	var app, user, product string
	if c.Application != nil {
		app = c.Application.ID + " " + c.Application.DisplayName + " " + c.Application.OwnerID
	}
	if c.User != nil {
		user = c.User.ID
	}
	if c.Product != nil {
		product = c.Product.ID
	}
	fmt.Fprintf(w, "app=%s|user=%s|product=%s", app, user, product)
}

func TestApplicationTokens(t *testing.T) {
	k := newAppKeys(t)
	src := &source{}
	recs := Records(t,
		API("orders", "orders", resource.EchoServiceURL), Op("orders", "get", "GET", "/*"),
		API("mixed", "mixed", resource.EchoServiceURL), Op("mixed", "get", "GET", "/*"),
		oauthProduct("gold", false), oauthProduct("silver", false), Product("basic", true),
		Link("gold", "orders"), Link("gold", "mixed"), Link("silver", "mixed"), Link("basic", "mixed"),
		User("dev1", "active"), User("blocked", "blocked"),
		Sub("gold-sub", "/products/gold", "active", "/users/dev1", "gold-key-0123456789", ""),
		Sub("basic-sub", "/products/basic", "active", "/users/dev1", "basic-key-0123456789", ""),
	)
	recs = append(recs,
		clientAppRecord(t, "app1", "/users/dev1", "active"), productLinkRecord("app1", "gold", "gold"),
		clientAppRecord(t, "app2", "/users/dev1", "active"),
		clientAppRecord(t, "paused", "/users/dev1", "suspended"), productLinkRecord("paused", "gold", "gold"),
		clientAppRecord(t, "orphan", "/users/blocked", "active"), productLinkRecord("orphan", "gold", "gold"),
	)
	src.set(1, recs)
	logBuf := &lockedBuffer{}
	gw := gateway.New(gateway.Options{Source: src, Hasher: testHasher, Policies: appReporter{}, AppTokens: k.v,
		Logger: slog.New(slog.NewJSONHandler(logBuf, nil))})
	if err := gw.Sync(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	f := &fixture{gw: gw, src: src, srv: srv, log: logBuf}

	good := k.appToken(t, "gold-aud", "app1-client", "Product.gold.All")
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	for _, c := range []struct {
		name, path string
		header     http.Header
		status     int
		want       string // in the body
		reason     string // in the access log
	}{
		{"admitted", "/orders/x", bearer(good), 200, "app=/clientApplications/app1 App app1 /users/dev1|user=/users/dev1|product=/products/gold", ""},
		{"lower-case scheme", "/orders/x", http.Header{"Authorization": {"bearer " + good}}, 200, "product=/products/gold", ""},
		{"token's product wins", "/mixed/x", bearer(good), 200, "product=/products/gold", ""},
		{"no token", "/orders/x", nil, 401, "missing access token", "TokenNotPresent"},
		{"no credentials, key product too", "/mixed/x", nil, 401, "missing subscription key", "SubscriptionKeyNotFound"},
		{"key of a key product", "/mixed/x", http.Header{"Ocp-Apim-Subscription-Key": {"basic-key-0123456789"}}, 200, "product=/products/basic", ""},
		{"key of a token-only product", "/orders/x", http.Header{"Ocp-Apim-Subscription-Key": {"gold-key-0123456789"}}, 401, "invalid subscription key", "SubscriptionKeyInvalid"},
		{"garbage", "/orders/x", bearer("not-a-jwt"), 401, "invalid access token", "JwtInvalid"},
		{"another issuer", "/orders/x", bearer(k.sign(t, k.other, jwt.MapClaims{"aud": "gold-aud", "azp": "app1-client", "roles": []string{"Product.gold.All"}})), 401, "invalid access token", "TokenSignatureInvalid"},
		{"expired", "/orders/x", bearer(k.sign(t, k.trusted, jwt.MapClaims{"aud": "gold-aud", "azp": "app1-client", "roles": []string{"Product.gold.All"}, "exp": time.Now().Add(-time.Hour).Unix()})), 401, "invalid access token", "TokenExpired"},
		{"another product", "/orders/x", bearer(k.appToken(t, "silver-aud", "app1-client", "Product.silver.All")), 401, "invalid access token", "TokenAudienceNotAllowed"},
		{"user token", "/orders/x", bearer(k.sign(t, k.trusted, jwt.MapClaims{"aud": "gold-aud", "azp": "app1-client", "idtyp": "user", "scp": "x"})), 401, "invalid access token", "TokenRoleMissing"},
		{"unknown application", "/orders/x", bearer(k.appToken(t, "gold-aud", "nobody", "Product.gold.All")), 401, "invalid access token", "ApplicationNotFound"},
		{"not linked", "/orders/x", bearer(k.appToken(t, "gold-aud", "app2-client", "Product.gold.All")), 401, "invalid access token", "ApplicationNotLinked"},
		{"suspended", "/orders/x", bearer(k.appToken(t, "gold-aud", "paused-client", "Product.gold.All")), 401, "invalid access token", "ApplicationSuspended"},
		{"owner blocked", "/orders/x", bearer(k.appToken(t, "gold-aud", "orphan-client", "Product.gold.All")), 401, "invalid access token", "ApplicationSuspended"},
	} {
		resp, body := f.do(t, "GET", c.path, c.header, nil)
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("%s: %d %s, want %d and %q", c.name, resp.StatusCode, body, c.status, c.want)
		}
		if c.status == 401 && strings.Contains(c.want, "access token") && resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
			t.Errorf("%s: WWW-Authenticate %q", c.name, resp.Header.Get("WWW-Authenticate"))
		}
		if c.reason != "" && !strings.Contains(lastLine(logBuf.String()), `"`+c.reason+`"`) {
			t.Errorf("%s: access log lacks %s: %s", c.name, c.reason, lastLine(logBuf.String()))
		}
	}
	if !strings.Contains(logBuf.String(), `"application":"/clientApplications/paused"`) {
		t.Error("the access log does not name the suspended application")
	}
	if strings.Contains(logBuf.String(), good) {
		t.Error("a token is in the access log")
	}

	// Unlinking takes effect with the next snapshot, token unchanged.
	var kept []store.Record
	for _, r := range recs {
		if r.ID != "/clientApplications/app1/productLinks/gold" {
			kept = append(kept, r)
		}
	}
	src.set(2, kept)
	if err := gw.Sync(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	if resp, body := f.do(t, "GET", "/orders/x", bearer(good), nil); resp.StatusCode != 401 {
		t.Fatalf("after unlink: %d %s", resp.StatusCode, body)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// FuzzApplicationToken: whatever the Authorization header holds, the
// gateway answers 401 (or 200 for the one good token) and never panics.
func FuzzApplicationToken(f *testing.F) {
	k := newAppKeys(f)
	src := &source{}
	recs := Records(f, API("orders", "orders", resource.EchoServiceURL), Op("orders", "get", "GET", "/*"),
		oauthProduct("gold", false), Link("gold", "orders"), User("dev1", "active"))
	recs = append(recs, clientAppRecord(f, "app1", "/users/dev1", "active"), productLinkRecord("app1", "gold", "gold"))
	src.set(1, recs)
	gw := gateway.New(gateway.Options{Source: src, Hasher: testHasher, Policies: appReporter{}, AppTokens: k.v, Logger: slog.New(slog.DiscardHandler)})
	if err := gw.Sync(context.Background(), 1); err != nil {
		f.Fatal(err)
	}
	good := k.appToken(f, "gold-aud", "app1-client", "Product.gold.All")
	for _, s := range []string{"Bearer " + good, "Bearer", "bearer  x.y.z", "Basic abc", "Bearer " + good[:len(good)-3], "Bearer a.b.c.d.e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		r := httptest.NewRequest("GET", "/orders/x", nil)
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, r)
		if w.Code != 401 && !(w.Code == 200 && strings.Contains(auth, good)) {
			t.Fatalf("%q: %d %s", auth, w.Code, w.Body)
		}
	})
}
