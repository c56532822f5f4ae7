package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/internal/resource"
)

// Routing works on the request path as received (r.URL.EscapedPath()):
// segments are split on '/' before any decoding, so an encoded slash (%2F)
// never splits a segment, and the part of the path after the API's path is
// forwarded exactly as the client sent it. Each segment is compared in its
// decoded form (only segments that contain '%' are decoded, which is the
// only case that allocates), so "/a%62c" matches the literal "abc".

// edges are a trie node's children by segment: a short slice scanned in
// order while there are few (cheaper and more cache-friendly than a map,
// and the usual case for operations), a map beyond that.
type edges[T any] struct {
	list []edge[T]
	m    map[string]*T
}

type edge[T any] struct {
	seg  string
	node *T
	// first is seg's first byte, kept inline so most mismatches are
	// rejected without touching seg's bytes.
	first byte
}

const edgeListMax = 8

func (e *edges[T]) find(seg string) *T {
	if e.m != nil {
		return e.m[seg]
	}
	if seg == "" {
		for i := range e.list {
			if e.list[i].seg == "" {
				return e.list[i].node
			}
		}
		return nil
	}
	for i := range e.list {
		x := &e.list[i]
		if x.first == seg[0] && len(x.seg) == len(seg) && x.seg == seg {
			return x.node
		}
	}
	return nil
}

// child returns the child for seg, adding it if absent.
func (e *edges[T]) child(seg string) *T {
	if c := e.find(seg); c != nil {
		return c
	}
	c := new(T)
	if e.m == nil && len(e.list) < edgeListMax {
		var first byte
		if seg != "" {
			first = seg[0]
		}
		e.list = append(e.list, edge[T]{seg: seg, node: c, first: first})
		return c
	}
	if e.m == nil {
		e.m = make(map[string]*T, 2*edgeListMax)
		for _, x := range e.list {
			e.m[x.seg] = x.node
		}
		e.list = nil
	}
	e.m[seg] = c
	return c
}

// apiNode is one segment of the API path trie.
type apiNode struct {
	children edges[apiNode]
	api      *apiEntry
}

func (n *apiNode) insert(path string, a *apiEntry) (existing *apiEntry) {
	for _, seg := range splitPath(path) {
		n = n.children.child(seg)
	}
	if n.api != nil {
		return n.api
	}
	n.api = a
	return nil
}

// findAPI returns the API whose path is the longest segment-wise prefix of
// path (an escaped path starting with '/'), and the rest of path after it
// ("" or starting with '/').
func (n *apiNode) findAPI(path string) (*apiEntry, string) {
	best, bestEnd := n.api, 0
	i := 1
	for i <= len(path) {
		j := strings.IndexByte(path[i:], '/')
		if j < 0 {
			j = len(path)
		} else {
			j += i
		}
		c := n.children.find(decodeSegment(path[i:j]))
		if c == nil {
			break
		}
		n = c
		if n.api != nil {
			best, bestEnd = n.api, j
		}
		i = j + 1
	}
	if best == nil {
		return nil, ""
	}
	return best, path[bestEnd:]
}

// decodeSegment percent-decodes a path segment if it needs it; a malformed
// escape is compared as written (it then matches nothing configured).
func decodeSegment(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	d, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return d
}

// splitPath splits a configured (decoded) API path into segments.
func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// opNode is one segment of an API's operation trie while it is built; it
// is then flattened into an opTrie, which is what requests are matched
// against.
type opNode struct {
	lit   edges[opNode]
	param *opNode
	// Pointers, nil where no template ends: most nodes are inner nodes,
	// and a snapshot may hold a million of them.
	end  *methodSet // operations whose template ends here
	wild *methodSet // operations whose template ends here with "/*"
}

type methodSet struct {
	ops []methodOp // one per specific method
	any *opEntry   // method "*"
}

// methodOp keeps the method inline, so that finding it touches no other
// memory than the slice.
type methodOp struct {
	method string
	op     *opEntry
}

