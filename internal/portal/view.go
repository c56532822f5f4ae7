package portal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/tollgate/tollgate/internal/follower"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// view is the part of the configuration the portal shows, kept in memory
// and brought up to date with what changed, so that a page costs no
// database scan at 100,000 subscriptions.
type view struct {
	mu      sync.RWMutex
	version int64

	products    map[string]*resource.Product // by id
	apis        map[string]*resource.API
	ops         map[string]map[string]*resource.Operation // api id -> op id
	productAPIs map[string]map[string]bool                // product id -> api ids
	apiProducts map[string]map[string]bool                // api id -> product ids
	subs        map[string]*resource.Subscription
	subsByOwner map[string]map[string]bool
	users       map[string]string // management user id -> state
	settings    resource.PortalSettings

	// Sorted lists, rebuilt by Apply when products, APIs or their links
	// changed (readers only read them).
	published []*resource.Product
	listed    []*resource.API
	dirty     bool
}

func newView() *view {
	v := &view{}
	v.reset()
	return v
}

func (v *view) reset() {
	v.products = map[string]*resource.Product{}
	v.apis = map[string]*resource.API{}
	v.ops = map[string]map[string]*resource.Operation{}
	v.productAPIs = map[string]map[string]bool{}
	v.apiProducts = map[string]map[string]bool{}
	v.subs = map[string]*resource.Subscription{}
	v.subsByOwner = map[string]map[string]bool{}
	v.users = map[string]string{}
	v.settings = defaultSettings()
	v.published, v.listed = nil, nil
	v.dirty = true
}

func defaultSettings() resource.PortalSettings {
	var s resource.PortalSettings
	s.Normalize()
	return s
}

// Apply brings the view to c.To: the follower.Subscriber contract.
func (v *view) Apply(_ context.Context, c follower.Change) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if c.Full {
		v.reset()
	}
	for _, id := range c.Deleted {
		v.remove(id)
	}
	for _, rec := range c.Records {
		v.remove(rec.ID)
		if err := v.add(rec); err != nil {
			v.version = 0 // the next sync reads everything again
			return err
		}
	}
	if v.dirty || c.Full {
		v.sortLists()
	}
	v.version = c.To
	return nil
}

// segs splits a record path: "/apis/a/operations/o" -> [apis a operations o].
func segs(id string) []string { return strings.Split(strings.TrimPrefix(id, "/"), "/") }

func addTo(m map[string]map[string]bool, k, v string) {
	if m[k] == nil {
		m[k] = map[string]bool{}
	}
	m[k][v] = true
}

