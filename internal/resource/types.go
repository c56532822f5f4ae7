package resource

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/internal/keyring"
)

// API is a set of operations served under one path prefix of the gateway.
type API struct {
	Meta
	DisplayName                   string                         `json:"displayName"`
	Description                   string                         `json:"description,omitempty"`
	Path                          string                         `json:"path"`
	ServiceURL                    string                         `json:"serviceUrl,omitempty"`
	Protocols                     []string                       `json:"protocols,omitempty"`
	SubscriptionRequired          *bool                          `json:"subscriptionRequired,omitempty"`
	SubscriptionKeyParameterNames *SubscriptionKeyParameterNames `json:"subscriptionKeyParameterNames,omitempty"`
	AuthenticationSettings        *AuthenticationSettings        `json:"authenticationSettings,omitempty"`
	// BackendTimeout is how long, in seconds, the gateway waits for the
	// backend before answering 504. APIM sets this on forward-request only;
	// Tollgate also allows it per API. Default 300, as APIM's.
	BackendTimeout int `json:"backendTimeout,omitempty"`
}

// SubscriptionKeyParameterNames are where the gateway reads the key from.
type SubscriptionKeyParameterNames struct {
	Header string `json:"header"`
	Query  string `json:"query"`
}

// AuthenticationSettings names the authorization server or OpenID provider
// the developer portal uses to get tokens for the API.
type AuthenticationSettings struct {
	OAuth2 *OAuth2AuthenticationSettings `json:"oAuth2,omitempty"`
	OpenID *OpenIDAuthenticationSettings `json:"openid,omitempty"`
}

type OAuth2AuthenticationSettings struct {
	AuthorizationServerID string `json:"authorizationServerId"`
	Scope                 string `json:"scope,omitempty"`
}

type OpenIDAuthenticationSettings struct {
	OpenIDProviderID          string   `json:"openidProviderId"`
	BearerTokenSendingMethods []string `json:"bearerTokenSendingMethods,omitempty"`
}

// Default subscription key names, as APIM's.
const (
	DefaultKeyHeader = "Ocp-Apim-Subscription-Key"
	DefaultKeyQuery  = "subscription-key"
	// DefaultBackendTimeout is in seconds.
	DefaultBackendTimeout = 300
)

func (a *API) Normalize() {
	a.Path = strings.Trim(a.Path, "/")
	if a.SubscriptionRequired == nil {
		a.SubscriptionRequired = boolPtr(true)
	}
	if a.SubscriptionKeyParameterNames == nil {
		a.SubscriptionKeyParameterNames = &SubscriptionKeyParameterNames{}
	}
	if a.SubscriptionKeyParameterNames.Header == "" {
		a.SubscriptionKeyParameterNames.Header = DefaultKeyHeader
	}
	if a.SubscriptionKeyParameterNames.Query == "" {
		a.SubscriptionKeyParameterNames.Query = DefaultKeyQuery
	}
	if len(a.Protocols) == 0 {
		a.Protocols = []string{"https", "http"}
	}
	if a.BackendTimeout == 0 {
		a.BackendTimeout = DefaultBackendTimeout
	}
	if a.DisplayName == "" {
		a.DisplayName = a.Name
	}
}

