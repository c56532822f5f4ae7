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

// AuthorizeApp runs the application check of an application token for
// the API apiID against the served snapshot; it returns the reason the
// token is refused ("" when admitted). It exists for benchmarks.
func (g *Gateway) AuthorizeApp(r *http.Request, apiID, raw string) string {
	s := g.snap.Load()
	m := match{api: s.apis[apiID]}
	return s.apps.authorize(r.Context(), raw, &m)
}
