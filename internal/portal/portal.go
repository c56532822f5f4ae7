// Package portal is the developer portal: server-rendered pages on the
// portal listener where API developers sign up and sign in through the
// built-in identity provider, browse published products and their APIs,
// subscribe and manage their keys, see their client applications, and
// call operations from a test console.
package portal

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/follower"
	"github.com/tollgate/tollgate/internal/store"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Management is what the portal needs of the management layer: writes go
// through it so that validation, hooks (subscription keys, limits, the
// directory's password hashing) and secrets sealing are the API's own.
type Management interface {
	Put(ctx context.Context, id string, body []byte, ifMatch string, patch bool) (store.Record, bool, error)
	Delete(ctx context.Context, id, ifMatch string, query map[string]string) error
	Act(ctx context.Context, id, name string, body []byte) (status int, result any, err error)
	Secret(ctx context.Context, id, name string) (string, error)
}

// Identity is the built-in identity provider's discovery document.
type Identity interface {
	Metadata() map[string]any
}

// Options configure the portal.
type Options struct {
	Store      store.Store
	Management Management
	Identity   Identity
	// Applications are the developers' client applications.
	Applications Applications
	// Limiter counts sign-up attempts per client address (the gateway's
	// rate limiter: in process, or shared through Redis).
	Limiter Limiter
	// SignUpAttempts is how many sign-up forms one client address may
	// send per SignUpWindow (default 10 per hour).
	SignUpAttempts int
	SignUpWindow   time.Duration
	// PublicURL is the portal's base URL as browsers reach it; every link
	// and redirect URI is built from it.
	PublicURL string
	// GatewayURL is the gateway's base URL the test console calls.
	GatewayURL string
	Logger     *slog.Logger
	// HTTPClient makes the token requests (default: 10 s timeout).
	HTTPClient *http.Client
	// Mounts are further handlers served under path prefixes (e.g.
	// "/credential-manager/"): each gets the requests under its prefix,
	// unchanged, with the portal's security headers.
	Mounts map[string]http.Handler
	// SessionLifetime is how long a portal sign-in lasts (default 8h).
	SessionLifetime time.Duration
	Now             func() time.Time
}

// Portal serves the portal listener.
type Portal struct {
	opts     Options
	log      *slog.Logger
	store    store.Store
	state    store.StateStore
	mgmt     Management
	apps     Applications
	view     *view
	sync     *syncer
	mux      *http.ServeMux
	base     string // PublicURL without trailing slash
	origin   string
	gwOrigin string
	secure   bool
	clientID string // the portal's application in the directory
	now      func() time.Time
	client   *http.Client
	mdMu     sync.Mutex
	md       map[string]providerMetadata // OpenID providers' endpoints by discovery URL
	// pages are parsed on first use: a node whose portal serves no page
	// (a gateway under load) never holds them.
	pages func() (map[string]*template.Template, error)
}

type providerMetadata struct {
	auth, token string
	expires     time.Time
}

