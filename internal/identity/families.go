package identity

// Refresh token families: every sign-in is one, so that its refresh and
// access tokens are revoked together.

import (
	"context"
	"errors"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

// refreshRecord is one refresh token; family is the sign-in it belongs to.
type refreshRecord struct {
	Grant    grant     `json:"grant"`
	FamilyID string    `json:"familyId"`
	Used     bool      `json:"used,omitempty"`
	Expires  time.Time `json:"expires"`
}

// familyRecord is one sign-in's state: its refresh tokens and the access
// tokens they issued share it. Expires ends refreshing; the record itself
// lives until the last access token of the family has expired, so their
// revocation stays visible.
type familyRecord struct {
	Revoked  bool      `json:"revoked,omitempty"`
	Expires  time.Time `json:"expires"`
	UserOID  string    `json:"userOid,omitempty"`
	AuthTime time.Time `json:"authTime,omitzero"`
}

// familyRecordExpiry is when the record of a family whose refreshing ends
// at end may go: after every access token it issued has expired.
func (p *Provider) familyRecordExpiry(end time.Time) time.Time {
	return end.Add(p.opts.AccessTokenLifetime + 5*time.Minute)
}

var errFamilyEnded = errors.New("the sign-in has ended")

// loadFamily reads a family; errFamilyEnded when it is gone.
func (p *Provider) loadFamily(ctx context.Context, id string) (*familyRecord, error) {
	rec, err := p.state.Family(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errFamilyEnded
	} else if err != nil {
		return nil, err
	}
	return &rec.Value, nil
}

// revokeFamily revokes a sign-in: its refresh tokens and its access
// tokens.
func (p *Provider) revokeFamily(ctx context.Context, id string) {
	f := familyRecord{Expires: p.now().Add(p.opts.RefreshFamilyLifetime)}
	recExp := p.familyRecordExpiry(f.Expires)
	if rec, err := p.state.Family(ctx, id); err == nil {
		if !rec.Value.Expires.IsZero() {
			f = rec.Value
		}
		if !rec.expires.IsZero() {
			recExp = rec.expires
		}
	}
	f.Revoked = true
	if err := p.state.PutFamily(ctx, id, f, recExp); err != nil {
		p.log.Error("revoke refresh token family", "err", err)
	}
}

func (p *Provider) revokeJTI(ctx context.Context, jti string, exp time.Time) {
	if err := p.state.RevokeAccessToken(ctx, jti, exp.Add(5*time.Minute)); err != nil {
		p.log.Error("revoke access token", "jti", jti, "err", err)
	}
}
