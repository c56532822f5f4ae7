package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/expression"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// State keys. Tokens are stored under the connection's path and UID, so a
// connection made again under the same name never sees its predecessor's.
const (
	tokenStatePrefix = "credential/token"
	leaseStatePrefix = "credential/lease"
	linkStatePrefix  = "credential/link/"
	flowStatePrefix  = "credential/consent/"
)

func tokenKey(path, uid string) string { return tokenStatePrefix + path + "/" + uid }
func leaseKey(path, uid string) string { return leaseStatePrefix + path + "/" + uid }

// tokenState is a connection's stored token record. The tokens are sealed
// (a data key per record, the state key as additional data).
type tokenState struct {
	Gen         int64                        `json:"gen"`
	Sealed      string                       `json:"sealed,omitempty"`
	ExpiresAt   time.Time                    `json:"expiresAt,omitzero"`
	RefreshedAt time.Time                    `json:"refreshedAt,omitzero"`
	FailedUntil time.Time                    `json:"failedUntil,omitzero"`
	Dead        bool                         `json:"dead,omitempty"`
	Error       *resource.AuthorizationIssue `json:"error,omitempty"`
}

// Error is a get-authorization-context failure: Code is
// context.LastError.Reason, Message its message (never a token).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// entry is a cached token of one connection.
type entry struct {
	auth       *expression.Authorization
	expiresAt  time.Time // zero: the token does not expire
	freshUntil time.Time // served from memory until then
	policies   []resource.AuthorizationAccessPolicy
	managed    bool // the gateway's identity may use it
}

// flights runs one load per connection at a time in this process.
type flights struct {
	mu    sync.Mutex
	calls map[string]*flightCall
}

type flightCall struct {
	done chan struct{}
	e    *entry
	err  error
}

func (f *flights) do(ctx context.Context, key string, fn func() (*entry, error)) (*entry, error) {
	f.mu.Lock()
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.e, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &flightCall{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()
	c.e, c.err = fn()
	f.mu.Lock()
	delete(f.calls, key)
	f.mu.Unlock()
	close(c.done)
	return c.e, c.err
}

// get returns the connection's current token: from memory when fresh,
// else from the store, refreshing it (one node, one goroutine) when due.
func (m *Manager) get(ctx context.Context, path string) (*entry, error) {
	if e := m.fresh(path); e != nil {
		return e, nil
	}
	return m.once(ctx, path, func(ctx context.Context) (*entry, error) { return m.load(ctx, path, false) })
}

// fresh returns key's cached entry while it may be served from memory.
func (m *Manager) fresh(key string) *entry {
	if v, ok := m.cache.Load(key); ok {
		if e := v.(*entry); m.opts.Now().Before(e.freshUntil) {
			return e
		}
	}
	return nil
}

// once runs fn for key one at a time in this process; callers meanwhile
// share its result. fn's context outlives the request that started it,
// since others wait on it.
func (m *Manager) once(ctx context.Context, key string, fn func(context.Context) (*entry, error)) (*entry, error) {
	return m.flights.do(ctx, key, func() (*entry, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.LeaseTTL+m.opts.UpstreamTimeout)
		defer cancel()
		return fn(lctx)
	})
}

func (m *Manager) readState(ctx context.Context, key string) (*tokenState, error) {
	rec, err := m.opts.Store.State().Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read token state: %w", err)
	}
	var st tokenState
	if err := json.Unmarshal(rec.Value, &st); err != nil {
		return nil, fmt.Errorf("decode token state: %w", err)
	}
	return &st, nil
}

func (m *Manager) openTokens(key string, st *tokenState) (*tokenSet, error) {
	b, err := m.opts.Keyring.Open(st.Sealed, []byte(key))
	if err != nil {
		return nil, fmt.Errorf("open stored tokens: %w", err)
	}
	var ts tokenSet
	if err := json.Unmarshal(b, &ts); err != nil {
		return nil, fmt.Errorf("decode stored tokens: %w", err)
	}
	return &ts, nil
}

// writeState stores a token record (tokens sealed when ts is non-nil).
func (m *Manager) writeState(ctx context.Context, key string, st *tokenState, ts *tokenSet) error {
	if ts != nil {
		b, err := json.Marshal(ts)
		if err != nil {
			return err
		}
		if st.Sealed, err = m.opts.Keyring.Seal(b, []byte(key)); err != nil {
			return err
		}
		st.ExpiresAt = ts.ExpiresAt
	}
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return m.opts.Store.State().Put(ctx, store.StateRecord{Key: key, Value: v, Expires: time.Now().Add(m.opts.StateLifetime)})
}

