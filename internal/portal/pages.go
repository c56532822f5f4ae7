package portal

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/resource"
)

// pageSize is how many items a list page shows.
const pageSize = 20

// pager is one page of a list.
type pager struct {
	Page, Pages, Total int
	Prev, Next         string
}

func paginate[T any](r *http.Request, items []T) ([]T, pager) {
	n, _ := strconv.Atoi(r.URL.Query().Get("page"))
	pages := (len(items) + pageSize - 1) / pageSize
	if pages == 0 {
		pages = 1
	}
	if n < 1 {
		n = 1
	}
	if n > pages {
		n = pages
	}
	pg := pager{Page: n, Pages: pages, Total: len(items)}
	link := func(i int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(i))
		return r.URL.Path + "?" + q.Encode()
	}
	if n > 1 {
		pg.Prev = link(n - 1)
	}
	if n < pages {
		pg.Next = link(n + 1)
	}
	lo, hi := (n-1)*pageSize, n*pageSize
	if hi > len(items) {
		hi = len(items)
	}
	return items[lo:hi], pg
}

func filter[T any](items []T, q string, text func(T) string) []T {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return items
	}
	var out []T
	for _, it := range items {
		if strings.Contains(strings.ToLower(text(it)), q) {
			out = append(out, it)
		}
	}
	return out
}

func (p *Portal) handleHome(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	p.view.mu.RLock()
	defer p.view.mu.RUnlock()
	prods := p.view.publishedProducts()
	if len(prods) > 6 {
		prods = prods[:6]
	}
	return http.StatusOK, "home", &pageData{Title: "Home", Data: map[string]any{"Products": prods, "SignUp": resource.Bool(p.view.settings.SignUpEnabled, true)}}
}

func (p *Portal) handleProducts(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	p.view.mu.RLock()
	defer p.view.mu.RUnlock()
	q := r.URL.Query().Get("q")
	items, pg := paginate(r, filter(p.view.publishedProducts(), q, func(p *resource.Product) string { return p.DisplayName + " " + p.Description }))
	return http.StatusOK, "products", &pageData{Title: "Products", Data: map[string]any{"Products": items, "Pager": pg, "Q": q}}
}

func (p *Portal) handleProduct(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	id := "/products/" + r.PathValue("id")
	p.view.mu.RLock()
	defer p.view.mu.RUnlock()
	prod := p.view.visibleProduct(id)
	if prod == nil {
		return notFound()
	}
	var mine []*resource.Subscription
	if s != nil {
		for _, sub := range p.view.subscriptionsOf(s.UserID) {
			if sub.Scope == id && sub.State != "cancelled" && sub.State != "rejected" && sub.State != "expired" {
				mine = append(mine, sub)
			}
		}
	}
	apis, pg := paginate(r, p.view.apisOf(id))
	return http.StatusOK, "product", &pageData{Title: prod.DisplayName, Data: map[string]any{
		"Product": prod, "APIs": apis, "Pager": pg, "Mine": mine,
		"Approval": resource.Bool(prod.ApprovalRequired, false), "SubscriptionRequired": resource.Bool(prod.SubscriptionRequired, true),
		"Scope": p.view.productScope(id),
	}}
}

func notFound() (int, string, *pageData) {
	return http.StatusNotFound, "message", &pageData{Title: "Not found", Message: "There is no such page, or it is not yours to see."}
}

