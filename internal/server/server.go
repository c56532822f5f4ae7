package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tollgate/tollgate/internal/applications"
	"github.com/tollgate/tollgate/internal/credential"
	"github.com/tollgate/tollgate/internal/follower"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/identity"
	"github.com/tollgate/tollgate/internal/jwtvalidate"
	"github.com/tollgate/tollgate/internal/jwtvalidate/jwtpolicy"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/metrics"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/portal"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/postgres"
	"github.com/tollgate/tollgate/internal/store/sqlite"
	"github.com/tollgate/tollgate/internal/tracing"
	"github.com/tollgate/tollgate/internal/urlredact"
)

// Run starts the server, printing the start banner to out, and serves
// until ctx ends or a listener fails; then it shuts down gracefully.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	srv, err := Start(ctx, cfg, out)
	if err != nil {
		return err
	}
	return srv.Wait(ctx)
}

// Server is a running Tollgate: every component wired together. This is
// the one place where Tollgate is assembled.
type Server struct {
	cfg       Config
	log       *slog.Logger
	store     store.Store
	keyring   *keyring.Keyring
	follower  *follower.Follower
	gateway   *gateway.Gateway
	mgmt      *management.Server
	adminKey  string
	timeouts  ListenerTimeouts
	listeners []*listener
	// URLs are the base URLs of the listeners that are on, by name.
	urls      map[string]string
	cancel    context.CancelFunc
	bgDone    chan struct{}
	firstRun  bool
	closeOnce sync.Once
	// closers release what the server holds beyond the store (the log
	// writer, counters' connections); they run in reverse order.
	closers []func()
}

type listener struct {
	name string
	ln   net.Listener
	srv  *http.Server
	tls  bool
	done chan error
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// checkDataDir makes the data directory and proves it writable, so a bad
// --data-dir fails at once with the reason rather than on first write.
func checkDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func openStore(ctx context.Context, dbURL string, log *slog.Logger) (store.Store, error) {
	// Return a nil interface on error, never a typed nil.
	switch {
	case strings.HasPrefix(dbURL, "sqlite://"):
		st, err := sqlite.Open(ctx, strings.TrimPrefix(dbURL, "sqlite://"), sqlite.WithLogger(log))
		if err != nil {
			return nil, err
		}
		return st, nil
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		st, err := postgres.Open(ctx, dbURL, postgres.WithLogger(log))
		if err != nil {
			// The driver's errors may quote the URL or its parameters.
			return nil, fmt.Errorf("database %s: %w", urlredact.URL(dbURL), urlredact.Error(err, dbURL))
		}
		return st, nil
	}
	return nil, fmt.Errorf("database %q: unsupported scheme (use sqlite:// or postgres://)", urlredact.URL(dbURL))
}

// loadKeyring returns the keyring and whether its key file was made now.
func loadKeyring(cfg Config) (*keyring.Keyring, bool, error) {
	if cfg.MasterKey != "" {
		raw, err := keyring.ParseKey(cfg.MasterKey)
		if err != nil {
			return nil, false, fmt.Errorf("TOLLGATE_MASTER_KEY: %w", err)
		}
		kek, err := keyring.NewLocalKEK(raw)
		if err != nil {
			return nil, false, fmt.Errorf("TOLLGATE_MASTER_KEY: %w", err)
		}
		return keyring.New(kek), false, nil
	}
	return keyring.LoadOrCreateFile(cfg.MasterKeyFile)
}

// lookupKeyState is where the key of the subscription-key hashes lives,
// sealed, so every node shares it and master-key rotation re-wraps it.
const lookupKeyState = "keyring/lookup-key"

// loadLookupKey returns the lookup key, and whether it was made now (a new
// database).
func loadLookupKey(ctx context.Context, st store.StateStore, kr *keyring.Keyring) ([]byte, bool, error) {
	for attempt := 0; attempt < 2; attempt++ {
		rec, err := st.Get(ctx, lookupKeyState)
		if err == nil {
			key, err := kr.Open(string(rec.Value), []byte(lookupKeyState))
			if err != nil {
				return nil, false, fmt.Errorf("open lookup key (is this the master key the database was made with?): %w", err)
			}
			return key, false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, false, fmt.Errorf("read lookup key: %w", err)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, false, err
		}
		sealed, err := kr.Seal(key, []byte(lookupKeyState))
		if err != nil {
			return nil, false, err
		}
		err = st.Create(ctx, store.StateRecord{Key: lookupKeyState, Value: []byte(sealed)})
		if err == nil {
			return key, true, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, false, fmt.Errorf("store lookup key: %w", err)
		}
		// Another node made it first: read theirs.
	}
	return nil, false, errors.New("lookup key: could not read or create it")
}

// loadAdminKey returns the root admin key: TOLLGATE_ADMIN_KEY, or the
// key file in the data dir, made (mode 0600) on first start.
func loadAdminKey(cfg Config) (key, path string, err error) {
	if cfg.AdminKey != "" {
		return cfg.AdminKey, "TOLLGATE_ADMIN_KEY", nil
	}
	path = filepath.Join(cfg.DataDir, "admin.key")
	if b, err := os.ReadFile(path); err == nil {
		key = strings.TrimSpace(string(b))
		if len(key) < 16 {
			return "", path, fmt.Errorf("admin key file %s holds fewer than 16 characters", path)
		}
		return key, path, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", path, fmt.Errorf("read admin key %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", path, err
	}
	key = base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", path, fmt.Errorf("write admin key %s: %w", path, err)
	}
	return key, path, nil
}

