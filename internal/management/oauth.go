package management

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// installOAuthHooks adds the rules of authorization servers, OpenID Connect
// providers and certificates, and the portal's read-only view of an API's
// authorization servers.
func (s *Server) installOAuthHooks() {
	s.Handle(resource.KindAuthorizationServers, Hooks{
		Delete:  refuseIfUsedByAPI("authorization server", "authenticationSettings.oAuth2.authorizationServerId", oauth2Ref),
		Actions: map[string]Action{"listSecrets": s.listSecretsAction(resource.KindAuthorizationServers)},
	})
	s.Handle(resource.KindOpenIDConnectProviders, Hooks{
		Delete:  refuseIfUsedByAPI("OpenID Connect provider", "authenticationSettings.openid.openidProviderId", openidRef),
		Actions: map[string]Action{"listSecrets": s.listSecretsAction(resource.KindOpenIDConnectProviders)},
	})
	s.Handle(resource.KindCertificates, Hooks{Prepare: prepareCertificate, Delete: deleteCertificate})
	s.Handle(resource.KindAPIs, Hooks{Prepare: prepareAPIAuthentication})
	s.Mount("/portal/apis", portalAuthServersHandler{s})
}

// refID turns a reference written as a name or as a full path into the
// referenced resource's path.
func refID(collection, ref string) string {
	if strings.HasPrefix(ref, collection+"/") {
		return ref
	}
	return collection + "/" + ref
}

func oauth2Ref(a *resource.API) string {
	if s := a.AuthenticationSettings; s != nil && s.OAuth2 != nil && s.OAuth2.AuthorizationServerID != "" {
		return refID("/authorizationServers", s.OAuth2.AuthorizationServerID)
	}
	return ""
}

func openidRef(a *resource.API) string {
	if s := a.AuthenticationSettings; s != nil && s.OpenID != nil && s.OpenID.OpenIDProviderID != "" {
		return refID("/openidConnectProviders", s.OpenID.OpenIDProviderID)
	}
	return ""
}

// prepareAPIAuthentication refuses an API whose authenticationSettings name
// an authorization server or OpenID provider that does not exist.
func prepareAPIAuthentication(ctx context.Context, tx store.Tx, _ string, _, n resource.Resource) error {
	api := n.(*resource.API)
	var errs resource.Errors
	for _, r := range []struct {
		ref, target, what string
	}{
		{oauth2Ref(api), "authenticationSettings.oAuth2.authorizationServerId", "authorization server"},
		{openidRef(api), "authenticationSettings.openid.openidProviderId", "OpenID Connect provider"},
	} {
		if r.ref == "" {
			continue
		}
		if !resource.ValidName(resource.NameOf(r.ref)) || strings.Count(r.ref, "/") != 2 {
			errs.Add(r.target, "%q is not a valid %s id", r.ref, r.what)
			continue
		}
		ok, err := exists(ctx, tx, r.ref)
		if err != nil {
			return fmt.Errorf("check %s %s: %w", r.what, r.ref, err)
		}
		if !ok {
			errs.Add(r.target, "the %s %s does not exist", r.what, r.ref)
		}
	}
	if len(errs) > 0 {
		return apierror.Validation(errs)
	}
	return nil
}

// refuseIfUsedByAPI refuses (409) to delete a resource an API's
// authenticationSettings name.
func refuseIfUsedByAPI(what, field string, ref func(*resource.API) string) func(context.Context, store.Tx, string, resource.Resource, map[string]string) error {
	return func(ctx context.Context, tx store.Tx, id string, _ resource.Resource, _ map[string]string) error {
		return each(ctx, tx, resource.KindAPIs, "", func(apiID string, a *resource.API) error {
			if ref(a) == id {
				return conflict("The %s %s is used by the API %s (%s); change that API first.", what, id, apiID, field)
			}
			return nil
		})
	}
}

// prepareCertificate reads the certificate's thumbprint, subject and
// expiration date, and checks that a new private key belongs to it.
func prepareCertificate(_ context.Context, _ store.Tx, _ string, old, n resource.Resource) error {
	c := n.(*resource.Certificate)
	cert, err := c.Parse()
	if err != nil {
		// Validate has already checked the PEM; this is a safety net.
		return apierror.Validation([]resource.FieldError{{Target: "data", Message: err.Error()}})
	}
	c.FillInfo(cert)
	switch {
	case c.PrivateKey == "":
	case keyringIsSealed(c.PrivateKey):
		// The stored key belongs to the stored certificate: a new
		// certificate without a key of its own has none.
		if o, ok := old.(*resource.Certificate); ok && o.Data != c.Data {
			c.PrivateKey = ""
		}
	default:
		key, err := resource.ParsePrivateKey(c.PrivateKey)
		if err != nil {
			return apierror.Validation([]resource.FieldError{{Target: "privateKey", Message: err.Error()}})
		}
		signer, ok := key.(crypto.Signer)
		pub, ok2 := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !ok2 || !pub.Equal(signer.Public()) {
			return apierror.Validation([]resource.FieldError{{Target: "privateKey", Message: "does not belong to the certificate (its public key differs)"}})
		}
	}
	return nil
}