// handleSubscribe makes a subscription of the developer's to a published
// product: submitted when the product needs approval, active otherwise.
func (p *Portal) handleSubscribe(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	if s == nil {
		return p.needSignIn(w, r)
	}
	id := "/products/" + r.PathValue("id")
	p.view.mu.RLock()
	prod := p.view.visibleProduct(id)
	var approval bool
	if prod != nil {
		approval = resource.Bool(prod.ApprovalRequired, false)
	}
	p.view.mu.RUnlock()
	if prod == nil || !resource.Bool(prod.SubscriptionRequired, true) {
		return notFound()
	}
	if prod.Terms != "" && r.PostForm.Get("accept") != "yes" {
		return http.StatusBadRequest, "message", &pageData{Title: "Subscription not made", Message: "Accept the product's terms of use to subscribe."}
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if name == "" {
		name = prod.DisplayName
	}
	if len(name) > 100 {
		return http.StatusBadRequest, "message", &pageData{Title: "Subscription not made", Message: "The subscription name must be at most 100 characters."}
	}
	state := "active"
	if approval {
		state = "submitted"
	}
	body, _ := json.Marshal(map[string]string{"displayName": name, "scope": id, "ownerId": s.UserID, "state": state})
	subID := "/subscriptions/" + randomHex(12)
	if _, _, err := p.mgmt.Put(actingFor(r, s.UserID), subID, body, "", false); err != nil {
		var ae *apierror.Error
		if errors.As(err, &ae) && ae.Status < 500 {
			return http.StatusConflict, "message", &pageData{Title: "Subscription not made", Message: ae.Message}
		}
		p.serverError(w, r, err)
		return 0, "", nil
	}
	return p.redirect(w, r, "/subscriptions?made="+url.QueryEscape(subID[len("/subscriptions/"):]))
}

func (p *Portal) handleAPIs(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	p.view.mu.RLock()
	defer p.view.mu.RUnlock()
	q := r.URL.Query().Get("q")
	items, pg := paginate(r, filter(p.view.listedAPIs(), q, func(a *resource.API) string { return a.DisplayName + " " + a.Description + " " + a.Path }))
	return http.StatusOK, "apis", &pageData{Title: "APIs", Data: map[string]any{"APIs": items, "Pager": pg, "Q": q}}
}

// apiInfo is an API with what its pages show.
type apiInfo struct {
	API        *resource.API
	Products   []*resource.Product
	AuthServer *management.PublicAuthServer
	BaseURL    string
}

// apiInfo reads an API visible in the portal from the view; callers hold
// the view's read lock. withAuthServer then adds its authorization server.
func (p *Portal) apiInfo(id string) *apiInfo {
	a := p.view.apis[id]
	if a == nil || !p.view.visibleAPI(id) {
		return nil
	}
	info := &apiInfo{API: a, BaseURL: strings.TrimRight(strings.TrimRight(p.opts.GatewayURL, "/")+"/"+a.Path, "/")}
	for pid := range p.view.apiProducts[id] {
		if prod := p.view.visibleProduct(pid); prod != nil {
			info.Products = append(info.Products, prod)
		}
	}
	return info
}

// withAuthServer adds the authorization server the API names for the
// test console, if any: its OAuth 2.0 authorization server, or else its
// OpenID Connect provider, whose endpoints come from its discovery
// document (without the view's lock: it reads the store).
func (p *Portal) withAuthServer(ctx context.Context, info *apiInfo) error {
	list, err := management.PortalAuthServers(ctx, p.store, info.API.ID)
	if err != nil {
		return err
	}
	for i := range list {
		if list[i].Type == "oauth2" && list[i].UseInTestConsole {
			info.AuthServer = &list[i]
			return nil
		}
	}
	for i := range list {
		if list[i].Type != "openid" {
			continue
		}
		auth, token, err := p.providerEndpoints(ctx, list[i].MetadataEndpoint)
		if err != nil {
			// The page still shows; the console offers no OpenID sign-in.
			p.log.Warn("portal: OpenID provider metadata", "provider", list[i].ID, "err", err)
			return nil
		}
		as := list[i]
		as.AuthorizationEndpoint, as.TokenEndpoint = auth, token
		as.GrantTypes = []string{"authorizationCodeWithPkce"}
		as.ClientAuthenticationMethod = []string{"Basic"}
		if as.Scope == "" {
			as.Scope = "openid profile"
		}
		info.AuthServer = &as
		return nil
	}
	return nil
}

// providerEndpoints reads an OpenID provider's authorization and token
// endpoints from its discovery document, cached for ten minutes.
func (p *Portal) providerEndpoints(ctx context.Context, metadataURL string) (auth, token string, err error) {
	p.mdMu.Lock()
	if c, ok := p.md[metadataURL]; ok && p.now().Before(c.expires) {
		p.mdMu.Unlock()
		return c.auth, c.token, nil
	}
	p.mdMu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metadataURL, nil)
	if err != nil {
		return "", "", err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("get %s: %w", metadataURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("get %s: status %d", metadataURL, resp.StatusCode)
	}
	var md struct {
		Auth  string `json:"authorization_endpoint"`
		Token string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<10)).Decode(&md); err != nil {
		return "", "", fmt.Errorf("decode %s: %w", metadataURL, err)
	}
	for _, u := range []string{md.Auth, md.Token} {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return "", "", fmt.Errorf("%s names no usable authorization and token endpoints", metadataURL)
		}
	}
	p.mdMu.Lock()
	p.md[metadataURL] = providerMetadata{auth: md.Auth, token: md.Token, expires: p.now().Add(10 * time.Minute)}
	p.mdMu.Unlock()
	return md.Auth, md.Token, nil
}

