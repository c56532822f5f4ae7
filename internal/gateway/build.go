package gateway

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/follower"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// config is the decoded configuration the last snapshot was built from. The
// Gateway keeps it between builds so that the next build applies only what
// changed (Store.Since) instead of re-reading and re-decoding everything.
//
// Only builds use it, one at a time. What it shares with snapshots
// (resources, API entries, index shards, the API map) is never modified
// once a snapshot holds it: a build copies what it changes, so requests in
// flight on the previous snapshot see it unchanged.
type config struct {
	version  int64
	apis     map[string]*resource.API
	byPath   map[string][]string              // path (segments joined by "/") -> API ids on it, sorted
	ops      map[string][]*resource.Operation // by API id, sorted by id
	products map[string]*resource.Product
	links    map[string][2]string // link id -> product id, API id
	apiLinks map[string][]string  // API id -> its link ids, sorted
	users    map[string]*resource.User
	subs     map[string]*subEntry // by id: the entry indexed now
	byScope  map[string][]string  // scope -> subscription ids
	byOwner  map[string][]string  // owner id -> subscription ids
	// dupKeys are the key hashes several subscriptions hold, with their
	// ids (normally none); the smallest id is indexed, as in ID order.
	dupKeys map[keyHash][]string
	// other are the records the gateway does not decode (policies, named
	// values, fragments, ...), bodies kept: the policy compiler's input.
	other map[string]store.Record

	// What the last snapshot serves.
	entries  map[string]*apiEntry
	apiRoot  *apiNode
	index    *subIndex
	policies Policies
	// reuse are the policies of the configuration a full rebuild replaces,
	// which a PolicyRecompiler may take unchanged documents from.
	reuse Policies

	apps    *appConfig // client applications and their links
	in      interner
	echoURL *url.URL
	fresh   bool // nothing applied yet
}

func newConfig() *config {
	return &config{
		apis:     map[string]*resource.API{},
		byPath:   map[string][]string{},
		ops:      map[string][]*resource.Operation{},
		products: map[string]*resource.Product{},
		links:    map[string][2]string{},
		apiLinks: map[string][]string{},
		users:    map[string]*resource.User{},
		subs:     map[string]*subEntry{},
		byScope:  map[string][]string{},
		byOwner:  map[string][]string{},
		dupKeys:  map[keyHash][]string{},
		other:    map[string]store.Record{},
		entries:  map[string]*apiEntry{},
		apiRoot:  &apiNode{},
		index:    &subIndex{},
		apps:     newAppConfig(),
		in:       interner{},
		fresh:    true,
		// Shared by every API on the echo backend (read-only: calls copy it).
		echoURL: &url.URL{Scheme: echoScheme, Host: echoHost},
	}
}

// subIndex is the subscription key index, split by the first 12 bits of
// the key hash into shards (about 50 keys each at 100,000 subscriptions),
// so that a change copies the few shards it touches rather than an index
// of hundreds of thousands of keys.
type subIndex [indexShards]map[keyHash]*subEntry

const indexShards = 1 << 12

func shardOf(k keyHash) int { return int(k[0])<<4 | int(k[1]>>4) }

func (x *subIndex) get(k keyHash) *subEntry { return x[shardOf(k)][k] }

// indexWriter changes a copy of an index, copying each shard on its first
// change.
type indexWriter struct {
	x      *subIndex
	copied [indexShards]bool
}

func (w *indexWriter) shard(k keyHash) map[keyHash]*subEntry {
	i := shardOf(k)
	if !w.copied[i] {
		if w.x[i] == nil {
			w.x[i] = map[keyHash]*subEntry{}
		} else {
			w.x[i] = maps.Clone(w.x[i])
		}
		w.copied[i] = true
	}
	return w.x[i]
}

func (w *indexWriter) set(k keyHash, e *subEntry) { w.shard(k)[k] = e }
func (w *indexWriter) del(k keyHash)              { delete(w.shard(k), k) }