// connection reads a connection, its provider's endpoints and its access
// policies.
func (m *Manager) connection(ctx context.Context, path string) (*resource.ProviderAuthorization, *endpoints, []resource.AuthorizationAccessPolicy, error) {
	rec, err := m.opts.Store.Get(ctx, path)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil, &Error{Code: "AuthorizationNotFound", Message: fmt.Sprintf("Authorization %s does not exist.", path)}
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	c, err := decode[resource.ProviderAuthorization](rec)
	if err != nil {
		return nil, nil, nil, err
	}
	resource.SetMeta(c, rec.ID)
	prec, err := m.opts.Store.Get(ctx, rec.Parent)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read %s: %w", rec.Parent, err)
	}
	p, err := decode[resource.AuthorizationProvider](prec)
	if err != nil {
		return nil, nil, nil, err
	}
	ep, err := m.endpoints(p, c, path)
	if err != nil {
		return nil, nil, nil, err
	}
	recs, err := m.opts.Store.List(ctx, resource.KindAuthorizationPolicies, path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list access policies of %s: %w", path, err)
	}
	policies := make([]resource.AuthorizationAccessPolicy, 0, len(recs))
	for _, r := range recs {
		ap, err := decode[resource.AuthorizationAccessPolicy](r)
		if err != nil {
			return nil, nil, nil, err
		}
		policies = append(policies, *ap)
	}
	return c, ep, policies, nil
}

// load finds or makes a usable token for the connection at path. With
// renew, an authorization-code connection whose tokens were last refreshed
// more than RefreshIdle ago is refreshed even if its token is fresh, so its
// refresh token does not lapse.
func (m *Manager) load(ctx context.Context, path string, renew bool) (*entry, error) {
	conn, ep, policies, err := m.connection(ctx, path)
	if err != nil {
		return nil, err
	}
	if renew && ep.grant != resource.GrantAuthorizationCode {
		return nil, nil
	}
	return m.acquire(ctx, path, conn, ep, policies, renew)
}

// acquire finds or makes a usable token for conn, with the provider's
// endpoints ep; path names it in the cache and in messages. A conn
// without an ID is not a configuration record (the gateway's own
// identity): no status is recorded for it.
func (m *Manager) acquire(ctx context.Context, path string, conn *resource.ProviderAuthorization, ep *endpoints, policies []resource.AuthorizationAccessPolicy, renew bool) (*entry, error) {
	key, lease := tokenKey(path, conn.UID), leaseKey(path, conn.UID)
	deadline := time.Now().Add(m.opts.LeaseTTL + time.Second)
	for {
		st, err := m.readState(ctx, key)
		if err != nil {
			return nil, err
		}
		now := m.opts.Now()
		idle := st != nil && renew && now.Sub(st.RefreshedAt) > m.opts.RefreshIdle
		if renew && (st == nil || st.Dead || !idle || now.Before(st.FailedUntil)) {
			return nil, nil
		}
		if st != nil && st.Sealed != "" && !idle && (st.ExpiresAt.IsZero() || now.Before(st.ExpiresAt.Add(-m.opts.CacheMargin))) {
			return m.remember(path, key, st, policies, time.Time{})
		}
		tokenValid := st != nil && st.Sealed != "" && now.Before(st.ExpiresAt)
		if st != nil && st.Dead {
			return nil, &Error{Code: "AuthorizationError", Message: fmt.Sprintf("Authorization %s needs consent again: %s", path, issueText(st.Error))}
		}
		if st != nil && now.Before(st.FailedUntil) {
			if tokenValid {
				return m.remember(path, key, st, policies, st.FailedUntil)
			}
			return nil, &Error{Code: "AuthorizationError", Message: fmt.Sprintf("Authorization %s could not get a token (retried after %s): %s", path, st.FailedUntil.UTC().Format(time.RFC3339), issueText(st.Error))}
		}
		if ep.grant == resource.GrantAuthorizationCode && st == nil {
			return nil, &Error{Code: "AuthorizationNotConnected", Message: fmt.Sprintf("Authorization %s is not connected: consent through a login link first.", path)}
		}
		err = m.opts.Store.State().Create(ctx, store.StateRecord{Key: lease, Value: []byte(newID()), Expires: time.Now().Add(m.opts.LeaseTTL)})
		if errors.Is(err, store.ErrConflict) {
			// Another node (or an earlier attempt) is refreshing.
			// Its token is still good: use it meanwhile, looking again soon.
			if renew {
				return nil, nil // that node renews it
			}
			if tokenValid {
				return m.remember(path, key, st, policies, now.Add(100*time.Millisecond))
			}
			if time.Now().After(deadline) {
				return nil, &Error{Code: "AuthorizationError", Message: fmt.Sprintf("Authorization %s: timed out waiting for another node's refresh.", path)}
			}
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("take refresh lease: %w", err)
		}
		e, again, err := m.refreshUnderLease(ctx, path, key, conn, ep, st, policies)
		if derr := m.opts.Store.State().Delete(context.WithoutCancel(ctx), lease); derr != nil && !errors.Is(derr, store.ErrNotFound) {
			m.log.Warn("credential manager: release refresh lease", "authorization", path, "err", derr)
		}
		if again {
			continue
		}
		return e, err
	}
}