// New returns a portal; call Bootstrap before serving.
func New(opts Options) (*Portal, error) {
	if opts.Store == nil || opts.Management == nil || opts.Identity == nil || opts.Applications == nil || opts.Limiter == nil {
		return nil, errors.New("portal: Store, Management, Identity, Applications and Limiter are required")
	}
	u, err := url.Parse(opts.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("portal: public URL %q must be an absolute http(s) URL", opts.PublicURL)
	}
	gw, err := url.Parse(opts.GatewayURL)
	if err != nil || (gw.Scheme != "http" && gw.Scheme != "https") || gw.Host == "" {
		return nil, fmt.Errorf("portal: gateway URL %q must be an absolute http(s) URL", opts.GatewayURL)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionLifetime == 0 {
		opts.SessionLifetime = 8 * time.Hour
	}
	if opts.SignUpAttempts <= 0 {
		opts.SignUpAttempts = 10
	}
	if opts.SignUpWindow <= 0 {
		opts.SignUpWindow = time.Hour
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	p := &Portal{
		opts: opts, log: opts.Logger, store: opts.Store, state: opts.Store.State(), mgmt: opts.Management, apps: opts.Applications,
		view: newView(), base: strings.TrimRight(opts.PublicURL, "/"),
		origin: u.Scheme + "://" + u.Host, gwOrigin: gw.Scheme + "://" + gw.Host,
		secure: u.Scheme == "https", now: opts.Now, client: opts.HTTPClient, md: map[string]providerMetadata{},
	}
	p.sync = &syncer{store: opts.Store, view: p.view}
	p.pages = sync.OnceValues(parsePages)
	p.routes()
	return p, nil
}

// Subscriber is the portal's in-memory view of the configuration, for the
// follower to deliver changes to.
func (p *Portal) Subscriber() follower.Subscriber { return p.view }

var funcs = template.FuncMap{
	"lower": strings.ToLower,
	"join":  strings.Join,
	"deref": func(b *bool) bool { return b == nil || *b },
	"date":  dateOf,
}

func parsePages() (map[string]*template.Template, error) {
	layout, err := fs.ReadFile(assets, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		body, err := fs.ReadFile(assets, n)
		if err != nil {
			return nil, err
		}
		t, err := template.New("layout").Funcs(funcs).Parse(string(layout))
		if err != nil {
			return nil, fmt.Errorf("portal: parse layout: %w", err)
		}
		if _, err := t.Parse(string(body)); err != nil {
			return nil, fmt.Errorf("portal: parse %s: %w", n, err)
		}
		out[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return out, nil
}

func (p *Portal) routes() {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /theme.css", p.handleTheme)
	mux.HandleFunc("GET /{$}", p.page(p.handleHome))
	mux.HandleFunc("GET /products", p.page(p.handleProducts))
	mux.HandleFunc("GET /products/{id}", p.page(p.handleProduct))
	mux.HandleFunc("POST /products/{id}/subscribe", p.form(p.handleSubscribe))
	mux.HandleFunc("GET /apis", p.page(p.handleAPIs))
	mux.HandleFunc("GET /apis/{id}", p.page(p.handleAPI))
	mux.HandleFunc("GET /apis/{id}/operations/{op}", p.page(p.handleOperation))
	mux.HandleFunc("GET /subscriptions", p.page(p.handleSubscriptions))
	mux.HandleFunc("POST /subscriptions/{id}/keys", p.form(p.handleShowKeys))
	mux.HandleFunc("POST /subscriptions/{id}/regenerate", p.form(p.handleRegenerateKey))
	mux.HandleFunc("POST /subscriptions/{id}/cancel", p.form(p.handleCancel))
	mux.HandleFunc("GET /applications", p.page(p.handleApplications))
	mux.HandleFunc("POST /applications/{id}/secret", p.form(p.handleShowSecret))
	mux.HandleFunc("POST /applications/{id}/regenerate", p.form(p.handleRegenerateSecret))
	mux.HandleFunc("GET /signin", p.handleSignIn)
	mux.HandleFunc("GET /signin-oidc", p.handleCallback)
	mux.HandleFunc("POST /signout", p.form(p.handleSignOut))
	mux.HandleFunc("GET /signup", p.page(p.handleSignUpPage))
	mux.HandleFunc("POST /signup", p.form(p.handleSignUp))
	mux.HandleFunc("POST /console/key", p.form(p.handleConsoleKey))
	mux.HandleFunc("POST /console/token", p.form(p.handleConsoleToken))
	mux.HandleFunc("GET /console/oauth-callback", p.handleConsoleCallback)
	prefixes := make([]string, 0, len(p.opts.Mounts))
	for prefix := range p.opts.Mounts {
		prefixes = append(prefixes, prefix)
	}
	sort.Strings(prefixes)
	for _, prefix := range prefixes {
		pattern := "/" + strings.Trim(prefix, "/") + "/"
		mux.Handle(pattern, p.opts.Mounts[prefix])
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.render(w, r, http.StatusNotFound, "message", &pageData{Title: "Not found", Message: "There is no page at this address."})
	})
	p.mux = mux
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP serves the portal listener: security headers on everything.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", p.csp())
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if p.secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	p.mux.ServeHTTP(w, r)
}

// csp allows the portal's own scripts and styles, the console's calls to
// the gateway and to nothing else, and no framing.
func (p *Portal) csp() string {
	img := "'self'"
	p.view.mu.RLock()
	if logo := p.view.settings.LogoURL; logo != "" {
		if u, err := url.Parse(logo); err == nil {
			img += " " + u.Scheme + "://" + u.Host
		}
	}
	p.view.mu.RUnlock()
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img +
		"; connect-src 'self' " + p.gwOrigin + "; form-action 'self' " + p.idOrigin() +
		"; frame-ancestors 'none'; base-uri 'none'"
}

func (p *Portal) idOrigin() string {
	if u, err := url.Parse(p.metadata("authorization_endpoint")); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	return ""
}

func (p *Portal) metadata(key string) string {
	s, _ := p.opts.Identity.Metadata()[key].(string)
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
