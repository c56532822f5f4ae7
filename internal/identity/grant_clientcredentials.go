package identity

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// grantClientCredentials issues an app-only token for <resource>/.default.
func (p *Provider) grantClientCredentials(ctx context.Context, snap *snapshot, c *client, form url.Values) (any, error) {
	if !c.authenticated {
		return nil, oerr(http.StatusUnauthorized, "invalid_client", "The client_credentials grant requires client authentication.")
	}
	scope := strings.TrimSpace(form.Get("scope"))
	parts := strings.Fields(scope)
	if len(parts) != 1 || !strings.HasSuffix(parts[0], "/.default") {
		return nil, invalidScope("The scope must be one <resource>/.default value, e.g. api://<resource app id>/.default.")
	}
	res := findResourceApp(snap.apps, strings.TrimSuffix(parts[0], "/.default"))
	if res == nil {
		return nil, invalidScope("No resource in the directory is named %q.", strings.TrimSuffix(parts[0], "/.default"))
	}
	at, err := p.sign(ctx, appClaims(p, c.app, res, p.now()), true)
	if err != nil {
		return nil, err
	}
	secs := int64(p.opts.AccessTokenLifetime / time.Second)
	return tokenResponse{TokenType: "Bearer", ExpiresIn: secs, ExtExpiresIn: secs, AccessToken: at, Scope: parts[0]}, nil
}