// refreshUnderLease gets a new token while holding the lease. again is
// set when someone else refreshed since st was read.
func (m *Manager) refreshUnderLease(ctx context.Context, path, key string, conn *resource.ProviderAuthorization, ep *endpoints, st *tokenState, policies []resource.AuthorizationAccessPolicy) (*entry, bool, error) {
	cur, err := m.readState(ctx, key)
	if err != nil {
		return nil, false, err
	}
	if (cur == nil) != (st == nil) || (cur != nil && cur.Gen != st.Gen) {
		return nil, true, nil
	}
	var ts *tokenSet
	var ferr error
	if ep.grant == resource.GrantClientCredentials {
		ts, ferr = m.clientCredentials(ctx, ep)
	} else {
		old, err := m.openTokens(key, st)
		if err != nil {
			return nil, false, err
		}
		if old.RefreshToken == "" {
			ferr = &providerError{Code: "NoRefreshToken", Message: "the provider gave no refresh token and the access token has expired", Permanent: true}
		} else {
			ts, ferr = m.refresh(ctx, ep, old.RefreshToken)
		}
	}
	if m.opts.Observer != nil {
		m.opts.Observer.ObserveRefresh(ep.provider, ferr)
	}
	now := m.opts.Now()
	next := &tokenState{RefreshedAt: now}
	if st != nil {
		next.Gen = st.Gen
	}
	next.Gen++
	if ferr == nil {
		// The new (possibly rotated) refresh token is stored before the
		// access token is used.
		if err := m.writeState(ctx, key, next, ts); err != nil {
			return nil, false, fmt.Errorf("store refreshed tokens of %s: %w", path, err)
		}
		if conn.ID != "" && conn.Status != resource.AuthorizationConnected {
			m.setStatus(ctx, path, conn.UID, resource.AuthorizationConnected, nil, ts.ExpiresAt)
		}
		e, err := m.remember(path, key, next, policies, time.Time{})
		return e, false, err
	}
	issue := &resource.AuthorizationIssue{Code: "ProviderUnreachable", Message: "the token endpoint could not be reached"}
	var pe *providerError
	if errors.As(ferr, &pe) {
		issue = &resource.AuthorizationIssue{Code: pe.Code, Message: pe.Message}
	}
	m.log.Warn("credential manager: token refresh failed", "authorization", path, "code", issue.Code, "err", ferr)
	if st != nil {
		next.Sealed, next.ExpiresAt, next.RefreshedAt = st.Sealed, st.ExpiresAt, st.RefreshedAt
	}
	next.Error = issue
	next.FailedUntil = now.Add(m.opts.Cooldown)
	next.Dead = pe != nil && pe.Permanent && ep.grant == resource.GrantAuthorizationCode
	if err := m.writeState(ctx, key, next, nil); err != nil {
		return nil, false, fmt.Errorf("store refresh failure of %s: %w", path, err)
	}
	tokenValid := next.Sealed != "" && now.Before(next.ExpiresAt)
	if conn.ID != "" && (next.Dead || !tokenValid) {
		m.setStatus(ctx, path, conn.UID, resource.AuthorizationError, issue, time.Time{})
	}
	if tokenValid && !next.Dead {
		e, err := m.remember(path, key, next, policies, next.FailedUntil)
		return e, false, err
	}
	return nil, false, &Error{Code: "AuthorizationError", Message: fmt.Sprintf("Authorization %s could not get a token: %s", path, issueText(issue))}
}

func issueText(i *resource.AuthorizationIssue) string {
	if i == nil {
		return "unknown error"
	}
	if i.Message == "" {
		return i.Code
	}
	return i.Code + ": " + i.Message
}

// remember opens a stored token and caches it. until, when set, caps how
// long it is served from memory.
func (m *Manager) remember(path, key string, st *tokenState, policies []resource.AuthorizationAccessPolicy, until time.Time) (*entry, error) {
	ts, err := m.openTokens(key, st)
	if err != nil {
		return nil, err
	}
	now := m.opts.Now()
	fresh := now.Add(m.opts.CacheMaxAge)
	if !ts.ExpiresAt.IsZero() {
		if t := ts.ExpiresAt.Add(-m.opts.CacheMargin); t.Before(fresh) {
			fresh = t
		}
	}
	if !until.IsZero() {
		fresh = until
		if !ts.ExpiresAt.IsZero() && ts.ExpiresAt.Before(fresh) {
			fresh = ts.ExpiresAt
		}
	}
	claims := ts.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	e := &entry{auth: &expression.Authorization{AccessToken: ts.AccessToken, Claims: claims}, expiresAt: ts.ExpiresAt, freshUntil: fresh, policies: policies}
	gw := m.opts.Gateway
	for _, p := range policies {
		if gw.ObjectID != "" && strings.EqualFold(p.TenantID, gw.TenantID) && strings.EqualFold(p.ObjectID, gw.ObjectID) {
			e.managed = true
		}
	}
	m.cache.Store(path, e)
	return e, nil
}