// deleteCertificate refuses (409) to delete a certificate a policy names
// with certificate-id, so a saved policy never loses its key.
func deleteCertificate(ctx context.Context, tx store.Tx, id string, _ resource.Resource, _ map[string]string) error {
	re := regexp.MustCompile(`certificate-id\s*=\s*["']` + regexp.QuoteMeta(resource.NameOf(id)) + `["']`)
	for _, kind := range append(resource.PolicyKinds(), resource.KindPolicyFragments) {
		recs, err := tx.List(ctx, kind, "")
		if err != nil {
			return fmt.Errorf("list %s: %w", kind, err)
		}
		for _, rec := range recs {
			var p struct {
				Value string `json:"value"`
			}
			if err := json.Unmarshal(rec.Body, &p); err != nil {
				return fmt.Errorf("decode %s: %w", rec.ID, err)
			}
			if re.MatchString(p.Value) {
				return conflict("The certificate %s is used by the policy %s (certificate-id); change that policy first.", id, rec.ID)
			}
		}
	}
	return nil
}

// PublicAuthServer is what the developer portal may show of an
// authorization server or OpenID Connect provider an API uses: no secret,
// no token body parameters.
type PublicAuthServer struct {
	// ID is the server's path: /authorizationServers/{id} or
	// /openidConnectProviders/{id}.
	ID string `json:"id"`
	// Type is "oauth2" or "openid".
	Type        string `json:"type"`
	DisplayName string `json:"displayName"`
	Description string `json:"description,omitempty"`
	ClientID    string `json:"clientId"`
	// Scope is the API's authenticationSettings.oAuth2.scope, else the
	// server's defaultScope.
	Scope                      string   `json:"scope,omitempty"`
	AuthorizationEndpoint      string   `json:"authorizationEndpoint,omitempty"`
	TokenEndpoint              string   `json:"tokenEndpoint,omitempty"`
	GrantTypes                 []string `json:"grantTypes,omitempty"`
	ClientAuthenticationMethod []string `json:"clientAuthenticationMethod,omitempty"`
	SupportState               bool     `json:"supportState,omitempty"`
	BearerTokenSendingMethods  []string `json:"bearerTokenSendingMethods,omitempty"`
	UseInTestConsole           bool     `json:"useInTestConsole"`
	UseInAPIDocumentation      bool     `json:"useInApiDocumentation"`
	// MetadataEndpoint is an OpenID provider's discovery URL.
	MetadataEndpoint string `json:"metadataEndpoint,omitempty"`
}

// RecordGetter reads configuration records; store.Store is one.
type RecordGetter interface {
	Get(ctx context.Context, id string) (store.Record, error)
}

// PortalAuthServers lists the authorization server and OpenID provider an
// API's authenticationSettings name, with their public fields. apiID is
// the API's name or path. It returns store.ErrNotFound when the API does
// not exist; a named server that has disappeared is left out.
func PortalAuthServers(ctx context.Context, st RecordGetter, apiID string) ([]PublicAuthServer, error) {
	apiID = refID("/apis", apiID)
	rec, err := st.Get(ctx, apiID)
	if err != nil {
		return nil, fmt.Errorf("load api %q: %w", apiID, err)
	}
	var api resource.API
	if err := json.Unmarshal(rec.Body, &api); err != nil {
		return nil, fmt.Errorf("decode api %q: %w", apiID, err)
	}
	out := []PublicAuthServer{}
	if id := oauth2Ref(&api); id != "" {
		var a resource.AuthorizationServer
		if ok, err := getJSON(ctx, st, id, &a); err != nil {
			return nil, err
		} else if ok {
			scope := api.AuthenticationSettings.OAuth2.Scope
			if scope == "" {
				scope = a.DefaultScope
			}
			out = append(out, PublicAuthServer{
				ID: id, Type: "oauth2", DisplayName: a.DisplayName, Description: a.Description, ClientID: a.ClientID,
				Scope: scope, AuthorizationEndpoint: a.AuthorizationEndpoint, TokenEndpoint: a.TokenEndpoint,
				GrantTypes: a.GrantTypes, ClientAuthenticationMethod: a.ClientAuthenticationMethod, SupportState: a.SupportState,
				BearerTokenSendingMethods: a.BearerTokenSendingMethods, UseInTestConsole: resource.Bool(a.UseInTestConsole, true),
				UseInAPIDocumentation: resource.Bool(a.UseInAPIDocumentation, false),
			})
		}
	}
	if id := openidRef(&api); id != "" {
		var o resource.OpenIDConnectProvider
		if ok, err := getJSON(ctx, st, id, &o); err != nil {
			return nil, err
		} else if ok {
			out = append(out, PublicAuthServer{
				ID: id, Type: "openid", DisplayName: o.DisplayName, Description: o.Description, ClientID: o.ClientID,
				MetadataEndpoint: o.MetadataEndpoint, BearerTokenSendingMethods: api.AuthenticationSettings.OpenID.BearerTokenSendingMethods,
				UseInTestConsole: true,
			})
		}
	}
	return out, nil
}

func getJSON(ctx context.Context, st RecordGetter, id string, v any) (bool, error) {
	rec, err := st.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("load %s: %w", id, err)
	}
	if err := json.Unmarshal(rec.Body, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", id, err)
	}
	return true, nil
}

// portalAuthServersHandler serves GET /portal/apis/{id}/authorizationServers.
type portalAuthServersHandler struct{ s *Server }

func (h portalAuthServersHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/portal/apis/")
	id, tail, _ := strings.Cut(rest, "/")
	if tail != "authorizationServers" || !resource.ValidName(id) {
		apierror.Write(w, apierror.New(http.StatusNotFound, "NotFound", "No route at %s; the portal reads /portal/apis/{id}/authorizationServers.", r.URL.Path))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET")
		return
	}
	list, err := PortalAuthServers(r.Context(), h.s.opts.Store, id)
	if errors.Is(err, store.ErrNotFound) {
		apierror.Write(w, apierror.NotFound("/apis/"+id))
		return
	}
	if err != nil {
		h.s.fail(w, r, err, "/apis/"+id)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": list, "count": len(list)})
}
