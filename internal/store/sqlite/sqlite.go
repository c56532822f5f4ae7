// Package sqlite is the embedded store.Store backend: one SQLite file in WAL
// mode, used by exactly one Tollgate process at a time.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/tollgate/tollgate/internal/store"
)

// ErrInUse is wrapped by Open's error when another Tollgate process (or
// another Open in this one) already has the database.
var ErrInUse = errors.New("database in use")

type inUseError struct{ path, lock string }

func (e *inUseError) Error() string {
	return fmt.Sprintf("database %s is in use by another Tollgate process (lock file %s)", e.path, e.lock)
}

func (e *inUseError) Unwrap() error { return ErrInUse }

// Store is a store.Store on one SQLite file.
type Store struct {
	path string
	lock *os.File
	// w has a single connection and begins transactions IMMEDIATE: all
	// writes queue for it in Go, so two writers never race for SQLite's
	// lock and an Update's reads and writes are serialized with every
	// other write.
	w *sql.DB
	// r is a pool of read-only connections; WAL lets them read while w
	// writes.
	r   *sql.DB
	hub *store.Hub
	log *slog.Logger

	pollEvery time.Duration
	// retain is how many versions of deletions Since can answer for.
	retain    int64
	stopPoll  context.CancelFunc
	polled    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Option configures Open.
type Option func(*Store)

// WithLogger sets the logger for background problems (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithPollInterval sets how often the version is re-read so that writes by
// another process on the file reach Changes (default one second).
func WithPollInterval(d time.Duration) Option { return func(s *Store) { s.pollEvery = d } }

// WithRetainedVersions sets how many configuration versions back Since can
// answer (default store.DefaultRetainedVersions); older tombstones are
// pruned.
func WithRetainedVersions(n int64) Option { return func(s *Store) { s.retain = max(n, 1) } }

// Open opens (creating if needed) the database file at path, applies
// migrations and holds an exclusive lock on path+".lock" until Close.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	s := &Store{path: path, log: slog.Default(), pollEvery: time.Second, retain: store.DefaultRetainedVersions}
	for _, o := range opts {
		o(s)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := secureFiles(abs, s.log); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	lockPath := path + ".lock"
	s.lock, err = lockFile(lockPath)
	if errors.Is(err, errLockHeld) {
		return nil, &inUseError{path: path, lock: lockPath}
	}
	if err != nil {
		return nil, fmt.Errorf("open database %s: lock: %w", path, err)
	}

	ok := false
	defer func() {
		if !ok {
			s.closeDBs()
		}
	}()
	s.w, err = sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, s.w); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s.r, err = sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s.r.SetMaxOpenConns(4)
	s.r.SetMaxIdleConns(4)
	v, err := s.Version(ctx)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s.hub = store.NewHub(v)
	pctx, cancel := context.WithCancel(context.Background())
	s.stopPoll, s.polled = cancel, make(chan struct{})
	go s.poll(pctx)
	ok = true
	return s, nil
}

// dsn builds a file: URI, so that any byte in the path is escaped rather
// than read as the start of driver parameters.
func dsn(abs string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}).String()
}

// poll notices versions written by another process on the same file (an
// admin tool, a restore), which in-process notification cannot see.
func (s *Store) poll(ctx context.Context) {
	defer close(s.polled)
	t := time.NewTicker(s.pollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := s.Version(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("poll configuration version", "database", s.path, "err", err)
			}
			continue
		}
		s.hub.Publish(v)
	}
}

// Close stops background work, closes the database and releases the lock.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopPoll()
		<-s.polled
		s.hub.Close()
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		// Closing the last connection checkpoints the WAL; release the
		// lock only after that.
		errs = append(errs, s.w.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database %s: %w", s.path, err)
	}
	return nil
}

// Ping checks that the database file can be read.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.Version(ctx); err != nil {
		return fmt.Errorf("ping database %s: %w", s.path, err)
	}
	return nil
}

