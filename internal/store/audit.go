package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// AuditEntry is one management change: who made it, what it changed, when
// and from where, with the resource as it was before and after (secrets
// already removed by the caller).
type AuditEntry struct {
	// ID orders entries; the backend assigns it.
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	// Actor is "admin" for the admin key, the token's subject for an
	// access token, "system" for changes Tollgate makes itself.
	Actor string `json:"actor"`
	// App is the client (application) the access token was issued to.
	App string `json:"app,omitempty"`
	// Kind is the resource kind ("apis", "apis/operations").
	Kind string `json:"kind"`
	// Path is the resource's path ("/apis/echo").
	Path string `json:"path"`
	// Action is "create", "update", "delete", or the name of a POST action
	// ("addPassword").
	Action string `json:"action"`
	// Remote is the client's address.
	Remote string `json:"remote,omitempty"`
	// Version is the configuration version the change committed as.
	Version int64           `json:"version"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
}

// AuditTx is implemented by the Tx of backends that keep an audit log: the
// entry is written in the same transaction as the change, so a committed
// change always has its entry and a rolled-back one never does.
type AuditTx interface {
	Audit(ctx context.Context, e AuditEntry) error
}

// AuditQuery selects audit entries. Zero fields do not restrict.
type AuditQuery struct {
	// Since and Until bound Time (Since inclusive, Until exclusive).
	Since, Until time.Time
	// AfterID returns only entries with a larger ID (paging).
	AfterID int64
	// Limit caps the number returned (ordered by ID); 0 means 1000.
	Limit int
}

// AuditLog is implemented by stores that keep an audit log.
type AuditLog interface {
	AuditEntries(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
	// PruneAudit removes the entries older than before and reports how
	// many it removed.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
	// AppendAudit writes an entry on its own, for changes made outside
	// Update (by routes other packages mount); Version is the current
	// configuration version.
	AppendAudit(ctx context.Context, e AuditEntry) error
}

// DefaultAuditLimit is AuditQuery's Limit when it is zero.
const DefaultAuditLimit = 1000

// AuditLimit is q.Limit with its default applied.
func (q AuditQuery) AuditLimit() int {
	if q.Limit <= 0 {
		return DefaultAuditLimit
	}
	return q.Limit
}

// Audit writes e in tx when the backend keeps an audit log, and fails
// otherwise: a change must not be acknowledged without its record.
func Audit(ctx context.Context, tx Tx, e AuditEntry) error {
	a, ok := tx.(AuditTx)
	if !ok {
		return fmt.Errorf("audit %s %s: this store keeps no audit log", e.Action, e.Path)
	}
	return a.Audit(ctx, e)
}

// AuditLogOf returns st's audit log, if its backend keeps one.
// Through WithDeadline, its calls get the same deadline as the store's.
func AuditLogOf(st Store) (AuditLog, bool) {
	if b, ok := st.(*bounded); ok {
		a, ok := b.Store.(AuditLog)
		if !ok {
			return nil, false
		}
		return boundedAudit{a, b.timeout}, true
	}
	a, ok := st.(AuditLog)
	return a, ok
}

type boundedAudit struct {
	a       AuditLog
	timeout time.Duration
}

func (b boundedAudit) AuditEntries(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	return call(ctx, bulkFactor*b.timeout, func(ctx context.Context) ([]AuditEntry, error) { return b.a.AuditEntries(ctx, q) })
}

func (b boundedAudit) AppendAudit(ctx context.Context, e AuditEntry) error {
	_, err := call(ctx, b.timeout, func(ctx context.Context) (struct{}, error) { return struct{}{}, b.a.AppendAudit(ctx, e) })
	return err
}

func (b boundedAudit) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	return call(ctx, bulkFactor*b.timeout, func(ctx context.Context) (int64, error) { return b.a.PruneAudit(ctx, before) })
}
