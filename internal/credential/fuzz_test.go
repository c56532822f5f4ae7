package credential

import (
	"testing"
	"time"
)

// FuzzTokenResponse feeds token endpoint answers (JSON or form-encoded)
// through the parser and the shaping of a token set: never a panic, and a
// token set only with an access token.
func FuzzTokenResponse(f *testing.F) {
	f.Add("application/json", []byte(`{"access_token":"a","refresh_token":"r","expires_in":3600,"token_type":"Bearer"}`))
	f.Add("application/json", []byte(`{"access_token":"a","expires_in":"60","authed_user":{"access_token":"u"}}`))
	f.Add("application/x-www-form-urlencoded", []byte("access_token=gho_x&scope=repo&token_type=bearer"))
	f.Add("text/plain", []byte("error=bad_verification_code&error_description=x"))
	f.Add("application/json", []byte(`[1,2]`))
	f.Add("application/json", []byte(`null`))
	f.Add("application/json", []byte(`{"access_token":"a","expires_in":1e300}`))
	cat, err := LoadCatalogue()
	if err != nil {
		f.Fatal(err)
	}
	m := &Manager{opts: Options{Now: time.Now}}
	preset, _ := cat.Preset("slack")
	ep := &endpoints{preset: preset}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		fields, err := parseTokenResponse(contentType, body)
		if fields == nil {
			t.Fatal("nil fields")
		}
		if err != nil {
			return
		}
		ts, err := m.tokenSet(ep, fields)
		if err == nil && ts.AccessToken == "" {
			t.Fatal("token set without an access token")
		}
		if err == nil {
			if _, ok := ts.Claims["access_token"]; ok {
				t.Fatal("access token among the claims")
			}
		}
	})
}
