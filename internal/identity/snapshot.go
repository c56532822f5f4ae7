package identity

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tollgate/tollgate/internal/follower"
	"github.com/tollgate/tollgate/internal/store"
)

// snapshot is the directory (applications and users) at one configuration
// version. It is never modified: a change makes a new one.
type snapshot struct {
	version int64
	appsAt  map[string]*Application // by record ID
	usersAt map[string]*User        // by record ID

	apps    []*Application // ordered by record ID
	byAppID map[string]*Application
	users   []*User
	byOID   map[string]*User
	byUPN   map[string]*User
	mgmtApp *Application
}

func (s *snapshot) app(clientID string) *Application {
	return s.byAppID[strings.ToLower(clientID)]
}

func newSnapshot(version int64, appsAt map[string]*Application, usersAt map[string]*User) *snapshot {
	s := &snapshot{version: version, appsAt: appsAt, usersAt: usersAt,
		byAppID: make(map[string]*Application, len(appsAt)), byOID: make(map[string]*User, len(usersAt)), byUPN: make(map[string]*User, len(usersAt))}
	for _, a := range appsAt {
		s.apps = append(s.apps, a)
	}
	sort.Slice(s.apps, func(i, j int) bool { return s.apps[i].ID < s.apps[j].ID })
	for _, a := range s.apps {
		s.byAppID[a.AppID] = a
		if a.ID == managementAppPath {
			s.mgmtApp = a
		}
	}
	for _, u := range usersAt {
		s.users = append(s.users, u)
	}
	sort.Slice(s.users, func(i, j int) bool { return s.users[i].ID < s.users[j].ID })
	for _, u := range s.users {
		s.byOID[u.ObjectID] = u
		s.byUPN[strings.ToLower(u.UserPrincipalName)] = u
	}
	return s
}

// with returns the snapshot with a change applied: only the directory's
// records are decoded, the rest of the configuration is ignored.
func (s *snapshot) with(c follower.Change) (*snapshot, error) {
	apps, users := map[string]*Application{}, map[string]*User{}
	if !c.Full && s != nil {
		for id, a := range s.appsAt {
			apps[id] = a
		}
		for id, u := range s.usersAt {
			users[id] = u
		}
	}
	for _, id := range c.Deleted {
		delete(apps, id)
		delete(users, id)
	}
	for _, rec := range c.Records {
		switch rec.Kind {
		case KindApplications:
			a, err := decodeApp(rec)
			if err != nil {
				return nil, err
			}
			apps[rec.ID] = a
		case KindUsers:
			u, err := decodeUser(rec)
			if err != nil {
				return nil, err
			}
			users[rec.ID] = u
		}
	}
	return newSnapshot(c.To, apps, users), nil
}

// touchesDirectory reports whether a change has anything for the
// directory.
func touchesDirectory(c follower.Change) bool {
	if c.Full {
		return true
	}
	for _, rec := range c.Records {
		if rec.Kind == KindApplications || rec.Kind == KindUsers {
			return true
		}
	}
	for _, id := range c.Deleted {
		if strings.HasPrefix(id, applicationsPrefix) || strings.HasPrefix(id, usersPrefix) {
			return true
		}
	}
	return false
}

var _ follower.Subscriber = (*Provider)(nil)

// Apply makes the provider a follower.Subscriber: it applies the
// directory records of a configuration change (applications and users)
// and ignores the others.
func (p *Provider) Apply(ctx context.Context, c follower.Change) error {
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	if cur := p.snap.Load(); cur != nil && !c.Full && c.From > cur.version {
		// A gap: what changed between this snapshot and c.From is not in
		// c. Read it all from the store instead.
		var err error
		if c, err = p.changesSince(ctx, cur.version); err != nil {
			return err
		}
	}
	return p.applyLocked(c)
}

func (p *Provider) applyLocked(c follower.Change) error {
	cur := p.snap.Load()
	if cur != nil && (cur.version > c.To || cur.version == c.To && !c.Full) {
		return nil // caught up already
	}
	if cur != nil && !touchesDirectory(c) {
		next := *cur
		next.version = c.To
		p.snap.Store(&next)
		return nil
	}
	next, err := cur.with(c)
	if err != nil {
		return fmt.Errorf("apply configuration version %d to the directory: %w", c.To, err)
	}
	p.snap.Store(next)
	return nil
}

// directory returns the directory at the newest configuration version
// this process knows of. The follower keeps it current through Apply;
// without one (or when it lags behind a write this process just made), the
// changes since the snapshot's version are read from the store.
func (p *Provider) directory(ctx context.Context) (*snapshot, error) {
	v, err := p.currentVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("read configuration version: %w", err)
	}
	if s := p.snap.Load(); s != nil && s.version >= v {
		return s, nil
	}
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	cur := p.snap.Load()
	if cur != nil && cur.version >= v {
		return cur, nil
	}
	var c follower.Change
	if cur == nil {
		c, err = p.loadDirectory(ctx)
	} else {
		c, err = p.changesSince(ctx, cur.version)
	}
	if err != nil {
		return nil, err
	}
	if err := p.applyLocked(c); err != nil {
		return nil, err
	}
	return p.snap.Load(), nil
}

// changesSince reads what changed after version, or everything when the
// store's history does not reach back that far.
func (p *Provider) changesSince(ctx context.Context, version int64) (follower.Change, error) {
	c := follower.Change{From: version}
	err := withDeadline(ctx, p.opts.StoreTimeout, func(ctx context.Context) error {
		var err error
		c.Records, c.Deleted, c.To, err = p.store.Since(ctx, version)
		return err
	})
	if errors.Is(err, store.ErrTooOld) {
		return p.loadDirectory(ctx)
	}
	if err != nil {
		return c, fmt.Errorf("read configuration changes: %w", err)
	}
	return c, nil
}

// loadDirectory reads every application and user: a full change. The
// lists, read after the version, hold at least that version's data; a
// write in between is applied again by the next change.
func (p *Provider) loadDirectory(ctx context.Context) (follower.Change, error) {
	c := follower.Change{Full: true}
	err := withDeadline(ctx, p.opts.StoreTimeout, func(ctx context.Context) error {
		var err error
		if c.To, err = p.store.Version(ctx); err != nil {
			return fmt.Errorf("read configuration version: %w", err)
		}
		for _, kind := range []string{KindApplications, KindUsers} {
			recs, err := p.store.List(ctx, kind, "")
			if err != nil {
				return fmt.Errorf("list %s: %w", kind, err)
			}
			c.Records = append(c.Records, recs...)
		}
		return nil
	})
	return c, err
}

// currentVersion is the newest configuration version this process knows:
// learnt from the store's change notifications, read from the store only
// the first time (or when notifications stopped).
func (p *Provider) currentVersion(ctx context.Context) (v int64, err error) {
	p.verMu.Lock()
	defer p.verMu.Unlock()
	read := func() (int64, error) {
		err := withDeadline(ctx, p.opts.StoreTimeout, func(ctx context.Context) error {
			var err error
			v, err = p.store.Version(ctx)
			return err
		})
		return v, err
	}
	if p.changes == nil {
		return read()
	}
	if p.latest == 0 {
		if p.latest, err = read(); err != nil {
			return 0, err
		}
	}
	for {
		select {
		case v, ok := <-p.changes:
			if !ok {
				p.changes = nil // the store was closed: read the version each time
				return read()
			}
			if v > p.latest {
				p.latest = v
			}
			continue
		default:
		}
		return p.latest, nil
	}
}