// Start assembles Tollgate and starts its listeners. It returns once
// every listener accepts connections.
func Start(ctx context.Context, cfg Config, out io.Writer) (_ *Server, err error) {
	logOut := newLogWriter(out, 100*time.Millisecond)
	log := newLogger(cfg, logOut)
	s := &Server{cfg: cfg, log: log, urls: map[string]string{}, timeouts: cfg.Timeouts.withDefaults()}
	s.closers = append(s.closers, logOut.Close)
	if err := checkDataDir(cfg.DataDir); err != nil {
		logOut.Close()
		return nil, err
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	// Bind first: a busy port fails before anything is written, and the
	// identity provider needs its own URL to name itself as issuer.
	if err := s.bind(); err != nil {
		return nil, err
	}
	if s.store, err = openStore(ctx, cfg.Database, log); err != nil {
		return nil, err
	}
	s.store = store.WithDeadline(s.store, 0) // every store call times out (default 5 s) and reports store.ErrUnavailable
	var keyMade bool
	if s.keyring, keyMade, err = loadKeyring(cfg); err != nil {
		return nil, err
	}
	lookupKey, dbNew, err := loadLookupKey(ctx, s.store.State(), s.keyring)
	if keyMade && !dbNew {
		// The database holds secrets sealed with a master key this data
		// dir no longer has: a fresh key would open none of them.
		os.Remove(cfg.MasterKeyFile)
		return nil, fmt.Errorf("master key file %s does not exist, but the database holds secrets sealed with a master key: restore the file from a backup, or set TOLLGATE_MASTER_KEY", cfg.MasterKeyFile)
	}
	if err != nil {
		return nil, err
	}
	hasher := keyring.NewHasher(lookupKey)
	// Only a node that serves the management API needs the admin key; a
	// gateway-only node makes no key file.
	var adminKeyPath string
	if cfg.ManagementAddr != "" {
		if s.adminKey, adminKeyPath, err = loadAdminKey(cfg); err != nil {
			return nil, err
		}
	}

	// Metrics: one registry per server, served at /metrics.
	met := metrics.New()
	met.Health("store", "1 while the configuration store answers, 0 otherwise (checked at each scrape).", 2*time.Second, func(ctx context.Context) error {
		_, err := s.store.Version(ctx)
		return err
	})
	if cfg.Redis != "" {
		ping, closePing := redisPing(cfg.Redis)
		s.closers = append(s.closers, closePing)
		met.Health("redis", "1 while the Redis shared by the nodes answers, 0 otherwise (checked at each scrape).", 2*time.Second, ping)
	}
	// Traces: off unless the OTEL_* environment (or an embedder) asks.
	tr := cfg.Tracing
	if tr == nil {
		if tr, err = tracing.FromEnv(ctx); err != nil {
			return nil, err
		}
	}
	if tr != nil {
		s.closers = append(s.closers, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tr.Shutdown(sctx); err != nil {
				log.Warn("trace exporter shutdown", "err", err)
			}
		})
	}
	accessLog, closeAccessLog, err := newAccessLog(cfg, logOut)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, closeAccessLog)

	reg := resource.NewRegistry()
	for _, k := range identity.Kinds() {
		reg.Register(k)
	}
	for _, k := range credential.Kinds() {
		reg.Register(k)
	}
	idp, err := identity.New(identity.Options{
		Store: s.store, Keyring: s.keyring, Issuer: s.identityURL(), Logger: log, Grants: met,
		AccessTokenLifetime: cfg.AccessTokenLifetime, IDTokenLifetime: cfg.AccessTokenLifetime,
		RefreshTokenLifetime: cfg.RefreshTokenLifetime, SigningAlg: cfg.SigningAlg, KeyRotationInterval: cfg.SigningKeyRotation,
	})
	if err != nil {
		return nil, fmt.Errorf("identity provider: %w", err)
	}
	if err := idp.Bootstrap(ctx); err != nil {
		return nil, fmt.Errorf("identity provider: %w", err)
	}
	limiter, closeLimiter := newLimiter(cfg, log)
	s.closers = append(s.closers, closeLimiter)
	// One key-set cache for every validate-jwt: documents naming the same
	// OpenID provider share its keys and its refresh.
	keySetOpts := jwtvalidate.KeySetsOptions{Logger: log, RefreshInterval: cfg.KeyRefresh, UnknownKidMinInterval: cfg.KidRefetch}
	if tr != nil {
		keySetOpts.Client = &http.Client{Timeout: 30 * time.Second, Transport: tr.Transport(http.DefaultTransport, "openid-keys")}
	}
	keySets := jwtvalidate.NewKeySets(keySetOpts)
	// The built-in provider's keys, read in process: no network hop.
	localKeys := func(ctx context.Context) (jose.JSONWebKeySet, string, error) {
		keys, err := idp.PublicKeys(ctx)
		return keys, idp.Issuer(), err
	}
	// The credential manager: its consent pages are on the portal listener;
	// the gateway's own identity is the built-in directory's gateway
	// application, whose tokens the identity provider issues in process.
	gw, err := idp.Gateway(ctx)
	if err != nil {
		return nil, fmt.Errorf("identity provider: %w", err)
	}
	creds, err := credential.New(credential.Options{Store: s.store, Keyring: s.keyring, Logger: log,
		PortalURL: s.urls["portal"], BuiltinURL: strings.TrimSuffix(idp.Issuer(), "/v2.0"),
		Gateway: credential.Identity{TenantID: idp.Tenant().ID, ObjectID: gw.ObjectID}, GatewayTokens: idp, Observer: met})
	if err != nil {
		return nil, fmt.Errorf("credential manager: %w", err)
	}
	// Every validator of this node keeps its verified tokens in one cache,
	// so --jwt-cache-bytes bounds them all together.
	tokens := jwtvalidate.NewTokenCache(0, cfg.JWTCacheBytes)
	met.WatchTokenCache(tokens)
	// identity-type="jwt" callers of get-authorization-context.
	callers, err := credential.NewLocalCallers(s.store, jwtvalidate.Deps{KeySets: keySets, Logger: log, LocalKeys: localKeys, Cache: tokens})
	if err != nil {
		return nil, fmt.Errorf("credential manager: %w", err)
	}
	cache, closeCache := newExternalCache(cfg)
	s.closers = append(s.closers, closeCache)
	policyOpts := policy.Options{Limiter: limiter, Open: s.keyring.Open, Logger: log, ExternalCache: cache,
		Extensions: append(jwtpolicy.Extensions(jwtpolicy.Deps{
			JWT: jwtvalidate.Deps{KeySets: keySets, Logger: log, LocalKeys: localKeys, Observer: met, Cache: tokens},
			LocalTenant: func(tenant string) bool {
				t := idp.Tenant()
				return strings.EqualFold(tenant, t.ID) || strings.EqualFold(tenant, t.Name)
			},
			Certificate: jwtpolicy.StoreCertificates(s.store, s.keyring.Open),
		}), creds.Extensions(callers)...),
	}
	gatewayOpts := gateway.Options{Hasher: hasher, Logger: log}
	observers := gateway.Observers{met}
	if accessLog != nil {
		observers = append(observers, accessLog)
	}
	if tr != nil {
		policyOpts.Tracer = tr
		gatewayOpts.Tracer = tr
		gatewayOpts.Transport = tr.Transport(gateway.NewBackendTransport(gateway.NewTransport()), "backend call")
		observers = append(observers, tr) // ends the request's span
	}
	policies := policy.NewCompiler(policyOpts)
	// Products with OAuth access: application tokens are verified with the
	// built-in provider's keys.
	appTokens, err := jwtvalidate.New(jwtvalidate.Config{LocalKeys: true}, jwtvalidate.Deps{Logger: log, LocalKeys: localKeys, Observer: met, Cache: tokens})
	if err != nil {
		return nil, fmt.Errorf("application token validator: %w", err)
	}
	gatewayOpts.Policies, gatewayOpts.AppTokens, gatewayOpts.Observer = policies, appTokens, observers
	s.gateway = gateway.New(gatewayOpts)
	// One follower per node reads each configuration version once and
	// hands what changed to every part that keeps a view of it.
	s.follower = follower.New(follower.Options{Source: s.store, Logger: log})
	s.follower.Subscribe(met.Subscriber("gateway", s.gateway))
	s.follower.Subscribe(met.Subscriber("identity", idp))
	s.mgmt = management.New(management.Options{
		Store: s.store, Registry: reg, Keyring: s.keyring, Hasher: hasher,
		AdminKey: s.adminKey, Tokens: idp, Synced: s.follower.Sync, Logger: log,
		AuditRetention: cfg.AuditRetention,
	})
	dir := idp.Directory()
	s.mgmt.Handle(identity.KindApplications, management.Hooks{
		Prepare: dir.PrepareApplication, Delete: dir.DeleteApplication,
		Actions: map[string]management.Action{"addPassword": dir.AddPassword, "removePassword": dir.RemovePassword, "grantAdminConsent": dir.GrantAdminConsent},
	})
	s.mgmt.Handle(identity.KindUsers, management.Hooks{Prepare: dir.PrepareUser, Actions: map[string]management.Action{"setPassword": dir.SetPassword}})
	s.mgmt.Mount("/directory", idp.DirectoryHandler())
	s.mgmt.Mount("/keys", &keyRotation{s: s})
	// Client applications, products' OAuth access, the developers' endpoint.
	apps := applications.New(applications.Options{Store: s.store, Directory: dir, Keyring: s.keyring, TenantID: func() string { return idp.Tenant().ID }})
	apps.Install(s.mgmt)
	// Before the first Sync: the developers' application lists read its
	// index of applications by owner.
	s.follower.Subscribe(met.Subscriber("applications", apps))
	userTokens, err := jwtvalidate.New(jwtvalidate.Config{LocalKeys: true}, jwtvalidate.Deps{Logger: log, LocalKeys: localKeys, Cache: tokens})
	if err != nil {
		return nil, fmt.Errorf("developer token validator: %w", err)
	}
	s.mgmt.MountPublic("/developer", apps.DeveloperHandler("/developer", &applications.DirectoryUsers{Store: s.store, Validator: userTokens}, log))
	creds.Install(s.mgmt)
	s.mgmt.Mount("/backendHealth", policies.BackendHealthHandler("/backendHealth")) // backend circuit breakers on this node
	installPolicyChecks(s.mgmt, policies)
	// Prometheus scrapes without the admin key: metrics carry no secrets.
	s.mgmt.MountPublic("/metrics", met.Handler())

	version, err := s.store.Version(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.follower.Sync(ctx, version); err != nil {
		return nil, fmt.Errorf("build gateway configuration: %w", err)
	}
	if !cfg.NoDefaults {
		created, err := createDefaults(ctx, s.store, s.mgmt)
		if err != nil {
			return nil, fmt.Errorf("create defaults: %w", err)
		}
		s.firstRun = created
	}

	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.bgDone = make(chan struct{})
	var bgWork sync.WaitGroup
	bgWork.Add(5)
	go func() { defer bgWork.Done(); s.mgmt.RunAuditRetention(bg, time.Hour) }()
	go func() {
		defer bgWork.Done()
		if err := keySets.Run(bg); err != nil && bg.Err() == nil {
			log.Error("OpenID key refresh stopped", "err", err)
		}
	}()
	go func() {
		defer bgWork.Done()
		s.follower.Run(bg, s.store.Changes(bg))
	}()
	go func() {
		defer bgWork.Done()
		if err := idp.Run(bg); err != nil && bg.Err() == nil {
			log.Error("identity provider background work stopped", "err", err)
		}
	}()
	go func() { // renew idle connections' tokens
		defer bgWork.Done()
		if err := creds.Run(bg); err != nil && bg.Err() == nil {
			log.Error("credential manager background work stopped", "err", err)
		}
	}()
	go func() {
		bgWork.Wait()
		close(s.bgDone)
	}()

	handlers := map[string]http.Handler{"gateway": s.gateway, "management": s.mgmt, "identity": idp, "metrics": metricsListener(met.Handler(), cfg.Pprof)}
	if u, ok := s.urls["portal"]; ok {
		// The console calls the gateway: its public URL, or the default
		// address when this node runs no gateway.
		gw := s.urls["gateway"]
		if gw == "" {
			gw = cmp.Or(cfg.PublicURLGateway, "http://127.0.0.1:8000")
		}
		dev, err := portal.New(portal.Options{Store: s.store, Management: s.mgmt, Identity: idp, Applications: apps, Limiter: limiter,
			PublicURL: u, GatewayURL: gw, Logger: log, Mounts: map[string]http.Handler{credential.Prefix: creds.Handler()}})
		if err != nil {
			return nil, fmt.Errorf("developer portal: %w", err)
		}
		if err := dev.Bootstrap(ctx); err != nil {
			return nil, fmt.Errorf("developer portal: %w", err)
		}
		s.follower.Subscribe(dev.Subscriber())
		handlers["portal"] = dev
	}
	s.serve(handlers)
	if u, ok := s.urls["management"]; ok {
		_ = os.WriteFile(filepath.Join(cfg.DataDir, "management.url"), []byte(u+"\n"), 0o644)
	}
	logOut.Flush()
	s.printBanner(ctx, out, adminKeyPath)
	return s, nil
}

