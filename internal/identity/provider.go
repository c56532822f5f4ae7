package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/store"
)

// The built-in management application.
const (
	ManagementIdentifier = "api://tollgate-management"
	// ScopeManagementUser is the management API's delegated scope: a
	// client acting for a signed-in user asks for it (directly or through
	// .default); the user's management roles still decide what it may do.
	ScopeManagementUser     = "user_impersonation"
	RoleManagementReadWrite = "Management.ReadWrite.All"
	RoleManagementRead      = "Management.Read.All"
	managementAppName       = "tollgate-management"
	managementAppPath       = applicationsPrefix + managementAppName
	// PortalAppPath is the developer portal's registration, which the
	// portal makes on its first start (with this installation's redirect
	// URIs): built in, so export leaves it out.
	PortalAppPath = applicationsPrefix + "tollgate-portal"
)

// DefaultTenantName is the name of the tenant made on first start.
const DefaultTenantName = "default"

// Options configure a Provider. Zero durations take the defaults noted.
type Options struct {
	Store   store.Store
	Keyring *keyring.Keyring
	// Issuer is the identity listener's public base URL
	// ("http://127.0.0.1:8003"); the token issuer is
	// <Issuer>/<tenant id>/v2.0.
	Issuer string
	Logger *slog.Logger
	// Grants, when set, is told of every token endpoint request (metrics).
	Grants GrantObserver
	// Now is the clock (time.Now by default); tests move it.
	Now func() time.Time

	AccessTokenLifetime   time.Duration // default 1h
	IDTokenLifetime       time.Duration // default 1h
	RefreshTokenLifetime  time.Duration // idle lifetime of one refresh token, default 14 days
	RefreshFamilyLifetime time.Duration // absolute lifetime of a sign-in's refresh tokens, default 90 days
	CodeLifetime          time.Duration // default 60s
	SessionLifetime       time.Duration // sign-in session cookie, default 8h
	// SigningAlg is "RS256" (default) or "ES256".
	SigningAlg string
	// KeyRotationInterval is how often the signing key is rotated on a
	// schedule (default 30 days; negative turns scheduled rotation off).
	KeyRotationInterval time.Duration
	// KeyPublishDelay is how long a new key is published in JWKS before it
	// signs (default 1h), so relying parties that cache JWKS pick it up.
	KeyPublishDelay time.Duration
	// Passwords are the argon2id parameters (OWASP's by default).
	Passwords PasswordHasher
	// LoginMaxFailures per account and LoginMaxFailuresPerAddress per
	// client address within LoginThrottleWindow lock out further attempts
	// until the window passes (defaults 5, 20, 15 minutes).
	LoginMaxFailures           int
	LoginMaxFailuresPerAddress int
	LoginThrottleWindow        time.Duration
	// StoreTimeout bounds every store call made for a request (default
	// 5s): a store that is down or hangs gets 503 with Retry-After instead
	// of a hung request.
	StoreTimeout time.Duration
}

// Provider is the identity provider: an http.Handler for everything on the
// identity listener.
type Provider struct {
	opts   Options
	store  store.Store
	state  runtimeState
	kr     *keyring.Keyring
	log    *slog.Logger
	now    func() time.Time
	base   string // issuer base URL without trailing slash
	secure bool   // cookies are Secure when the base URL is https

	dir    *Directory
	mux    *http.ServeMux
	tenant atomic.Pointer[Tenant]
	snapMu sync.Mutex
	// verMu guards changes and latest: the configuration version as
	// learnt from the store's change notifications.
	verMu   sync.Mutex
	changes <-chan int64
	latest  int64
	snap    atomic.Pointer[snapshot]
	keys    atomic.Pointer[keyCache]
	keysMu  sync.Mutex
	// keysFailing is set while the signing keys cannot be read from the
	// store: requests then use those in memory without waiting.
	keysFailing atomic.Bool
	algs        []string
	csrfKey     []byte
}

// Tenant is the directory's identity.
type Tenant struct {
	ID   string `json:"tenantId"`
	Name string `json:"name"`
}

// New returns a provider. Call Bootstrap before serving.
func New(opts Options) (*Provider, error) {
	if opts.Store == nil || opts.Keyring == nil {
		return nil, errors.New("identity: Store and Keyring are required")
	}
	u, err := url.Parse(opts.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("identity: issuer base URL %q must be an absolute http(s) URL", opts.Issuer)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.AccessTokenLifetime, time.Hour)
	def(&opts.IDTokenLifetime, time.Hour)
	def(&opts.RefreshTokenLifetime, 14*24*time.Hour)
	def(&opts.RefreshFamilyLifetime, 90*24*time.Hour)
	def(&opts.CodeLifetime, time.Minute)
	def(&opts.SessionLifetime, 8*time.Hour)
	def(&opts.KeyRotationInterval, 30*24*time.Hour)
	def(&opts.KeyPublishDelay, time.Hour)
	def(&opts.LoginThrottleWindow, 15*time.Minute)
	def(&opts.StoreTimeout, 5*time.Second)
	if opts.LoginMaxFailures == 0 {
		opts.LoginMaxFailures = 5
	}
	if opts.LoginMaxFailuresPerAddress == 0 {
		opts.LoginMaxFailuresPerAddress = 20
	}
	switch opts.SigningAlg {
	case "":
		opts.SigningAlg = "RS256"
	case "RS256", "ES256":
	default:
		return nil, fmt.Errorf("identity: signing algorithm %q is not supported (RS256 or ES256)", opts.SigningAlg)
	}
	p := &Provider{
		opts:   opts,
		store:  opts.Store,
		state:  newStateStore(opts.Store.State(), opts.StoreTimeout),
		kr:     opts.Keyring,
		log:    opts.Logger,
		now:    opts.Now,
		base:   strings.TrimRight(opts.Issuer, "/"),
		secure: u.Scheme == "https",
		dir:    &Directory{now: opts.Now, passwords: opts.Passwords},
	}
	// The store publishes a write's version to this process's subscribers
	// before Update returns, so a change acknowledged by the management
	// API is seen by the next token request without a database read per
	// request. The subscription lives as long as the store.
	p.changes = p.store.Changes(context.Background())
	p.routes()
	return p, nil
}

