package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/store"
)

// grantRefreshToken rotates a refresh token. Presenting an already rotated
// token revokes the whole family (RFC 9700 §4.14.2).
func (p *Provider) grantRefreshToken(ctx context.Context, snap *snapshot, c *client, form url.Values) (any, error) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, invalidRequest("refresh_token is required.")
	}
	rec, err := p.state.RefreshToken(ctx, rt)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidGrant("The refresh token is invalid or expired.")
	} else if err != nil {
		return nil, err
	}
	rr := rec.Value
	if rr.Grant.ClientID != c.app.AppID {
		return nil, invalidGrant("The refresh token was issued to another client.")
	}
	if !rr.Grant.Public && !c.authenticated {
		return nil, oerr(http.StatusUnauthorized, "invalid_client", "This client must authenticate (client_secret_basic or client_secret_post).")
	}
	if rr.Used {
		p.revokeFamily(ctx, rr.FamilyID)
		p.log.Warn("refresh token reused: family revoked", "client", rr.Grant.ClientID, "user", rr.Grant.UserOID)
		return nil, invalidGrant("The refresh token was already used; every token of this sign-in is revoked.")
	}
	if !p.now().Before(rr.Expires) {
		return nil, invalidGrant("The refresh token has expired.")
	}
	fam, err := p.loadFamily(ctx, rr.FamilyID)
	if errors.Is(err, errFamilyEnded) {
		return nil, invalidGrant("The refresh token's sign-in has ended.")
	} else if err != nil {
		return nil, err
	}
	if fam.Revoked {
		return nil, invalidGrant("The refresh token was revoked.")
	}
	if !p.now().Before(fam.Expires) {
		return nil, invalidGrant("The refresh token's sign-in has ended; sign in again.")
	}
	g := rr.Grant
	if s := strings.TrimSpace(form.Get("scope")); s != "" {
		// A refresh may narrow the scopes, never widen them.
		want := strings.Fields(s)
		granted := strings.Fields(g.scopeString())
		var deleg, oidc []string
		for _, w := range want {
			found := false
			for _, gs := range granted {
				found = found || gs == w
			}
			if !found {
				return nil, invalidScope("The scope %q was not granted to this refresh token.", w)
			}
			if isOIDCScope(w) {
				oidc = append(oidc, w)
			} else {
				deleg = append(deleg, strings.TrimPrefix(w, g.ScopePrefix+"/"))
			}
		}
		g.Delegated, g.OIDC = deleg, oidc
		if len(deleg) == 0 {
			g.Resource, g.ScopePrefix = "", "" // OpenID scopes only: a token for the client
		}
		if !g.has("offline_access") {
			g.OIDC = append(g.OIDC, "offline_access") // the family goes on
		}
	}
	u := snap.byOID[g.UserOID]
	if u == nil || !u.enabled() {
		p.revokeFamily(ctx, rr.FamilyID)
		return nil, invalidGrant("The user is disabled or was removed.")
	}
	if u.signInRevoked(g.AuthTime) {
		p.revokeFamily(ctx, rr.FamilyID)
		return nil, invalidGrant("The user's sign-ins were revoked (new password or account change); sign in again.")
	}
	if err := p.recheckGrant(ctx, snap, c.app, &g); err != nil {
		return nil, err
	}
	used := rr
	used.Used = true
	err = p.state.SwapRefreshToken(ctx, rt, rec, used)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		p.revokeFamily(ctx, rr.FamilyID)
		return nil, invalidGrant("The refresh token was already used; every token of this sign-in is revoked.")
	} else if err != nil {
		return nil, fmt.Errorf("rotate refresh token: %w", err)
	}
	return p.issueUserTokens(ctx, snap, u, g, uuid.NewString(), rr.FamilyID, fam)
}
