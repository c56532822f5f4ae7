package credential

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/expression"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// The gateway's own identity for authentication-managed-identity: the
// built-in directory's gateway application, whose tokens the identity
// provider issues in process (Options.GatewayTokens). The
// client-credentials provider ManagedIdentityProvider, when configured,
// takes its place (an external identity, e.g. Entra ID). With client-id,
// the client-credentials provider whose clientId it is (APIM's
// user-assigned identities), or the gateway's application by its appId.
// Provider tokens are cached, refreshed and sealed like a connection's,
// per identity and resource; in-process tokens are only cached.

// GatewayTokens issues tokens of the gateway's own identity in process:
// the built-in identity provider.
type GatewayTokens interface {
	GatewayToken(ctx context.Context, resource string) (token string, expires time.Time, err error)
}

// ManagedIdentityProvider is the provider holding the gateway's identity.
const ManagedIdentityProvider = "managed-identity"

// managedPrefix is where the gateway identity's tokens live in the cache
// and the state store.
const managedPrefix = "/managedIdentity/"

// ManagedToken returns an access token of the gateway's own identity
// (clientID "" for the default one) for resource.
func (m *Manager) ManagedToken(ctx context.Context, clientID, resourceURI string) (string, error) {
	e, err := m.managed(ctx, managedPath(clientID, resourceURI), clientID, resourceURI)
	if err != nil {
		return "", err
	}
	return e.auth.AccessToken, nil
}

func managedPath(clientID, resourceURI string) string {
	sum := sha256.Sum256([]byte(clientID + "\n" + resourceURI))
	return managedPrefix + hex.EncodeToString(sum[:16])
}

func (m *Manager) managed(ctx context.Context, path, clientID, resourceURI string) (*entry, error) {
	if e := m.fresh(path); e != nil {
		return e, nil
	}
	return m.once(ctx, path, func(lctx context.Context) (*entry, error) {
		prec, p, err := m.identityProvider(lctx, clientID)
		var ce *Error
		if errors.As(err, &ce) && ce.Code == codeNotConfigured && m.opts.GatewayTokens != nil &&
			(clientID == "" || strings.EqualFold(clientID, m.opts.Gateway.ObjectID)) {
			return m.builtinManaged(lctx, path, resourceURI)
		}
		if err != nil {
			return nil, err
		}
		ep, err := m.endpoints(p, nil, "")
		if err != nil {
			return nil, err
		}
		ep.resourceScope, ep.scopes = strings.TrimRight(resourceURI, "/")+"/.default", nil
		// A new ETag (new credentials) is a new identity: its tokens are
		// stored apart from the old ones'.
		sum := sha256.Sum256([]byte(prec.ID + "\n" + prec.ETag))
		conn := &resource.ProviderAuthorization{UID: hex.EncodeToString(sum[:8]), Status: resource.AuthorizationConnected}
		return m.acquire(lctx, path, conn, ep, nil, false)
	})
}

// builtinManaged gets a token of the gateway's application from the
// built-in identity provider, in process, and caches it.
func (m *Manager) builtinManaged(ctx context.Context, path, resourceURI string) (*entry, error) {
	tok, exp, err := m.opts.GatewayTokens.GatewayToken(ctx, resourceURI)
	if err != nil {
		return nil, &Error{Code: "ManagedIdentityError", Message: fmt.Sprintf("The gateway's identity could not get a token for %q: %v", resourceURI, err)}
	}
	fresh := m.opts.Now().Add(m.opts.CacheMaxAge)
	if t := exp.Add(-m.opts.CacheMargin); t.Before(fresh) {
		fresh = t
	}
	e := &entry{auth: &expression.Authorization{AccessToken: tok, Claims: map[string]any{"token_type": "Bearer"}}, expiresAt: exp, freshUntil: fresh}
	m.cache.Store(path, e)
	return e, nil
}

const codeNotConfigured = "ManagedIdentityNotConfigured"