// Version returns the current configuration version.
func (s *Store) Version(ctx context.Context) (int64, error) {
	var v int64
	if err := s.r.QueryRowContext(ctx, `SELECT version FROM config_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read configuration version: %w", err)
	}
	return v, nil
}

// Changes delivers versions written after the call until ctx ends or the
// Store is closed; then the channel is closed.
func (s *Store) Changes(ctx context.Context) <-chan int64 { return s.hub.Subscribe(ctx) }

// State returns the runtime state records.
func (s *Store) State() store.StateStore { return stateStore{s} }

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const recordColumns = `id, kind, parent, body, etag, version, updated`

type scanner interface{ Scan(dest ...any) error }

func scanRecord(row scanner) (store.Record, error) {
	var rec store.Record
	var updated int64
	if err := row.Scan(&rec.ID, &rec.Kind, &rec.Parent, &rec.Body, &rec.ETag, &rec.Version, &updated); err != nil {
		return store.Record{}, err
	}
	rec.Updated = time.UnixMicro(updated).UTC()
	return rec, nil
}

func getRecord(ctx context.Context, q querier, id string) (store.Record, error) {
	rec, err := scanRecord(q.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM config_records WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, fmt.Errorf("record %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("get record %q: %w", id, err)
	}
	return rec, nil
}

func listRecords(ctx context.Context, q querier, kind, parent string) ([]store.Record, error) {
	query := `SELECT ` + recordColumns + ` FROM config_records WHERE kind = ? ORDER BY id`
	args := []any{kind}
	if parent != "" {
		query = `SELECT ` + recordColumns + ` FROM config_records WHERE kind = ? AND parent = ? ORDER BY id`
		args = append(args, parent)
	}
	recs, err := queryRecords(ctx, q, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list %q under %q: %w", kind, parent, err)
	}
	return recs, nil
}

func queryRecords(ctx context.Context, q querier, query string, args ...any) ([]store.Record, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var recs []store.Record
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, rows.Err()
}

// Get returns the committed record with the given ID.
func (s *Store) Get(ctx context.Context, id string) (store.Record, error) {
	return getRecord(ctx, s.r, id)
}

// List returns the committed records of one kind (under parent if non-empty),
// ordered by ID.
func (s *Store) List(ctx context.Context, kind, parent string) ([]store.Record, error) {
	return listRecords(ctx, s.r, kind, parent)
}

// All returns every record and the version they form, from one read
// transaction (a WAL snapshot).
func (s *Store) All(ctx context.Context) ([]store.Record, int64, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("read all records: %w", err)
	}
	defer tx.Rollback()
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT version FROM config_version`).Scan(&v); err != nil {
		return nil, 0, fmt.Errorf("read all records: version: %w", err)
	}
	recs, err := queryRecords(ctx, tx, `SELECT `+recordColumns+` FROM config_records ORDER BY id`)
	if err != nil {
		return nil, 0, fmt.Errorf("read all records: %w", err)
	}
	return recs, v, nil
}

// Since returns what changed after version; see store.Store. It reads from
// one read transaction (a WAL snapshot).
func (s *Store) Since(ctx context.Context, version int64) ([]store.Record, []string, int64, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read changes since version %d: %w", version, err)
	}
	defer tx.Rollback()
	var current, horizon int64
	if err := tx.QueryRowContext(ctx, `SELECT version, horizon FROM config_version`).Scan(&current, &horizon); err != nil {
		return nil, nil, 0, fmt.Errorf("read changes since version %d: version: %w", version, err)
	}
	if version < horizon || version > current {
		return nil, nil, current, fmt.Errorf("read changes since version %d (history %d to %d): %w", version, horizon, current, store.ErrTooOld)
	}
	recs, err := queryRecords(ctx, tx, `SELECT `+recordColumns+` FROM config_records WHERE version > ? ORDER BY id`, version)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read changes since version %d: %w", version, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM config_tombstones WHERE version > ? ORDER BY id`, version)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read deletions since version %d: %w", version, err)
	}
	defer rows.Close()
	var deleted []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, nil, 0, fmt.Errorf("read deletions since version %d: %w", version, err)
		}
		deleted = append(deleted, id)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, 0, fmt.Errorf("read deletions since version %d: %w", version, err)
	}
	return recs, deleted, current, nil
}