func (a *API) Validate() Errors {
	var errs Errors
	if strings.Contains(a.Path, "//") || strings.ContainsAny(a.Path, "?#{}* ") {
		errs.Add("path", "must be a URL path without empty segments, '?', '#', '{', '}', '*' or spaces")
	}
	if len(a.Path) > 400 {
		errs.Add("path", "must be at most 400 characters")
	}
	if hasDotSegment(a.Path) {
		errs.Add("path", "must not have '.' or '..' segments: %q could never be reached, since requests are refused with them", a.Path)
	}
	if a.ServiceURL != "" && a.ServiceURL != EchoServiceURL {
		if u, err := url.Parse(a.ServiceURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs.Add("serviceUrl", "must be an absolute http or https URL")
		} else if u.RawQuery != "" || u.Fragment != "" {
			errs.Add("serviceUrl", "must not have a query or fragment")
		}
	}
	for i, p := range a.Protocols {
		if p != "http" && p != "https" && p != "ws" && p != "wss" {
			errs.Add(indexed("protocols", i), "must be http, https, ws or wss, got %q", p)
		}
	}
	if n := a.SubscriptionKeyParameterNames; n != nil {
		if !validHeaderName(n.Header) {
			errs.Add("subscriptionKeyParameterNames.header", "must be a valid header name")
		}
		if strings.ContainsAny(n.Query, "&=#? ") {
			errs.Add("subscriptionKeyParameterNames.query", "must be a valid query parameter name")
		}
	}
	if a.BackendTimeout < 0 || a.BackendTimeout > 3600 {
		errs.Add("backendTimeout", "must be between 1 and 3600 seconds")
	}
	if s := a.AuthenticationSettings; s != nil {
		if s.OAuth2 != nil && s.OAuth2.AuthorizationServerID == "" {
			errs.Add("authenticationSettings.oAuth2.authorizationServerId", "is required")
		}
		if s.OpenID != nil && s.OpenID.OpenIDProviderID == "" {
			errs.Add("authenticationSettings.openid.openidProviderId", "is required")
		}
	}
	return errs
}

// EchoServiceURL selects the built-in in-process echo backend.
const EchoServiceURL = "tollgate:echo"

// Operation is one method and URL template of an API.
type Operation struct {
	Meta
	DisplayName string `json:"displayName"`
	Method      string `json:"method"`
	URLTemplate string `json:"urlTemplate"`
	Description string `json:"description,omitempty"`
	// The operation's contract (operation_contract.go).
	TemplateParameters []ParameterContract `json:"templateParameters,omitempty"`
	Request            *RequestContract    `json:"request,omitempty"`
	Responses          []ResponseContract  `json:"responses,omitempty"`
}

func (o *Operation) Normalize() {
	o.Method = strings.ToUpper(o.Method)
	if o.URLTemplate != "" && !strings.HasPrefix(o.URLTemplate, "/") {
		o.URLTemplate = "/" + o.URLTemplate
	}
	if o.DisplayName == "" {
		o.DisplayName = o.Name
	}
}

func (o *Operation) Validate() Errors {
	var errs Errors
	if o.Method == "" {
		errs.Add("method", "is required")
	} else if o.Method != "*" && !ValidToken(o.Method) {
		errs.Add("method", "must be an HTTP method or *")
	}
	if o.URLTemplate == "" {
		errs.Add("urlTemplate", "is required")
	} else if err := CheckURLTemplate(o.URLTemplate); err != "" {
		errs.Add("urlTemplate", "%s", err)
	}
	o.validateContract(&errs)
	return errs
}

