package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// snapshot is an immutable view of the configuration that requests are
// served from. Nothing in it changes after build; a new configuration is a
// new snapshot, swapped in atomically.
type snapshot struct {
	version  int64
	apiRoot  *apiNode
	apis     map[string]*apiEntry // by API id ("/apis/echo")
	subs     *subIndex            // by keyed hash of either key
	policies Policies             // nil: every call uses the default pipeline
	apps     *appIndex            // OAuth products and client applications
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
	// tokenProducts: one of products admits application tokens;
	// keyProducts: one admits subscription keys.
	tokenProducts, keyProducts bool
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
	// What the record says, kept so that a later build can resolve the
	// owner and scope again, or take the keys out of the index.
	active bool
	nkeys  uint8
	keys   [2]keyHash
}

// info is the Call's view of the subscription, with the presented key.
func (e *subEntry) info(key string) *SubscriptionInfo {
	return &SubscriptionInfo{
		ID:          e.id,
		Name:        resource.NameOf(e.id),
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