// add registers o, keeping the first one added for a method (the caller adds
// in ID order, so duplicates resolve deterministically).
func (m *methodSet) add(o *opEntry) {
	if o.op.Method == "*" {
		if m.any == nil {
			m.any = o
		}
		return
	}
	for _, e := range m.ops {
		if e.method == o.op.Method {
			return
		}
	}
	m.ops = append(m.ops, methodOp{internMethod(o.op.Method), o})
}

// internMethod returns net/http's constant for a standard method, so that
// comparing it with a request's method (which net/http also interns) is
// mostly a pointer comparison.
func internMethod(m string) string {
	for _, c := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace} {
		if m == c {
			return c
		}
	}
	return m
}

type opEntry struct {
	op *resource.Operation
	// params names the template's parameters in path order.
	params []string
}

// templateSegments returns a template's path segments, ignoring its query
// part and one trailing slash, and whether it ends with the "/*" wildcard.
func templateSegments(t string) (segs []string, wild bool) {
	if i := strings.IndexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	t = strings.TrimPrefix(t, "/")
	t = strings.TrimSuffix(t, "/")
	if t == "" {
		return nil, false
	}
	segs = strings.Split(t, "/")
	if segs[len(segs)-1] == "*" {
		return segs[:len(segs)-1], true
	}
	return segs, false
}

func (n *opNode) insert(op *resource.Operation) {
	segs, wild := templateSegments(op.URLTemplate)
	e := &opEntry{op: op}
	for _, s := range segs {
		if len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}' {
			e.params = append(e.params, s[1:len(s)-1])
			if n.param == nil {
				n.param = &opNode{}
			}
			n = n.param
			continue
		}
		n = n.lit.child(decodeSegment(s))
	}
	if wild {
		if n.wild == nil {
			n.wild = &methodSet{}
		}
		n.wild.add(e)
	} else {
		if n.end == nil {
			n.end = &methodSet{}
		}
		n.end.add(e)
	}
}

// span is a captured parameter: path[start:end].
type span struct{ start, end int }

// captures holds parameter spans in a fixed array, so that matching does
// not allocate; templates with more parameters than that spill to extra.
type captures struct {
	arr   [8]span
	n     int
	extra []span
}

func (c *captures) push(sp span) {
	if c.n < len(c.arr) {
		c.arr[c.n] = sp
	} else {
		c.extra = append(c.extra, sp)
	}
	c.n++
}

func (c *captures) pop() {
	c.n--
	if c.n >= len(c.arr) {
		c.extra = c.extra[:c.n-len(c.arr)]
	}
}

func (c *captures) get(i int) span {
	if i < len(c.arr) {
		return c.arr[i]
	}
	return c.extra[i-len(c.arr)]
}

// opTrie is an API's operations flattened into three arrays, so that a
// match touches a few adjacent cache lines rather than a node per segment
// scattered over the heap. Matching tries, at each segment, the literal
// child, then the parameter child, then the wildcard, backtracking on
// failure: literal beats parameter beats wildcard from the left; among the
// operations ending at a node a specific method beats "*".
type opTrie struct {
	nodes   []flatNode // nodes[0] is the root
	edges   []flatEdge // literal children, contiguous per node
	methods []methodOp // specific-method operations, contiguous per node
}

type flatNode struct {
	edges     span32 // into opTrie.edges
	end, wild span32 // into opTrie.methods
	endAny    *opEntry
	wildAny   *opEntry
	// param is the child for a parameter segment; 0 when none (the root
	// is nobody's child).
	param int32
	// edgeMap indexes the literal children when there are many.
	edgeMap map[string]int32
}

type span32 struct{ lo, hi uint32 }

type flatEdge struct {
	seg   string
	child int32
	first byte // seg's first byte, inline: most mismatches stop here
}

// flatten turns the built trie into its matching form.
func (n *opNode) flatten() opTrie {
	var t opTrie
	t.walk(n)
	// Right-size: appends left up to twice the room, and there is one
	// trie per API.
	t.nodes, t.edges, t.methods = slices.Clone(t.nodes), slices.Clone(t.edges), slices.Clone(t.methods)
	return t
}