// Apply brings the served snapshot to the change's version: a full change
// builds a new configuration (reusing the previous snapshot's compiled
// policies where a PolicyRecompiler can), an incremental one rebuilds only
// what depends on what changed. On error the served snapshot stays and the
// next change must be full. It is the gateway's follower.Subscriber side;
// the follower never calls it concurrently. c.Records are shared with other
// subscribers and are not modified.
func (g *Gateway) Apply(ctx context.Context, c follower.Change) error {
	start := time.Now()
	cfg := g.cfg
	// Until this build succeeds there is no configuration to start from:
	// apply changes cfg in place, and a failure leaves it half-changed.
	g.cfg = nil
	if c.Full {
		var reuse Policies
		if cur := g.snap.Load(); cur != nil {
			reuse = cur.policies
		}
		cfg = newConfig()
		cfg.apps.tokens = g.appTokens
		cfg.reuse = reuse
	} else if cfg == nil || cfg.version != c.From {
		have := int64(-1)
		if cfg != nil {
			have = cfg.version
		}
		return fmt.Errorf("gateway: change from version %d, but the gateway holds version %d", c.From, have)
	}
	full := cfg.fresh
	s, err := cfg.apply(ctx, c.Records, c.Deleted, c.To, g.compiler)
	if err != nil {
		return fmt.Errorf("build snapshot of version %d: %w", c.To, err)
	}
	g.cfg = cfg
	for {
		cur := g.snap.Load()
		if cur != nil && cur.version >= s.version {
			break // never go back
		}
		if g.snap.CompareAndSwap(cur, s) {
			g.log.Info("gateway configuration loaded", "version", s.version,
				"apis", len(s.apis), "records", len(c.Records)+len(c.Deleted), "full", full, "took", time.Since(start))
			break
		}
	}
	return nil
}

// delta is what one build must redo.
type delta struct {
	apis     map[string]bool // entries to rebuild: the API or its operations changed
	apiLinks map[string]bool // entries whose products to recompute
	paths    map[string]bool // API paths whose trie node to set again
	scopes   map[string]bool // products and APIs that changed: their subscriptions re-resolve
	owners   map[string]bool // users that changed: their subscriptions re-resolve
	products map[string]bool
	// subs maps a subscription id to its new, unresolved entry; nil when
	// it was deleted.
	subs map[string]*subEntry
	// fresh: the config was empty, so subscriptions are only added, and
	// listed in added rather than subs (a map of every subscription would
	// be a tenth of a full build).
	fresh    bool
	added    []*subEntry
	policies bool
}

// apply brings c to version with the records written and the ids deleted
// since c.version, and returns the snapshot it now describes. On error c is
// left half-changed: the caller drops it.
func (c *config) apply(ctx context.Context, changed []store.Record, deleted []string, version int64, compiler PolicyCompiler) (*snapshot, error) {
	d := &delta{
		apis: map[string]bool{}, apiLinks: map[string]bool{}, paths: map[string]bool{}, scopes: map[string]bool{},
		owners: map[string]bool{}, products: map[string]bool{}, subs: map[string]*subEntry{},
	}
	for _, id := range deleted {
		c.remove(id, d)
	}
	// A new config holds nothing to replace (a full read, where looking
	// every record up in vain would be a tenth of the work).
	fresh := c.fresh
	c.fresh = false
	d.fresh = fresh
	for i := range changed {
		rec := &changed[i]
		if !fresh {
			c.remove(rec.ID, d)
		}
		if err := c.add(rec, d); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}

	// Products that changed change the entries of the APIs linked to them.
	if len(d.products) > 0 {
		for _, l := range c.links {
			if d.products[l[0]] {
				d.apiLinks[l[1]] = true
			}
		}
	}
	// Subscriptions whose scope or owner changed resolve again.
	for scope := range d.scopes {
		for _, id := range c.byScope[scope] {
			if _, ok := d.subs[id]; !ok {
				d.subs[id] = c.subs[id]
			}
		}
	}
	for owner := range d.owners {
		for _, id := range c.byOwner[owner] {
			if _, ok := d.subs[id]; !ok {
				d.subs[id] = c.subs[id]
			}
		}
	}

	s := &snapshot{version: version, apis: c.entries, apiRoot: c.apiRoot, subs: c.index, policies: c.policies}
	s.apps = c.apps.build(c, d)
	if len(d.apis) > 0 || len(d.apiLinks) > 0 {
		c.rebuildEntries(d)
		s.apis, s.apiRoot = c.entries, c.apiRoot
	}
	if len(d.subs) > 0 || len(d.added) > 0 {
		c.reindex(d)
		s.subs = c.index
	}
	if compiler != nil && (d.policies || c.policies == nil) {
		recs := make([]store.Record, 0, len(c.other))
		for _, id := range slices.Sorted(maps.Keys(c.other)) {
			recs = append(recs, c.other[id])
		}
		prev := c.policies
		if prev == nil {
			prev = c.reuse
		}
		var p Policies
		var err error
		if rc, ok := compiler.(PolicyRecompiler); ok && prev != nil {
			p, err = rc.Recompile(ctx, recs, prev)
		} else {
			p, err = compiler.Compile(ctx, recs)
		}
		if err != nil {
			return nil, fmt.Errorf("compile policies: %w", err)
		}
		c.policies, s.policies, c.reuse = p, p, nil
	}
	c.version = version
	return s, nil
}

