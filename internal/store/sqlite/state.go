package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

// stateStore is the store.StateStore of a Store. Reads use the read pool,
// writes the single writer connection, which makes Take and
// CompareAndSwap atomic without further locking.
type stateStore struct{ s *Store }

// live and expired are the conditions on a record at the named parameter
// now (Unix microseconds).
const (
	live    = `(expires_at IS NULL OR expires_at > :now)`
	expired = `(state_records.expires_at IS NOT NULL AND state_records.expires_at <= :now)`
)

// expiresArg is the stored form of an expiry: NULL for never.
func expiresArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func scanState(row scanner) (store.StateRecord, error) {
	var rec store.StateRecord
	var expires sql.NullInt64
	if err := row.Scan(&rec.Key, &rec.Value, &expires); err != nil {
		return store.StateRecord{}, err
	}
	if expires.Valid {
		rec.Expires = time.UnixMicro(expires.Int64).UTC()
	}
	return rec, nil
}

func now() sql.NamedArg { return sql.Named("now", time.Now().UnixMicro()) }

func value(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (st stateStore) Get(ctx context.Context, key string) (store.StateRecord, error) {
	rec, err := scanState(st.s.r.QueryRowContext(ctx,
		`SELECT key, value, expires_at FROM state_records WHERE key = :key AND `+live,
		sql.Named("key", key), now()))
	if errors.Is(err, sql.ErrNoRows) {
		return store.StateRecord{}, fmt.Errorf("state %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("get state %q: %w", key, err)
	}
	return rec, nil
}

func (st stateStore) Put(ctx context.Context, rec store.StateRecord) error {
	if _, err := st.s.w.ExecContext(ctx, `INSERT INTO state_records (key, value, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
		rec.Key, value(rec.Value), expiresArg(rec.Expires)); err != nil {
		return fmt.Errorf("put state %q: %w", rec.Key, err)
	}
	return nil
}

// Create inserts, or replaces an expired record: an expired lease does not
// block a new one.
func (st stateStore) Create(ctx context.Context, rec store.StateRecord) error {
	res, err := st.s.w.ExecContext(ctx, `INSERT INTO state_records (key, value, expires_at) VALUES (:key, :value, :expires)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
		WHERE `+expired,
		sql.Named("key", rec.Key), sql.Named("value", value(rec.Value)), sql.Named("expires", expiresArg(rec.Expires)), now())
	if err != nil {
		return fmt.Errorf("create state %q: %w", rec.Key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("create state %q: %w", rec.Key, err)
	} else if n == 0 {
		return fmt.Errorf("create state %q: it exists: %w", rec.Key, store.ErrConflict)
	}
	return nil
}

func (st stateStore) CompareAndSwap(ctx context.Context, key string, old []byte, rec store.StateRecord) error {
	// A transaction on the writer, so the "absent or different?" question
	// after a failed swap is answered about the same state.
	tx, err := st.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("compare and swap state %q: %w", key, err)
	}
	defer tx.Rollback()
	var current []byte
	err = tx.QueryRowContext(ctx, `SELECT value FROM state_records WHERE key = :key AND `+live,
		sql.Named("key", key), now()).Scan(&current)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("compare and swap state %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("compare and swap state %q: %w", key, err)
	}
	if !bytes.Equal(current, old) {
		return fmt.Errorf("compare and swap state %q: value changed: %w", key, store.ErrConflict)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE state_records SET value = ?, expires_at = ? WHERE key = ?`,
		value(rec.Value), expiresArg(rec.Expires), key); err != nil {
		return fmt.Errorf("compare and swap state %q: %w", key, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("compare and swap state %q: %w", key, err)
	}
	return nil
}

func (st stateStore) Take(ctx context.Context, key string) (store.StateRecord, error) {
	rec, err := scanState(st.s.w.QueryRowContext(ctx,
		`DELETE FROM state_records WHERE key = :key AND `+live+` RETURNING key, value, expires_at`,
		sql.Named("key", key), now()))
	if errors.Is(err, sql.ErrNoRows) {
		return store.StateRecord{}, fmt.Errorf("take state %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("take state %q: %w", key, err)
	}
	return rec, nil
}

func (st stateStore) Delete(ctx context.Context, key string) error {
	res, err := st.s.w.ExecContext(ctx, `DELETE FROM state_records WHERE key = :key AND `+live,
		sql.Named("key", key), now())
	if err != nil {
		return fmt.Errorf("delete state %q: %w", key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete state %q: %w", key, err)
	} else if n == 0 {
		return fmt.Errorf("delete state %q: %w", key, store.ErrNotFound)
	}
	return nil
}

func (st stateStore) List(ctx context.Context, prefix string) ([]store.StateRecord, error) {
	rows, err := st.s.r.QueryContext(ctx, `SELECT key, value, expires_at FROM state_records
		WHERE substr(key, 1, length(:prefix)) = :prefix AND `+live+` ORDER BY key`,
		sql.Named("prefix", prefix), now())
	if err != nil {
		return nil, fmt.Errorf("list state %q: %w", prefix, err)
	}
	defer rows.Close()
	var recs []store.StateRecord
	for rows.Next() {
		rec, err := scanState(rows)
		if err != nil {
			return nil, fmt.Errorf("list state %q: %w", prefix, err)
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list state %q: %w", prefix, err)
	}
	return recs, nil
}

func (st stateStore) Sweep(ctx context.Context) error {
	if _, err := st.s.w.ExecContext(ctx, `DELETE FROM state_records WHERE `+expired, now()); err != nil {
		return fmt.Errorf("sweep state: %w", err)
	}
	return nil
}
