package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

// ErrUnavailable wraps failures of the store (unreachable, or slower than
// the provider's StoreTimeout): the endpoints answer 503 with Retry-After.
var ErrUnavailable = errors.New("the identity store is unavailable")

// runtimeState is everything the provider keeps at run time beside the
// configuration: the tenant, signing keys, authorization requests,
// sessions, consents, sign-in throttles, codes, refresh tokens and their
// families, revoked access tokens. It is the only user of the state store's
// key layout. Reads of absent records answer store.ErrNotFound; create
// and swap answer store.ErrConflict when the precondition fails; failures
// of the store itself wrap ErrUnavailable.
type runtimeState interface {
	CreateTenant(ctx context.Context, t Tenant) error
	Tenant(ctx context.Context) (Tenant, error)

	SigningKeys(ctx context.Context) (versioned[storedKeys], error)
	CreateSigningKeys(ctx context.Context, ks storedKeys) error
	SwapSigningKeys(ctx context.Context, old versioned[storedKeys], ks storedKeys) error
	TakeRotationLease(ctx context.Context, until time.Time) error

	PutAuthRequest(ctx context.Context, ar *authRequest) error
	AuthRequest(ctx context.Context, id string) (*authRequest, error)
	DeleteAuthRequest(ctx context.Context, id string) error

	PutSession(ctx context.Context, cookie string, s *session) error
	Session(ctx context.Context, cookie string) (*session, error)
	DeleteSession(ctx context.Context, cookie string) error

	// Consent is what the user consented to for the client (empty when
	// nothing); AddConsent adds scopes of one resource.
	Consent(ctx context.Context, userOID, clientID string) (consentRecord, error)
	AddConsent(ctx context.Context, userOID, clientID, resource string, scopes []string) error

	// CountAttempt adds delta to the attempts counted under key in a
	// window that starts with the first; it counts nothing and reports
	// false when delta > 0 and max were already counted.
	CountAttempt(ctx context.Context, key string, max, delta int, now time.Time, window time.Duration) (bool, error)
	ClearAttempts(ctx context.Context, key string) error

	CreateCode(ctx context.Context, code string, cr codeRecord, keepUntil time.Time) error
	Code(ctx context.Context, code string) (versioned[codeRecord], error)
	SwapCode(ctx context.Context, code string, old versioned[codeRecord], cr codeRecord) error

	CreateRefreshToken(ctx context.Context, token string, rr refreshRecord, keepUntil time.Time) error
	RefreshToken(ctx context.Context, token string) (versioned[refreshRecord], error)
	SwapRefreshToken(ctx context.Context, token string, old versioned[refreshRecord], rr refreshRecord) error

	CreateFamily(ctx context.Context, id string, f familyRecord, keepUntil time.Time) error
	Family(ctx context.Context, id string) (versioned[familyRecord], error)
	PutFamily(ctx context.Context, id string, f familyRecord, keepUntil time.Time) error

	RevokeAccessToken(ctx context.Context, jti string, keepUntil time.Time) error
	AccessTokenRevoked(ctx context.Context, jti string) (bool, error)
}

// versioned is a record as read, for a later compare-and-swap.
type versioned[T any] struct {
	Value   T
	raw     []byte
	expires time.Time
}

// Key layout in the state store.
const (
	keyTenant        = "identity/tenant"
	keySigningKeys   = "identity/signing-keys"
	keyRotateLease   = "identity/signing-keys-lease"
	prefixAuthReq    = "identity/authreq/"
	prefixSession    = "identity/session/"
	prefixConsent    = "identity/consent/"
	prefixThrottle   = "identity/throttle/"
	prefixCode       = "identity/code/"
	prefixRefresh    = "identity/rt/"
	prefixFamily     = "identity/rtfam/"
	prefixRevokedJTI = "identity/revoked-jti/"
)

// stateStore implements runtimeState over store.StateStore. Every call
// has a deadline of timeout, so a store that hangs costs a request at most
// that long.
type stateStore struct {
	st      store.StateStore
	timeout time.Duration
}

func newStateStore(st store.StateStore, timeout time.Duration) *stateStore {
	return &stateStore{st: st, timeout: timeout}
}

// withDeadline runs one store call with the deadline and classifies its
// error.
func withDeadline(ctx context.Context, timeout time.Duration, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return storeError(f(ctx))
}