func (t *opTrie) walk(n *opNode) int32 {
	idx := int32(len(t.nodes))
	t.nodes = append(t.nodes, flatNode{})
	var f flatNode
	if n.end != nil {
		f.end, f.endAny = t.addMethods(n.end)
	}
	if n.wild != nil {
		f.wild, f.wildAny = t.addMethods(n.wild)
	}
	var lits []edge[opNode]
	if n.lit.m != nil {
		for seg, c := range n.lit.m {
			lits = append(lits, edge[opNode]{seg: seg, node: c})
		}
		slices.SortFunc(lits, func(a, b edge[opNode]) int { return strings.Compare(a.seg, b.seg) })
	} else {
		lits = n.lit.list
	}
	// This node's edges are contiguous; children are numbered as they
	// are walked, so edges are filled in afterwards.
	lo := uint32(len(t.edges))
	t.edges = append(t.edges, make([]flatEdge, len(lits))...)
	f.edges = span32{lo, lo + uint32(len(lits))}
	for k, l := range lits {
		e := flatEdge{seg: l.seg, child: t.walk(l.node)}
		if l.seg != "" {
			e.first = l.seg[0]
		}
		t.edges[int(lo)+k] = e
	}
	if len(lits) > edgeListMax {
		f.edgeMap = make(map[string]int32, len(lits))
		for _, e := range t.edges[f.edges.lo:f.edges.hi] {
			f.edgeMap[e.seg] = e.child
		}
	}
	if n.param != nil {
		f.param = t.walk(n.param)
	}
	t.nodes[idx] = f
	return idx
}

func (t *opTrie) addMethods(m *methodSet) (span32, *opEntry) {
	lo := uint32(len(t.methods))
	t.methods = append(t.methods, m.ops...)
	return span32{lo, uint32(len(t.methods))}, m.any
}

func (t *opTrie) find(s span32, any *opEntry, method string) *opEntry {
	for i := s.lo; i < s.hi; i++ {
		if m := &t.methods[i]; m.method == method {
			return m.op
		}
	}
	return any
}

// literal returns the literal child for seg, or 0.
func (t *opTrie) literal(n *flatNode, seg string) int32 {
	if n.edgeMap != nil {
		return n.edgeMap[seg]
	}
	if seg == "" {
		for i := n.edges.lo; i < n.edges.hi; i++ {
			if t.edges[i].seg == "" {
				return t.edges[i].child
			}
		}
		return 0
	}
	for i := n.edges.lo; i < n.edges.hi; i++ {
		if e := &t.edges[i]; e.first == seg[0] && len(e.seg) == len(seg) && e.seg == seg {
			return e.child
		}
	}
	return 0
}

// matchOperation matches rest (the escaped path after the API's path) and
// method. It returns the operation and the path its captures index.
func (t *opTrie) matchOperation(rest, method string, c *captures) (*opEntry, string) {
	if len(t.nodes) == 0 {
		return nil, ""
	}
	p := strings.TrimPrefix(rest, "/")
	p = strings.TrimSuffix(p, "/")
	c.n, c.extra = 0, nil
	i := 0
	if p == "" {
		i = 1 // no segments
	}
	return t.match(0, p, i, method, c), p
}

func (t *opTrie) match(ni int32, path string, i int, method string, c *captures) *opEntry {
	n := &t.nodes[ni]
	if i > len(path) {
		if o := t.find(n.end, n.endAny, method); o != nil {
			return o
		}
		return t.find(n.wild, n.wildAny, method)
	}
	j := strings.IndexByte(path[i:], '/')
	if j < 0 {
		j = len(path)
	} else {
		j += i
	}
	seg := path[i:j]
	if child := t.literal(n, decodeSegment(seg)); child != 0 {
		if o := t.match(child, path, j+1, method, c); o != nil {
			return o
		}
	}
	if n.param != 0 && seg != "" {
		c.push(span{i, j})
		if o := t.match(n.param, path, j+1, method, c); o != nil {
			return o
		}
		c.pop()
	}
	return t.find(n.wild, n.wildAny, method)
}
