package identity

// What the grants issue: the token response, the claims of access and ID
// tokens, the grant a code or refresh token carries.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// accessClaims are the claims of access tokens: RFC 9068's and Entra's.
// scope (RFC 9068) lists every scope granted, the OpenID ones included
// (userinfo answers by it), where scp has only the resource's delegated
// scopes. fid names the sign-in (refresh token family) of a user token,
// so that revoking the family revokes its access tokens too.
type accessClaims struct {
	Iss               string   `json:"iss"`
	Sub               string   `json:"sub"`
	Aud               string   `json:"aud"`
	Exp               int64    `json:"exp"`
	Nbf               int64    `json:"nbf"`
	Iat               int64    `json:"iat"`
	Jti               string   `json:"jti"`
	ClientID          string   `json:"client_id"`
	Azp               string   `json:"azp"`
	Azpacr            string   `json:"azpacr"`
	Tid               string   `json:"tid"`
	Oid               string   `json:"oid"`
	Idtyp             string   `json:"idtyp,omitempty"`
	Roles             []string `json:"roles,omitempty"`
	Scp               string   `json:"scp,omitempty"`
	Scope             string   `json:"scope,omitempty"`
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	AuthTime          int64    `json:"auth_time,omitempty"`
	Fid               string   `json:"fid,omitempty"`
	Ver               string   `json:"ver"`
}

type idClaims struct {
	Iss               string `json:"iss"`
	Sub               string `json:"sub"`
	Aud               string `json:"aud"`
	Exp               int64  `json:"exp"`
	Nbf               int64  `json:"nbf"`
	Iat               int64  `json:"iat"`
	AuthTime          int64  `json:"auth_time,omitempty"`
	Nonce             string `json:"nonce,omitempty"`
	Tid               string `json:"tid"`
	Oid               string `json:"oid"`
	Azp               string `json:"azp,omitempty"`
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	Sid               string `json:"sid,omitempty"`
	Ver               string `json:"ver"`
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // cannot happen on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenKey(prefix, token string) string {
	sum := sha256.Sum256([]byte(token))
	return prefix + hex.EncodeToString(sum[:])
}

// grant is what a sign-in granted: carried by codes and refresh tokens.
type grant struct {
	ClientID string `json:"clientId"`
	UserOID  string `json:"userOid"`
	// Resource is the resource app's appId ("" when only OpenID scopes
	// were asked for); ScopePrefix is how the request named it.
	Resource    string    `json:"resource,omitempty"`
	ScopePrefix string    `json:"scopePrefix,omitempty"`
	Delegated   []string  `json:"delegated,omitempty"`
	OIDC        []string  `json:"oidc,omitempty"`
	AuthTime    time.Time `json:"authTime"`
	Nonce       string    `json:"nonce,omitempty"`
	// Public is set when the client was issued the grant without a secret
	// (SPA or native redirect URI): it need not authenticate later.
	Public bool   `json:"public,omitempty"`
	SID    string `json:"sid,omitempty"`
}

func (g *grant) has(oidcScope string) bool {
	for _, s := range g.OIDC {
		if s == oidcScope {
			return true
		}
	}
	return false
}

func (g *grant) scopeString() string {
	var out []string
	for _, d := range g.Delegated {
		out = append(out, g.ScopePrefix+"/"+d)
	}
	return strings.Join(append(out, g.OIDC...), " ")
}

// recheckGrant narrows g's delegated scopes to those the client still
// holds for the user now: still exposed and enabled by the resource, and
// still granted by an administrator or consented to by the user. It
// refuses when nothing of the resource is left, so a sign-in never keeps
// (or widens to) permissions that were withdrawn.
func (p *Provider) recheckGrant(ctx context.Context, snap *snapshot, client *Application, g *grant) error {
	if g.Resource == "" {
		return nil
	}
	res := snap.app(g.Resource)
	if res == nil {
		return invalidGrant("The resource application of this sign-in was removed.")
	}
	granted, err := p.grantedScopes(ctx, client, g.Resource, g.UserOID)
	if err != nil {
		return err
	}
	var keep []string
	for _, d := range g.Delegated {
		if s := res.findScope(d); s != nil && s.enabled() && s.Value == d && slices.Contains(granted, d) {
			keep = append(keep, d)
		}
	}
	if len(keep) == 0 {
		return invalidGrant("The permissions of this sign-in were withdrawn or disabled; sign in again.")
	}
	g.Delegated = keep
	return nil
}

