package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tollgate/tollgate/internal/client"
)

// kindSet is the server's resource kinds (GET /kinds), parents first. The
// CLI knows no kind by heart: packages add kinds to the server, and the CLI
// learns them here.
type kindSet struct {
	kinds []client.Kind
}

func loadKinds(ctx context.Context, c *client.Client) (kindSet, error) {
	ks, err := c.Kinds(ctx)
	if err != nil {
		return kindSet{}, err
	}
	return kindSet{kinds: ks}, nil
}

// index returns the position of a kind in parent-first order.
func (ks kindSet) index(name string) int {
	for i, k := range ks.kinds {
		if k.Name == name {
			return i
		}
	}
	return len(ks.kinds)
}

// match finds the kinds a user-typed KIND names: the collection name
// ("apis", "apis/operations"), the apply kind ("api") or its plural
// ("namedValues"), or a nested collection's last segment ("operations").
// Matches are case-insensitive. Several kinds may match ("policy").
func (ks kindSet) match(name string) []client.Kind {
	tests := []func(k client.Kind) bool{
		func(k client.Kind) bool { return strings.EqualFold(k.Name, name) },
		func(k client.Kind) bool {
			return k.ApplyKind != "" && (strings.EqualFold(k.ApplyKind, name) || strings.EqualFold(plural(k.ApplyKind), name))
		},
		func(k client.Kind) bool {
			last := k.Name[strings.LastIndexByte(k.Name, '/')+1:]
			return strings.EqualFold(last, name)
		},
	}
	filter := func(t func(client.Kind) bool) []client.Kind {
		var out []client.Kind
		for _, k := range ks.kinds {
			if t(k) {
				out = append(out, k)
			}
		}
		return out
	}
	// "policies" is the collection of global policies and also the plural
	// of "policy", the apply kind of every scope's: the wider reading
	// wins, so that `get policies` does not hide the APIs' policies.
	if exact, byApply := filter(tests[0]), filter(tests[1]); len(exact) > 0 && len(byApply) > len(exact) && includesAll(byApply, exact) {
		return byApply
	}
	for _, t := range tests {
		if out := filter(t); len(out) > 0 {
			return out
		}
	}
	return nil
}

func includesAll(set, sub []client.Kind) bool {
	for _, s := range sub {
		found := false
		for _, k := range set {
			found = found || k.Name == s.Name
		}
		if !found {
			return false
		}
	}
	return true
}

func plural(s string) string {
	switch {
	case strings.HasSuffix(s, "y") && !strings.HasSuffix(s, "ey"):
		return s[:len(s)-1] + "ies"
	case strings.HasSuffix(s, "s"):
		return s + "es"
	}
	return s + "s"
}

// names lists the kinds' names for error messages.
func (ks kindSet) names() string {
	var out []string
	for _, k := range ks.kinds {
		n := k.Name
		if k.ApplyKind != "" {
			n += " (" + k.ApplyKind + ")"
		}
		out = append(out, n)
	}
	return strings.Join(out, ", ")
}

func patternSegs(k client.Kind) []string {
	return strings.Split(strings.TrimPrefix(k.Pattern, "/"), "/")
}

// holes counts the id segments of a kind's pattern.
func holes(k client.Kind) int { return strings.Count(k.Pattern, "{}") }

// endsWithID reports whether the pattern's last segment is an id (false for
// fixed items such as ".../policies/policy").
func endsWithID(k client.Kind) bool { return strings.HasSuffix(k.Pattern, "/{}") }

// topLevel reports a "/things/{}" kind, whose items apply documents may
// name by their bare name.
func topLevel(k client.Kind) bool { return len(patternSegs(k)) == 2 && endsWithID(k) }

// fill puts ids into the pattern's holes, in order; it uses only the first
// len(ids) holes and stops the path there, so fewer ids give a prefix.
func fill(k client.Kind, ids []string) string {
	var b strings.Builder
	n := 0
	for _, s := range patternSegs(k) {
		if s == "{}" {
			if n == len(ids) {
				break
			}
			s = ids[n]
			n++
		}
		b.WriteString("/" + s)
	}
	return b.String()
}

// matchItem reports whether path is an item of kind k and returns its ids.
func matchItem(k client.Kind, path string) ([]string, bool) {
	if !strings.HasPrefix(path, "/") {
		return nil, false
	}
	segs := strings.Split(path[1:], "/")
	pat := patternSegs(k)
	if len(segs) != len(pat) {
		return nil, false
	}
	var ids []string
	for i, p := range pat {
		switch {
		case p == "{}":
			if !validName(segs[i]) {
				return nil, false
			}
			ids = append(ids, segs[i])
		case p != segs[i]:
			return nil, false
		}
	}
	return ids, true
}

// validName mirrors the server's rule for one path segment, so the CLI
// never builds a path that escapes its segment.
func validName(s string) bool {
	if s == "" || len(s) > 80 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && strings.IndexByte("._~-", c) >= 0)
		if !ok {
			return false
		}
	}
	return true
}

// target is what a KIND and optional ID designate: one item, or the
// collection(s) to list.
type target struct {
	kind client.Kind
	// item is the item's path when the target is one item.
	item string
	// collection is the collection's path when listing one parent's items
	// ("/apis/echo/operations"); "" with item "" means every item of the kind.
	collection string
}

