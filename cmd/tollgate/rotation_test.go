package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSigningKeyRotationUnderLoad: the identity provider rotates its
// signing key while clients keep getting fresh tokens and calling an API
// protected by validate-jwt (openid-config pointing at the provider): no
// request fails. The new key is published before it signs, and the gateway
// refreshes the provider's keys more often than that delay.
func TestSigningKeyRotationUnderLoad(t *testing.T) {
	// A token signed by the new key refetches the keys at once (at most
	// once a second) even when the scheduled refresh lags on a busy machine.
	srv, _ := testServer(t, t.TempDir(), "--openid-key-refresh", "200ms", "--openid-kid-refetch", "1s")
	mg, idp, gw := srv.urls["management"], srv.urls["identity"], srv.urls["gateway"]
	put := func(path, body string) map[string]any {
		t.Helper()
		st, _, b := call(t, "PUT", mg+path, body, srv.admin()...)
		return mustJSON(t, st, 201, b)
	}
	resourceApp := put("/directory/applications/orders", `{"displayName": "Orders",
		"appRoles": [{"value": "Orders.Read", "displayName": "Read", "allowedMemberTypes": ["Application"], "isEnabled": true}]}`)
	resourceID := resourceApp["appId"].(string)
	client := put("/directory/applications/caller", `{"displayName": "Caller",
		"requiredResourceAccess": [{"resourceAppId": "`+resourceID+`", "resourceAccess": [{"id": "Orders.Read", "type": "Role"}]}]}`)
	st, _, b := call(t, "POST", mg+"/directory/applications/caller/addPassword", `{}`, srv.admin()...)
	secret := mustJSON(t, st, 200, b)["secretText"].(string)
	if st, _, b := call(t, "POST", mg+"/directory/applications/caller/grantAdminConsent", "", srv.admin()...); st/100 != 2 {
		t.Fatalf("consent: %d %s", st, b)
	}
	st, _, b = call(t, "GET", mg+"/directory", "", srv.admin()...)
	tenant := mustJSON(t, st, 200, b)["tenantId"].(string)

	put("/apis/orders", `{"path": "orders", "serviceUrl": "tollgate:echo", "subscriptionRequired": false}`)
	put("/apis/orders/operations/all", `{"method": "*", "urlTemplate": "/*"}`)
	policy, _ := json.Marshal(map[string]string{"value": fmt.Sprintf(`<policies><inbound><base/>
	<validate-jwt header-name="Authorization" failed-validation-httpcode="401" failed-validation-error-message="Unauthorized.">
		<openid-config url="%s/%s/v2.0/.well-known/openid-configuration" />
		<audiences><audience>%s</audience></audiences>
	</validate-jwt></inbound></policies>`, idp, tenant, resourceID)})
	put("/apis/orders/policies/policy", string(policy))

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {client["appId"].(string)},
		"client_secret": {secret}, "scope": {resourceID + "/.default"}}.Encode()
	token := func() (string, error) {
		res, err := http.Post(idp+"/"+tenant+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
			return "", fmt.Errorf("token endpoint: %d %v", res.StatusCode, err)
		}
		return tok.AccessToken, nil
	}
	kidOf := func(tok string) string {
		h, _ := base64Decode(strings.SplitN(tok, ".", 2)[0])
		var hdr struct {
			Kid string `json:"kid"`
		}
		json.Unmarshal([]byte(h), &hdr)
		return hdr.Kid
	}

	var requests, failures atomic.Int64
	var mu sync.Mutex
	kids := map[string]bool{}
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := token()
				if err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				mu.Lock()
				kids[kidOf(tok)] = true
				mu.Unlock()
				// Each token is used a few times, as clients do.
				for j := 0; j < 5; j++ {
					req, _ := http.NewRequest("GET", gw+"/orders/x", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					res, err := http.DefaultClient.Do(req)
					requests.Add(1)
					if err != nil {
						failures.Add(1)
						firstFailure.CompareAndSwap(nil, err.Error())
						continue
					}
					if res.StatusCode != 200 {
						failures.Add(1)
						b, _ := io.ReadAll(res.Body)
						firstFailure.CompareAndSwap(nil, fmt.Sprintf("status %d %s %s at %s", res.StatusCode, b, res.Header.Get("WWW-Authenticate"), time.Now().Format("15:04:05.000")))
					}
					res.Body.Close()
				}
			}
		}()
	}
	time.Sleep(time.Second)
	t.Logf("rotating at %s", time.Now().Format("15:04:05.000"))
	// A new key, published now, signing one second from now.
	if st, _, b := call(t, "POST", mg+"/directory/signingKeys/rotate", `{"publishDelaySeconds": 1}`, srv.admin()...); st/100 != 2 {
		close(stop)
		wg.Wait()
		t.Fatalf("rotate: %d %s", st, b)
	}
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed across the rotation; first: %v", n, requests.Load(), firstFailure.Load())
	}
	if len(kids) < 2 {
		t.Fatalf("tokens were signed by %d key(s); the rotation did not take effect during the load", len(kids))
	}
	t.Logf("%d requests, 0 failed, tokens from %d keys", requests.Load(), len(kids))
}