// Update runs fn in one write transaction; see store.Store. fn must not call
// Update (or write state) on the same Store: there is one writer connection
// and fn holds it.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin update: %w", err)
	}
	defer tx.Rollback()
	var current int64
	if err := tx.QueryRowContext(ctx, `SELECT version FROM config_version`).Scan(&current); err != nil {
		return 0, fmt.Errorf("begin update: read version: %w", err)
	}
	t := &txn{tx: tx, next: current + 1}
	if err := fn(t); err != nil {
		return 0, err
	}
	if !t.wrote {
		return current, nil // the deferred rollback ends the empty transaction
	}
	// Tombstones older than the retained history go, and Since refuses
	// versions before it from now on.
	horizon := max(t.next-s.retain, 0)
	if _, err := tx.ExecContext(ctx, `DELETE FROM config_tombstones WHERE version <= ?`, horizon); err != nil {
		return 0, fmt.Errorf("prune tombstones: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE config_version SET version = ?, horizon = MAX(horizon, ?)`, t.next, horizon); err != nil {
		return 0, fmt.Errorf("bump configuration version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit update: %w", err)
	}
	s.hub.Publish(t.next)
	return t.next, nil
}

// txn is the store.Tx of one Update. Every write in it carries next, the
// version the Update will commit.
type txn struct {
	tx    *sql.Tx
	next  int64
	wrote bool
}

func (t *txn) Get(ctx context.Context, id string) (store.Record, error) {
	return getRecord(ctx, t.tx, id)
}

func (t *txn) List(ctx context.Context, kind, parent string) ([]store.Record, error) {
	return listRecords(ctx, t.tx, kind, parent)
}

func (t *txn) Put(ctx context.Context, rec store.Record, ifMatch string) (store.Record, error) {
	if rec.ID == "" || rec.Kind == "" {
		return store.Record{}, fmt.Errorf("put record %q: ID and Kind are required", rec.ID)
	}
	var current string
	err := t.tx.QueryRowContext(ctx, `SELECT etag FROM config_records WHERE id = ?`, rec.ID).Scan(&current)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, fmt.Errorf("put record %q: %w", rec.ID, err)
	}
	if err := store.CheckIfMatch(rec.ID, ifMatch, exists, current); err != nil {
		return store.Record{}, err
	}
	rec.ETag = store.NewETag(t.next)
	rec.Version = t.next
	rec.Updated = time.Now().UTC().Truncate(time.Microsecond)
	if rec.Body == nil {
		rec.Body = []byte{}
	}
	if !exists {
		// Re-created: it is no longer deleted.
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM config_tombstones WHERE id = ?`, rec.ID); err != nil {
			return store.Record{}, fmt.Errorf("put record %q: clear tombstone: %w", rec.ID, err)
		}
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO config_records (`+recordColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, parent = excluded.parent, body = excluded.body,
			etag = excluded.etag, version = excluded.version, updated = excluded.updated`,
		rec.ID, rec.Kind, rec.Parent, rec.Body, rec.ETag, rec.Version, rec.Updated.UnixMicro()); err != nil {
		return store.Record{}, fmt.Errorf("put record %q: %w", rec.ID, err)
	}
	t.wrote = true
	return rec, nil
}

func (t *txn) Delete(ctx context.Context, id string) error {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM config_records WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete record %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete record %q: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("delete record %q: %w", id, store.ErrNotFound)
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO config_tombstones (id, version) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version`, id, t.next); err != nil {
		return fmt.Errorf("delete record %q: tombstone: %w", id, err)
	}
	t.wrote = true
	return nil
}

// DeleteTree removes the IDs in [prefix+"/", prefix+"0"): '0' follows '/' in
// byte order, so this is exactly "starts with prefix/" and uses the primary
// key index.
func (t *txn) DeleteTree(ctx context.Context, prefix string) (int, error) {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO config_tombstones (id, version)
		SELECT id, ? FROM config_records WHERE id >= ? AND id < ?
		ON CONFLICT (id) DO UPDATE SET version = excluded.version`, t.next, prefix+"/", prefix+"0"); err != nil {
		return 0, fmt.Errorf("delete tree %q: tombstones: %w", prefix, err)
	}
	res, err := t.tx.ExecContext(ctx, `DELETE FROM config_records WHERE id >= ? AND id < ?`, prefix+"/", prefix+"0")
	if err != nil {
		return 0, fmt.Errorf("delete tree %q: %w", prefix, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete tree %q: %w", prefix, err)
	}
	if n > 0 {
		t.wrote = true
	}
	return int(n), nil
}
