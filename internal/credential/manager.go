// Package credential is the credential manager: OAuth 2.0 providers, their
// connections and access policies (management hooks and actions), the
// consent pages on the portal listener, and the runtime that hands the
// gateway a fresh access token (get-authorization-context). Tokens and
// client secrets are sealed by the keyring; tokens are cached per node and
// refreshed by one node at a time, under a lease in the store's state.
package credential

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// Identity is a directory identity: a tenant and an object (user or
// service principal).
type Identity struct {
	TenantID string
	ObjectID string
}

// RefreshObserver is told of each token request the manager makes to a
// provider (a refresh, or client credentials): provider is the provider's
// name, err the failure (nil: new tokens).
type RefreshObserver interface {
	ObserveRefresh(provider string, err error)
}

// Options configure a Manager.
type Options struct {
	Store   store.Store
	Keyring *keyring.Keyring
	Logger  *slog.Logger
	// HTTPClient calls the providers' token endpoints.
	HTTPClient *http.Client
	Now        func() time.Time
	// PortalURL is the portal listener's public base URL; the consent
	// pages live under PortalURL + Prefix.
	PortalURL string
	// BuiltinURL is the built-in identity provider's tenant base URL
	// (issuer without /v2.0), for provider type tollgate.
	BuiltinURL string
	// Gateway is the gateway's own identity (identity-type="managed"); a
	// new connection gets an access policy for it.
	Gateway Identity
	// GatewayTokens issues the gateway identity's tokens in process
	// (authentication-managed-identity); nil: only the
	// ManagedIdentityProvider provider gives the gateway an identity.
	GatewayTokens GatewayTokens
	// CacheMargin: a cached token is used until this long before it
	// expires (3 minutes by default, as APIM).
	CacheMargin time.Duration
	// CacheMaxAge bounds how long a node serves a token from memory
	// without looking at the store (tokens that never expire; consent
	// given again on another node). 5 minutes by default.
	CacheMaxAge time.Duration
	// LeaseTTL bounds one node's refresh; others wait for it at most this
	// long. 30 s by default.
	LeaseTTL time.Duration
	// Cooldown is how long a connection is left alone after a failed
	// refresh. 30 s by default.
	Cooldown time.Duration
	// UpstreamTimeout bounds one token request. 10 s by default.
	UpstreamTimeout time.Duration
	// Observer, when set, is told of every token request to a provider
	// (metrics).
	Observer RefreshObserver
	// RefreshIdle: an authorization-code connection nobody used for this
	// long is refreshed anyway (Run), so its refresh token does not lapse.
	// 7 days by default.
	RefreshIdle time.Duration
	// SweepInterval is how often Run looks for idle connections. 1 hour by
	// default.
	SweepInterval time.Duration
	// StateLifetime is how long stored tokens outlive their last refresh
	// (so tokens of deleted connections go away). 90 days by default.
	StateLifetime time.Duration
}

// Prefix is where the consent pages are served on the portal listener.
const Prefix = "/credential-manager/"

// Manager is the credential manager of one node.
type Manager struct {
	opts    Options
	log     *slog.Logger
	cat     *Catalogue
	cache   sync.Map // connection path -> *entry
	flights flights
}

