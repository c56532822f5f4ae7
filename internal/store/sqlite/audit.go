package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

// Audit writes an audit entry in the Update's transaction; see store.AuditTx.
func (t *txn) Audit(ctx context.Context, e store.AuditEntry) error {
	return insertAudit(ctx, t.tx, e, `?`, t.next)
}

// AppendAudit writes an entry outside Update; see store.AuditLog.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) error {
	return insertAudit(ctx, s.w, e, `(SELECT version FROM config_version)`, nil)
}

// insertAudit writes e with the version the SQL expression version gives
// (a ? placeholder is bound to arg).
func insertAudit(ctx context.Context, q querier, e store.AuditEntry, version string, arg any) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	args := []any{e.Time.UTC().UnixMicro(), e.Actor, e.App, e.Kind, e.Path, e.Action, e.Remote, nullBytes(e.Before), nullBytes(e.After)}
	if arg != nil {
		args = append(args, arg)
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO audit_log (at, actor, app, kind, path, action, remote, before, after, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, `+version+`)`, args...); err != nil {
		return fmt.Errorf("audit %s %s: %w", e.Action, e.Path, err)
	}
	return nil
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// AuditEntries returns audit entries ordered by ID; see store.AuditLog.
func (s *Store) AuditEntries(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	var where []string
	args := []any{}
	if q.AfterID > 0 {
		where = append(where, "id > ?")
		args = append(args, q.AfterID)
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, q.Since.UTC().UnixMicro())
	}
	if !q.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, q.Until.UTC().UnixMicro())
	}
	query := `SELECT id, at, actor, app, kind, path, action, remote, version, before, after FROM audit_log`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id LIMIT ?"
	args = append(args, q.AuditLimit())
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var at int64
		var before, after []byte
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.App, &e.Kind, &e.Path, &e.Action, &e.Remote, &e.Version, &before, &after); err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		e.Time = time.UnixMicro(at).UTC()
		e.Before, e.After = before, after
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}

// PruneAudit removes entries older than before; see store.AuditLog.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM audit_log WHERE at < ?`, before.UTC().UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", err)
	}
	return n, nil
}