func delFrom(m map[string]map[string]bool, k, v string) {
	if s := m[k]; s != nil {
		delete(s, v)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

func (v *view) add(rec store.Record) error {
	s := segs(rec.ID)
	dec := func(dst any) error {
		if err := json.Unmarshal(rec.Body, dst); err != nil {
			return fmt.Errorf("portal: decode %s: %w", rec.ID, err)
		}
		return nil
	}
	switch {
	case len(s) == 2 && s[0] == "products":
		p := &resource.Product{}
		if err := dec(p); err != nil {
			return err
		}
		resource.SetMeta(p, rec.ID)
		v.products[rec.ID] = p
		v.dirty = true
	case len(s) == 4 && s[0] == "products" && s[2] == "apis":
		pid, aid := "/products/"+s[1], "/apis/"+s[3]
		addTo(v.productAPIs, pid, aid)
		addTo(v.apiProducts, aid, pid)
		v.dirty = true
	case len(s) == 2 && s[0] == "apis":
		a := &resource.API{}
		if err := dec(a); err != nil {
			return err
		}
		resource.SetMeta(a, rec.ID)
		v.apis[rec.ID] = a
		v.dirty = true
	case len(s) == 4 && s[0] == "apis" && s[2] == "operations":
		o := &resource.Operation{}
		if err := dec(o); err != nil {
			return err
		}
		resource.SetMeta(o, rec.ID)
		aid := "/apis/" + s[1]
		if v.ops[aid] == nil {
			v.ops[aid] = map[string]*resource.Operation{}
		}
		v.ops[aid][rec.ID] = o
	case len(s) == 2 && s[0] == "subscriptions":
		sub := &resource.Subscription{}
		if err := dec(sub); err != nil {
			return err
		}
		resource.SetMeta(sub, rec.ID)
		// The view never needs the (sealed) keys: keys are opened on
		// demand through the management layer.
		sub.PrimaryKey, sub.SecondaryKey, sub.PrimaryKeyHash, sub.SecondaryKeyHash = "", "", "", ""
		v.subs[rec.ID] = sub
		if sub.OwnerID != "" {
			addTo(v.subsByOwner, sub.OwnerID, rec.ID)
		}
	case len(s) == 2 && s[0] == "users":
		var u struct {
			State string `json:"state"`
		}
		if err := dec(&u); err != nil {
			return err
		}
		v.users[rec.ID] = u.State
	case rec.ID == resource.PortalSettingsID:
		st := defaultSettings()
		if err := dec(&st); err != nil {
			return err
		}
		st.Normalize()
		v.settings = st
	}
	return nil
}

// remove forgets a record (and nothing else: deleting a parent deletes
// its children's records too, and each is reported).
func (v *view) remove(id string) {
	s := segs(id)
	switch {
	case len(s) == 2 && s[0] == "products":
		delete(v.products, id)
		v.dirty = true
	case len(s) == 4 && s[0] == "products" && s[2] == "apis":
		pid, aid := "/products/"+s[1], "/apis/"+s[3]
		delFrom(v.productAPIs, pid, aid)
		delFrom(v.apiProducts, aid, pid)
		v.dirty = true
	case len(s) == 2 && s[0] == "apis":
		delete(v.apis, id)
		v.dirty = true
	case len(s) == 4 && s[0] == "apis" && s[2] == "operations":
		aid := "/apis/" + s[1]
		delete(v.ops[aid], id)
		if len(v.ops[aid]) == 0 {
			delete(v.ops, aid)
		}
	case len(s) == 2 && s[0] == "subscriptions":
		if old := v.subs[id]; old != nil {
			delFrom(v.subsByOwner, old.OwnerID, id)
			delete(v.subs, id)
		}
	case len(s) == 2 && s[0] == "users":
		delete(v.users, id)
	case id == resource.PortalSettingsID:
		v.settings = defaultSettings()
	}
}

// syncer brings a view up to the store's version: what the follower does
// for every view of a node; the portal does it itself on each page until
// the follower delivers to it.
type syncer struct {
	mu    sync.Mutex
	store store.Store
	view  *view
}

func (s *syncer) sync(ctx context.Context) error {
	cur, err := s.store.Version(ctx)
	if err != nil {
		return fmt.Errorf("read configuration version: %w", err)
	}
	s.view.mu.RLock()
	have := s.view.version
	s.view.mu.RUnlock()
	if have == cur {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.view.mu.RLock()
	have = s.view.version
	s.view.mu.RUnlock()
	if have >= cur {
		return nil
	}
	if have > 0 {
		changed, deleted, to, err := s.store.Since(ctx, have)
		if err == nil {
			return s.view.Apply(ctx, follower.Change{From: have, To: to, Records: changed, Deleted: deleted})
		}
		if !errors.Is(err, store.ErrTooOld) {
			return fmt.Errorf("read configuration changes: %w", err)
		}
	}
	all, to, err := s.store.All(ctx)
	if err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	return s.view.Apply(ctx, follower.Change{From: have, To: to, Full: true, Records: all})
}

// Read accessors; callers hold v.mu.RLock.

// sortLists rebuilds the sorted lists of published products and of the
// APIs they hold.
func (v *view) sortLists() {
	prods := make([]*resource.Product, 0, len(v.products))
	for _, p := range v.products {
		if p.State == "published" {
			prods = append(prods, p)
		}
	}
	sort.Slice(prods, func(i, j int) bool {
		return lessName(prods[i].DisplayName, prods[i].ID, prods[j].DisplayName, prods[j].ID)
	})
	apis := make([]*resource.API, 0, len(v.apis))
	for id, a := range v.apis {
		if v.visibleAPI(id) {
			apis = append(apis, a)
		}
	}
	sort.Slice(apis, func(i, j int) bool { return lessName(apis[i].DisplayName, apis[i].ID, apis[j].DisplayName, apis[j].ID) })
	v.published, v.listed, v.dirty = prods, apis, false
}

func (v *view) publishedProducts() []*resource.Product { return v.published }

func lessName(a, aid, b, bid string) bool {
	la, lb := strings.ToLower(a), strings.ToLower(b)
	if la != lb {
		return la < lb
	}
	return aid < bid
}

// visibleAPI reports whether an API is in a published product.
func (v *view) visibleAPI(id string) bool {
	for pid := range v.apiProducts[id] {
		if p := v.products[pid]; p != nil && p.State == "published" {
			return true
		}
	}
	return false
}

func (v *view) visibleProduct(id string) *resource.Product {
	if p := v.products[id]; p != nil && p.State == "published" {
		return p
	}
	return nil
}

func (v *view) listedAPIs() []*resource.API { return v.listed }

func (v *view) apisOf(productID string) []*resource.API {
	var out []*resource.API
	for aid := range v.productAPIs[productID] {
		if a := v.apis[aid]; a != nil {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessName(out[i].DisplayName, out[i].ID, out[j].DisplayName, out[j].ID) })
	return out
}

func (v *view) operationsOf(apiID string) []*resource.Operation {
	out := make([]*resource.Operation, 0, len(v.ops[apiID]))
	for _, o := range v.ops[apiID] {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].URLTemplate != out[j].URLTemplate {
			return out[i].URLTemplate < out[j].URLTemplate
		}
		return out[i].Method < out[j].Method
	})
	return out
}

func (v *view) subscriptionsOf(owner string) []*resource.Subscription {
	out := make([]*resource.Subscription, 0, len(v.subsByOwner[owner]))
	for id := range v.subsByOwner[owner] {
		out = append(out, v.subs[id])
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedDate > out[j].CreatedDate || out[i].CreatedDate == out[j].CreatedDate && out[i].ID < out[j].ID
	})
	return out
}

// subscriptionCovers reports whether a subscription's scope grants the API.
func (v *view) subscriptionCovers(s *resource.Subscription, apiID string) bool {
	switch {
	case s.State != "active":
		return false
	case s.Scope == "/apis" || s.Scope == apiID:
		return true
	case strings.HasPrefix(s.Scope, "/products/"):
		return v.productAPIs[s.Scope][apiID]
	}
	return false
}