// remove forgets the record with the given id, whatever its kind.
func (c *config) remove(id string, d *delta) {
	if c.apps.remove(id) {
		return
	}
	if a, ok := c.apis[id]; ok {
		delete(c.apis, id)
		p := pathKey(a.Path)
		removeID(c.byPath, p, id)
		d.apis[id], d.scopes[id], d.paths[p] = true, true, true
		return
	}
	if apiID, _, ok := strings.Cut(id, "/operations/"); ok {
		ops := c.ops[apiID]
		if i, found := slices.BinarySearchFunc(ops, id, compareOpID); found {
			if ops = slices.Delete(ops, i, i+1); len(ops) == 0 {
				delete(c.ops, apiID)
			} else {
				c.ops[apiID] = ops
			}
			d.apis[apiID] = true
			return
		}
	}
	if _, ok := c.products[id]; ok {
		delete(c.products, id)
		d.products[id], d.scopes[id] = true, true
		return
	}
	if l, ok := c.links[id]; ok {
		delete(c.links, id)
		ids := slices.DeleteFunc(c.apiLinks[l[1]], func(x string) bool { return x == id })
		if len(ids) == 0 {
			delete(c.apiLinks, l[1])
		} else {
			c.apiLinks[l[1]] = ids
		}
		d.apiLinks[l[1]] = true
		return
	}
	if _, ok := c.users[id]; ok {
		delete(c.users, id)
		d.owners[id] = true
		return
	}
	if _, ok := c.subs[id]; ok {
		d.subs[id] = nil
		return
	}
	if _, ok := c.other[id]; ok {
		delete(c.other, id)
		d.policies = true
	}
}

