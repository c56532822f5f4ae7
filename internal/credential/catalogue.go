package credential

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/tollgate/tollgate/internal/resource"
)

// The provider catalogue is data: one JSON file per provider type under
// providers/, in the spirit of Nango's catalogue. Adding a provider is
// adding a file.

//go:embed providers/*.json
var providerFiles embed.FS

// Preset is one provider type of the catalogue.
type Preset struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Description string `json:"description,omitempty"`
	// AuthorizationURL and TokenURL may hold {parameter} placeholders
	// (tenantId, instanceName, ...) and {tollgate}, the built-in provider's
	// tenant base URL. Empty when the user gives them (oauth2).
	AuthorizationURL string `json:"authorizationUrl,omitempty"`
	TokenURL         string `json:"tokenUrl,omitempty"`
	// ScopeSeparator joins scopes in the authorization request.
	ScopeSeparator string `json:"scopeSeparator,omitempty"`
	// PKCE sends an S256 code challenge with the authorization request.
	PKCE bool `json:"pkce,omitempty"`
	// ClientAuthentication is "body" (client_id and client_secret in the
	// form) or "basic" (HTTP Basic).
	ClientAuthentication string `json:"clientAuthentication"`
	// AuthorizationParams, TokenParams and RefreshParams are extra
	// parameters of the authorization request, the code exchange and the
	// refresh.
	AuthorizationParams map[string]string `json:"authorizationParams,omitempty"`
	TokenParams         map[string]string `json:"tokenParams,omitempty"`
	RefreshParams       map[string]string `json:"refreshParams,omitempty"`
	// TokenResponse names where the token response keeps its fields, as
	// dot paths ("authed_user.access_token"); top-level OAuth names by
	// default.
	TokenResponse *TokenShape `json:"tokenResponse,omitempty"`
	// GrantTypes are the grant types the type offers, with their
	// parameters.
	GrantTypes map[string]GrantType `json:"grantTypes"`
}

// TokenShape locates the fields of a token response.
type TokenShape struct {
	AccessToken  string `json:"accessToken,omitempty"`
	RefreshToken string `json:"refreshToken,omitempty"`
	ExpiresIn    string `json:"expiresIn,omitempty"`
}

// GrantType lists one grant type's parameters.
type GrantType struct {
	Parameters []Parameter `json:"parameters"`
}

// Parameter is one parameter of a grant type, for rendering a form.
type Parameter struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // string or securestring
	Required    bool   `json:"required"`
	Default     string `json:"default,omitempty"`
	Description string `json:"description"`
}

// Catalogue is the set of provider types.
type Catalogue struct {
	byName map[string]*Preset
	names  []string
}

var placeholderRe = regexp.MustCompile(`\{([A-Za-z]+)\}`)

// LoadCatalogue reads the embedded provider files.
func LoadCatalogue() (*Catalogue, error) {
	entries, err := providerFiles.ReadDir("providers")
	if err != nil {
		return nil, err
	}
	c := &Catalogue{byName: map[string]*Preset{}}
	for _, e := range entries {
		b, err := providerFiles.ReadFile(path.Join("providers", e.Name()))
		if err != nil {
			return nil, err
		}
		var p Preset
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("provider file %s: %w", e.Name(), err)
		}
		if p.Name+".json" != e.Name() {
			return nil, fmt.Errorf("provider file %s names %q", e.Name(), p.Name)
		}
		if p.ClientAuthentication != "body" && p.ClientAuthentication != "basic" {
			return nil, fmt.Errorf("provider file %s: clientAuthentication must be body or basic", e.Name())
		}
		for g := range p.GrantTypes {
			if g != resource.GrantAuthorizationCode && g != resource.GrantClientCredentials {
				return nil, fmt.Errorf("provider file %s: unknown grant type %q", e.Name(), g)
			}
		}
		c.byName[p.Name] = &p
		c.names = append(c.names, p.Name)
	}
	sort.Strings(c.names)
	return c, nil
}

// Preset returns the provider type called name.
func (c *Catalogue) Preset(name string) (*Preset, bool) {
	p, ok := c.byName[name]
	return p, ok
}

// Names lists the provider types.
func (c *Catalogue) Names() []string { return append([]string(nil), c.names...) }

