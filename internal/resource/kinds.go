package resource

import (
	"sort"
	"strings"
)

// Kind describes one collection of the management API.
type Kind struct {
	// Name is the collection's name, its path's literal segments joined by
	// "/": "apis", "apis/operations", "products/apis", "apis/policies".
	Name string
	// Pattern is the item path with "{}" for each id segment:
	// "/apis/{}/operations/{}". A fixed last segment (policies' "policy")
	// is written literally: "/apis/{}/policies/policy".
	Pattern string
	// New returns an empty resource of this kind.
	New func() Resource
	// Secrets are the JSON names of write-only fields: stored sealed, left
	// out of GET, returned by listSecrets.
	Secrets []string
	// Hidden are the JSON names of fields that are stored but neither
	// accepted from nor returned to API callers (e.g. lookup hashes).
	Hidden []string
	// ReadOnly are the JSON names of fields the server sets (createdDate,
	// generated ids); `tollgate export` leaves them out.
	ReadOnly []string
	// ApplyKind is the name `tollgate apply` documents use ("api",
	// "operation", ...).
	ApplyKind string
	// BuiltIn are the IDs of resources Tollgate makes itself in every
	// installation (with installation-specific generated fields); `tollgate
	// export` leaves them out, since another installation has its own.
	BuiltIn []string
}

// Registry maps paths to kinds. Packages that add resources (the identity
// provider, the credential manager) register theirs at wiring time.
type Registry struct {
	kinds []*Kind
	segs  [][]string
}

// Kind names of the core resources: the store's Record.Kind and the
// management API's collection paths.
const (
	KindNamedValues            = "namedValues"
	KindPolicyFragments        = "policyFragments"
	KindCertificates           = "certificates"
	KindBackends               = "backends"
	KindAPISchemas             = "apis/schemas"
	KindAuthorizationServers   = "authorizationServers"
	KindOpenIDConnectProviders = "openidConnectProviders"
	KindUsers                  = "users"
	KindAPIs                   = "apis"
	KindOperations             = "apis/operations"
	KindProducts               = "products"
	KindProductAPIs            = "products/apis"
	KindSubscriptions          = "subscriptions"
	KindGlobalPolicy           = "policies"
	KindProductPolicies        = "products/policies"
	KindAPIPolicies            = "apis/policies"
	KindOperationPolicies      = "apis/operations/policies"
)

// NewRegistry returns a registry holding the core kinds.
func NewRegistry() *Registry {
	r := &Registry{}
	for _, k := range CoreKinds() {
		r.Register(k)
	}
	return r
}

// CoreKinds are the foundation's resources, in dependency order: a kind
// comes after the kinds its resources refer to (policies after the named
// values and fragments they use, APIs after the authorization servers they
// name, subscriptions after users), so `tollgate apply` and `export` work
// in this order.
func CoreKinds() []Kind {
	return append([]Kind{
		{Name: KindNamedValues, Pattern: "/namedValues/{}", New: func() Resource { return &NamedValue{} }, Secrets: []string{"value"}, ApplyKind: "namedValue"},
		{Name: KindPolicyFragments, Pattern: "/policyFragments/{}", New: func() Resource { return &PolicyFragment{} }, ApplyKind: "policyFragment"},
		{Name: KindCertificates, Pattern: "/certificates/{}", New: func() Resource { return &Certificate{} }, Secrets: []string{"privateKey", "password"}, ReadOnly: []string{"thumbprint", "subject", "expirationDate"}, ApplyKind: "certificate"},
		{Name: KindBackends, Pattern: "/backends/{}", New: func() Resource { return &Backend{} }, Secrets: []string{"credentialValues"}, Hidden: []string{"credentialValues"}, ApplyKind: "backend"},
		{Name: KindAuthorizationServers, Pattern: "/authorizationServers/{}", New: func() Resource { return &AuthorizationServer{} }, Secrets: []string{"clientSecret"}, ApplyKind: "authorizationServer"},
		{Name: KindOpenIDConnectProviders, Pattern: "/openidConnectProviders/{}", New: func() Resource { return &OpenIDConnectProvider{} }, Secrets: []string{"clientSecret"}, ApplyKind: "openidConnectProvider"},
		PortalSettingsKind(),
		{Name: KindUsers, Pattern: "/users/{}", New: func() Resource { return &User{} }, ApplyKind: "user"},
		{Name: KindAPIs, Pattern: "/apis/{}", New: func() Resource { return &API{} }, ApplyKind: "api"},
		{Name: KindOperations, Pattern: "/apis/{}/operations/{}", New: func() Resource { return &Operation{} }, ApplyKind: "operation"},
		{Name: KindAPISchemas, Pattern: "/apis/{}/schemas/{}", New: func() Resource { return &APISchema{} }, ApplyKind: "apiSchema"},
		SpecificationKind(),
		{Name: KindProducts, Pattern: "/products/{}", New: func() Resource { return &Product{} }, ReadOnly: []string{"application"}, ApplyKind: "product"},
		{Name: KindProductAPIs, Pattern: "/products/{}/apis/{}", New: func() Resource { return &ProductAPI{} }, ApplyKind: "productApi"},
		{Name: KindSubscriptions, Pattern: "/subscriptions/{}", New: func() Resource { return &Subscription{} }, Secrets: []string{"primaryKey", "secondaryKey"}, Hidden: []string{"primaryKeyHash", "secondaryKeyHash"}, ReadOnly: []string{"createdDate"}, ApplyKind: "subscription"},
		{Name: KindGlobalPolicy, Pattern: "/policies/policy", New: func() Resource { return &Policy{} }, ApplyKind: "policy"},
		{Name: KindProductPolicies, Pattern: "/products/{}/policies/policy", New: func() Resource { return &Policy{} }, ApplyKind: "policy"},
		{Name: KindAPIPolicies, Pattern: "/apis/{}/policies/policy", New: func() Resource { return &Policy{} }, ApplyKind: "policy"},
		{Name: KindOperationPolicies, Pattern: "/apis/{}/operations/{}/policies/policy", New: func() Resource { return &Policy{} }, ApplyKind: "policy"},
	}, ApplicationKinds()...)
}