// viewConnection shows a connection's lastRefreshed and expiresAt from
// its stored token record, which every successful refresh writes (in the
// state store, not the configuration: refreshes don't bump the
// configuration version). The configuration's values, written on status
// changes, are shown when the token record is missing or older.
func (m *Manager) viewConnection(ctx context.Context, id string, res resource.Resource) {
	c, ok := res.(*resource.ProviderAuthorization)
	if !ok || c.UID == "" {
		return
	}
	st, err := m.readState(ctx, tokenKey(id, c.UID))
	if err != nil {
		m.log.Warn("credential manager: read token state for a GET", "authorization", id, "err", err)
		return
	}
	if st == nil || st.RefreshedAt.IsZero() || st.Sealed == "" {
		return
	}
	if prev, err := time.Parse(time.RFC3339, c.LastRefreshed); err == nil && !st.RefreshedAt.Truncate(time.Second).After(prev) {
		return
	}
	c.LastRefreshed = st.RefreshedAt.UTC().Format(time.RFC3339)
	c.ExpiresAt = ""
	if !st.ExpiresAt.IsZero() {
		c.ExpiresAt = st.ExpiresAt.UTC().Format(time.RFC3339)
	}
}

// setStatus records a connection's status on its configuration record
// (which bumps the configuration version, so only on changes).
func (m *Manager) setStatus(ctx context.Context, path, uid, status string, issue *resource.AuthorizationIssue, expires time.Time) {
	_, err := m.opts.Store.Update(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, path)
		if err != nil {
			return err
		}
		c, err := decode[resource.ProviderAuthorization](rec)
		if err != nil {
			return err
		}
		if c.UID != uid {
			return nil // made again meanwhile
		}
		c.Status, c.Error = status, issue
		if status == resource.AuthorizationConnected {
			c.LastRefreshed = m.opts.Now().UTC().Format(time.RFC3339)
			c.ExpiresAt = ""
			if !expires.IsZero() {
				c.ExpiresAt = expires.UTC().Format(time.RFC3339)
			}
		}
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		rec.Body = b
		_, err = tx.Put(ctx, rec, rec.ETag)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		m.log.Warn("credential manager: record authorization status", "authorization", path, "status", status, "err", err)
	}
}

// Token returns the connection's access token for the gateway's own
// identity: what get-authorization-context with identity-type="managed"
// does.
func (m *Manager) Token(ctx context.Context, providerID, authorizationID string) (*expression.Authorization, error) {
	e, err := m.get(ctx, connectionPath(providerID, authorizationID))
	if err != nil {
		return nil, err
	}
	if !e.managed {
		return nil, errDenied
	}
	return e.auth, nil
}

var errDenied = &Error{Code: "AuthorizationAccessDenied", Message: "No access policy of this authorization allows the caller's identity."}

func connectionPath(pid, aid string) string {
	return "/authorizationProviders/" + pid + "/authorizations/" + aid
}

// Run refreshes, until ctx ends, the authorization-code connections whose
// tokens have not been refreshed for RefreshIdle (nobody called them), so
// that their refresh tokens do not lapse at the provider. Every node may
// run it: the lease lets one refresh.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := m.RenewIdle(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("credential manager: renew idle connections", "err", err)
		}
	}
}

// RenewIdle refreshes the idle connections once (see Run).
func (m *Manager) RenewIdle(ctx context.Context) error {
	recs, err := m.opts.Store.State().List(ctx, tokenStatePrefix+"/")
	if err != nil {
		return fmt.Errorf("list stored tokens: %w", err)
	}
	for _, r := range recs {
		rest := strings.TrimPrefix(r.Key, tokenStatePrefix)
		i := strings.LastIndexByte(rest, '/')
		if i <= 0 || !strings.HasPrefix(rest, "/authorizationProviders/") {
			continue // the gateway's own identity's tokens need no renewal
		}
		var st tokenState
		if json.Unmarshal(r.Value, &st) != nil || st.Dead || m.opts.Now().Sub(st.RefreshedAt) <= m.opts.RefreshIdle {
			continue
		}
		path := rest[:i]
		if _, err := m.once(ctx, "renew "+path, func(ctx context.Context) (*entry, error) { return m.load(ctx, path, true) }); err != nil {
			m.log.Warn("credential manager: renew idle connection", "authorization", path, "err", err)
		}
	}
	return nil
}