// issueUserTokens makes the access token, and the ID token for openid and
// a refresh token (in familyID) for offline_access. fam is nil for a new
// sign-in, whose family it creates.
func (p *Provider) issueUserTokens(ctx context.Context, snap *snapshot, u *User, g grant, jti, familyID string, fam *familyRecord) (*tokenResponse, error) {
	now := p.now()
	client := snap.app(g.ClientID)
	if client == nil {
		return nil, invalidGrant("The client application was removed.")
	}
	offline := g.has("offline_access")
	if fam == nil {
		end := now.Add(p.opts.AccessTokenLifetime)
		if offline {
			end = now.Add(p.opts.RefreshFamilyLifetime)
		}
		fam = &familyRecord{Expires: end, UserOID: u.ObjectID, AuthTime: g.AuthTime}
		if err := p.state.CreateFamily(ctx, familyID, *fam, p.familyRecordExpiry(end)); err != nil {
			return nil, fmt.Errorf("create refresh token family: %w", err)
		}
	}
	aud := g.Resource
	if aud == "" {
		aud = g.ClientID // an OpenID-only sign-in: a token for userinfo and the client itself
	}
	var roles []string
	if res := snap.app(g.Resource); res != nil {
		roles = res.rolesHeld(u.AppRoleAssignments, MemberUser)
	}
	azpacr := "1"
	if g.Public {
		azpacr = "0"
	}
	ac := accessClaims{
		Iss: p.Issuer(), Sub: u.ObjectID, Aud: aud,
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(p.opts.AccessTokenLifetime).Unix(),
		Jti: jti, ClientID: g.ClientID, Azp: g.ClientID, Azpacr: azpacr,
		Tid: p.Tenant().ID, Oid: u.ObjectID, Idtyp: "user", Roles: roles, Scp: strings.Join(g.Delegated, " "), Scope: g.scopeString(),
		Name: u.DisplayName, PreferredUsername: u.UserPrincipalName, AuthTime: g.AuthTime.Unix(), Fid: familyID, Ver: "2.0",
	}
	at, err := p.sign(ctx, ac, true)
	if err != nil {
		return nil, err
	}
	secs := int64(p.opts.AccessTokenLifetime / time.Second)
	resp := &tokenResponse{TokenType: "Bearer", ExpiresIn: secs, ExtExpiresIn: secs, AccessToken: at, Scope: g.scopeString()}
	if g.has("openid") {
		ic := idClaims{
			Iss: p.Issuer(), Sub: u.ObjectID, Aud: g.ClientID,
			Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(p.opts.IDTokenLifetime).Unix(),
			AuthTime: g.AuthTime.Unix(), Nonce: g.Nonce, Tid: p.Tenant().ID, Oid: u.ObjectID, Sid: g.SID, Ver: "2.0",
		}
		if g.has("profile") {
			ic.Name, ic.PreferredUsername = u.DisplayName, u.UserPrincipalName
		}
		if g.has("email") {
			ic.Email = u.Mail
		}
		if resp.IDToken, err = p.sign(ctx, ic, false); err != nil {
			return nil, err
		}
	}
	if offline {
		rt := randomToken()
		exp := now.Add(p.opts.RefreshTokenLifetime)
		if exp.After(fam.Expires) {
			exp = fam.Expires
		}
		// The record outlives its token's expiry until the family ends, so
		// a rotated token presented again is still recognised as reuse.
		if err := p.state.CreateRefreshToken(ctx, rt, refreshRecord{Grant: g, FamilyID: familyID, Expires: exp}, fam.Expires); err != nil {
			return nil, fmt.Errorf("store refresh token: %w", err)
		}
		resp.RefreshToken = rt
	}
	return resp, nil
}

func isOIDCScope(s string) bool {
	switch s {
	case "openid", "profile", "email", "offline_access":
		return true
	}
	return false
}
