package gateway

import "net/http"

// RouteAndKey runs what ServeHTTP does before it builds the Call: route
// the request and check its subscription key against the served snapshot.
// It exists for benchmarks.
func (g *Gateway) RouteAndKey(r *http.Request) bool {
	s := g.snap.Load()
	var m match
	return s.route(r, &m) == outcomeOK && s.admit(r, g.hasher, &m) == outcomeOK
}