func (p *Portal) handleAPI(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	p.view.mu.RLock()
	info := p.apiInfo("/apis/" + r.PathValue("id"))
	var page apiPage
	if info != nil {
		page.apiInfo = info
		page.Operations, page.Pager = paginate(r, p.view.operationsOf(info.API.ID))
	}
	p.view.mu.RUnlock()
	if info == nil {
		return notFound()
	}
	if err := p.withAuthServer(r.Context(), info); err != nil {
		p.serverError(w, r, err)
		return 0, "", nil
	}
	return http.StatusOK, "api", &pageData{Title: info.API.DisplayName, Data: &page}
}

// apiPage is an API's page: the API and one page of its operations.
type apiPage struct {
	*apiInfo
	Operations []*resource.Operation
	Pager      pager
}

// consoleSub is a subscription the console may use for an API.
type consoleSub struct{ ID, Name string }

func (p *Portal) handleOperation(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	p.view.mu.RLock()
	info := p.apiInfo("/apis/" + r.PathValue("id"))
	if info == nil {
		p.view.mu.RUnlock()
		return notFound()
	}
	op := p.view.ops[info.API.ID][info.API.ID+"/operations/"+r.PathValue("op")]
	if op == nil {
		p.view.mu.RUnlock()
		return notFound()
	}
	var subs []consoleSub
	if s != nil {
		for _, sub := range p.view.subscriptionsOf(s.UserID) {
			if p.view.subscriptionCovers(sub, info.API.ID) {
				subs = append(subs, consoleSub{ID: sub.Name, Name: cmp.Or(sub.DisplayName, sub.Name)})
			}
		}
	}
	// Only an API in a product that takes application tokens needs the
	// developer's applications (read from the store).
	takesTokens := false
	for pid := range p.view.apiProducts[info.API.ID] {
		takesTokens = takesTokens || p.view.productScope(pid) != ""
	}
	p.view.mu.RUnlock()
	var apps []consoleApp
	if s != nil && takesTokens {
		var err error
		if apps, err = p.consoleApps(r.Context(), s, info.API.ID); err != nil {
			p.serverError(w, r, err)
			return 0, "", nil
		}
	}
	if err := p.withAuthServer(r.Context(), info); err != nil {
		p.serverError(w, r, err)
		return 0, "", nil
	}
	grants := map[string]bool{}
	if info.AuthServer != nil {
		for _, g := range info.AuthServer.GrantTypes {
			grants[g] = true
		}
	}
	keyHeader := resource.DefaultKeyHeader
	if n := info.API.SubscriptionKeyParameterNames; n != nil && n.Header != "" {
		keyHeader = n.Header
	}
	params, headers := operationParams(op)
	contract, err := p.operationContract(r.Context(), info.API.ID, op, headers)
	if err != nil {
		p.serverError(w, r, err)
		return 0, "", nil
	}
	path, _, _ := strings.Cut(op.URLTemplate, "?")
	return http.StatusOK, "operation", &pageData{Title: op.DisplayName + " · " + info.API.DisplayName, Scripts: []string{"console.js"}, Data: map[string]any{
		"Info": info, "Op": op, "Params": params, "Headers": headers, "Contract": contract, "Path": path, "Subs": subs, "Apps": apps,
		"AuthCode": grants["authorizationCode"] || grants["authorizationCodeWithPkce"], "TokenURL": p.metadata("token_endpoint"),
		"KeyHeader": keyHeader, "HasBody": op.Method != "GET" && op.Method != "HEAD" && op.Method != "DELETE",
		"Callback": p.base + "/console/oauth-callback",
	}}
}