// resolveTarget interprets ID against the candidate kinds. ID is an item
// path ("/apis/echo/operations/get"), a collection path
// ("/apis/echo/operations"), or the ids joined by "/" ("echo/get" for the
// item, "echo" for the parent's collection). wantItem refuses collections.
func resolveTarget(cands []client.Kind, id string, wantItem bool) (target, error) {
	if id == "" {
		if len(cands) > 1 && wantItem {
			return target{}, fmt.Errorf("several kinds match; give an id")
		}
		return target{kind: cands[0]}, nil
	}
	var found []target
	if strings.HasPrefix(id, "/") {
		p := strings.TrimRight(id, "/")
		for _, k := range cands {
			if _, ok := matchItem(k, p); ok {
				found = append(found, target{kind: k, item: p})
			} else if _, ok := matchItem(k, p+"/x"); ok && endsWithID(k) && !wantItem {
				found = append(found, target{kind: k, collection: p})
			}
		}
	} else {
		ids := strings.Split(strings.Trim(id, "/"), "/")
		for _, s := range ids {
			if !validName(s) {
				return target{}, fmt.Errorf("bad id segment %q", s)
			}
		}
		for _, k := range cands {
			switch {
			case len(ids) == holes(k):
				found = append(found, target{kind: k, item: fill(k, ids)})
			case len(ids) == holes(k)-1 && endsWithID(k) && !wantItem:
				found = append(found, target{kind: k, collection: fill(k, ids)})
			}
		}
	}
	switch len(found) {
	case 0:
		var pats []string
		for _, k := range cands {
			pats = append(pats, k.Pattern)
		}
		return target{}, fmt.Errorf("id %q does not fit %s", id, strings.Join(pats, " or "))
	case 1:
		return found[0], nil
	}
	var paths []string
	for _, f := range found {
		paths = append(paths, f.item+f.collection)
	}
	return target{}, fmt.Errorf("id %q is ambiguous (%s): give the full path", id, strings.Join(paths, ", "))
}

// label names an item in messages: "api/echo" for top-level kinds,
// "operation /apis/echo/operations/get" for nested ones.
func label(k client.Kind, path string) string {
	kind := k.ApplyKind
	if kind == "" {
		kind = k.Name
	}
	if topLevel(k) {
		return kind + "/" + path[strings.LastIndexByte(path, '/')+1:]
	}
	return kind + " " + path
}

// lister enumerates items, remembering each collection it listed so that
// walking nested kinds lists every parent collection once.
type lister struct {
	c     *client.Client
	lists map[string][]client.Object
}

func newLister(c *client.Client) *lister {
	return &lister{c: c, lists: map[string][]client.Object{}}
}

func (l *lister) list(ctx context.Context, collection string) ([]client.Object, error) {
	if v, ok := l.lists[collection]; ok {
		return v, nil
	}
	v, err := l.c.List(ctx, collection, nil)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", collection, err)
	}
	sortByID(v)
	l.lists[collection] = v
	return v, nil
}

// all returns every item of kind k, walking parent collections, sorted by id.
func (l *lister) all(ctx context.Context, k client.Kind) ([]client.Object, error) {
	var out []client.Object
	if err := l.walk(ctx, patternSegs(k), "", &out); err != nil {
		return nil, err
	}
	sortByID(out)
	return out, nil
}

func (l *lister) walk(ctx context.Context, segs []string, prefix string, out *[]client.Object) error {
	for i, s := range segs {
		last := i == len(segs)-1
		if s != "{}" {
			prefix += "/" + s
			if last {
				// A fixed item (".../policies/policy"): it exists or not.
				obj, _, err := l.c.Get(ctx, prefix)
				if client.IsNotFound(err) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("get %s: %w", prefix, err)
				}
				*out = append(*out, withID(obj, prefix))
			}
			continue
		}
		items, err := l.list(ctx, prefix)
		if client.IsNotFound(err) && i > 0 {
			return nil // the parent went away while we walked
		}
		if err != nil {
			return err
		}
		if last {
			for _, it := range items {
				*out = append(*out, withID(it, prefix+"/"+itemName(it)))
			}
			return nil
		}
		for _, it := range items {
			name := itemName(it)
			if !validName(name) {
				continue
			}
			if err := l.walk(ctx, segs[i+1:], prefix+"/"+name, out); err != nil {
				return err
			}
		}
		return nil
	}
	return nil
}

// itemName is an item's last path segment: "name", or the end of "id".
func itemName(o client.Object) string {
	if n, ok := o["name"].(string); ok && n != "" {
		return n
	}
	id, _ := o["id"].(string)
	return id[strings.LastIndexByte(id, '/')+1:]
}

// withID makes sure an object carries its path as "id".
func withID(o client.Object, path string) client.Object {
	if o == nil {
		o = client.Object{}
	}
	if id, ok := o["id"].(string); !ok || id == "" {
		o["id"] = path
	}
	return o
}

func objectID(o client.Object) string {
	id, _ := o["id"].(string)
	return id
}

func sortByID(v []client.Object) {
	sort.SliceStable(v, func(i, j int) bool { return objectID(v[i]) < objectID(v[j]) })
}
