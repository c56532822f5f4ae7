package resource

import (
	"regexp"
	"sort"
	"strings"
)

// The credential manager's resources: OAuth 2.0 providers the gateway gets
// tokens from, their connections (APIM's "authorizations") and who may use
// each connection. The behaviour lives in internal/credential.

// Kind names of the credential manager's resources.
const (
	KindAuthorizationProviders = "authorizationProviders"
	KindProviderAuthorizations = "authorizationProviders/authorizations"
	KindAuthorizationPolicies  = "authorizationProviders/authorizations/accessPolicies"
)

// CredentialKinds are the credential manager's kinds, providers first.
// clientSecret is write-only: callers send it inside the grant type's
// parameters, it is moved into a top-level field that is stored sealed and
// never shown.
func CredentialKinds() []Kind {
	return []Kind{
		{Name: KindAuthorizationProviders, Pattern: "/authorizationProviders/{}", New: func() Resource { return &AuthorizationProvider{} },
			Secrets: []string{"clientSecret"}, Hidden: []string{"clientSecret"}, ApplyKind: "authorizationProvider"},
		{Name: KindProviderAuthorizations, Pattern: "/authorizationProviders/{}/authorizations/{}", New: func() Resource { return &ProviderAuthorization{} },
			Secrets: []string{"clientSecret"}, Hidden: []string{"clientSecret", "uid"},
			ReadOnly: []string{"status", "error", "lastRefreshed", "expiresAt"}, ApplyKind: "authorization"},
		{Name: KindAuthorizationPolicies, Pattern: "/authorizationProviders/{}/authorizations/{}/accessPolicies/{}", New: func() Resource { return &AuthorizationAccessPolicy{} },
			ApplyKind: "authorizationAccessPolicy"},
	}
}

// Grant types of a provider (keys of grantTypes) and of a connection.
const (
	GrantAuthorizationCode = "authorizationCode"
	GrantClientCredentials = "clientCredentials"
)

// Connection statuses.
const (
	AuthorizationConnected    = "Connected"
	AuthorizationError        = "Error"
	AuthorizationNotConnected = "NotConnected"
)

// maxParameter bounds one grant-type parameter's value.
const maxParameter = 4096

// AuthorizationProvider is an OAuth 2.0 provider the credential manager
// gets tokens from: /authorizationProviders/{id}.
type AuthorizationProvider struct {
	Meta
	DisplayName string `json:"displayName,omitempty"`
	// IdentityProvider names the provider type: oauth2, oauth2pkce, aad,
	// tollgate, or a preset of the catalogue (github, google, ...).
	IdentityProvider string          `json:"identityProvider"`
	OAuth2           *ProviderOAuth2 `json:"oauth2,omitempty"`
	// ClientSecret is the grant type's clientSecret, stored sealed.
	ClientSecret string `json:"clientSecret,omitempty"`
}

// ProviderOAuth2 is a provider's OAuth 2.0 configuration.
type ProviderOAuth2 struct {
	// RedirectURL is read-only: the consent callback on the portal
	// listener, to register at the provider.
	RedirectURL string             `json:"redirectUrl,omitempty"`
	GrantTypes  ProviderGrantTypes `json:"grantTypes"`
}

// ProviderGrantTypes holds exactly one grant type's parameters.
type ProviderGrantTypes struct {
	AuthorizationCode map[string]string `json:"authorizationCode,omitempty"`
	ClientCredentials map[string]string `json:"clientCredentials,omitempty"`
}

// Grant returns the provider's grant type and its parameters.
func (p *AuthorizationProvider) Grant() (string, map[string]string) {
	if p.OAuth2 == nil {
		return "", nil
	}
	if p.OAuth2.GrantTypes.AuthorizationCode != nil {
		return GrantAuthorizationCode, p.OAuth2.GrantTypes.AuthorizationCode
	}
	if p.OAuth2.GrantTypes.ClientCredentials != nil {
		return GrantClientCredentials, p.OAuth2.GrantTypes.ClientCredentials
	}
	return "", nil
}

// moveSecret takes clientSecret out of a parameter map into *dst.
func moveSecret(params map[string]string, dst *string) {
	if v, ok := params["clientSecret"]; ok {
		if v != "" {
			*dst = v
		}
		delete(params, "clientSecret")
	}
}

func (p *AuthorizationProvider) Normalize() {
	p.IdentityProvider = strings.TrimSpace(p.IdentityProvider)
	if p.DisplayName == "" {
		p.DisplayName = p.Name
	}
	if p.OAuth2 != nil {
		// A fresh map: a PATCH starts from the stored resource, whose maps
		// must not change under it.
		for _, m := range []*map[string]string{&p.OAuth2.GrantTypes.AuthorizationCode, &p.OAuth2.GrantTypes.ClientCredentials} {
			if *m != nil {
				c := make(map[string]string, len(*m))
				for k, v := range *m {
					c[k] = v
				}
				moveSecret(c, &p.ClientSecret)
				*m = c
			}
		}
	}
}

var providerTypeRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