// PolicyKinds are the kinds whose resources are policy documents, from the
// broadest scope to the narrowest.
func PolicyKinds() []string {
	return []string{"policies", "products/policies", "apis/policies", "apis/operations/policies"}
}

// Register adds a kind. Registering a name twice panics: it is a wiring bug.
func (r *Registry) Register(k Kind) {
	for _, e := range r.kinds {
		if e.Name == k.Name {
			panic("resource: kind registered twice: " + k.Name)
		}
	}
	kk := k
	r.kinds = append(r.kinds, &kk)
	r.segs = append(r.segs, strings.Split(strings.TrimPrefix(k.Pattern, "/"), "/"))
}

// Kinds returns every registered kind in dependency order: by depth
// (parents before children), and at one depth in registration order.
func (r *Registry) Kinds() []*Kind {
	out := append([]*Kind(nil), r.kinds...)
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Count(out[i].Pattern, "/") < strings.Count(out[j].Pattern, "/")
	})
	return out
}

// Kind returns the kind with the given name.
func (r *Registry) Kind(name string) (*Kind, bool) {
	for _, k := range r.kinds {
		if k.Name == name {
			return k, true
		}
	}
	return nil, false
}

// ByApplyKind finds a kind by its `tollgate apply` name, case-insensitively.
// Several kinds share "policy"; the id decides among them, so callers with
// an id should use Resolve instead.
func (r *Registry) ByApplyKind(name string) []*Kind {
	var out []*Kind
	for _, k := range r.kinds {
		if strings.EqualFold(k.ApplyKind, name) {
			out = append(out, k)
		}
	}
	return out
}

// Resolve returns the kind of an item path and the path of its parent
// ("" for top-level items). Every "{}" segment must be a valid name.
func (r *Registry) Resolve(id string) (k *Kind, parent string, ok bool) {
	if !strings.HasPrefix(id, "/") {
		return nil, "", false
	}
	segs := strings.Split(id[1:], "/")
	for i, pat := range r.segs {
		if len(pat) != len(segs) {
			continue
		}
		match := true
		for j, p := range pat {
			if p == "{}" {
				if !ValidName(segs[j]) {
					match = false
					break
				}
			} else if p != segs[j] {
				match = false
				break
			}
		}
		if match {
			k := r.kinds[i]
			return k, ParentOf(k, id), true
		}
	}
	return nil, "", false
}

// InvalidName reports whether path has the shape of a kind's item path,
// collection path or item action path (POST {item}/{action}) except that a
// name segment is not a valid name, and returns the first such segment. It
// lets callers answer "bad name" rather than "no such path".
func (r *Registry) InvalidName(path string) (segment string, ok bool) {
	if !strings.HasPrefix(path, "/") {
		return "", false
	}
	segs := strings.Split(path[1:], "/")
	for _, pat := range r.segs {
		for _, p := range [][]string{pat, pat[:len(pat)-1], append(pat[:len(pat):len(pat)], "{action}")} {
			if bad, ok := badSegment(p, segs); ok {
				return bad, true
			}
		}
	}
	return "", false
}

// badSegment matches segs against a pattern whose literal segments must be
// equal and whose "{}" segments must all be names but one at least is not.
func badSegment(pat, segs []string) (string, bool) {
	if len(pat) != len(segs) || len(pat) == 0 {
		return "", false
	}
	bad, found := "", false
	for j, p := range pat {
		switch {
		case p == "{action}":
		case p == "{}":
			if !found && !ValidName(segs[j]) {
				bad, found = segs[j], true
			}
		case p != segs[j]:
			return "", false
		}
	}
	return bad, found
}

// ResolveCollection returns the kind whose collection is at path (an item
// path without its last id segment, e.g. "/apis/echo/operations") and the
// parent path.
func (r *Registry) ResolveCollection(path string) (k *Kind, parent string, ok bool) {
	k, parent, ok = r.Resolve(path + "/x")
	if !ok || strings.HasSuffix(k.Pattern, "/policy") {
		return nil, "", false
	}
	return k, parent, true
}

// ParentOf returns the ID of the resource that owns id: the item path of the
// pattern's previous "{}" segment.
func ParentOf(k *Kind, id string) string {
	pat := strings.Split(strings.TrimPrefix(k.Pattern, "/"), "/")
	segs := strings.Split(strings.TrimPrefix(id, "/"), "/")
	// The parent is the prefix ending at the last "{}" before the item's
	// own collection segment.
	last := len(pat) - 1
	if pat[last] == "{}" {
		last -= 2 // skip own id and own collection name
	} else {
		last -= 2 // "policies/policy"
	}
	for last >= 0 && pat[last] != "{}" {
		last--
	}
	if last < 0 {
		return ""
	}
	return "/" + strings.Join(segs[:last+1], "/")
}
