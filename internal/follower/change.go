// Package follower delivers configuration changes to the parts of a node
// that keep an in-memory view of the configuration (the gateway's snapshot,
// the identity provider's directory, ...), each applying only what changed.
package follower

import (
	"context"

	"github.com/tollgate/tollgate/internal/store"
)

// Change is what happened to the configuration between two versions.
type Change struct {
	// From is the version the subscriber had (0 on the first load); To is
	// the version the change brings it to.
	From, To int64
	// Full is set when Records holds every record (the first load, or a
	// subscriber too far behind for the store's history); Deleted is then
	// empty and anything not in Records no longer exists.
	Full bool
	// Records are the records written (created or replaced) after From,
	// ordered by ID; every record when Full.
	Records []store.Record
	// Deleted are the IDs deleted after From and not re-created.
	Deleted []string
}

// Subscriber keeps a view of the configuration. Apply is called in version
// order and never concurrently for one subscriber; an error leaves the
// subscriber at its previous version and the change is retried (as a full
// load) on the next version.
type Subscriber interface {
	Apply(ctx context.Context, c Change) error
}
