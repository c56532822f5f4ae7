package server

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/store"
)

// defaultsState records that the defaults were made, so deleting them later
// does not bring them back on the next start.
const defaultsState = "bootstrap/defaults"

// defaultResources are what APIM makes in a new instance: an administrator,
// the Starter and Unlimited products, the Echo API in both, and the
// administrator's subscriptions. They go through the management API's own
// write path, so they are validated like anything a user writes.
func defaultResources() []struct {
	id   string
	body any
} {
	type doc = map[string]any
	ops := []struct{ name, method, tmpl, display string }{
		{"retrieve-resource", "GET", "/resource", "Retrieve resource"},
		{"create-resource", "POST", "/resource", "Create resource"},
		{"modify-resource", "PUT", "/resource", "Modify resource"},
		{"patch-resource", "PATCH", "/resource", "Patch resource"},
		{"remove-resource", "DELETE", "/resource", "Remove resource"},
		{"all-operations", "*", "/*", "Any method, any path"},
	}
	out := []struct {
		id   string
		body any
	}{
		{"/users/admin", doc{"email": "admin@tollgate.local", "firstName": "Administrator", "lastName": "", "role": "administrator"}},
		{"/products/starter", doc{"displayName": "Starter", "description": "Subscribers will be able to run 5 calls/minute up to a maximum of 100 calls/week.", "subscriptionRequired": true, "approvalRequired": false, "subscriptionsLimit": 1, "state": "published"}},
		{"/products/unlimited", doc{"displayName": "Unlimited", "description": "Subscribers have completely unlimited access to the API. Administrator approval is required.", "subscriptionRequired": true, "approvalRequired": true, "subscriptionsLimit": 1, "state": "published"}},
		{"/apis/echo-api", doc{"displayName": "Echo API", "description": "Returns the request it received, as JSON. Served by Tollgate itself.", "path": "echo", "serviceUrl": "tollgate:echo"}},
	}
	for _, op := range ops {
		out = append(out, struct {
			id   string
			body any
		}{"/apis/echo-api/operations/" + op.name, doc{"displayName": op.display, "method": op.method, "urlTemplate": op.tmpl}})
	}
	for _, rest := range []struct {
		id   string
		body any
	}{
		{"/products/starter/apis/echo-api", doc{}},
		{"/products/unlimited/apis/echo-api", doc{}},
		// APIM's default Starter policy: 5 calls a minute, 100 a week.
		{"/products/starter/policies/policy", doc{"format": "xml", "value": policy.StarterProductPolicy}},
		{"/subscriptions/admin-starter", doc{"displayName": "Administrator's Starter subscription", "scope": "/products/starter", "ownerId": "/users/admin", "state": "active"}},
		{"/subscriptions/admin-unlimited", doc{"displayName": "Administrator's Unlimited subscription", "scope": "/products/unlimited", "ownerId": "/users/admin", "state": "active"}},
	} {
		out = append(out, rest)
	}
	return out
}

// createDefaults makes the default resources once per database. It reports
// whether it made them now.
func createDefaults(ctx context.Context, st store.Store, m *management.Server) (bool, error) {
	err := st.State().Create(ctx, store.StateRecord{Key: defaultsState, Value: []byte("creating")})
	if errors.Is(err, store.ErrConflict) {
		rec, gerr := st.State().Get(ctx, defaultsState)
		if gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
			return false, gerr
		}
		if gerr == nil && string(rec.Value) == "done" {
			return false, nil
		}
		// A start that was cut short: finish the defaults. Writing them
		// again is harmless (replacing keeps subscription keys).
	} else if err != nil {
		return false, err
	}
	// One transaction: one configuration version (and one "gateway
	// configuration loaded" line before the banner, not one per resource).
	var ids []string
	var bodies [][]byte
	for _, d := range defaultResources() {
		body, err := json.Marshal(d.body)
		if err != nil {
			return false, err
		}
		ids, bodies = append(ids, d.id), append(bodies, body)
	}
	if err := m.PutAll(ctx, ids, bodies); err != nil {
		// Let the next start try again rather than leave the defaults unmade.
		_ = st.State().Delete(ctx, defaultsState)
		return false, err
	}
	return true, st.State().Put(ctx, store.StateRecord{Key: defaultsState, Value: []byte("done")})
}

// defaultStarterKey returns the administrator's Starter key, for the
// first-start banner.
func (s *Server) defaultStarterKey(ctx context.Context) (string, error) {
	return s.mgmt.Secret(ctx, "/subscriptions/admin-starter", "primaryKey")
}