// add decodes a record written since the last build. A record that does
// not decode fails the build: records are validated when written, so this
// is a bug or a damaged database, and serving a partial configuration would
// be worse than keeping the previous one.
func (c *config) add(rec *store.Record, d *delta) error {
	// Records are shared with the node's other subscribers, which read
	// them concurrently: never write to one.
	if ok, err := c.apps.add(rec); ok {
		return err // the records are shared with other subscribers: never modified
	}
	switch rec.Kind {
	case resource.KindAPIs:
		a := &resource.API{}
		if err := decode(rec, a); err != nil {
			return err
		}
		c.apis[a.ID] = a
		p := pathKey(a.Path)
		ids := c.byPath[p]
		i, _ := slices.BinarySearch(ids, a.ID)
		c.byPath[p] = slices.Insert(ids, i, a.ID)
		d.apis[a.ID], d.scopes[a.ID], d.paths[p] = true, true, true
	case resource.KindOperations:
		o := &resource.Operation{}
		if err := decode(rec, o); err != nil {
			return err
		}
		o.Method = internMethod(o.Method)
		o.URLTemplate = c.in.get(o.URLTemplate)
		if o.DisplayName == o.Name {
			o.DisplayName = o.Name // share the bytes
		}
		// "/apis/{aid}/operations/{oid}"
		apiID, _, _ := strings.Cut(o.ID, "/operations/")
		ops := c.ops[apiID]
		if i, found := slices.BinarySearchFunc(ops, o.ID, compareOpID); found {
			ops[i] = o
		} else {
			c.ops[apiID] = slices.Insert(ops, i, o)
		}
		d.apis[apiID] = true
	case resource.KindProducts:
		p := &resource.Product{}
		if err := decode(rec, p); err != nil {
			return err
		}
		c.products[p.ID] = p
		d.products[p.ID], d.scopes[p.ID] = true, true
	case resource.KindProductAPIs:
		// "/products/{pid}/apis/{aid}"
		pid, aid, ok := strings.Cut(strings.TrimPrefix(rec.ID, "/products/"), "/apis/")
		if !ok {
			return fmt.Errorf("product api link %q: malformed id", rec.ID)
		}
		l := [2]string{"/products/" + pid, "/apis/" + aid}
		c.links[rec.ID] = l
		ids := c.apiLinks[l[1]]
		i, _ := slices.BinarySearch(ids, rec.ID)
		c.apiLinks[l[1]] = slices.Insert(ids, i, rec.ID)
		d.apiLinks[l[1]] = true
	case resource.KindUsers:
		u := &resource.User{}
		if err := decode(rec, u); err != nil {
			return err
		}
		c.users[u.ID] = u
		d.owners[u.ID] = true
	case resource.KindSubscriptions:
		sub := &resource.Subscription{}
		if err := decode(rec, sub); err != nil {
			return err
		}
		// Reduced to what requests need now (the record's sealed keys are
		// large); owner and scope are resolved once everything is read.
		e := &subEntry{
			id:          sub.ID,
			displayName: sub.DisplayName,
			createdDate: sub.CreatedDate,
			scope:       c.in.get(sub.Scope),
			ownerID:     c.in.get(sub.OwnerID),
			active:      sub.State == "active",
		}
		for _, h := range []string{sub.PrimaryKeyHash, sub.SecondaryKeyHash} {
			var full [32]byte
			if n, err := hex.Decode(full[:], []byte(h)); err != nil || n != len(full) {
				continue // no key, or not a hash of ours: nothing can match it
			}
			e.keys[e.nkeys] = keyHash(full[:16])
			e.nkeys++
		}
		if d.fresh {
			d.added = append(d.added, e)
		} else {
			d.subs[e.id] = e
		}
	default:
		c.other[rec.ID] = *rec
		d.policies = true
		return nil
	}
	return nil
}