// ownSubscription returns the developer's subscription named in the path.
func (p *Portal) ownSubscription(r *http.Request, s *session, name string) *resource.Subscription {
	if !resource.ValidName(name) {
		return nil
	}
	p.view.mu.RLock()
	defer p.view.mu.RUnlock()
	sub := p.view.subs["/subscriptions/"+name]
	if sub == nil || sub.OwnerID != s.UserID {
		return nil
	}
	cp := *sub
	return &cp
}

type subRow struct {
	Sub     *resource.Subscription
	Product string
	Keys    map[string]string
}

func (p *Portal) subscriptionRows(subs []*resource.Subscription) []subRow {
	rows := make([]subRow, len(subs))
	for i, sub := range subs {
		name := sub.Scope
		if prod := p.view.products[sub.Scope]; prod != nil {
			name = prod.DisplayName
		} else if a := p.view.apis[sub.Scope]; a != nil {
			name = a.DisplayName
		}
		rows[i] = subRow{Sub: sub, Product: name}
	}
	return rows
}

func (p *Portal) handleSubscriptions(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	if s == nil {
		return p.needSignIn(w, r)
	}
	return p.subscriptionsPage(r, s, "", nil)
}

func (p *Portal) subscriptionsPage(r *http.Request, s *session, shown string, keys map[string]string) (int, string, *pageData) {
	p.view.mu.RLock()
	defer p.view.mu.RUnlock()
	items, pg := paginate(r, p.view.subscriptionsOf(s.UserID))
	rows := p.subscriptionRows(items)
	for i := range rows {
		if rows[i].Sub.Name == shown {
			rows[i].Keys = keys
		}
	}
	msg := ""
	if made := r.URL.Query().Get("made"); made != "" {
		if sub := p.view.subs["/subscriptions/"+made]; sub != nil && sub.OwnerID == s.UserID {
			if sub.State == "submitted" {
				msg = "Your subscription request was sent. An administrator must approve it before its keys work."
			} else {
				msg = "You are subscribed. Show the keys to use them."
			}
		}
	}
	return http.StatusOK, "subscriptions", &pageData{Title: "Subscriptions", Message: msg, Data: map[string]any{"Rows": rows, "Pager": pg}}
}

// handleShowKeys shows a subscription's keys: only in answer to a POST,
// never to a GET, and never cached.
func (p *Portal) handleShowKeys(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	if s == nil {
		return p.needSignIn(w, r)
	}
	sub := p.ownSubscription(r, s, r.PathValue("id"))
	if sub == nil {
		return notFound()
	}
	keys := map[string]string{}
	for _, f := range []string{"primaryKey", "secondaryKey"} {
		k, err := p.mgmt.Secret(r.Context(), sub.ID, f)
		if err != nil {
			p.serverError(w, r, fmt.Errorf("open %s of %s: %w", f, sub.ID, err))
			return 0, "", nil
		}
		keys[f] = k
	}
	return p.subscriptionsPage(r, s, sub.Name, keys)
}

func (p *Portal) handleRegenerateKey(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	if s == nil {
		return p.needSignIn(w, r)
	}
	sub := p.ownSubscription(r, s, r.PathValue("id"))
	if sub == nil {
		return notFound()
	}
	field := "primaryKey"
	if r.PostForm.Get("key") == "secondary" {
		field = "secondaryKey"
	}
	body, _ := json.Marshal(map[string]string{field: randomHex(16)})
	if _, _, err := p.mgmt.Put(actingFor(r, s.UserID), sub.ID, body, "", true); err != nil {
		p.serverError(w, r, fmt.Errorf("regenerate %s of %s: %w", field, sub.ID, err))
		return 0, "", nil
	}
	p.log.Info("portal: subscription key regenerated", "subscription", sub.ID, "key", field, "user", s.UserID)
	return p.redirect(w, r, "/subscriptions")
}

func (p *Portal) handleCancel(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	if s == nil {
		return p.needSignIn(w, r)
	}
	sub := p.ownSubscription(r, s, r.PathValue("id"))
	if sub == nil {
		return notFound()
	}
	body, _ := json.Marshal(map[string]string{"state": "cancelled"})
	if _, _, err := p.mgmt.Put(actingFor(r, s.UserID), sub.ID, body, "", true); err != nil {
		p.serverError(w, r, fmt.Errorf("cancel %s: %w", sub.ID, err))
		return 0, "", nil
	}
	return p.redirect(w, r, "/subscriptions")
}
