package applications

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tollgate/tollgate/internal/follower"
)

// ownerIndex maps owners (/users/{id}) to the ids of their client
// applications, kept by the node's configuration follower so that a
// developer's applications are found without reading every application.
type ownerIndex struct {
	mu     sync.RWMutex
	loaded bool
	owner  map[string]string              // application id -> owner
	apps   map[string]map[string]struct{} // owner -> application ids
}

func newOwnerIndex() *ownerIndex {
	return &ownerIndex{owner: map[string]string{}, apps: map[string]map[string]struct{}{}}
}

// clientApplicationID tells whether id is a client application's own
// record (/clientApplications/{name}), not one of its children.
func clientApplicationID(id string) bool {
	name, ok := strings.CutPrefix(id, "/"+KindClientApplications+"/")
	return ok && name != "" && !strings.Contains(name, "/")
}

// apply brings the index to c.To.
func (x *ownerIndex) apply(c follower.Change) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if c.Full {
		x.owner, x.apps = map[string]string{}, map[string]map[string]struct{}{}
	}
	for _, id := range c.Deleted {
		x.removeLocked(id)
	}
	for _, rec := range c.Records {
		if !clientApplicationID(rec.ID) {
			continue
		}
		var a struct {
			OwnerID string `json:"ownerId"`
		}
		if err := json.Unmarshal(rec.Body, &a); err != nil {
			// Until a full load succeeds, ListOwnApplications reads the store.
			x.loaded = false
			return fmt.Errorf("application index: decode %q: %w", rec.ID, err)
		}
		x.removeLocked(rec.ID)
		x.owner[rec.ID] = a.OwnerID
		if x.apps[a.OwnerID] == nil {
			x.apps[a.OwnerID] = map[string]struct{}{}
		}
		x.apps[a.OwnerID][rec.ID] = struct{}{}
	}
	if c.Full {
		x.loaded = true
	}
	return nil
}

func (x *ownerIndex) removeLocked(id string) {
	o, ok := x.owner[id]
	if !ok {
		return
	}
	delete(x.owner, id)
	delete(x.apps[o], id)
	if len(x.apps[o]) == 0 {
		delete(x.apps, o)
	}
}

// owned returns the ids of owner's applications in id order, and false
// when the index has not been loaded.
func (x *ownerIndex) owned(owner string) ([]string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.loaded {
		return nil, false
	}
	ids := make([]string, 0, len(x.apps[owner]))
	for id := range x.apps[owner] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, true
}

// Apply keeps the index of applications by owner that
// ListOwnApplications reads: the follower.Subscriber contract. Subscribe
// the Service to the node's configuration follower before its first Sync;
// without it, ListOwnApplications reads every application.
func (s *Service) Apply(_ context.Context, c follower.Change) error {
	return s.index.apply(c)
}