// rebuildEntries makes new entries for the APIs that changed, and a new API
// map and path trie holding them.
func (c *config) rebuildEntries(d *delta) {
	entries := maps.Clone(c.entries)
	for id := range d.apiLinks {
		d.apis[id] = d.apis[id] || entries[id] == nil
	}
	for id, rebuild := range d.apis {
		a := c.apis[id]
		if a == nil {
			delete(entries, id)
			continue
		}
		// The trie points at entries: the API's path must point at the
		// new one (its old path, if it moved, was marked when removed).
		d.paths[pathKey(a.Path)] = true
		var e *apiEntry
		if rebuild {
			e = newAPIEntry(a, c.echoURL)
			// In ID order, so that duplicates (two operations on one method
			// and template) resolve the same way on every node.
			for _, o := range c.ops[id] {
				e.build.insert(o)
			}
			e.ops, e.build = e.build.flatten(), nil
		} else {
			copied := *entries[id]
			e = &copied
		}
		e.products, e.open, e.tokenProducts, e.keyProducts = nil, nil, false, false
		for _, lid := range c.apiLinks[id] {
			p := c.products[c.links[lid][0]]
			if p == nil {
				continue
			}
			e.products = append(e.products, p)
			e.tokenProducts = e.tokenProducts || (p.AcceptsTokens() && p.Application != nil)
			e.keyProducts = e.keyProducts || p.AcceptsKeys()
			// An API belongs to at most one open product; if the data says
			// otherwise the first by link id wins.
			if !resource.Bool(p.SubscriptionRequired, true) && e.open == nil {
				e.open = p
			}
		}
		entries[id] = e
	}
	c.entries = entries
	// Each path is served by the first API on it by id, as in ID order.
	if len(d.paths) > len(c.byPath)/8 {
		root := &apiNode{}
		for _, ids := range c.byPath {
			root.insert(entries[ids[0]].api.Path, entries[ids[0]])
		}
		c.apiRoot = root
		return
	}
	// Few paths changed: copy only the nodes on them, sharing the rest of
	// the trie with the previous snapshot.
	root := c.apiRoot
	for p := range d.paths {
		var e *apiEntry
		if ids := c.byPath[p]; len(ids) > 0 {
			e = entries[ids[0]]
		}
		root = root.with(splitPath(p), e)
	}
	c.apiRoot = root
}

func compareOpID(o *resource.Operation, id string) int { return strings.Compare(o.ID, id) }

// pathKey is an API path's segments joined, the form paths are compared in
// (the trie splits them the same way).
func pathKey(path string) string { return strings.Join(splitPath(path), "/") }

// with returns a copy of n in which the node at segs holds a (no API when a
// is nil), copying only the nodes on the way; n is unchanged.
func (n *apiNode) with(segs []string, a *apiEntry) *apiNode {
	c := &apiNode{api: n.api, children: n.children}
	if len(segs) == 0 {
		c.api = a
		return c
	}
	child := n.children.find(segs[0])
	if child == nil {
		if a == nil {
			return n // nothing there to remove
		}
		child = &apiNode{}
	}
	nc := child.with(segs[1:], a)
	if nc.api == nil && len(nc.children.list) == 0 && len(nc.children.m) == 0 {
		nc = nil // prune the emptied branch
	}
	c.children = c.children.with(segs[0], nc)
	return c
}

// with returns a copy of e in which seg leads to node (removed when nil).
func (e edges[T]) with(seg string, node *T) edges[T] {
	if e.m != nil {
		m := maps.Clone(e.m)
		if node == nil {
			delete(m, seg)
		} else {
			m[seg] = node
		}
		return edges[T]{m: m}
	}
	list := make([]edge[T], 0, len(e.list)+1)
	found := false
	for _, x := range e.list {
		if x.seg == seg {
			found = true
			if node == nil {
				continue
			}
			x.node = node
		}
		list = append(list, x)
	}
	if !found && node != nil {
		if len(list) >= edgeListMax {
			m := make(map[string]*T, 2*edgeListMax)
			for _, x := range list {
				m[x.seg] = x.node
			}
			m[seg] = node
			return edges[T]{m: m}
		}
		var first byte
		if seg != "" {
			first = seg[0]
		}
		list = append(list, edge[T]{seg: seg, node: node, first: first})
	}
	return edges[T]{list: list}
}

