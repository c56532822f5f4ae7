package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// verifyAccessToken checks a token this provider issued: signature by a
// published key, typ, issuer and lifetime.
func (p *Provider) verifyAccessToken(ctx context.Context, raw string) (*accessClaims, error) {
	if len(raw) > 16<<10 {
		return nil, errors.New("token too large")
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("parse token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("token must have one signature")
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") {
		return nil, errors.New("not an access token (typ)")
	}
	kc, err := p.loadKeys(ctx)
	if err != nil {
		return nil, err
	}
	var key *loadedKey
	for _, k := range kc.keys {
		if k.KID == h.KeyID && k.Alg == h.Algorithm {
			key = k
		}
	}
	if key == nil || (!key.NotAfter.IsZero() && key.NotAfter.Before(p.now())) {
		return nil, errors.New("token signed by an unknown key")
	}
	payload, err := jws.Verify(key.signer.Public())
	if err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("decode token claims: %w", err)
	}
	now := p.now().Unix()
	if c.Iss != p.Issuer() {
		return nil, errors.New("token issuer is not this directory")
	}
	if now >= c.Exp {
		return nil, errors.New("token expired")
	}
	if now < c.Nbf-60 {
		return nil, errors.New("token not yet valid")
	}
	return &c, nil
}

// errInactive wraps checkAccessToken's refusals (as opposed to failures
// to read the state).
var errInactive = errors.New("access token is not active")

func inactive(reason string) error { return fmt.Errorf("%w: %s", errInactive, reason) }

// checkAccessToken applies what a token's signature cannot show: the
// token, or the sign-in it belongs to, was revoked; its user was disabled,
// removed, or had their sign-ins revoked; its client application was
// removed. Refusals wrap errInactive.
func (p *Provider) checkAccessToken(ctx context.Context, snap *snapshot, c *accessClaims) error {
	if revoked, err := p.state.AccessTokenRevoked(ctx, c.Jti); err != nil {
		return err
	} else if revoked {
		return inactive("the token was revoked")
	}
	switch c.Idtyp {
	case "user":
		u := snap.byOID[c.Oid]
		if u == nil || !u.enabled() {
			return inactive("the user is disabled or was removed")
		}
		if c.Fid == "" {
			// Tokens from before families were recorded: auth_time has
			// whole seconds only.
			if c.AuthTime < u.SignInSessionsValidFrom.Unix() {
				return inactive("the user's sign-ins were revoked")
			}
			return nil
		}
		fam, err := p.loadFamily(ctx, c.Fid)
		if errors.Is(err, errFamilyEnded) {
			return inactive("the token's sign-in has ended")
		} else if err != nil {
			return err
		}
		if fam.Revoked {
			return inactive("the token's sign-in was revoked")
		}
		authTime := fam.AuthTime
		if authTime.IsZero() {
			authTime = time.Unix(c.AuthTime, 0)
		}
		if u.signInRevoked(authTime) {
			return inactive("the user's sign-ins were revoked")
		}
		return nil
	case "app":
		if snap.app(c.Azp) == nil {
			return inactive("the client application was removed")
		}
		return nil
	default:
		return inactive("the token has no known idtyp")
	}
}

// VerifyManagementToken checks an access token for the management API:
// issued here, for the built-in management application, still live (see
// checkAccessToken), and carrying Management.ReadWrite.All or
// Management.Read.All. It returns the management roles the token carries
// that its user or application still holds.
func (p *Provider) VerifyManagementToken(ctx context.Context, raw string) ([]string, error) {
	c, err := p.verifyAccessToken(ctx, raw)
	if err != nil {
		return nil, err
	}
	snap, err := p.directory(ctx)
	if err != nil {
		return nil, err
	}
	if snap.mgmtApp == nil || (c.Aud != snap.mgmtApp.AppID && c.Aud != ManagementIdentifier) {
		return nil, errors.New("token audience is not the management API")
	}
	if err := p.checkAccessToken(ctx, snap, c); err != nil {
		return nil, err
	}
	// The roles in the token are those held when it was issued; only the
	// ones still assigned count.
	var held []string
	switch c.Idtyp {
	case "user":
		held = snap.mgmtApp.rolesHeld(snap.byOID[c.Oid].AppRoleAssignments, MemberUser)
	case "app":
		held = snap.mgmtApp.rolesHeld(snap.app(c.Azp).AppRoleAssignments, MemberApplication)
	}
	var roles []string
	for _, r := range c.Roles {
		if (r == RoleManagementReadWrite || r == RoleManagementRead) && slices.Contains(held, r) {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		return nil, errors.New("token carries no management role its holder still has")
	}
	return roles, nil
}
