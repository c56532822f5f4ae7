package resource

import (
	"strings"
	"time"
)

// Product authentication types (Product.AuthenticationType).
const (
	AuthSubscriptionKey = "subscriptionKey"
	AuthOAuth2Token     = "oauth2Token"
)

// ProductApplication is the directory registration that stands for a
// product whose authenticationType includes oauth2Token: read-only, set by
// the server. Tokens for the product carry ApplicationID as their aud.
type ProductApplication struct {
	ApplicationID string `json:"applicationId"`
	// Audience is the identifier URI clients ask tokens for
	// (scope=<audience>/.default): api://<applicationId>.
	Audience string `json:"audience"`
	TenantID string `json:"tenantId"`
	// Role is the app role linked client applications are granted:
	// Product.<name>.All.
	Role string `json:"role,omitempty"`
}

// AcceptsKeys reports whether a subscription key admits calls to p.
func (p *Product) AcceptsKeys() bool { return p.hasAuth(AuthSubscriptionKey) }

// AcceptsTokens reports whether application tokens admit calls to p.
func (p *Product) AcceptsTokens() bool { return p.hasAuth(AuthOAuth2Token) }

func (p *Product) hasAuth(t string) bool {
	if len(p.AuthenticationType) == 0 {
		return t == AuthSubscriptionKey
	}
	for _, a := range p.AuthenticationType {
		if a == t {
			return true
		}
	}
	return false
}

// ProductRole is the app role a product's registration defines for client
// applications.
func ProductRole(productName string) string { return "Product." + productName + ".All" }

// ClientApplication is an OAuth 2.0 client that calls the APIs of the
// products it is linked to with tokens: /clientApplications/{id}.
type ClientApplication struct {
	Meta
	DisplayName string `json:"displayName"`
	Description string `json:"description,omitempty"`
	// OwnerID is the developer the application belongs to: /users/{id}.
	OwnerID string `json:"ownerId"`
	// State is active or suspended: a suspended application's tokens are
	// refused by the gateway.
	State string `json:"state,omitempty"`
	// ApplicationID is the directory's client id (read-only).
	ApplicationID string `json:"applicationId,omitempty"`
	TenantID      string `json:"tenantId,omitempty"`
	CreatedDate   string `json:"createdDate,omitempty"`
	// SecretExpiresAt is when the client secret made at creation (or by
	// regenerateSecret) expires: one year later by default.
	SecretExpiresAt string `json:"secretExpiresAt,omitempty"`
	// ClientSecret is generated, stored sealed and returned by listSecrets
	// only (hidden: neither accepted nor shown, nor exported, since another
	// installation makes its own).
	ClientSecret string `json:"clientSecret,omitempty"`
	// DirectoryID is the registration's path in the directory (hidden).
	DirectoryID string `json:"directoryId,omitempty"`
	// SecretKeyID is the directory's keyId of the current secret (hidden).
	SecretKeyID string `json:"secretKeyId,omitempty"`
}

func (a *ClientApplication) Normalize() {
	if a.DisplayName == "" {
		a.DisplayName = a.Name
	}
	if a.State == "" {
		a.State = "active"
	}
	a.OwnerID = strings.TrimSpace(a.OwnerID)
}

func (a *ClientApplication) Validate() Errors {
	var errs Errors
	checkDisplayName(&errs, a.DisplayName)
	if len(a.Description) > 2000 {
		errs.Add("description", "must be at most 2000 characters")
	}
	switch {
	case a.OwnerID == "":
		errs.Add("ownerId", "is required: the developer who owns the application (/users/{id})")
	case !strings.HasPrefix(a.OwnerID, "/users/") || !ValidName(strings.TrimPrefix(a.OwnerID, "/users/")):
		errs.Add("ownerId", "must be a user path /users/{id}, got %q", a.OwnerID)
	}
	oneOf(&errs, "state", a.State, "active", "suspended")
	if a.SecretExpiresAt != "" {
		if _, err := time.Parse(time.RFC3339, a.SecretExpiresAt); err != nil {
			errs.Add("secretExpiresAt", "must be an RFC 3339 date-time such as 2027-01-31T00:00:00Z")
		}
	}
	return errs
}

// ProductLink gives a client application access to a product:
// /clientApplications/{id}/productLinks/{linkId}.
type ProductLink struct {
	Meta
	// ProductID is the product: /products/{id}.
	ProductID string `json:"productId"`
}

func (l *ProductLink) Normalize() { l.ProductID = strings.TrimSpace(l.ProductID) }

func (l *ProductLink) Validate() Errors {
	var errs Errors
	switch {
	case l.ProductID == "":
		errs.Add("productId", "is required: the product to link (/products/{id})")
	case !strings.HasPrefix(l.ProductID, "/products/") || !ValidName(strings.TrimPrefix(l.ProductID, "/products/")):
		errs.Add("productId", "must be a product path /products/{id}, got %q", l.ProductID)
	}
	return errs
}

// ApplicationKinds are the client applications' kinds; they come after
// users and products, which they refer to.
func ApplicationKinds() []Kind {
	return []Kind{
		{Name: "clientApplications", Pattern: "/clientApplications/{}", New: func() Resource { return &ClientApplication{} },
			Hidden:   []string{"clientSecret", "directoryId", "secretKeyId"},
			ReadOnly: []string{"applicationId", "tenantId", "createdDate", "secretExpiresAt"}, ApplyKind: "clientApplication"},
		{Name: "clientApplications/productLinks", Pattern: "/clientApplications/{}/productLinks/{}", New: func() Resource { return &ProductLink{} },
			ApplyKind: "productLink"},
	}
}