// identityProvider finds the client-credentials provider of the gateway's
// identity.
func (m *Manager) identityProvider(ctx context.Context, clientID string) (store.Record, *resource.AuthorizationProvider, error) {
	notConfigured := &Error{Code: codeNotConfigured, Message: fmt.Sprintf(
		"The gateway has no identity: create the client-credentials authorization provider %s (see docs/credential-manager.md).", ManagedIdentityProvider)}
	if clientID == "" {
		rec, err := m.opts.Store.Get(ctx, "/authorizationProviders/"+ManagedIdentityProvider)
		if errors.Is(err, store.ErrNotFound) {
			return store.Record{}, nil, notConfigured
		}
		if err != nil {
			return store.Record{}, nil, fmt.Errorf("read the gateway's identity: %w", err)
		}
		p, err := decode[resource.AuthorizationProvider](rec)
		if err != nil {
			return store.Record{}, nil, err
		}
		if g, _ := p.Grant(); g != resource.GrantClientCredentials {
			return store.Record{}, nil, notConfigured
		}
		return rec, p, nil
	}
	recs, err := m.opts.Store.List(ctx, resource.KindAuthorizationProviders, "")
	if err != nil {
		return store.Record{}, nil, fmt.Errorf("list providers: %w", err)
	}
	for _, rec := range recs {
		p, err := decode[resource.AuthorizationProvider](rec)
		if err != nil {
			return store.Record{}, nil, err
		}
		if g, params := p.Grant(); g == resource.GrantClientCredentials && strings.EqualFold(params["clientId"], clientID) {
			return rec, p, nil
		}
	}
	return store.Record{}, nil, &Error{Code: codeNotConfigured, Message: fmt.Sprintf("No client-credentials authorization provider has clientId %q.", clientID)}
}

type managedIdentity struct {
	m           *Manager
	resource    *policy.Value
	clientID    *policy.Value
	path        string // when both are literals
	output      string
	ignoreError bool
}

func (m *Manager) compileManaged(r *policy.ElementReader) (policy.ExtensionPolicy, error) {
	p := &managedIdentity{m: m}
	p.resource = r.Value("resource", true)
	p.clientID = r.Value("client-id", false)
	p.output = r.String("output-token-variable-name", "", false)
	p.ignoreError = r.Bool("ignore-error", false)
	if p.resource != nil && !p.resource.IsExpression() && !p.clientID.IsExpression() {
		res, _ := p.resource.String(nil)
		cid, _ := p.clientID.String(nil)
		if strings.TrimSpace(res) == "" {
			r.Fail(r.Element().Pos, "attribute 'resource' must not be empty")
		}
		p.path = managedPath(cid, res)
	}
	return p, nil
}

// Run puts the token in the output variable, or in the request's
// Authorization header.
func (p *managedIdentity) Run(x *policy.Exchange) error {
	return p.AuthenticateRequest(x, x.Request().Header)
}

// AuthenticateRequest is Run inside send-request: the token goes in the
// output variable, or in h (send-request's own request's headers).
func (p *managedIdentity) AuthenticateRequest(x *policy.Exchange, h http.Header) error {
	res, err := p.resource.String(x)
	if err != nil {
		return err
	}
	cid, err := p.clientID.String(x)
	if err != nil {
		return err
	}
	path := p.path
	if path == "" {
		path = managedPath(cid, res)
	}
	e, err := p.m.managed(x.Context(), path, cid, res)
	if err != nil {
		if p.ignoreError {
			return nil
		}
		var ce *Error
		if errors.As(err, &ce) {
			return policy.Failure(http.StatusInternalServerError, ce.Code, ce.Message, nil)
		}
		x.Logger().Error("authentication-managed-identity failed", "err", err)
		return policy.Failure(http.StatusInternalServerError, "ManagedIdentityError", "The gateway's identity could not get a token.", nil)
	}
	if p.output != "" {
		x.SetVariable(p.output, e.auth.AccessToken)
		return nil
	}
	h.Set("Authorization", "Bearer "+e.auth.AccessToken)
	return nil
}
