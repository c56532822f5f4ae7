package management

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// auditTimeFormat is how entry times are compared by $filter: fixed width,
// so that string order is time order.
const auditTimeFormat = "2006-01-02T15:04:05.000000Z"

// actor is who makes a management request, carried in its context.
type actor struct {
	name, app, remote string
}

type actorKey struct{}

func withActor(ctx context.Context, a actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// WithActor names who an in-process caller of the Server (Put, Act, ...)
// acts for, as authenticate does for a management request: the audit log
// records name (a user id), app (the calling component) and remote (the
// client address). Without it, in-process changes are recorded as made by
// "system".
func WithActor(ctx context.Context, name, app, remote string) context.Context {
	return withActor(ctx, actor{name: name, app: app, remote: remote})
}

func actorOf(ctx context.Context) actor {
	if a, ok := ctx.Value(actorKey{}).(actor); ok {
		return a
	}
	return actor{name: "system"}
}

// tokenActor names the caller of a verified access token: its subject and
// the application it was issued to. The token was verified already; this
// only reads its payload.
func tokenActor(raw string) (name, app string) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "token", ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "token", ""
	}
	var c struct {
		Sub      string `json:"sub"`
		Oid      string `json:"oid"`
		Azp      string `json:"azp"`
		AppID    string `json:"appid"`
		ClientID string `json:"client_id"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return "token", ""
	}
	name = c.Sub
	if name == "" {
		name = c.Oid
	}
	if name == "" {
		name = "token"
	}
	for _, a := range []string{c.Azp, c.AppID, c.ClientID} {
		if a != "" {
			return name, a
		}
	}
	return name, ""
}

func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// audit records a change in tx: before and after are the resource as
// callers see it (secrets and hidden fields removed); nil when absent.
func (s *Server) audit(ctx context.Context, tx store.Tx, k *resource.Kind, id, action string, before, after resource.Resource) error {
	a := actorOf(ctx)
	e := store.AuditEntry{Time: s.opts.Now(), Actor: a.name, App: a.app, Remote: a.remote, Kind: k.Name, Path: id, Action: action}
	var err error
	if before != nil {
		if e.Before, err = represent(k, before); err != nil {
			return fmt.Errorf("audit %s: %w", id, err)
		}
	}
	if after != nil {
		if e.After, err = represent(k, after); err != nil {
			return fmt.Errorf("audit %s: %w", id, err)
		}
	}
	return store.Audit(ctx, tx, e)
}

// serveAudited runs a mounted route that may change something (the
// directory's signing-key rotation) and records the change when the route
// succeeded, before the answer is sent: a change is acknowledged only with
// its record. The mounted package writes in its own transaction, so the
// record follows it; if the record cannot be written the caller gets 503
// and the log says the change was made.
func (s *Server) serveAudited(w http.ResponseWriter, r *http.Request, h http.Handler, prefix, path string) {
	buf := &bufferedResponse{header: http.Header{}}
	h.ServeHTTP(buf, r)
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	if buf.status < 300 {
		if log, ok := store.AuditLogOf(s.opts.Store); ok {
			a := actorOf(r.Context())
			action := strings.ToLower(r.Method)
			switch r.Method {
			case http.MethodPost:
				action = path[strings.LastIndexByte(path, '/')+1:]
			case http.MethodPut, http.MethodPatch:
				action = "update"
			}
			e := store.AuditEntry{Time: s.opts.Now(), Actor: a.name, App: a.app, Remote: a.remote, Kind: strings.TrimPrefix(prefix, "/"), Path: path, Action: action}
			if err := log.AppendAudit(r.Context(), e); err != nil {
				s.log.Error("management: change made but its audit record failed", "method", r.Method, "path", path, "err", err)
				w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
				apierror.Write(w, apierror.New(http.StatusServiceUnavailable, "ServiceUnavailable", "%s was done, but its audit record could not be written; check before retrying.", path))
				return
			}
		}
	}
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	w.WriteHeader(buf.status)
	w.Write(buf.body.Bytes())
}

// bufferedResponse holds a mounted route's answer until its change is
// recorded.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// PruneAudit removes audit entries older than the retention. A retention
// of zero keeps everything.
func (s *Server) PruneAudit(ctx context.Context) (int64, error) {
	if s.opts.AuditRetention <= 0 {
		return 0, nil
	}
	log, ok := store.AuditLogOf(s.opts.Store)
	if !ok {
		return 0, nil
	}
	return log.PruneAudit(ctx, s.opts.Now().Add(-s.opts.AuditRetention))
}

// RunAuditRetention prunes the audit log now and then every interval
// until ctx ends.
func (s *Server) RunAuditRetention(ctx context.Context, every time.Duration) {
	if s.opts.AuditRetention <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.PruneAudit(ctx); err != nil {
			s.log.Warn("management: audit log retention", "err", err)
		} else if n > 0 {
			s.log.Info("management: pruned audit log", "entries", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// auditView is an entry as GET /auditLog shows it and $filter sees it.
func auditView(e store.AuditEntry) map[string]any {
	m := map[string]any{
		"id": strconv.FormatInt(e.ID, 10), "time": e.Time.UTC().Format(auditTimeFormat), "actor": e.Actor, "app": e.App,
		"kind": e.Kind, "path": e.Path, "action": e.Action, "remote": e.Remote, "version": float64(e.Version),
	}
	if e.Before != nil {
		m["before"] = e.Before
	}
	if e.After != nil {
		m["after"] = e.After
	}
	return m
}

// normalizeTimes rewrites every comparison with time to the entries' time
// format, so that string order is time order.
func normalizeTimes(e *filterExpr) error {
	if e == nil {
		return nil
	}
	if e.op == "cmp" && fieldName(e.field) == "time" {
		s, ok := e.value.(string)
		if !ok {
			return fmt.Errorf("time must be compared with an RFC 3339 string")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("time %q is not RFC 3339 (2006-01-02T15:04:05Z)", s)
		}
		e.value = t.UTC().Format(auditTimeFormat)
	}
	if err := normalizeTimes(e.left); err != nil {
		return err
	}
	return normalizeTimes(e.right)
}

// serveAudit answers GET /auditLog: entries oldest first, paged with $top
// and $skiptoken, selected with $filter over time, actor, app, kind, path,
// action and remote; format=jsonl streams every match as JSON lines.
func (s *Server) serveAudit(w http.ResponseWriter, r *http.Request) {
	log, ok := store.AuditLogOf(s.opts.Store)
	if !ok {
		apierror.Write(w, apierror.New(http.StatusNotImplemented, "NotImplemented", "This store keeps no audit log."))
		return
	}
	q := r.URL.Query()
	var errs resource.Errors
	top := parseTop(q, &errs)
	var after int64
	if v := q.Get("$skiptoken"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errs.Add("$skiptoken", "must be the token a nextLink carries")
		}
		after = n
	}
	var filter *filterExpr
	if v := q.Get("$filter"); v != "" {
		f, err := parseFilter(v)
		if err == nil {
			err = normalizeTimes(f)
		}
		if err != nil {
			errs.Add("$filter", "%s", err.Error())
		}
		filter = f
	}
	jsonl := false
	switch q.Get("format") {
	case "", "json":
	case "jsonl":
		jsonl = true
	default:
		errs.Add("format", "must be json or jsonl")
	}
	if len(errs) > 0 {
		apierror.Write(w, apierror.Validation(errs))
		return
	}
	var items []map[string]any
	var enc *json.Encoder
	if jsonl {
		w.Header().Set("Content-Type", "application/jsonl; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="tollgate-audit.jsonl"`)
		enc = json.NewEncoder(w)
	}
	more := false
	for {
		batch, err := log.AuditEntries(r.Context(), store.AuditQuery{AfterID: after, Limit: store.DefaultAuditLimit})
		if err != nil {
			if enc != nil && after > 0 {
				s.log.Error("management: audit export interrupted", "err", err)
				return
			}
			s.fail(w, r, err, "/auditLog")
			return
		}
		for _, e := range batch {
			after = e.ID
			v := auditView(e)
			if filter != nil && !filter.match(v) {
				continue
			}
			if enc != nil {
				if err := enc.Encode(v); err != nil {
					return // the client went away
				}
				continue
			}
			if len(items) == top {
				more = true
				break
			}
			items = append(items, v)
		}
		if more || len(batch) < store.DefaultAuditLimit {
			break
		}
	}
	if enc != nil {
		return
	}
	if items == nil {
		items = []map[string]any{}
	}
	out := map[string]any{"value": items, "count": len(items)}
	if more {
		last, _ := strconv.ParseInt(items[len(items)-1]["id"].(string), 10, 64)
		nq := url.Values{}
		for key, v := range q {
			nq[key] = v
		}
		nq.Set("$skiptoken", strconv.FormatInt(last, 10))
		nq.Set("$top", strconv.Itoa(top))
		out["nextLink"] = "/auditLog?" + nq.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}