// URL returns the base URL of the named listener ("gateway",
// "management", "identity") and whether it is on.
func (s *Server) URL(name string) (string, bool) {
	u, ok := s.urls[name]
	return u, ok
}

// AdminKey returns the root admin key ("" when the management listener is
// off).
func (s *Server) AdminKey() string { return s.adminKey }

// identityURL is the identity provider's public base URL: the configured
// one, or its listener's, or (listener off, e.g. a gateway-only node) the
// default address, so that tokens name the same issuer on every node.
func (s *Server) identityURL() string {
	if s.cfg.PublicURLIdentity != "" {
		return s.cfg.PublicURLIdentity
	}
	if u, ok := s.urls["identity"]; ok {
		return u
	}
	return "http://127.0.0.1:8003"
}

// bind opens the sockets of the listeners that are on and works out their
// URLs; serve attaches the handlers.
func (s *Server) bind() error {
	cfg := s.cfg
	specs := []struct{ name, addr, public string }{
		{"gateway", cfg.GatewayAddr, cfg.PublicURLGateway},
		{"management", cfg.ManagementAddr, cfg.PublicURLManagement},
		{"identity", cfg.IdentityAddr, cfg.PublicURLIdentity},
		{"portal", cfg.PortalAddr, cfg.PublicURLPortal},
		{"metrics", cfg.MetricsAddr, ""},
	}
	for _, sp := range specs {
		if sp.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", sp.addr)
		if err != nil {
			return fmt.Errorf("%s listener on %s: %w", sp.name, sp.addr, err)
		}
		l := &listener{name: sp.name, ln: ln, done: make(chan error, 1)}
		l.srv = &http.Server{
			ReadHeaderTimeout: s.timeouts.ReadHeader,
			IdleTimeout:       s.timeouts.Idle,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		s.listeners = append(s.listeners, l)
		if sp.name == "gateway" && cfg.GatewayTLSCert != "" {
			cert, err := tls.LoadX509KeyPair(cfg.GatewayTLSCert, cfg.GatewayTLSKey)
			if err != nil {
				return fmt.Errorf("gateway TLS certificate: %w", err)
			}
			// HTTP/2 is negotiated by ALPN when TLSConfig offers it.
			// A client certificate is asked for, not required:
			// validate-client-certificate checks it.
			l.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"},
				ClientAuth: tls.RequestClientCert}
			l.tls = true
		}
		scheme := "http"
		if l.tls {
			scheme = "https"
		}
		url := sp.public
		if url == "" {
			url = scheme + "://" + ln.Addr().String()
		}
		s.urls[sp.name] = url
	}
	return nil
}

