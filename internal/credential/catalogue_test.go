package credential

import (
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/resource"
)

// TestCatalogue: every provider file loads, and every preset resolves to
// absolute endpoints once its required parameters are given.
func TestCatalogue(t *testing.T) {
	c, err := LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range c.Names() {
		p, _ := c.Preset(name)
		for grant, gt := range p.GrantTypes {
			params := map[string]string{}
			for _, prm := range gt.Parameters {
				if prm.Required && prm.Name != "clientSecret" {
					params[prm.Name] = "x" + prm.Name
					if strings.HasSuffix(prm.Name, "Url") {
						params[prm.Name] = "https://idp.example.com/" + prm.Name
					}
				}
				if prm.Type != "string" && prm.Type != "securestring" {
					t.Errorf("%s: parameter %s has type %q", name, prm.Name, prm.Type)
				}
				if prm.Description == "" {
					t.Errorf("%s: parameter %s has no description", name, prm.Name)
				}
			}
			prov := &resource.AuthorizationProvider{IdentityProvider: name, OAuth2: &resource.ProviderOAuth2{}}
			if grant == resource.GrantAuthorizationCode {
				prov.OAuth2.GrantTypes.AuthorizationCode = params
			} else {
				prov.OAuth2.GrantTypes.ClientCredentials = params
			}
			ep, errs := c.resolve(prov, "secret", "https://tollgate.example.com/tenant")
			if len(errs) > 0 {
				t.Errorf("%s %s: %v", name, grant, errs)
				continue
			}
			if !strings.HasPrefix(ep.tokenURL, "https://") || strings.Contains(ep.tokenURL+ep.authorizeURL, "{") {
				t.Errorf("%s %s: endpoints %q %q", name, grant, ep.authorizeURL, ep.tokenURL)
			}
		}
	}
}

func TestResolvePlaceholders(t *testing.T) {
	c, _ := LoadCatalogue()
	prov := func(typ string, params map[string]string) *resource.AuthorizationProvider {
		return &resource.AuthorizationProvider{IdentityProvider: typ, OAuth2: &resource.ProviderOAuth2{GrantTypes: resource.ProviderGrantTypes{AuthorizationCode: params}}}
	}
	ep, errs := c.resolve(prov("aad", map[string]string{"clientId": "a", "tenantId": "contoso.onmicrosoft.com"}), "s", "")
	if len(errs) > 0 || ep.tokenURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" || ep.scopeString() != "User.Read offline_access" {
		t.Fatalf("aad: %v %+v", errs, ep)
	}
	ep, _ = c.resolve(prov("aad", map[string]string{"clientId": "a"}), "s", "")
	if !strings.Contains(ep.authorizeURL, "/common/") {
		t.Fatalf("aad default tenant: %s", ep.authorizeURL)
	}
	// A placeholder value cannot change the URL's host or path.
	ep, _ = c.resolve(prov("servicenow", map[string]string{"clientId": "a", "instanceName": "evil.com/x?"}), "s", "")
	if ep != nil && strings.HasPrefix(ep.tokenURL, "https://evil.com/") {
		t.Fatalf("servicenow: %s", ep.tokenURL)
	}
	if _, errs := c.resolve(prov("servicenow", map[string]string{"clientId": "a"}), "s", ""); len(errs) == 0 || !strings.Contains(errs[0].Target, "instanceName") {
		t.Fatalf("servicenow without instanceName: %v", errs)
	}
	ep, _ = c.resolve(prov("slack", map[string]string{"clientId": "a", "scopes": "chat:write channels:read"}), "s", "")
	if ep.scopeString() != "chat:write,channels:read" {
		t.Fatalf("slack scopes: %q", ep.scopeString())
	}
}