// storeError wraps a failure of the store itself in ErrUnavailable;
// absent records and failed preconditions are answers, not failures.
func storeError(err error) error {
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (s *stateStore) get(ctx context.Context, key string) (rec store.StateRecord, err error) {
	err = withDeadline(ctx, s.timeout, func(ctx context.Context) error {
		rec, err = s.st.Get(ctx, key)
		return err
	})
	return rec, err
}

func (s *stateStore) put(ctx context.Context, key string, v any, expires time.Time) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return withDeadline(ctx, s.timeout, func(ctx context.Context) error {
		return s.st.Put(ctx, store.StateRecord{Key: key, Value: body, Expires: expires})
	})
}

func (s *stateStore) create(ctx context.Context, key string, v any, expires time.Time) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return withDeadline(ctx, s.timeout, func(ctx context.Context) error {
		return s.st.Create(ctx, store.StateRecord{Key: key, Value: body, Expires: expires})
	})
}

func (s *stateStore) swap(ctx context.Context, key string, old []byte, v any, expires time.Time) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return withDeadline(ctx, s.timeout, func(ctx context.Context) error {
		return s.st.CompareAndSwap(ctx, key, old, store.StateRecord{Key: key, Value: body, Expires: expires})
	})
}

func (s *stateStore) delete(ctx context.Context, key string) error {
	return withDeadline(ctx, s.timeout, func(ctx context.Context) error { return s.st.Delete(ctx, key) })
}

// read reads and decodes the record at key.
func read[T any](ctx context.Context, s *stateStore, key, what string) (versioned[T], error) {
	var v versioned[T]
	rec, err := s.get(ctx, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return v, err
		}
		return v, fmt.Errorf("read %s: %w", what, err)
	}
	if err := json.Unmarshal(rec.Value, &v.Value); err != nil {
		return v, fmt.Errorf("decode %s: %w", what, err)
	}
	v.raw, v.expires = rec.Value, rec.Expires
	return v, nil
}

func (s *stateStore) CreateTenant(ctx context.Context, t Tenant) error {
	return s.create(ctx, keyTenant, t, time.Time{})
}

func (s *stateStore) Tenant(ctx context.Context) (Tenant, error) {
	v, err := read[Tenant](ctx, s, keyTenant, "tenant")
	return v.Value, err
}

func (s *stateStore) SigningKeys(ctx context.Context) (versioned[storedKeys], error) {
	return read[storedKeys](ctx, s, keySigningKeys, "signing keys")
}

func (s *stateStore) CreateSigningKeys(ctx context.Context, ks storedKeys) error {
	return s.create(ctx, keySigningKeys, ks, time.Time{})
}

func (s *stateStore) SwapSigningKeys(ctx context.Context, old versioned[storedKeys], ks storedKeys) error {
	return s.swap(ctx, keySigningKeys, old.raw, ks, time.Time{})
}

func (s *stateStore) TakeRotationLease(ctx context.Context, until time.Time) error {
	return s.create(ctx, keyRotateLease, "rotating", until)
}

func (s *stateStore) PutAuthRequest(ctx context.Context, ar *authRequest) error {
	return s.put(ctx, prefixAuthReq+ar.ID, ar, ar.Expires)
}

func (s *stateStore) AuthRequest(ctx context.Context, id string) (*authRequest, error) {
	v, err := read[authRequest](ctx, s, prefixAuthReq+id, "authorization request")
	return &v.Value, err
}

func (s *stateStore) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.delete(ctx, prefixAuthReq+id)
}

func (s *stateStore) PutSession(ctx context.Context, cookie string, sess *session) error {
	return s.put(ctx, tokenKey(prefixSession, cookie), sess, sess.Expires)
}

func (s *stateStore) Session(ctx context.Context, cookie string) (*session, error) {
	v, err := read[session](ctx, s, tokenKey(prefixSession, cookie), "session")
	return &v.Value, err
}

func (s *stateStore) DeleteSession(ctx context.Context, cookie string) error {
	return s.delete(ctx, tokenKey(prefixSession, cookie))
}

func consentKey(userOID, clientID string) string { return prefixConsent + userOID + "/" + clientID }

func (s *stateStore) Consent(ctx context.Context, userOID, clientID string) (consentRecord, error) {
	v, err := read[consentRecord](ctx, s, consentKey(userOID, clientID), "consent")
	if errors.Is(err, store.ErrNotFound) {
		return consentRecord{}, nil
	}
	return v.Value, err
}