// serve starts serving every bound listener with its handler.
func (s *Server) serve(handlers map[string]http.Handler) {
	for _, l := range s.listeners {
		// Bodies are bounded here rather than with ReadTimeout, which
		// would also bound the time to answer (a slow backend).
		if l.name == "gateway" {
			l.srv.Handler = bodyDeadline(handlers[l.name], s.timeouts.GatewayBody, s.timeouts.GatewayBodyMinRate)
		} else {
			l.srv.Handler = bodyDeadline(handlers[l.name], s.timeouts.Body, 0)
		}
		go func(l *listener) {
			var err error
			if l.tls {
				err = l.srv.ServeTLS(l.ln, "", "")
			} else {
				err = l.srv.Serve(l.ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			l.done <- err
		}(l)
	}
}

func (s *Server) printBanner(ctx context.Context, out io.Writer, adminKeyPath string) {
	fmt.Fprintf(out, "Tollgate %s is up.\n", Version())
	for _, name := range []string{"gateway", "management", "identity", "portal", "metrics"} {
		if u, ok := s.urls[name]; ok {
			fmt.Fprintf(out, "  %-11s %s\n", name, urlredact.URL(u))
		}
	}
	fmt.Fprintf(out, "  data dir    %s\n", s.cfg.DataDir)
	fmt.Fprintf(out, "  database    %s\n", urlredact.URL(s.cfg.Database))
	if adminKeyPath != "" {
		fmt.Fprintf(out, "  admin key   %s\n", adminKeyPath)
	}
	if s.firstRun {
		if key, err := s.defaultStarterKey(ctx); err == nil {
			fmt.Fprintf(out, "\nFirst start: the administrator's Starter subscription key is\n  %s\nTry: curl -H 'Ocp-Apim-Subscription-Key: %s' %s/echo/resource\n"+
				"Starter is throttled (5 calls a minute, 100 a week); the Unlimited subscription is not:\n"+
				"  tollgate keys show subscription admin-unlimited\n", key, key, s.urls["gateway"])
		}
	}
}

// Wait serves until ctx ends or a listener fails, then shuts down
// gracefully: in-flight requests get up to the shutdown timeout.
func (s *Server) Wait(ctx context.Context) error {
	failed := make(chan error, len(s.listeners))
	for _, l := range s.listeners {
		go func(l *listener) {
			if err := <-l.done; err != nil {
				failed <- fmt.Errorf("%s listener: %w", l.name, err)
			}
			l.done <- nil
		}(l)
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	if serr := s.Shutdown(); err == nil {
		err = serr
	}
	return err
}

// Shutdown stops the listeners, letting requests in flight finish within
// the shutdown timeout, then releases everything the server holds.
func (s *Server) Shutdown() error {
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	// All listeners stop accepting at once, then drain together: a load
	// balancer must not find management or identity still taking new
	// connections while the gateway drains.
	errs := make([]error, len(s.listeners))
	var wg sync.WaitGroup
	for i, l := range s.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.srv.Shutdown(sctx); err != nil {
				errs[i] = fmt.Errorf("%s listener: %w", l.name, err)
			}
		}()
	}
	wg.Wait()
	s.close()
	return errors.Join(errs...)
}

// close stops background work and closes the store; it may be called more
// than once.
func (s *Server) close() {
	s.closeOnce.Do(func() {
		for _, l := range s.listeners {
			l.ln.Close()
		}
		if s.cancel != nil {
			s.cancel()
			<-s.bgDone
		}
		if s.store != nil {
			s.store.Close()
		}
		// Last in, first out: the log writer, added first, closes last.
		for i := len(s.closers) - 1; i >= 0; i-- {
			s.closers[i]()
		}
	})
}

// Version is the module version the binary was built as.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