// hasDotSegment reports whether a slash-separated path has a "." or ".."
// segment, percent-encoded or not.
func hasDotSegment(p string) bool {
	for _, s := range strings.Split(p, "/") {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

// CheckURLTemplate returns why a template is malformed, or "". Templates are
// literal segments, "{param}" segments and an optional trailing "/*"; a query
// part after '?' is allowed and ignored for matching, as APIM documents
// query parameters there.
func CheckURLTemplate(t string) string {
	if i := strings.IndexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	if !strings.HasPrefix(t, "/") {
		return "must start with /"
	}
	if t == "/" {
		return ""
	}
	segs := strings.Split(t[1:], "/")
	seen := map[string]bool{}
	for i, s := range segs {
		switch {
		case s == "*":
			if i != len(segs)-1 {
				return "* is allowed only as the last segment"
			}
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			p := s[1 : len(s)-1]
			if p == "" || strings.ContainsAny(p, "{}/*") {
				return "bad parameter segment " + s
			}
			if seen[p] {
				return "parameter {" + p + "} appears twice"
			}
			seen[p] = true
		case s == "" && i == len(segs)-1:
			// trailing slash
		case s == "." || s == "..":
			return "must not have '.' or '..' segments"
		case s == "" || strings.ContainsAny(s, "{}*"):
			return "bad segment " + "\"" + s + "\""
		}
	}
	return ""
}

// Product groups APIs that developers subscribe to.
type Product struct {
	Meta
	DisplayName          string   `json:"displayName"`
	Description          string   `json:"description,omitempty"`
	Terms                string   `json:"terms,omitempty"`
	SubscriptionRequired *bool    `json:"subscriptionRequired,omitempty"`
	ApprovalRequired     *bool    `json:"approvalRequired,omitempty"`
	SubscriptionsLimit   *int     `json:"subscriptionsLimit,omitempty"`
	State                string   `json:"state,omitempty"`
	AuthenticationType   []string `json:"authenticationType,omitempty"`
	// Application is the product's directory registration while
	// authenticationType includes oauth2Token (read-only).
	Application *ProductApplication `json:"application,omitempty"`
}

func (p *Product) Normalize() {
	if p.SubscriptionRequired == nil {
		p.SubscriptionRequired = boolPtr(true)
	}
	if p.ApprovalRequired == nil {
		p.ApprovalRequired = boolPtr(false)
	}
	if p.State == "" {
		p.State = "notPublished"
	}
	if len(p.AuthenticationType) == 0 {
		p.AuthenticationType = []string{"subscriptionKey"}
	}
	if p.DisplayName == "" {
		p.DisplayName = p.Name
	}
}

func (p *Product) Validate() Errors {
	var errs Errors
	oneOf(&errs, "state", p.State, "notPublished", "published")
	if p.SubscriptionsLimit != nil && *p.SubscriptionsLimit < 0 {
		errs.Add("subscriptionsLimit", "must not be negative")
	}
	if !Bool(p.SubscriptionRequired, true) && Bool(p.ApprovalRequired, false) {
		errs.Add("approvalRequired", "can only be true when subscriptionRequired is true")
	}
	for i, t := range p.AuthenticationType {
		if t != AuthSubscriptionKey && t != AuthOAuth2Token {
			errs.Add(indexed("authenticationType", i), "must be subscriptionKey or oauth2Token, got %q", t)
		} else if slices.Contains(p.AuthenticationType[:i], t) {
			errs.Add(indexed("authenticationType", i), "%s is listed twice", t)
		}
	}
	return errs
}

// ProductAPI links an API into a product: /products/{pid}/apis/{apiId}.
type ProductAPI struct {
	Meta
}

func (*ProductAPI) Normalize()       {}
func (*ProductAPI) Validate() Errors { return nil }

// User is a developer or administrator account of the portal.
type User struct {
	Meta
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	State     string `json:"state,omitempty"`
	Note      string `json:"note,omitempty"`
	// Role is "administrator" or "developer" (APIM's groups).
	Role string `json:"role,omitempty"`
}

func (u *User) Normalize() {
	u.Email = strings.TrimSpace(u.Email)
	if u.State == "" {
		u.State = "active"
	}
	if u.Role == "" {
		u.Role = "developer"
	}
}

func (u *User) Validate() Errors {
	var errs Errors
	if u.Email == "" {
		errs.Add("email", "is required")
	} else if at := strings.IndexByte(u.Email, '@'); at < 1 || at == len(u.Email)-1 || strings.ContainsAny(u.Email, " <>") {
		errs.Add("email", "must be an email address")
	}
	oneOf(&errs, "state", u.State, "active", "blocked", "pending", "deleted")
	oneOf(&errs, "role", u.Role, "administrator", "developer")
	return errs
}

// Subscription grants its keys access to a scope.
type Subscription struct {
	Meta
	DisplayName  string `json:"displayName,omitempty"`
	Scope        string `json:"scope"`
	OwnerID      string `json:"ownerId,omitempty"`
	State        string `json:"state,omitempty"`
	AllowTracing bool   `json:"allowTracing,omitempty"`
	// PrimaryKey and SecondaryKey are write-only: accepted on create or
	// replace, stored sealed, returned only by listSecrets.
	PrimaryKey   string `json:"primaryKey,omitempty"`
	SecondaryKey string `json:"secondaryKey,omitempty"`
	CreatedDate  string `json:"createdDate,omitempty"`
	StateComment string `json:"stateComment,omitempty"`
	// The keyed hashes (hex) of the two keys, stored so the gateway finds a
	// subscription without opening its keys. Hidden from the API.
	PrimaryKeyHash   string `json:"primaryKeyHash,omitempty"`
	SecondaryKeyHash string `json:"secondaryKeyHash,omitempty"`
}

// Subscription states, as APIM's.
var SubscriptionStates = []string{"active", "suspended", "submitted", "rejected", "cancelled", "expired"}

func (s *Subscription) Normalize() {
	if s.State == "" {
		s.State = "active"
	}
	s.Scope = strings.TrimRight(s.Scope, "/")
}

func (s *Subscription) Validate() Errors {
	var errs Errors
	oneOf(&errs, "state", s.State, SubscriptionStates...)
	switch {
	case s.Scope == "":
		errs.Add("scope", "is required: /products/{id}, /apis/{id} or /apis")
	case s.Scope == "/apis":
	case strings.HasPrefix(s.Scope, "/products/") && ValidName(s.Scope[len("/products/"):]):
	case strings.HasPrefix(s.Scope, "/apis/") && ValidName(s.Scope[len("/apis/"):]):
	default:
		errs.Add("scope", "must be /products/{id}, /apis/{id} or /apis, got %q", s.Scope)
	}
	if s.OwnerID != "" && !(strings.HasPrefix(s.OwnerID, "/users/") && ValidName(s.OwnerID[len("/users/"):])) {
		errs.Add("ownerId", "must be /users/{id}, got %q", s.OwnerID)
	}
	for _, k := range []struct{ name, v string }{{"primaryKey", s.PrimaryKey}, {"secondaryKey", s.SecondaryKey}} {
		if k.v != "" && (len(k.v) < 16 || len(k.v) > 256 || strings.ContainsAny(k.v, " \t\r\n")) {
			errs.Add(k.name, "must be 16 to 256 characters without spaces")
		}
	}
	return errs
}

// NamedValue is a value policies refer to as {{name}}.
type NamedValue struct {
	Meta
	DisplayName string   `json:"displayName"`
	Value       string   `json:"value,omitempty"`
	Secret      bool     `json:"secret,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

// SecretFields makes the value write-only only for secret named values.
func (n *NamedValue) SecretFields() []string {
	if n.Secret {
		return []string{"value"}
	}
	return nil
}

func (n *NamedValue) Normalize() {
	if n.DisplayName == "" {
		n.DisplayName = n.Name
	}
}

func (n *NamedValue) Validate() Errors {
	var errs Errors
	// A stored secret is sealed, and longer than its plaintext.
	if n.Value == "" {
		errs.Add("value", "is required")
	} else if len(n.Value) > 4096 && !keyring.IsSealed(n.Value) {
		errs.Add("value", "must be at most 4096 characters")
	}
	if !nameRe.MatchString(n.DisplayName) {
		errs.Add("displayName", "may contain only letters, digits, '.', '-', '_' and '~'")
	}
	return errs
}

// Policy is a policy document at one scope; its ID is ".../policies/policy".
type Policy struct {
	Meta
	Format string `json:"format"`
	Value  string `json:"value"`
}

func (p *Policy) Normalize() {
	if p.Format == "" {
		p.Format = "xml"
	}
}

func (p *Policy) Validate() Errors {
	var errs Errors
	if p.Format != "xml" && p.Format != "rawxml" {
		errs.Add("format", "must be xml or rawxml, got %q", p.Format)
	}
	if strings.TrimSpace(p.Value) == "" {
		errs.Add("value", "is required")
	}
	return errs
}

func indexed(field string, i int) string {
	return field + "[" + strconv.Itoa(i) + "]"
}

// ValidToken reports whether s is an HTTP token (RFC 9110 §5.6.2): what
// method and header names must be.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func validHeaderName(s string) bool { return ValidToken(s) }
