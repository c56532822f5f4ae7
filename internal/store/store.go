// Package store defines Tollgate's persistence contract: configuration
// resources that are versioned as a whole, and runtime state records that are
// not. Backends (SQLite, PostgreSQL) live in sub-packages and all pass the
// conformance suite in storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns, so callers can use errors.Is.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned by a conditional write whose precondition
	// (ETag, compare-and-swap value, create-only) did not hold.
	ErrConflict = errors.New("conflict")
	// ErrSchemaTooNew is returned when the database was migrated by a newer
	// Tollgate than this binary.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
	// ErrTooOld is returned by Since when the changes after the version
	// asked for can no longer be told (the deletions were pruned), or the
	// version is newer than the store's (a restored database): the caller
	// reads everything with All instead.
	ErrTooOld = errors.New("version outside the retained change history")
)

// DefaultRetainedVersions is how many configuration versions back Since
// can answer by default: deletions (tombstones) older than that are pruned.
const DefaultRetainedVersions = 1000

// Record is one configuration resource. ID is the resource's path
// ("/apis/echo/operations/get"); Kind names its collection ("apis",
// "apis/operations"); Parent is the ID of the owning resource ("" at top
// level). Body is the resource's JSON as the resource layer wrote it,
// secrets already sealed.
type Record struct {
	ID      string
	Kind    string
	Parent  string
	Body    []byte
	ETag    string
	Version int64 // configuration version of the write that produced it
	Updated time.Time
}

// StateRecord is one runtime state entry (authorization codes, refresh
// tokens, leases, sealed brokered tokens). Writing state never bumps the
// configuration version. A zero Expires means it never expires; expired
// entries are invisible to reads.
type StateRecord struct {
	Key     string
	Value   []byte
	Expires time.Time
}

// Store is implemented by every backend.
type Store interface {
	// Get returns the configuration record with the given ID.
	Get(ctx context.Context, id string) (Record, error)
	// List returns the records of one kind, optionally only those under
	// parent, ordered by ID.
	List(ctx context.Context, kind, parent string) ([]Record, error)
	// All returns every configuration record and the version they form,
	// read consistently; it is what snapshots are built from.
	All(ctx context.Context) ([]Record, int64, error)
	// Since returns, read consistently, the records written after version
	// (created or replaced, ordered by ID), the IDs of records deleted after
	// it and not re-created (ordered; possibly including IDs that did not
	// exist at version), and the current version. It fails with ErrTooOld
	// when version is older than the retained history or newer than the
	// current version; the caller then falls back to All. It is what lets
	// a snapshot be rebuilt in proportion to what changed.
	Since(ctx context.Context, version int64) (changed []Record, deleted []string, current int64, err error)
	// Update runs fn in one transaction. If fn wrote anything the
	// configuration version is bumped once, and the new version is
	// returned; otherwise the current version is. If fn returns an error
	// nothing is written.
	Update(ctx context.Context, fn func(Tx) error) (int64, error)
	// Version returns the current configuration version.
	Version(ctx context.Context) (int64, error)
	// Changes delivers configuration versions written by any node
	// (including this one) after the call, until ctx ends. Delivery may
	// coalesce; receivers must re-read Version if they need certainty.
	Changes(ctx context.Context) <-chan int64

	State() StateStore

	// Ping checks that the database is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// Tx is the view of the store inside Update.
type Tx interface {
	Get(ctx context.Context, id string) (Record, error)
	List(ctx context.Context, kind, parent string) ([]Record, error)
	// Put creates or replaces a record. When ifMatch is non-empty the
	// existing record's ETag must equal it (ErrConflict otherwise); the
	// special value "*" requires the record to exist, and "-" requires it
	// not to. It returns the stored record with its new ETag.
	Put(ctx context.Context, rec Record, ifMatch string) (Record, error)
	// Delete removes a record (ErrNotFound if absent).
	Delete(ctx context.Context, id string) error
	// DeleteTree removes every record whose ID starts with prefix+"/"
	// and returns how many were removed.
	DeleteTree(ctx context.Context, prefix string) (int, error)
}

// StateStore holds runtime state shared by all nodes.
type StateStore interface {
	Get(ctx context.Context, key string) (StateRecord, error)
	// Put writes unconditionally.
	Put(ctx context.Context, rec StateRecord) error
	// Create writes only if no live record has the key (ErrConflict
	// otherwise). With an expiry it is a lease.
	Create(ctx context.Context, rec StateRecord) error
	// CompareAndSwap replaces the value only if the live record's value
	// equals old (ErrConflict otherwise; ErrNotFound if absent).
	CompareAndSwap(ctx context.Context, key string, old []byte, rec StateRecord) error
	// Take returns and deletes a live record atomically: exactly one of
	// several concurrent callers gets it, the rest get ErrNotFound. It is
	// how single-use values (authorization codes) are consumed.
	Take(ctx context.Context, key string) (StateRecord, error)
	Delete(ctx context.Context, key string) error
	// List returns live records whose key starts with prefix.
	List(ctx context.Context, prefix string) ([]StateRecord, error)
	// Sweep removes expired records.
	Sweep(ctx context.Context) error
}
