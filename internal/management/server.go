// Package management is Tollgate's management REST API: generic CRUD over
// the resource registry's kinds with APIM's conventions (flat JSON, id/name,
// ETag/If-Match, paged lists with $filter, write-only secrets), plus
// per-kind hooks and actions that packages register at wiring time.
package management

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// retryAfterSeconds is the Retry-After of a 503 while the database is
// unavailable.
const retryAfterSeconds = 5

// MaxBody is the largest request body the API reads.
const MaxBody = 1 << 20

// Hooks customise one kind.
type Hooks struct {
	// Prepare runs inside the write transaction after decoding, defaults
	// and Validate: it fills generated fields, checks references and
	// uniqueness, and refuses with an *apierror.Error. old is nil on create.
	Prepare func(ctx context.Context, tx store.Tx, id string, old, new resource.Resource) error
	// Check runs inside the write transaction after the record was
	// written, so it sees the new state (e.g. policy documents that use a
	// named value are recompiled against its new value); an error undoes
	// the write.
	Check func(ctx context.Context, tx store.Tx, rec store.Record) error
	// Delete runs inside the delete transaction before the record and its
	// children are removed: it cascades, or refuses (409). query holds the
	// request's query parameters (e.g. deleteSubscriptions).
	Delete func(ctx context.Context, tx store.Tx, id string, old resource.Resource, query map[string]string) error
	// Actions serve POST {item}/{name} inside a transaction; writes bump the
	// configuration version.
	Actions map[string]Action
	// View runs before a resource is shown (GET, lists, the answer to a
	// write): it fills read-only fields kept outside the configuration
	// (e.g. a connection's lastRefreshed, from runtime state). The ETag
	// still covers the configuration record only.
	View func(ctx context.Context, id string, res resource.Resource)
}

// Action is a POST on an item. current is the stored resource with its
// secrets still sealed.
type Action func(ctx context.Context, tx store.Tx, id string, current resource.Resource, body []byte) (status int, result any, err error)

// TokenVerifier checks an access token for the management API and returns
// its app roles. The identity provider implements it.
type TokenVerifier interface {
	VerifyManagementToken(ctx context.Context, raw string) (roles []string, err error)
}

// Management API roles carried by access tokens.
const (
	RoleReadWrite = "Management.ReadWrite.All"
	RoleRead      = "Management.Read.All"
)

// Options configure a Server.
type Options struct {
	Store    store.Store
	Registry *resource.Registry
	Keyring  *keyring.Keyring
	// Hasher computes the lookup hashes of subscription keys.
	Hasher *keyring.Hasher
	// AdminKey is the root credential.
	AdminKey string
	// Tokens verifies bearer tokens that are not the admin key; nil
	// accepts the admin key only.
	Tokens TokenVerifier
	// Synced is called after every committed write with its version, and
	// must return once that version is served (the gateway's Sync).
	Synced func(ctx context.Context, version int64) error
	Logger *slog.Logger
	Now    func() time.Time
	// StoreTimeout bounds every store call a request makes (default
	// store.DefaultCallTimeout); a database that does not answer in time
	// gets 503 with Retry-After instead of a hanging request.
	StoreTimeout time.Duration
	// AuditRetention is how long audit log entries are kept (zero: for
	// ever); RunAuditRetention enforces it.
	AuditRetention time.Duration
}

// Server is the management API's http.Handler.
type Server struct {
	opts   Options
	hooks  map[string]Hooks
	mounts []mount
	log    *slog.Logger
}

type mount struct {
	prefix string
	h      http.Handler
	public bool // the handler authenticates its callers itself
}

// New returns a server with the core kinds' integrity rules installed.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Synced == nil {
		opts.Synced = func(context.Context, int64) error { return nil }
	}
	opts.Store = store.WithDeadline(opts.Store, opts.StoreTimeout)
	s := &Server{opts: opts, hooks: map[string]Hooks{}, log: opts.Logger}
	s.installCoreHooks()
	return s
}