func (p *AuthorizationProvider) Validate() Errors {
	var errs Errors
	if len(p.DisplayName) > 300 {
		errs.Add("displayName", "must be at most 300 characters")
	}
	switch {
	case p.IdentityProvider == "":
		errs.Add("identityProvider", "is required (oauth2, oauth2pkce, aad, tollgate or a preset such as github; GET /authorizationProviderTypes lists them)")
	case !providerTypeRe.MatchString(p.IdentityProvider):
		errs.Add("identityProvider", "must be a provider type name such as oauth2 or github, got %q", p.IdentityProvider)
	}
	if p.OAuth2 == nil {
		errs.Add("oauth2", "is required: oauth2.grantTypes holds the grant type and its parameters")
		return errs
	}
	g := p.OAuth2.GrantTypes
	switch {
	case g.AuthorizationCode != nil && g.ClientCredentials != nil:
		errs.Add("oauth2.grantTypes", "must hold exactly one grant type, got both authorizationCode and clientCredentials (make one provider per grant type)")
	case g.AuthorizationCode == nil && g.ClientCredentials == nil:
		errs.Add("oauth2.grantTypes", "must hold one grant type: authorizationCode or clientCredentials")
	}
	grant, params := p.Grant()
	checkParameters(&errs, "oauth2.grantTypes."+grant, params)
	return errs
}

func checkParameters(errs *Errors, target string, params map[string]string) {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !ValidName(k) {
			errs.Add(target, "parameter name %q is not valid", k)
		} else if len(params[k]) > maxParameter {
			errs.Add(target+"."+k, "must be at most %d characters", maxParameter)
		}
	}
}

// ProviderAuthorization is a connection to a provider (APIM's
// "authorization"): /authorizationProviders/{pid}/authorizations/{aid}.
type ProviderAuthorization struct {
	Meta
	AuthorizationType string `json:"authorizationType"`
	// OAuth2GrantType is AuthorizationCode or ClientCredentials, matching
	// the provider's grant type.
	OAuth2GrantType string `json:"oauth2grantType"`
	// Parameters are the connection's own grant parameters (for client
	// credentials: clientId, clientSecret, overriding the provider's).
	Parameters map[string]string `json:"parameters,omitempty"`
	// Status, Error, LastRefreshed and ExpiresAt are set by Tollgate.
	Status        string              `json:"status,omitempty"`
	Error         *AuthorizationIssue `json:"error,omitempty"`
	LastRefreshed string              `json:"lastRefreshed,omitempty"`
	ExpiresAt     string              `json:"expiresAt,omitempty"`
	// ClientSecret is parameters.clientSecret, stored sealed.
	ClientSecret string `json:"clientSecret,omitempty"`
	// UID tells this connection from an earlier one of the same name: its
	// tokens are stored under it.
	UID string `json:"uid,omitempty"`
}

// AuthorizationIssue is the provider's error on a connection (never a token).
type AuthorizationIssue struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (a *ProviderAuthorization) Normalize() {
	if a.AuthorizationType == "" {
		a.AuthorizationType = "OAuth2"
	}
	if a.Parameters != nil {
		c := make(map[string]string, len(a.Parameters))
		for k, v := range a.Parameters {
			c[k] = v
		}
		moveSecret(c, &a.ClientSecret)
		a.Parameters = c
	}
}

func (a *ProviderAuthorization) Validate() Errors {
	var errs Errors
	if a.AuthorizationType != "OAuth2" {
		errs.Add("authorizationType", "must be OAuth2, got %q", a.AuthorizationType)
	}
	if a.OAuth2GrantType == "" {
		errs.Add("oauth2grantType", "is required: AuthorizationCode or ClientCredentials")
	} else {
		oneOf(&errs, "oauth2grantType", a.OAuth2GrantType, "AuthorizationCode", "ClientCredentials")
	}
	checkParameters(&errs, "parameters", a.Parameters)
	return errs
}

// AuthorizationAccessPolicy names an identity that may use a connection:
// /authorizationProviders/{pid}/authorizations/{aid}/accessPolicies/{id}.
type AuthorizationAccessPolicy struct {
	Meta
	TenantID string   `json:"tenantId"`
	ObjectID string   `json:"objectId,omitempty"`
	AppIDs   []string `json:"appIds,omitempty"`
}

func (p *AuthorizationAccessPolicy) Normalize() {
	p.TenantID = strings.TrimSpace(p.TenantID)
	p.ObjectID = strings.TrimSpace(p.ObjectID)
}

func (p *AuthorizationAccessPolicy) Validate() Errors {
	var errs Errors
	if p.TenantID == "" {
		errs.Add("tenantId", "is required")
	} else if len(p.TenantID) > 100 {
		errs.Add("tenantId", "must be at most 100 characters")
	}
	if p.ObjectID == "" && len(p.AppIDs) == 0 {
		errs.Add("objectId", "objectId or appIds is required")
	}
	if len(p.ObjectID) > 100 {
		errs.Add("objectId", "must be at most 100 characters")
	}
	if len(p.AppIDs) > 100 {
		errs.Add("appIds", "must hold at most 100 application ids")
	}
	for i, id := range p.AppIDs {
		if strings.TrimSpace(id) == "" || len(id) > 100 {
			errs.Add("appIds", "item %d must be an application id of at most 100 characters", i)
		}
	}
	return errs
}