func (s *stateStore) AddConsent(ctx context.Context, userOID, clientID, resource string, scopes []string) error {
	for range 10 {
		v, err := read[consentRecord](ctx, s, consentKey(userOID, clientID), "consent")
		found := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		cr := v.Value
		if cr.Scopes == nil {
			cr.Scopes = map[string][]string{}
		}
		cr.Scopes[resource] = appendUnique(cr.Scopes[resource], scopes...)
		if found {
			err = s.swap(ctx, consentKey(userOID, clientID), v.raw, cr, time.Time{})
		} else {
			err = s.create(ctx, consentKey(userOID, clientID), cr, time.Time{})
		}
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store consent: %w", err)
		}
		return nil
	}
	return fmt.Errorf("store consent: %w", store.ErrConflict)
}

type throttleRecord struct {
	Failures int `json:"failures"`
	// WindowEnd is checked as well as the record's expiry, so the
	// provider's clock decides.
	WindowEnd time.Time `json:"windowEnd"`
}

func (s *stateStore) CountAttempt(ctx context.Context, key string, max, delta int, now time.Time, window time.Duration) (bool, error) {
	key = prefixThrottle + key
	fresh := throttleRecord{Failures: maxInt(delta, 0), WindowEnd: now.Add(window)}
	for range 50 {
		v, err := read[throttleRecord](ctx, s, key, "sign-in throttle")
		switch {
		case errors.Is(err, store.ErrNotFound):
			if delta <= 0 {
				return true, nil
			}
			err = s.create(ctx, key, fresh, fresh.WindowEnd)
		case err == nil:
			t, exp := v.Value, v.expires
			if !now.Before(t.WindowEnd) {
				t, exp = fresh, fresh.WindowEnd
			} else {
				if delta > 0 && t.Failures >= max {
					return false, nil
				}
				t.Failures = maxInt(t.Failures+delta, 0)
			}
			err = s.swap(ctx, key, v.raw, t, exp)
		}
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("count sign-in attempt: %w", err)
		}
		return true, nil
	}
	return false, nil // contended beyond reason: refuse rather than check unbounded
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func (s *stateStore) ClearAttempts(ctx context.Context, key string) error {
	return s.delete(ctx, prefixThrottle+key)
}

func (s *stateStore) CreateCode(ctx context.Context, code string, cr codeRecord, keepUntil time.Time) error {
	return s.create(ctx, tokenKey(prefixCode, code), cr, keepUntil)
}

func (s *stateStore) Code(ctx context.Context, code string) (versioned[codeRecord], error) {
	return read[codeRecord](ctx, s, tokenKey(prefixCode, code), "code")
}

func (s *stateStore) SwapCode(ctx context.Context, code string, old versioned[codeRecord], cr codeRecord) error {
	return s.swap(ctx, tokenKey(prefixCode, code), old.raw, cr, old.expires)
}

func (s *stateStore) CreateRefreshToken(ctx context.Context, token string, rr refreshRecord, keepUntil time.Time) error {
	return s.create(ctx, tokenKey(prefixRefresh, token), rr, keepUntil)
}

func (s *stateStore) RefreshToken(ctx context.Context, token string) (versioned[refreshRecord], error) {
	return read[refreshRecord](ctx, s, tokenKey(prefixRefresh, token), "refresh token")
}

func (s *stateStore) SwapRefreshToken(ctx context.Context, token string, old versioned[refreshRecord], rr refreshRecord) error {
	return s.swap(ctx, tokenKey(prefixRefresh, token), old.raw, rr, old.expires)
}

func (s *stateStore) CreateFamily(ctx context.Context, id string, f familyRecord, keepUntil time.Time) error {
	return s.create(ctx, prefixFamily+id, f, keepUntil)
}

func (s *stateStore) Family(ctx context.Context, id string) (versioned[familyRecord], error) {
	return read[familyRecord](ctx, s, prefixFamily+id, "refresh token family")
}

func (s *stateStore) PutFamily(ctx context.Context, id string, f familyRecord, keepUntil time.Time) error {
	return s.put(ctx, prefixFamily+id, f, keepUntil)
}

func (s *stateStore) RevokeAccessToken(ctx context.Context, jti string, keepUntil time.Time) error {
	return s.put(ctx, prefixRevokedJTI+jti, true, keepUntil)
}

func (s *stateStore) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	_, err := s.get(ctx, prefixRevokedJTI+jti)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
