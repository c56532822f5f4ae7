package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/jwtvalidate"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// Application authorization: a product whose authenticationType includes
// oauth2Token admits calls that carry an application's access token
// (Authorization: Bearer) instead of a subscription key. The token must be
// valid (signature by the built-in provider's keys, lifetime), name the
// product's registration as its aud, carry the product's app role, and
// come from a client application (azp or appid) that is active and linked
// to the product in the snapshot served, so that unlinking or suspending it
// takes effect on the next request.

// TokenValidator verifies access tokens; jwtvalidate.Validator (with the
// built-in provider's keys and its verified-token cache) satisfies it.
type TokenValidator interface {
	Validate(ctx context.Context, raw string) (*jwtvalidate.Token, error)
}

// Messages and reasons of refused application tokens.
const (
	MsgTokenMissing = "Access denied due to missing access token. Make sure to include an application's access token (Authorization: Bearer) when making requests to an API."
	MsgTokenInvalid = "Access denied due to invalid access token. Make sure to provide a valid token for an active application with access to the product."

	ReasonTokenNotPresent       = "TokenNotPresent"
	ReasonTokenInvalid          = "TokenInvalid"
	ReasonTokenNotForProduct    = "TokenAudienceNotAllowed"
	ReasonTokenRoleMissing      = "TokenRoleMissing"
	ReasonApplicationNotFound   = "ApplicationNotFound"
	ReasonApplicationSuspended  = "ApplicationSuspended"
	ReasonApplicationNotLinked  = "ApplicationNotLinked"
	wwwAuthenticateInvalidToken = `Bearer error="invalid_token"`
)

// ApplicationInfo is what the gateway knows of the client application a
// call was admitted for.
type ApplicationInfo = apicall.ApplicationInfo

// appEntry is a client application as requests need it.
type appEntry struct {
	info *ApplicationInfo
	user *resource.User
	// usable: active, and its owner exists and is active.
	usable bool
	// products are the ids of the linked products (few: a slice), sharing
	// the products' own id strings where they exist, so that comparing
	// with a product's id is mostly a pointer comparison.
	products []string
}

// appIndex is the snapshot's application view. Nothing in it changes once
// a snapshot holds it.
type appIndex struct {
	tokens TokenValidator
	// byAudience maps the registration id (aud) of every OAuth product to
	// the product.
	byAudience map[string]*resource.Product
	// byClient maps a client id (azp) to its application.
	byClient map[string]*appEntry
}

// appClaims are the claims the check reads, decoded once per verified
// token (the validator's cache keeps the token, and Memo the claims).
type appClaims struct {
	client string
	roles  []string
}

