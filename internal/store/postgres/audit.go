package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/internal/store"
)

// Audit writes an audit entry in the Update's transaction; see store.AuditTx.
func (t *txn) Audit(ctx context.Context, e store.AuditEntry) error {
	return insertAudit(ctx, t.tx, e, `$10`, t.next)
}

// AppendAudit writes an entry outside Update; see store.AuditLog.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) error {
	return insertAudit(ctx, s.pool, e, `(SELECT version FROM config_version)`, nil)
}

// insertAudit writes e with the version the SQL expression version gives
// ($10, bound to arg, or a subquery).
func insertAudit(ctx context.Context, q querier, e store.AuditEntry, version string, arg any) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	args := []any{e.Time.UTC().Truncate(time.Microsecond), e.Actor, e.App, e.Kind, e.Path, e.Action, e.Remote, nullBytes(e.Before), nullBytes(e.After)}
	if arg != nil {
		args = append(args, arg)
	}
	if _, err := q.Exec(ctx, `INSERT INTO audit_log (at, actor, app, kind, path, action, remote, before, after, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, `+version+`)`, args...); err != nil {
		return fmt.Errorf("audit %s %s: %w", e.Action, e.Path, err)
	}
	return nil
}

func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// AuditEntries returns audit entries ordered by ID; see store.AuditLog.
func (s *Store) AuditEntries(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.AfterID > 0 {
		where = append(where, "id > "+arg(q.AfterID))
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= "+arg(q.Since.UTC()))
	}
	if !q.Until.IsZero() {
		where = append(where, "at < "+arg(q.Until.UTC()))
	}
	query := `SELECT id, at, actor, app, kind, path, action, remote, version, before, after FROM audit_log`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id LIMIT " + arg(q.AuditLimit())
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.AuditEntry, error) {
		var e store.AuditEntry
		var before, after []byte
		if err := row.Scan(&e.ID, &e.Time, &e.Actor, &e.App, &e.Kind, &e.Path, &e.Action, &e.Remote, &e.Version, &before, &after); err != nil {
			return e, err
		}
		e.Time = e.Time.UTC()
		e.Before, e.After = before, after
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}

// PruneAudit removes entries older than before; see store.AuditLog.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM audit_log WHERE at < $1`, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", err)
	}
	return tag.RowsAffected(), nil
}