// Handle adds hooks for a kind. Hooks for the same kind compose: Prepare
// and Delete run in registration order, actions are merged.
func (s *Server) Handle(kind string, h Hooks) {
	if _, ok := s.opts.Registry.Kind(kind); !ok {
		panic("management: hooks for unregistered kind " + kind)
	}
	prev := s.hooks[kind]
	merged := Hooks{Actions: map[string]Action{}}
	for k, v := range prev.Actions {
		merged.Actions[k] = v
	}
	for k, v := range h.Actions {
		merged.Actions[k] = v
	}
	merged.Prepare = chainPrepare(prev.Prepare, h.Prepare)
	merged.Delete = chainDelete(prev.Delete, h.Delete)
	merged.Check = chainCheck(prev.Check, h.Check)
	merged.View = prev.View
	if h.View != nil {
		if pv := prev.View; pv != nil {
			merged.View = func(ctx context.Context, id string, res resource.Resource) { pv(ctx, id, res); h.View(ctx, id, res) }
		} else {
			merged.View = h.View
		}
	}
	s.hooks[kind] = merged
}

func chainPrepare(a, b func(context.Context, store.Tx, string, resource.Resource, resource.Resource) error) func(context.Context, store.Tx, string, resource.Resource, resource.Resource) error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return func(ctx context.Context, tx store.Tx, id string, old, n resource.Resource) error {
		if err := a(ctx, tx, id, old, n); err != nil {
			return err
		}
		return b(ctx, tx, id, old, n)
	}
}

func chainCheck(a, b func(context.Context, store.Tx, store.Record) error) func(context.Context, store.Tx, store.Record) error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return func(ctx context.Context, tx store.Tx, rec store.Record) error {
		if err := a(ctx, tx, rec); err != nil {
			return err
		}
		return b(ctx, tx, rec)
	}
}

func chainDelete(a, b func(context.Context, store.Tx, string, resource.Resource, map[string]string) error) func(context.Context, store.Tx, string, resource.Resource, map[string]string) error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return func(ctx context.Context, tx store.Tx, id string, old resource.Resource, q map[string]string) error {
		if err := a(ctx, tx, id, old, q); err != nil {
			return err
		}
		return b(ctx, tx, id, old, q)
	}
}

// Mount serves non-resource routes at prefix and below (e.g. "/directory"
// for GET /directory). Resource paths take precedence, so a mount at
// "/directory" does not hide /directory/applications. Requests are
// authenticated first; only GET and HEAD are allowed to read-only callers.
func (s *Server) Mount(prefix string, h http.Handler) {
	s.mounts = append(s.mounts, mount{prefix: strings.TrimRight(prefix, "/"), h: h})
}

// MountPublic serves routes under prefix without the management API's
// authentication: the handler authenticates its callers itself (the
// developers' endpoints, which signed-in developers call with their own
// tokens).
func (s *Server) MountPublic(prefix string, h http.Handler) {
	s.mounts = append(s.mounts, mount{prefix: strings.TrimRight(prefix, "/"), h: h, public: true})
}

// ServeHTTP routes a management request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("management: panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			apierror.Write(w, apierror.New(http.StatusInternalServerError, "InternalError", "The request failed because of an internal error."))
		}
	}()
	path := r.URL.Path
	switch path {
	case "/health":
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	case "/ready":
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.opts.Store.Ping(ctx); err != nil {
			s.log.Warn("management: store not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "store unreachable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return
	}
	for _, m := range s.mounts {
		if m.public && (path == m.prefix || strings.HasPrefix(path, m.prefix+"/")) {
			m.h.ServeHTTP(w, r)
			return
		}
	}
	canWrite, who, err := s.authenticate(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate-management"`)
		apierror.Write(w, err)
		return
	}
	readOnly := r.Method == http.MethodGet || r.Method == http.MethodHead
	if !readOnly && !canWrite {
		apierror.Write(w, apierror.New(http.StatusForbidden, "Forbidden", "The credential may only read; %s needs the %s role.", r.Method, RoleReadWrite))
		return
	}
	who.remote = remoteHost(r)
	r = r.WithContext(withActor(r.Context(), who))
	if path == "/kinds" && readOnly {
		s.serveKinds(w)
		return
	}
	if path == "/auditLog" {
		if !readOnly {
			methodNotAllowed(w, "GET")
			return
		}
		s.serveAudit(w, r)
		return
	}
	if len(path) > 1 && strings.HasSuffix(path, "/") {
		path = strings.TrimRight(path, "/")
	}
	if s.isResourcePath(path) {
		s.serveResource(w, r, path)
		return
	}
	if seg, ok := s.opts.Registry.InvalidName(path); ok {
		apierror.Write(w, apierror.New(http.StatusBadRequest, "InvalidName",
			"%q in %s is not a valid name: names are 1 to 80 characters, letters, digits, '-', '.', '_' and '~', starting with a letter or digit.", seg, path))
		return
	}
	for _, m := range s.mounts {
		if path == m.prefix || strings.HasPrefix(path, m.prefix+"/") {
			if readOnly {
				m.h.ServeHTTP(w, r)
			} else {
				s.serveAudited(w, r, m.h, m.prefix, path)
			}
			return
		}
	}
	apierror.Write(w, apierror.New(http.StatusNotFound, "NotFound", "No resource or collection at %s.", path))
}

// isResourcePath reports whether path is an item, a collection or an item's
// action; resources take precedence over mounted routes.
func (s *Server) isResourcePath(path string) bool {
	reg := s.opts.Registry
	if _, _, ok := reg.Resolve(path); ok {
		return true
	}
	if _, _, ok := reg.ResolveCollection(path); ok {
		return true
	}
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		_, _, ok := reg.Resolve(path[:i])
		return ok
	}
	return false
}

