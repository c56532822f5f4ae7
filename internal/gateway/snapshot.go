package gateway

import (
	"context"
	"encoding/hex"

	"fmt"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// snapshot is an immutable view of the configuration that requests are
// served from. Nothing in it changes after build; a new configuration is a
// new snapshot, swapped in atomically.
type snapshot struct {
	version  int64
	apiRoot  *apiNode
	apis     map[string]*apiEntry  // by API id ("/apis/echo")
	subs     map[keyHash]*subEntry // by keyed hash of either key
	policies Policies              // nil: every call uses the default pipeline
}

type apiEntry struct {
	api *resource.API
	ops opTrie
	// build is the operation trie while the snapshot is built.
	build *opNode
	// keyHeader is the canonical form of the key header's name, so the
	// header map is indexed without allocating.
	keyHeader   string
	keyQuery    string
	subRequired bool
	// open is the API's open product (subscriptionRequired false), if any.
	open *resource.Product
	// products are the products containing the API (few: a slice).
	products []*resource.Product
	// backend is the parsed serviceUrl (nil when none); echo selects the
	// built-in echo backend.
	backend *url.URL
	timeout time.Duration
}

// subEntry is what requests need of a subscription, kept small: there may
// be hundreds of thousands.
type subEntry struct {
	id, displayName, createdDate string
	scope, ownerID               string // interned
	user                         *resource.User
	api                          *resource.API     // scope /apis/{id}
	product                      *resource.Product // scope /products/{id}
	allAPIs                      bool              // scope /apis
	// usable: the subscription is active, its scope exists, and its owner
	// (if any) exists and is active.
	usable bool
}

// info is the Call's view of the subscription, with the presented key.
func (e *subEntry) info(key string) *SubscriptionInfo {
	return &SubscriptionInfo{
		ID:          e.id,
		Name:        e.id[strings.LastIndexByte(e.id, '/')+1:],
		DisplayName: e.displayName,
		Scope:       e.scope,
		OwnerID:     e.ownerID,
		CreatedDate: e.createdDate,
		Key:         key,
	}
}

// keyHash is the subscription index's key: the first 128 bits of the keyed
// hash of a subscription key (a truncated HMAC-SHA256, as strong as a
// 128-bit MAC; it halves the index).
type keyHash [16]byte

// interner shares equal strings decoded from many records (methods,
// templates, scopes, owner ids) so that each is held once.
type interner map[string]string

func (in interner) get(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	in[s] = s
	return s
}

// buildSnapshot decodes records into a snapshot. A record that does not
// decode fails the build: records are validated when written, so this is a
// bug or a damaged database, and serving a partial configuration would be
// worse than keeping the previous one.
func buildSnapshot(ctx context.Context, records []store.Record, version int64, compiler PolicyCompiler) (*snapshot, error) {
	s := &snapshot{
		version: version,
		apiRoot: &apiNode{},
		apis:    map[string]*apiEntry{},
		subs:    map[keyHash]*subEntry{},
	}
	if compiler != nil {
		p, err := compiler.Compile(ctx, records)
		if err != nil {
			return nil, fmt.Errorf("compile policies: %w", err)
		}
		s.policies = p
	}

	// Records are processed in ID order so that duplicates (two APIs on one
	// path, two operations on one method and template) resolve the same
	// way on every node.
	recs := make([]*store.Record, 0, len(records))
	for i := range records {
		recs = append(recs, &records[i])
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })

	in := interner{}
	// Shared by every API on the echo backend (read-only: calls copy it).
	echoURL := &url.URL{Scheme: echoScheme, Host: echoHost}
	products := map[string]*resource.Product{}
	users := map[string]*resource.User{}
	var ops []*resource.Operation
	var links [][2]string // product id, api id
	// Subscriptions are reduced to what requests need as they are decoded
	// (their sealed keys are large); owners and scopes are resolved once
	// everything is read.
	type pendingSub struct {
		e      *subEntry
		active bool
		keys   [2]string // hex key hashes
	}
	var subs []pendingSub
	for _, rec := range recs {
		switch rec.Kind {
		case "apis":
			a := &resource.API{}
			if err := decode(rec, a); err != nil {
				return nil, err
			}
			s.apis[a.ID] = newAPIEntry(a, echoURL)
		case "apis/operations":
			o := &resource.Operation{}
			if err := decode(rec, o); err != nil {
				return nil, err
			}
			o.Method = internMethod(o.Method)
			o.URLTemplate = in.get(o.URLTemplate)
			if o.DisplayName == o.Name {
				o.DisplayName = o.Name // share the bytes
			}
			ops = append(ops, o)
		case "products":
			p := &resource.Product{}
			if err := decode(rec, p); err != nil {
				return nil, err
			}
			products[p.ID] = p
		case "products/apis":
			// "/products/{pid}/apis/{aid}"
			pid, aid, ok := strings.Cut(strings.TrimPrefix(rec.ID, "/products/"), "/apis/")
			if !ok {
				return nil, fmt.Errorf("product api link %q: malformed id", rec.ID)
			}
			links = append(links, [2]string{"/products/" + pid, "/apis/" + aid})
		case "users":
			u := &resource.User{}
			if err := decode(rec, u); err != nil {
				return nil, err
			}
			users[u.ID] = u
		case "subscriptions":
			sub := &resource.Subscription{}
			if err := decode(rec, sub); err != nil {
				return nil, err
			}
			subs = append(subs, pendingSub{
				e: &subEntry{
					id:          sub.ID,
					displayName: sub.DisplayName,
					createdDate: sub.CreatedDate,
					scope:       in.get(sub.Scope),
					ownerID:     in.get(sub.OwnerID),
				},
				active: sub.State == "active",
				keys:   [2]string{sub.PrimaryKeyHash, sub.SecondaryKeyHash},
			})
		}
		// Decoded: let the body go now rather than at the end of the build
		// (at 200,000 records this is most of a rebuild's peak memory).
		rec.Body = nil
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}

	for _, o := range ops {
		// "/apis/{aid}/operations/{oid}"
		apiID, _, _ := strings.Cut(o.ID, "/operations/")
		if a := s.apis[apiID]; a != nil {
			a.build.insert(o)
		}
	}
	for _, a := range s.apis {
		a.ops, a.build = a.build.flatten(), nil
	}
	for _, l := range links {
		p, a := products[l[0]], s.apis[l[1]]
		if p == nil || a == nil {
			continue
		}
		a.products = append(a.products, p)
		// An API belongs to at most one open product; if the data says
		// otherwise the first by id wins.
		if !resource.Bool(p.SubscriptionRequired, true) && a.open == nil {
			a.open = p
		}
	}
	// Sorted by id, so the first API on a path is kept.
	apiIDs := make([]string, 0, len(s.apis))
	for id := range s.apis {
		apiIDs = append(apiIDs, id)
	}
	sort.Strings(apiIDs)
	for _, id := range apiIDs {
		s.apiRoot.insert(s.apis[id].api.Path, s.apis[id])
	}

	for _, sub := range subs {
		e := sub.e
		e.usable = sub.active
		if e.ownerID != "" {
			// A subscription whose owner is missing or not active
			// (blocked, pending, deleted) cannot be used.
			e.user = users[e.ownerID]
			if e.user == nil || e.user.State != "active" {
				e.usable = false
			}
		}
		switch {
		case e.scope == "/apis":
			e.allAPIs = true
		case strings.HasPrefix(e.scope, "/apis/"):
			if a := s.apis[e.scope]; a != nil {
				e.api = a.api
			}
		case strings.HasPrefix(e.scope, "/products/"):
			e.product = products[e.scope]
		}
		if !e.allAPIs && e.api == nil && e.product == nil {
			e.usable = false
		}
		// Unusable subscriptions are indexed too: their keys are refused
		// like unknown ones, but the access log names the subscription.
		for _, h := range sub.keys {
			var full [32]byte
			if n, err := hex.Decode(full[:], []byte(h)); err != nil || n != len(full) {
				continue // no key, or not a hash of ours: nothing can match it
			}
			k := keyHash(full[:16])
			if _, dup := s.subs[k]; !dup {
				s.subs[k] = e
			}
		}
	}

	return s, nil
}

