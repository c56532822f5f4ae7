package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/store"
)

// codeRecord is an authorization code in the state store.
type codeRecord struct {
	Grant         grant     `json:"grant"`
	RedirectURI   string    `json:"redirectUri"`
	RedirectGiven bool      `json:"redirectGiven"`
	Challenge     string    `json:"challenge,omitempty"`
	Expires       time.Time `json:"expires"`
	// Set when redeemed: what it issued, revoked if it is presented again.
	Used      bool      `json:"used,omitempty"`
	FamilyID  string    `json:"familyId,omitempty"`
	JTI       string    `json:"jti,omitempty"`
	JTIExpiry time.Time `json:"jtiExpiry,omitempty"`
}

// grantAuthorizationCode redeems a code. Codes are single-use: the first
// redemption marks the code used with compare-and-swap (one winner); a
// later one revokes what the first issued. A failed redemption uses the
// code up too (RFC 9700 §4.5.3), so a guessed verifier or a stolen code
// presented by another client gets one try.
func (p *Provider) grantAuthorizationCode(ctx context.Context, snap *snapshot, c *client, form url.Values) (any, error) {
	code := form.Get("code")
	if code == "" {
		return nil, invalidRequest("code is required.")
	}
	rec, err := p.state.Code(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidGrant("The authorization code is invalid or expired.")
	} else if err != nil {
		return nil, err
	}
	cr := rec.Value
	if cr.Used {
		if cr.JTI == "" {
			return nil, invalidGrant("The authorization code is no longer valid.")
		}
		// RFC 6749 §4.1.2: whoever presents it again, what it issued is
		// revoked.
		p.revokeCodeIssue(ctx, &cr)
		return nil, invalidGrant("The authorization code was already used; the tokens it issued are revoked.")
	}
	if !p.now().Before(cr.Expires) {
		return nil, invalidGrant("The authorization code has expired.")
	}
	fail := func(e error) (any, error) {
		p.burnCodeRecord(ctx, code, rec)
		return nil, e
	}
	if cr.Grant.ClientID != c.app.AppID {
		return fail(invalidGrant("The authorization code was issued to another client."))
	}
	if !cr.Grant.Public && !c.authenticated {
		return fail(oerr(http.StatusUnauthorized, "invalid_client", "This client must authenticate (client_secret_basic or client_secret_post)."))
	}
	ru := form.Get("redirect_uri")
	if (cr.RedirectGiven || ru != "") && ru != cr.RedirectURI {
		return fail(invalidGrant("redirect_uri does not match the authorization request."))
	}
	verifier, hasVerifier := form["code_verifier"]
	switch {
	case cr.Challenge != "":
		if !hasVerifier || !validVerifier(verifier[0]) {
			return fail(invalidGrant("code_verifier is required (43 to 128 unreserved characters)."))
		}
		sum := sha256.Sum256([]byte(verifier[0]))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(cr.Challenge)) != 1 {
			return fail(invalidGrant("code_verifier does not match the code_challenge."))
		}
	case hasVerifier:
		// RFC 9700 §2.1.1: a verifier for a code issued without a
		// challenge is a PKCE downgrade attempt.
		return fail(invalidGrant("code_verifier was sent but the authorization request had no code_challenge."))
	}
	u := snap.byOID[cr.Grant.UserOID]
	if u == nil || !u.enabled() {
		return fail(invalidGrant("The user is disabled or was removed."))
	}
	if u.signInRevoked(cr.Grant.AuthTime) {
		return fail(invalidGrant("The user's sign-ins were revoked (new password or account change); sign in again."))
	}
	g := cr.Grant
	if err := p.recheckGrant(ctx, snap, c.app, &g); err != nil {
		return fail(err)
	}
	used := cr
	used.Used = true
	used.JTI = uuid.NewString()
	used.JTIExpiry = p.now().Add(p.opts.AccessTokenLifetime)
	// Every sign-in is a family, with or without refresh tokens, so that
	// its access tokens can be revoked together.
	used.FamilyID = uuid.NewString()
	err = p.state.SwapCode(ctx, code, rec, used)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return nil, invalidGrant("The authorization code was already used.")
	} else if err != nil {
		return nil, fmt.Errorf("redeem code: %w", err)
	}
	return p.issueUserTokens(ctx, snap, u, g, used.JTI, used.FamilyID, nil)
}

// burnCode marks a code used without issuing anything, after a failed
// redemption that presented it. Unknown codes are left alone.
func (p *Provider) burnCode(ctx context.Context, code string) {
	rec, err := p.state.Code(ctx, code)
	if err != nil || rec.Value.Used {
		return
	}
	p.burnCodeRecord(ctx, code, rec)
}

func (p *Provider) burnCodeRecord(ctx context.Context, code string, rec versioned[codeRecord]) {
	cr := rec.Value
	cr.Used = true
	// A conflict means a concurrent redemption got there first: that one
	// stands or fails on its own.
	err := p.state.SwapCode(ctx, code, rec, cr)
	if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		p.log.Error("invalidate authorization code after a failed redemption", "client", cr.Grant.ClientID, "err", err)
	}
}

// revokeCodeIssue revokes the tokens a reused code had issued.
func (p *Provider) revokeCodeIssue(ctx context.Context, cr *codeRecord) {
	if cr.JTI != "" {
		p.revokeJTI(ctx, cr.JTI, cr.JTIExpiry)
	}
	if cr.FamilyID != "" {
		p.revokeFamily(ctx, cr.FamilyID)
	}
	p.log.Warn("authorization code reused: issued tokens revoked", "client", cr.Grant.ClientID, "user", cr.Grant.UserOID)
}

func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}