// readAppClaims decodes the token's claims into a map of its own and keeps
// only what the check reads: Token.Claims would keep the whole map (some
// 2 KB) on every cached token for as long as it is cached.
func readAppClaims(t *jwtvalidate.Token) any {
	c := &appClaims{}
	var claims map[string]any
	// The payload's signature was checked by Validate.
	_ = json.Unmarshal([]byte(t.PayloadJSON()), &claims)
	if s, ok := claims["azp"].(string); ok {
		c.client = s
	} else if s, ok := claims["appid"].(string); ok {
		c.client = s
	}
	if rs, ok := claims["roles"].([]any); ok {
		c.roles = make([]string, 0, len(rs))
		for _, r := range rs {
			if s, ok := r.(string); ok {
				c.roles = append(c.roles, s)
			}
		}
	}
	return c
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	v := r.Header["Authorization"]
	if len(v) == 0 || len(v[0]) < 7 || !strings.EqualFold(v[0][:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(v[0][7:])
	return t, t != ""
}

// admitToken admits a call without a subscription key to an API in an
// OAuth product. done is false when the call carries no token and may
// still be admitted another way (an open product, no subscription
// required, or a product that takes keys: the key rules then decide).
func (s *snapshot) admitToken(r *http.Request, m *match) (o outcome, done bool) {
	raw, ok := bearer(r)
	if !ok {
		if m.api.open != nil || !m.api.subRequired || m.api.keyProducts {
			return outcomeOK, false
		}
		m.appReason = ReasonTokenNotPresent
		return outcomeTokenRefused, true
	}
	m.appReason = s.apps.authorize(r.Context(), raw, m)
	if m.appReason != "" {
		return outcomeTokenRefused, true
	}
	return outcomeOK, true
}

// authorize checks a token for the routed API and sets m.product and m.app;
// it returns the reason a token is refused, "" when it is accepted.
func (x *appIndex) authorize(ctx context.Context, raw string, m *match) string {
	if x == nil || x.tokens == nil {
		return ReasonTokenInvalid
	}
	tok, err := x.tokens.Validate(ctx, raw)
	if err != nil {
		var je *jwtvalidate.Error
		if errors.As(err, &je) {
			return je.Reason
		}
		return ReasonTokenInvalid
	}
	var product *resource.Product
	for _, aud := range tok.Audiences {
		if p := x.byAudience[aud]; p != nil && slices.Contains(m.api.products, p) {
			product = p
			break
		}
	}
	if product == nil {
		return ReasonTokenNotForProduct
	}
	claims := tok.Memo(readAppClaims).(*appClaims)
	if !slices.Contains(claims.roles, product.Application.Role) {
		return ReasonTokenRoleMissing
	}
	app := x.byClient[claims.client]
	if app == nil {
		return ReasonApplicationNotFound
	}
	m.app = app
	if !app.usable {
		return ReasonApplicationSuspended
	}
	if !slices.Contains(app.products, product.ID) {
		return ReasonApplicationNotLinked
	}
	m.product = product
	return ""
}

// writeTokenRefused answers a refused token: 401 with
// WWW-Authenticate, as RFC 6750 asks.
func writeTokenRefused(w http.ResponseWriter, reason string) {
	w.Header().Set("WWW-Authenticate", wwwAuthenticateInvalidToken)
	msg := MsgTokenInvalid
	if reason == ReasonTokenNotPresent {
		msg = MsgTokenMissing
	}
	apicall.WriteError(w, http.StatusUnauthorized, msg)
}

// appConfig is the decoded client applications and links between builds.
type appConfig struct {
	tokens   TokenValidator
	apps     map[string]*resource.ClientApplication // by id
	links    map[string][2]string                   // link id -> application id, product id
	appLinks map[string][]string                    // application id -> link ids
	dirty    map[string]bool                        // applications to resolve again
	indexed  map[string]string                      // application id -> the client id it is indexed by
	index    *appIndex
}

func newAppConfig() *appConfig {
	return &appConfig{
		apps: map[string]*resource.ClientApplication{}, links: map[string][2]string{},
		appLinks: map[string][]string{}, dirty: map[string]bool{}, indexed: map[string]string{},
		index: &appIndex{byAudience: map[string]*resource.Product{}, byClient: map[string]*appEntry{}},
	}
}

// add decodes a client application or link; false for other kinds.
func (ac *appConfig) add(rec *store.Record) (bool, error) {
	switch rec.Kind {
	case "clientApplications":
		a := &resource.ClientApplication{}
		if err := decode(rec, a); err != nil {
			return true, err
		}
		a.ClientSecret = "" // never needed here
		ac.apps[a.ID] = a
		ac.dirty[a.ID] = true
	case "clientApplications/productLinks":
		l := &resource.ProductLink{}
		if err := decode(rec, l); err != nil {
			return true, err
		}
		appID := rec.Parent
		if appID == "" {
			appID, _, _ = strings.Cut(rec.ID, "/productLinks/")
		}
		ac.links[rec.ID] = [2]string{appID, l.ProductID}
		ids := ac.appLinks[appID]
		i, _ := slices.BinarySearch(ids, rec.ID)
		ac.appLinks[appID] = slices.Insert(ids, i, rec.ID)
		ac.dirty[appID] = true
	default:
		return false, nil
	}
	return true, nil
}

// remove forgets a client application or link; false when id is neither.
func (ac *appConfig) remove(id string) bool {
	if _, ok := ac.apps[id]; ok {
		// Its entry leaves the index when the next build resolves it.
		ac.dirty[id] = true
		delete(ac.apps, id)
		return true
	}
	if l, ok := ac.links[id]; ok {
		delete(ac.links, id)
		removeID(ac.appLinks, l[0], id)
		ac.dirty[l[0]] = true
		return true
	}
	return false
}

// build returns the index for a snapshot: products or users that changed
// (d) and the applications marked dirty are resolved again, in a copy.
func (ac *appConfig) build(c *config, d *delta) *appIndex {
	ac.index.tokens = ac.tokens
	if len(ac.dirty) == 0 && len(d.products) == 0 && len(d.owners) == 0 {
		return ac.index
	}
	x := &appIndex{tokens: ac.tokens, byAudience: ac.index.byAudience, byClient: ac.index.byClient}
	if len(d.products) > 0 {
		x.byAudience = make(map[string]*resource.Product, len(ac.index.byAudience)+1)
		for _, p := range c.products {
			if p.Application != nil && p.AcceptsTokens() {
				x.byAudience[p.Application.ApplicationID] = p
			}
		}
	}
	if len(d.owners) > 0 {
		for id, a := range ac.apps {
			if d.owners[a.OwnerID] {
				ac.dirty[id] = true
			}
		}
	}
	if len(ac.dirty) > 0 {
		x.byClient = maps.Clone(x.byClient)
		for id := range ac.dirty {
			if client, ok := ac.indexed[id]; ok {
				delete(x.byClient, client)
				delete(ac.indexed, id)
			}
			if a := ac.apps[id]; a != nil && a.ApplicationID != "" {
				x.byClient[a.ApplicationID] = ac.resolve(c, a)
				ac.indexed[id] = a.ApplicationID
			}
		}
		clear(ac.dirty)
	}
	ac.index = x
	return x
}

// resolve makes a's entry from the configuration.
func (ac *appConfig) resolve(c *config, a *resource.ClientApplication) *appEntry {
	e := &appEntry{info: &ApplicationInfo{
		ID: a.ID, Name: a.Name, DisplayName: a.DisplayName, OwnerID: a.OwnerID,
		ApplicationID: a.ApplicationID, CreatedDate: a.CreatedDate,
	}}
	e.user = c.users[a.OwnerID]
	e.usable = a.State == "active" && e.user != nil && e.user.State == "active"
	for _, lid := range ac.appLinks[a.ID] {
		pid := ac.links[lid][1]
		if p := c.products[pid]; p != nil {
			pid = p.ID
		}
		e.products = append(e.products, pid)
	}
	return e
}