func (s *Server) authenticate(r *http.Request) (canWrite bool, who actor, err error) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return false, who, apierror.New(http.StatusUnauthorized, "Unauthorized", "Missing credential: send Authorization: Bearer <admin key or access token>.")
	}
	cred = strings.TrimSpace(cred)
	if s.opts.AdminKey != "" && subtle.ConstantTimeCompare([]byte(cred), []byte(s.opts.AdminKey)) == 1 {
		return true, actor{name: "admin"}, nil
	}
	if s.opts.Tokens != nil && strings.Count(cred, ".") == 2 {
		roles, err := s.opts.Tokens.VerifyManagementToken(r.Context(), cred)
		if err == nil {
			who.name, who.app = tokenActor(cred)
			for _, role := range roles {
				if role == RoleReadWrite {
					return true, who, nil
				}
			}
			for _, role := range roles {
				if role == RoleRead {
					return false, who, nil
				}
			}
			return false, who, apierror.New(http.StatusForbidden, "Forbidden", "The access token carries neither %s nor %s.", RoleReadWrite, RoleRead)
		}
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			// The database did not answer: 503, not a refused credential.
			return false, who, fmt.Errorf("verify management token: %w", errors.Join(store.ErrUnavailable, err))
		}
		s.log.Info("management: token refused", "reason", err.Error())
	}
	return false, who, apierror.New(http.StatusUnauthorized, "Unauthorized", "Invalid credential.")
}

func (s *Server) serveKinds(w http.ResponseWriter) {
	type kindInfo struct {
		Name      string   `json:"name"`
		Pattern   string   `json:"pattern"`
		ApplyKind string   `json:"applyKind"`
		Secrets   []string `json:"secrets,omitempty"`
		ReadOnly  []string `json:"readOnly,omitempty"`
		BuiltIn   []string `json:"builtIn,omitempty"`
	}
	var out []kindInfo
	for _, k := range s.opts.Registry.Kinds() {
		out = append(out, kindInfo{Name: k.Name, Pattern: k.Pattern, ApplyKind: k.ApplyKind, Secrets: k.Secrets, ReadOnly: k.ReadOnly, BuiltIn: k.BuiltIn})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out, "count": len(out)})
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, path string) {
	reg := s.opts.Registry
	if k, _, ok := reg.Resolve(path); ok {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			if e, ok := r.URL.Query()["export"]; ok && k.Name == "apis" {
				if len(e) != 1 || e[0] != "openapi" {
					apierror.Write(w, apierror.New(http.StatusBadRequest, "InvalidExport", "export must be openapi."))
					return
				}
				s.exportOpenAPI(w, r, path)
				return
			}
			s.get(w, r, k, path)
		case http.MethodPut:
			s.write(w, r, k, path, false)
		case http.MethodPatch:
			s.write(w, r, k, path, true)
		case http.MethodDelete:
			s.serveDelete(w, r, k, path)
		default:
			methodNotAllowed(w, "GET, PUT, PATCH, DELETE")
		}
		return
	}
	if k, parent, ok := reg.ResolveCollection(path); ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		s.list(w, r, k, parent)
		return
	}
	if i := strings.LastIndexByte(path, '/'); i > 0 && r.Method == http.MethodPost {
		if k, _, ok := reg.Resolve(path[:i]); ok {
			s.action(w, r, k, path[:i], path[i+1:])
			return
		}
	}
	if _, _, ok := reg.ResolveCollection(path); ok {
		methodNotAllowed(w, "GET")
		return
	}
	apierror.Write(w, apierror.New(http.StatusNotFound, "NotFound", "No resource or collection at %s.", path))
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	apierror.Write(w, apierror.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "Allowed methods: %s.", allow))
}