// Directory returns the management API behaviour of the directory kinds.
func (p *Provider) Directory() *Directory { return p.dir }

// Tenant returns the tenant (after Bootstrap).
func (p *Provider) Tenant() Tenant {
	if t := p.tenant.Load(); t != nil {
		return *t
	}
	return Tenant{}
}

// Issuer returns the token issuer, <identity-url>/<tenant-id>/v2.0.
func (p *Provider) Issuer() string { return p.base + "/" + p.Tenant().ID + "/v2.0" }

// Bootstrap makes, once, the tenant, the built-in management and gateway
// applications and the first signing key. It is idempotent and safe to run on several
// nodes at once.
func (p *Provider) Bootstrap(ctx context.Context) error {
	err := p.state.CreateTenant(ctx, Tenant{ID: uuid.NewString(), Name: DefaultTenantName})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("identity bootstrap: create tenant: %w", err)
	}
	t, err := p.state.Tenant(ctx)
	if err != nil {
		return fmt.Errorf("identity bootstrap: %w", err)
	}
	p.tenant.Store(&t)

	if _, err := p.store.Get(ctx, managementAppPath); errors.Is(err, store.ErrNotFound) {
		err := p.createBuiltInApp(ctx, managementAppPath, &Application{
			DisplayName:    "Tollgate Management",
			Description:    "The management API of this Tollgate installation.",
			IdentifierURIs: []string{ManagementIdentifier},
			API:            &APISettings{OAuth2PermissionScopes: []PermissionScope{managementScope()}},
			AppRoles: []AppRole{
				{Value: RoleManagementReadWrite, DisplayName: "Read and write all management resources", AllowedMemberTypes: []string{MemberApplication, MemberUser}},
				{Value: RoleManagementRead, DisplayName: "Read all management resources", AllowedMemberTypes: []string{MemberApplication, MemberUser}},
			},
		})
		if err != nil {
			return fmt.Errorf("identity bootstrap: create the management application: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("identity bootstrap: read the management application: %w", err)
	} else if err := p.upgradeManagementApp(ctx); err != nil {
		return fmt.Errorf("identity bootstrap: %w", err)
	}

	if err := p.ensureGatewayApp(ctx); err != nil {
		return fmt.Errorf("identity bootstrap: %w", err)
	}
	if err := p.ensureSigningKey(ctx); err != nil {
		return fmt.Errorf("identity bootstrap: %w", err)
	}
	// Keys and directory in memory from the start: discovery, JWKS and
	// tokens checked against them keep working while the store is down.
	if _, err := p.loadKeys(ctx); err != nil {
		return fmt.Errorf("identity bootstrap: %w", err)
	}
	p.expireKeys() // held for outages; the first use still reads them
	if _, err := p.directory(ctx); err != nil {
		return fmt.Errorf("identity bootstrap: %w", err)
	}
	return nil
}

func managementScope() PermissionScope {
	return PermissionScope{Value: ScopeManagementUser, Type: "User",
		AdminConsentDisplayName: "Access the Tollgate management API as the signed-in user",
		UserConsentDisplayName:  "Access the Tollgate management API as you"}
}

// upgradeManagementApp adds the delegated scope to a management
// application made before it existed, so that user sign-ins for the
// management API have something to be granted.
func (p *Provider) upgradeManagementApp(ctx context.Context) error {
	_, err := p.store.Update(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, managementAppPath)
		if err != nil {
			return err
		}
		app, err := decodeApp(rec)
		if err != nil {
			return err
		}
		if app.findScope(ScopeManagementUser) != nil {
			return nil
		}
		old, _ := decodeApp(rec)
		if app.API == nil {
			app.API = &APISettings{}
		}
		app.API.OAuth2PermissionScopes = append(app.API.OAuth2PermissionScopes, managementScope())
		app.Normalize()
		if err := p.dir.PrepareApplication(ctx, tx, managementAppPath, old, app); err != nil {
			return err
		}
		body, err := json.Marshal(app)
		if err != nil {
			return err
		}
		_, err = tx.Put(ctx, store.Record{ID: managementAppPath, Kind: KindApplications, Body: body}, rec.ETag)
		return err
	})
	if err != nil {
		return fmt.Errorf("add the %s scope to the management application: %w", ScopeManagementUser, err)
	}
	return nil
}

// resolveTenant accepts the tenant id or name.
func (p *Provider) resolveTenant(s string) bool {
	t := p.tenant.Load()
	return t != nil && (strings.EqualFold(s, t.ID) || strings.EqualFold(s, t.Name))
}