// endpoints is a provider resolved for use: URLs with placeholders filled.
type endpoints struct {
	provider      string // the provider's name, for metrics
	preset        *Preset
	grant         string
	clientID      string
	clientSecret  string
	authorizeURL  string
	tokenURL      string
	refreshURL    string
	scopes        []string
	resourceScope string // client credentials: <resourceUri>/.default
}

// resolve checks a provider's parameters against its type and fills its
// endpoints. secret is the opened client secret ("" when none). builtin is
// the built-in provider's tenant base URL for {tollgate}.
func (c *Catalogue) resolve(p *resource.AuthorizationProvider, secret, builtin string) (*endpoints, resource.Errors) {
	var errs resource.Errors
	preset, ok := c.byName[p.IdentityProvider]
	if !ok {
		errs.Add("identityProvider", "unknown provider type %q; known: %s", p.IdentityProvider, strings.Join(c.names, ", "))
		return nil, errs
	}
	grant, params := p.Grant()
	gt, ok := preset.GrantTypes[grant]
	if !ok {
		offered := make([]string, 0, len(preset.GrantTypes))
		for g := range preset.GrantTypes {
			offered = append(offered, g)
		}
		sort.Strings(offered)
		errs.Add("oauth2.grantTypes", "provider type %s offers %s, not %s", preset.Name, strings.Join(offered, ", "), grant)
		return nil, errs
	}
	target := "oauth2.grantTypes." + grant
	values := map[string]string{}
	known := map[string]bool{}
	for _, prm := range gt.Parameters {
		known[prm.Name] = true
		v := strings.TrimSpace(params[prm.Name])
		if prm.Name == "clientSecret" {
			v = secret
		}
		if v == "" {
			v = prm.Default
		}
		if v == "" && prm.Required {
			errs.Add(target+"."+prm.Name, "is required by provider type %s: %s", preset.Name, prm.Description)
		}
		values[prm.Name] = v
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !known[k] {
			errs.Add(target+"."+k, "unknown parameter for provider type %s", preset.Name)
		}
	}
	e := &endpoints{preset: preset, grant: grant, clientID: values["clientId"], clientSecret: values["clientSecret"]}
	fill := func(field, tmpl, override string) string {
		u := override
		if u == "" {
			u = placeholderRe.ReplaceAllStringFunc(tmpl, func(m string) string {
				name := m[1 : len(m)-1]
				if name == "tollgate" {
					return builtin
				}
				return url.PathEscape(values[name])
			})
		}
		if u == "" {
			return ""
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.Fragment != "" {
			errs.Add(target+"."+field, "must be an absolute http or https URL without a fragment, got %q", u)
		}
		return u
	}
	if grant == resource.GrantAuthorizationCode {
		e.authorizeURL = fill("authorizationUrl", preset.AuthorizationURL, values["authorizationUrl"])
		if e.authorizeURL == "" && len(errs) == 0 {
			errs.Add(target+".authorizationUrl", "is required")
		}
	}
	e.tokenURL = fill("tokenUrl", preset.TokenURL, values["tokenUrl"])
	e.refreshURL = fill("refreshUrl", "", values["refreshUrl"])
	if e.refreshURL == "" {
		e.refreshURL = e.tokenURL
	}
	for _, s := range strings.FieldsFunc(values["scopes"], func(r rune) bool { return r == ' ' || r == ',' }) {
		e.scopes = append(e.scopes, s)
	}
	if r := values["resourceUri"]; r != "" {
		e.resourceScope = strings.TrimRight(r, "/") + "/.default"
	}
	return e, errs
}

// scopeString joins the scopes with the provider's separator.
func (e *endpoints) scopeString() string {
	sep := e.preset.ScopeSeparator
	if sep == "" {
		sep = " "
	}
	return strings.Join(e.scopes, sep)
}

// providerType is one entry of GET /authorizationProviderTypes.
type providerType struct {
	Name        string               `json:"name"`
	DisplayName string               `json:"displayName"`
	Description string               `json:"description,omitempty"`
	PKCE        bool                 `json:"pkce"`
	GrantTypes  map[string]GrantType `json:"grantTypes"`
}

func (c *Catalogue) types() []providerType {
	out := make([]providerType, 0, len(c.names))
	for _, n := range c.names {
		p := c.byName[n]
		out = append(out, providerType{Name: p.Name, DisplayName: p.DisplayName, Description: p.Description, PKCE: p.PKCE, GrantTypes: p.GrantTypes})
	}
	return out
}