// decodeRecord turns a stored record into its resource, secrets sealed.
func decodeRecord(k *resource.Kind, rec store.Record) (resource.Resource, error) {
	res := k.New()
	if err := json.Unmarshal(rec.Body, res); err != nil {
		return nil, fmt.Errorf("decode %s: %w", rec.ID, err)
	}
	resource.SetMeta(res, rec.ID)
	return res, nil
}

// secretFields are a resource's write-only fields: the kind's Secrets,
// narrowed by the resource itself when it implements SecretFields (a named
// value is secret only when marked so).
func secretFields(k *resource.Kind, res resource.Resource) []string {
	if sf, ok := res.(interface{ SecretFields() []string }); ok {
		return sf.SecretFields()
	}
	return k.Secrets
}

// represent returns the JSON callers see: secrets and hidden fields removed.
func represent(k *resource.Kind, res resource.Resource) ([]byte, error) {
	c := reflect.New(reflect.TypeOf(res).Elem())
	c.Elem().Set(reflect.ValueOf(res).Elem())
	out := c.Interface().(resource.Resource)
	for _, name := range append(append([]string(nil), secretFields(k, out)...), k.Hidden...) {
		if f := field(out, name); f.IsValid() {
			f.Set(reflect.Zero(f.Type()))
		}
	}
	return json.Marshal(out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, k *resource.Kind, id string) {
	conds, err := parseConditions(r.Header)
	if err != nil {
		s.fail(w, r, err, id)
		return
	}
	rec, err := s.lookup(r.Context(), s.opts.Store, id)
	if err != nil {
		// A missing item is 404 whatever the preconditions (RFC 9110
		// §13.2.1: they apply only where the answer would be 2xx).
		s.fail(w, r, err, id)
		return
	}
	if conds.present() {
		err := conds.check(id, true, rec.ETag, true)
		if err == errNotModified {
			w.Header().Set("ETag", `"`+rec.ETag+`"`)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if err != nil {
			s.fail(w, r, err, id)
			return
		}
	}
	s.writeRecord(w, r, k, rec, http.StatusOK)
}

func (s *Server) writeRecord(w http.ResponseWriter, r *http.Request, k *resource.Kind, rec store.Record, status int) {
	res, err := decodeRecord(k, rec)
	if err != nil {
		s.fail(w, r, err, rec.ID)
		return
	}
	if v := s.hooks[k.Name].View; v != nil {
		v(r.Context(), rec.ID, res)
	}
	body, err := represent(k, res)
	if err != nil {
		s.fail(w, r, err, rec.ID)
		return
	}
	w.Header().Set("ETag", `"`+rec.ETag+`"`)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
		w.Write([]byte("\n"))
	}
}

// fail answers an error from a handler: API errors as they are, store
// errors mapped, anything else logged and hidden behind a 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, id string) {
	var ae *apierror.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &mbe):
		err = apierror.New(http.StatusRequestEntityTooLarge, "RequestTooLarge", "The request body is larger than %d bytes.", MaxBody)
	case errors.Is(err, store.ErrUnavailable):
		s.log.Warn("management: database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		err = apierror.New(http.StatusServiceUnavailable, "ServiceUnavailable", "The configuration database is not reachable or did not answer in time; retry after %d seconds.", retryAfterSeconds)
	case errors.Is(err, store.ErrNotFound):
		err = apierror.NotFound(id)
	case errors.Is(err, store.ErrConflict) && (r.Header.Get("If-Match") != "" || r.Header.Get("If-None-Match") != ""):
		err = apierror.New(http.StatusPreconditionFailed, "PreconditionFailed", "%s was changed concurrently, so If-Match or If-None-Match no longer holds.", id)
	case errors.Is(err, store.ErrConflict):
		err = apierror.New(http.StatusConflict, "Conflict", "%s was changed concurrently; retry.", id)
	default:
		s.log.Error("management: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	apierror.Write(w, err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
}