// New returns a Manager.
func New(opts Options) (*Manager, error) {
	if opts.Store == nil || opts.Keyring == nil {
		return nil, errors.New("credential manager: a store and a keyring are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.CacheMargin, 3*time.Minute)
	def(&opts.CacheMaxAge, 5*time.Minute)
	def(&opts.LeaseTTL, 30*time.Second)
	def(&opts.Cooldown, 30*time.Second)
	def(&opts.UpstreamTimeout, 10*time.Second)
	def(&opts.StateLifetime, 90*24*time.Hour)
	def(&opts.RefreshIdle, 7*24*time.Hour)
	def(&opts.SweepInterval, time.Hour)
	opts.PortalURL = strings.TrimRight(opts.PortalURL, "/")
	cat, err := LoadCatalogue()
	if err != nil {
		return nil, fmt.Errorf("credential manager: %w", err)
	}
	return &Manager{opts: opts, log: opts.Logger, cat: cat, flights: flights{calls: map[string]*flightCall{}}}, nil
}

// Kinds are the resource kinds to register.
func Kinds() []resource.Kind { return resource.CredentialKinds() }

// Install adds the kinds' hooks and actions and GET
// /authorizationProviderTypes to a management server.
func (m *Manager) Install(s *management.Server) {
	s.Handle(resource.KindAuthorizationProviders, management.Hooks{
		Prepare: m.prepareProvider, Delete: m.deleteProvider,
		Actions: map[string]management.Action{"listSecrets": m.listSecrets},
	})
	s.Handle(resource.KindProviderAuthorizations, management.Hooks{
		Prepare: m.prepareConnection, Delete: m.deleteConnection, View: m.viewConnection,
		Actions: map[string]management.Action{"listSecrets": m.listSecrets, "getLoginLinks": m.getLoginLinks},
	})
	s.Handle(resource.KindAuthorizationPolicies, management.Hooks{Prepare: m.preparePolicy, Delete: m.deletePolicy})
	s.Mount("/authorizationProviderTypes", http.HandlerFunc(m.serveTypes))
}

// RedirectURL is the consent callback to register at providers ("" when
// the portal listener is off).
func (m *Manager) RedirectURL() string {
	if m.opts.PortalURL == "" {
		return ""
	}
	return m.opts.PortalURL + Prefix + "callback"
}

func (m *Manager) serveTypes(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		apierror.Write(w, apierror.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "Allowed methods: GET."))
		return
	}
	name := strings.Trim(strings.TrimPrefix(r.URL.Path, "/authorizationProviderTypes"), "/")
	var v any
	if name == "" {
		types := m.cat.types()
		v = map[string]any{"value": types, "count": len(types)}
	} else {
		for _, t := range m.cat.types() {
			if t.Name == name {
				v = t
			}
		}
		if v == nil {
			apierror.Write(w, apierror.New(http.StatusNotFound, "NotFound", "No provider type %q; GET /authorizationProviderTypes lists them.", name))
			return
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func validation(target, format string, args ...any) error {
	return apierror.Validation([]resource.FieldError{{Target: target, Message: fmt.Sprintf(format, args...)}})
}

// open returns a secret field's plaintext, sealed or not yet sealed.
func (m *Manager) open(v, aad string) (string, error) {
	if v == "" || !keyring.IsSealed(v) {
		return v, nil
	}
	b, err := m.opts.Keyring.Open(v, []byte(aad))
	if err != nil {
		return "", fmt.Errorf("open secret of %s: %w", aad, err)
	}
	return string(b), nil
}

func (m *Manager) prepareProvider(ctx context.Context, tx store.Tx, id string, old, n resource.Resource) error {
	p := n.(*resource.AuthorizationProvider)
	secret, err := m.open(p.ClientSecret, id)
	if err != nil {
		return err
	}
	if _, errs := m.cat.resolve(p, secret, m.opts.BuiltinURL); len(errs) > 0 {
		return apierror.Validation(errs)
	}
	if old != nil {
		og, _ := old.(*resource.AuthorizationProvider).Grant()
		if ng, _ := p.Grant(); og != ng {
			if conns, err := tx.List(ctx, resource.KindProviderAuthorizations, id); err != nil {
				return err
			} else if len(conns) > 0 {
				return apierror.New(http.StatusConflict, "Conflict", "%s has %d authorization(s) of grant type %s: delete them before changing the grant type.", id, len(conns), og)
			}
		}
	}
	p.OAuth2.RedirectURL = m.RedirectURL()
	m.evict(id + "/")
	m.evict(managedPrefix)
	return nil
}

func (m *Manager) deleteProvider(_ context.Context, _ store.Tx, id string, _ resource.Resource, _ map[string]string) error {
	// Its authorizations and access policies are under its path and go
	// with it; their stored tokens expire unused (StateLifetime).
	m.evict(id + "/")
	return nil
}

func (m *Manager) deleteConnection(_ context.Context, _ store.Tx, id string, _ resource.Resource, _ map[string]string) error {
	m.evict(id)
	return nil
}

// maxAccessPolicies is APIM's limit of access policies per authorization.
const maxAccessPolicies = 100

func (m *Manager) preparePolicy(ctx context.Context, tx store.Tx, id string, old, _ resource.Resource) error {
	conn := connectionOf(id)
	if old == nil {
		recs, err := tx.List(ctx, resource.KindAuthorizationPolicies, conn)
		if err != nil {
			return fmt.Errorf("list access policies of %s: %w", conn, err)
		}
		if len(recs) >= maxAccessPolicies {
			return apierror.New(http.StatusConflict, "Conflict", "%s already has %d access policies, the most an authorization may have.", conn, maxAccessPolicies)
		}
	}
	m.evict(conn)
	return nil
}

func (m *Manager) deletePolicy(_ context.Context, _ store.Tx, id string, _ resource.Resource, _ map[string]string) error {
	m.evict(connectionOf(id))
	return nil
}

// connectionOf is the connection path of an access policy path.
func connectionOf(policyID string) string {
	if i := strings.Index(policyID, "/accessPolicies/"); i > 0 {
		return policyID[:i]
	}
	return policyID
}

// evict drops cached tokens of the connection at path (or, with a
// trailing slash, of every connection under it).
func (m *Manager) evict(path string) {
	m.cache.Range(func(k, _ any) bool {
		if s := k.(string); s == path || (strings.HasSuffix(path, "/") && strings.HasPrefix(s, path)) {
			m.cache.Delete(k)
		}
		return true
	})
}

func decode[T any](rec store.Record) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(rec.Body, v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", rec.ID, err)
	}
	return v, nil
}

func (m *Manager) prepareConnection(ctx context.Context, tx store.Tx, id string, old, n resource.Resource) error {
	c := n.(*resource.ProviderAuthorization)
	pid := resource.ParentOf(&resource.Kind{Pattern: "/authorizationProviders/{}/authorizations/{}"}, id)
	prec, err := tx.Get(ctx, pid)
	if err != nil {
		return fmt.Errorf("read provider %s: %w", pid, err)
	}
	p, err := decode[resource.AuthorizationProvider](prec)
	if err != nil {
		return err
	}
	grant, _ := p.Grant()
	want := map[string]string{resource.GrantAuthorizationCode: "AuthorizationCode", resource.GrantClientCredentials: "ClientCredentials"}[grant]
	if c.OAuth2GrantType != want {
		return validation("oauth2grantType", "must be %s: provider %s uses the %s grant type", want, pid, grant)
	}
	for k := range c.Parameters {
		if grant != resource.GrantClientCredentials || k != "clientId" {
			return validation("parameters."+k, "unknown parameter for a %s authorization (client credentials take clientId and clientSecret)", want)
		}
	}
	if grant == resource.GrantAuthorizationCode && c.ClientSecret != "" {
		return validation("parameters.clientSecret", "an AuthorizationCode authorization takes no parameters: the client secret is the provider's")
	}
	// Read-only fields keep what Tollgate set.
	if o, ok := old.(*resource.ProviderAuthorization); ok && o != nil {
		c.Status, c.Error, c.LastRefreshed, c.ExpiresAt, c.UID = o.Status, o.Error, o.LastRefreshed, o.ExpiresAt, o.UID
	} else {
		c.Status, c.Error, c.LastRefreshed, c.ExpiresAt, c.UID = resource.AuthorizationNotConnected, nil, "", "", newID()
		if gw := m.opts.Gateway; gw.TenantID != "" && gw.ObjectID != "" {
			ap := resource.AuthorizationAccessPolicy{TenantID: gw.TenantID, ObjectID: gw.ObjectID}
			apID := id + "/accessPolicies/gateway"
			resource.SetMeta(&ap, apID)
			b, _ := json.Marshal(&ap)
			if _, err := tx.Put(ctx, store.Record{ID: apID, Kind: resource.KindAuthorizationPolicies, Parent: id, Body: b}, ""); err != nil {
				return fmt.Errorf("default access policy: %w", err)
			}
		}
	}
	m.evict(id)
	if grant != resource.GrantClientCredentials {
		return nil
	}
	// A client-credentials connection proves its credentials now: it is
	// Connected or Error from the start. The token itself is fetched again
	// on first use (state cannot be written inside this transaction).
	ep, err := m.endpoints(p, c, id)
	if err != nil {
		return err
	}
	_, ferr := m.clientCredentials(ctx, ep)
	now := m.opts.Now().UTC().Format(time.RFC3339)
	var pe *providerError
	switch {
	case ferr == nil:
		c.Status, c.Error, c.LastRefreshed = resource.AuthorizationConnected, nil, now
	case errors.As(ferr, &pe):
		c.Status, c.Error = resource.AuthorizationError, &resource.AuthorizationIssue{Code: pe.Code, Message: pe.Message}
	default:
		m.log.Warn("credential manager: client credentials on create failed", "authorization", id, "err", ferr)
		c.Status, c.Error = resource.AuthorizationError, &resource.AuthorizationIssue{Code: "ProviderUnreachable", Message: "the token endpoint could not be reached"}
	}
	return nil
}

// endpoints resolves a connection's provider, secrets opened and the
// connection's own client credentials applied.
func (m *Manager) endpoints(p *resource.AuthorizationProvider, c *resource.ProviderAuthorization, cid string) (*endpoints, error) {
	secret, err := m.open(p.ClientSecret, p.ID)
	if err != nil {
		return nil, err
	}
	ep, errs := m.cat.resolve(p, secret, m.opts.BuiltinURL)
	if len(errs) > 0 {
		return nil, fmt.Errorf("provider %s is not usable: %v", p.ID, errs)
	}
	ep.provider = p.Name
	if c != nil {
		if v := c.Parameters["clientId"]; v != "" {
			ep.clientID = v
		}
		if c.ClientSecret != "" {
			if ep.clientSecret, err = m.open(c.ClientSecret, cid); err != nil {
				return nil, err
			}
		}
	}
	return ep, nil
}

// listSecrets returns the client secret of a provider or connection.
func (m *Manager) listSecrets(_ context.Context, _ store.Tx, id string, cur resource.Resource, _ []byte) (int, any, error) {
	var sealed string
	switch v := cur.(type) {
	case *resource.AuthorizationProvider:
		sealed = v.ClientSecret
	case *resource.ProviderAuthorization:
		sealed = v.ClientSecret
	}
	out := map[string]string{}
	if sealed != "" {
		s, err := m.open(sealed, id)
		if err != nil {
			return 0, nil, err
		}
		out["clientSecret"] = s
	}
	return http.StatusOK, out, nil
}

func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