// reindex resolves the subscriptions in d.subs and updates a copy of the
// key index: first every old entry leaves it, then the new ones join, so
// that keys held by several subscriptions settle on the smallest id.
func (c *config) reindex(d *delta) {
	x := *c.index
	w := &indexWriter{x: &x}
	if d.fresh {
		// Sized up front: growing 4,096 shards and a map of every
		// subscription is much of a full build's work otherwise.
		c.subs = make(map[string]*subEntry, len(d.added))
		per := 2 * len(d.added) / indexShards
		for i := range x {
			x[i] = make(map[keyHash]*subEntry, per)
			w.copied[i] = true
		}
		for _, e := range d.added {
			// Decoded by this build: no snapshot holds it yet.
			c.resolve(e)
			c.subs[e.id] = e
			c.byScope[e.scope] = append(c.byScope[e.scope], e.id)
			c.byOwner[e.ownerID] = append(c.byOwner[e.ownerID], e.id)
			c.indexKeys(w, e)
		}
		// Appending left up to twice the room in every list.
		for _, m := range []map[string][]string{c.byScope, c.byOwner} {
			for k, v := range m {
				m[k] = slices.Clone(v)
			}
		}
		c.index = &x
		return
	}
	// The order does not matter: a key's holder is settled by id.
	for id := range d.subs {
		old := c.subs[id]
		if old == nil {
			continue
		}
		// Most subscriptions here resolve again with the same scope and
		// owner: they keep their place in byScope and byOwner.
		if raw := d.subs[id]; raw == nil || raw.scope != old.scope {
			removeID(c.byScope, old.scope, id)
		}
		if raw := d.subs[id]; raw == nil || raw.ownerID != old.ownerID {
			removeID(c.byOwner, old.ownerID, id)
		}
		for _, k := range old.keys[:old.nkeys] {
			if holders, dup := c.dupKeys[k]; dup {
				holders = slices.DeleteFunc(holders, func(h string) bool { return h == id })
				if len(holders) <= 1 {
					delete(c.dupKeys, k)
				} else {
					c.dupKeys[k] = holders
				}
				if w.x.get(k) == old && len(holders) > 0 {
					w.set(k, c.subs[slices.Min(holders)])
				}
				continue
			}
			if w.x.get(k) == old {
				w.del(k)
			}
		}
	}
	for id, raw := range d.subs {
		if raw == nil {
			delete(c.subs, id)
			continue
		}
		old := c.subs[id]
		// A copy: raw may be the entry a served snapshot holds.
		e := new(subEntry)
		*e = *raw
		c.resolve(e)
		c.subs[id] = e
		if old == nil || old.scope != e.scope {
			c.byScope[e.scope] = append(c.byScope[e.scope], id)
		}
		if old == nil || old.ownerID != e.ownerID {
			c.byOwner[e.ownerID] = append(c.byOwner[e.ownerID], id)
		}
		c.indexKeys(w, e)
	}
	c.index = &x
}

// indexKeys adds e's keys to the index. Unusable subscriptions are indexed
// too: their keys are refused like unknown ones, but the access log names
// the subscription.
func (c *config) indexKeys(w *indexWriter, e *subEntry) {
	for _, k := range e.keys[:e.nkeys] {
		cur := w.x.get(k)
		if cur == nil || cur.id == e.id {
			w.set(k, e)
			continue
		}
		holders := c.dupKeys[k]
		if holders == nil {
			holders = []string{cur.id}
		}
		c.dupKeys[k] = append(holders, e.id)
		if e.id < cur.id {
			w.set(k, e)
		}
	}
}

// removeID takes id out of m[key].
func removeID(m map[string][]string, key, id string) {
	if ids := slices.DeleteFunc(m[key], func(x string) bool { return x == id }); len(ids) > 0 {
		m[key] = ids
	} else {
		delete(m, key)
	}
}

// resolve looks e's owner and scope up.
func (c *config) resolve(e *subEntry) {
	e.user, e.api, e.product, e.allAPIs = nil, nil, nil, false
	e.usable = e.active
	if e.ownerID != "" {
		// A subscription whose owner is missing or not active (blocked,
		// pending, deleted) cannot be used.
		e.user = c.users[e.ownerID]
		if e.user == nil || e.user.State != "active" {
			e.usable = false
		}
	}
	switch {
	case e.scope == "/apis":
		e.allAPIs = true
	case strings.HasPrefix(e.scope, "/apis/"):
		e.api = c.apis[e.scope]
	case strings.HasPrefix(e.scope, "/products/"):
		e.product = c.products[e.scope]
	}
	if !e.allAPIs && e.api == nil && e.product == nil {
		e.usable = false
	}
}
