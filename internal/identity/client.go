package identity

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"time"
)

// client is an authenticated (or identified public) client.
type client struct {
	app           *Application
	authenticated bool // a secret was checked
	basic         bool
}

// authenticateClient applies client_secret_basic, client_secret_post, or
// none (client_id only; the grant decides whether that is enough).
func (p *Provider) authenticateClient(form url.Values, r *http.Request, snap *snapshot) (*client, error) {
	id, secret, basic := r.BasicAuth()
	c := &client{basic: basic}
	if basic {
		// RFC 6749 §2.3.1: both parts are form-urlencoded.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return c, oerr(http.StatusUnauthorized, "invalid_client", "The Authorization header is malformed.")
		}
		if form.Get("client_secret") != "" {
			return c, invalidRequest("Use one client authentication method, not several.")
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return c, invalidRequest("client_id does not match the authenticated client.")
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		return c, oerr(http.StatusUnauthorized, "invalid_client", "The client is not identified (client_id).")
	}
	// One answer for an unknown client and a wrong secret, so the
	// endpoint does not tell which client ids exist.
	failed := oerr(http.StatusUnauthorized, "invalid_client", "Client authentication failed: unknown client, or a wrong, expired or removed secret.")
	app := snap.app(id)
	if app == nil {
		// Hash anyway so unknown and known clients take the same time.
		_ = p.checkSecret(&Application{}, secret)
		return c, failed
	}
	c.app = app
	if basic || secret != "" {
		if !p.checkSecret(app, secret) {
			return c, failed
		}
		c.authenticated = true
	}
	return c, nil
}

// checkSecret compares against every current secret in constant time.
func (p *Provider) checkSecret(app *Application, secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	got := []byte(hex.EncodeToString(sum[:]))
	now := p.now()
	ok := 0
	for _, c := range app.PasswordCredentials {
		want := app.SecretHashes[c.KeyID]
		match := subtle.ConstantTimeCompare(got, []byte(want))
		if match == 1 && secretCurrent(c, now) {
			ok = 1
		}
	}
	return ok == 1 && secret != ""
}

func secretCurrent(c PasswordCredential, now time.Time) bool {
	end, err := time.Parse(time.RFC3339, c.EndDateTime)
	if err != nil || !now.Before(end) {
		return false
	}
	if start, err := time.Parse(time.RFC3339, c.StartDateTime); err == nil && now.Before(start.Add(-time.Minute)) {
		return false
	}
	return true
}