// decodeOptions make the JSON v2 decoder (about twice as fast as
// encoding/json here, which matters when a snapshot has 200,000 records)
// accept what encoding/json wrote or accepts: names in any case, duplicate
// names, invalid UTF-8.
var decodeOptions = jsonv2.JoinOptions(
	jsonv2.MatchCaseInsensitiveNames(true),
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

func decode(rec *store.Record, r resource.Resource) error {
	if err := jsonv2.Unmarshal(rec.Body, r, decodeOptions); err != nil {
		return fmt.Errorf("decode %s %q: %w", rec.Kind, rec.ID, err)
	}
	resource.SetMeta(r, rec.ID)
	r.Normalize()
	return nil
}

func newAPIEntry(a *resource.API, echoURL *url.URL) *apiEntry {
	e := &apiEntry{
		api:         a,
		build:       &opNode{},
		keyHeader:   http.CanonicalHeaderKey(a.SubscriptionKeyParameterNames.Header),
		keyQuery:    a.SubscriptionKeyParameterNames.Query,
		subRequired: resource.Bool(a.SubscriptionRequired, true),
		timeout:     time.Duration(a.BackendTimeout) * time.Second,
	}
	switch a.ServiceURL {
	case "":
	case resource.EchoServiceURL:
		e.backend = echoURL
	default:
		// Validated when written; an unparsable one leaves the API without
		// a backend (forwarding then fails with BackendConnectionFailure).
		if u, err := url.Parse(a.ServiceURL); err == nil {
			e.backend = u
		}
	}
	return e
}
