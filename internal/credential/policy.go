package credential

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
)

// Caller is who presented a token to get-authorization-context with
// identity-type="jwt".
type Caller struct {
	TenantID string
	ObjectID string
	AppID    string
}

// CallerVerifier validates a caller's token (signature, lifetime,
// audience: the credential manager's application) and says who it is.
type CallerVerifier interface {
	VerifyCaller(ctx context.Context, raw string) (Caller, error)
}

// Extensions returns get-authorization-context and
// authentication-managed-identity, for
// policy.Options.Extensions. callers may be nil: identity-type="jwt" is
// then refused when a document is compiled.
func (m *Manager) Extensions(callers CallerVerifier) []policy.Extension {
	return []policy.Extension{{
		Name:       "get-authorization-context",
		Sections:   []string{"inbound"},
		Attributes: []string{"provider-id", "authorization-id", "context-variable-name", "identity-type", "identity", "ignore-error"},
		Compile: func(r *policy.ElementReader) (policy.ExtensionPolicy, error) {
			return m.compile(r, callers)
		},
	}, {
		Name:       "authentication-managed-identity",
		Sections:   []string{"inbound"},
		Attributes: []string{"resource", "client-id", "output-token-variable-name", "ignore-error"},
		Compile:    m.compileManaged,
	}}
}

type getContext struct {
	m           *Manager
	callers     CallerVerifier
	provider    *policy.Value
	auth        *policy.Value
	path        string // when both ids are literals
	variable    string
	jwt         bool
	identity    *policy.Value
	ignoreError bool
}

func (m *Manager) compile(r *policy.ElementReader, callers CallerVerifier) (policy.ExtensionPolicy, error) {
	e := r.Element()
	p := &getContext{m: m, callers: callers}
	p.provider = r.Value("provider-id", true)
	p.auth = r.Value("authorization-id", true)
	p.variable = r.String("context-variable-name", "", true)
	p.jwt = r.OneOf("identity-type", "managed", "managed", "jwt") == "jwt"
	p.identity = r.Value("identity", false)
	p.ignoreError = r.Bool("ignore-error", false)
	if p.jwt && p.identity == nil {
		r.Fail(e.Pos, "identity-type=\"jwt\" needs attribute 'identity' (the caller's token, e.g. @(context.Request.Headers.GetValueOrDefault(\"Authorization\",\"\").Replace(\"Bearer \",\"\")))")
	}
	if !p.jwt && p.identity != nil {
		r.Fail(e.Pos, "attribute 'identity' is used only with identity-type=\"jwt\"")
	}
	if p.jwt && callers == nil && !r.Offline() {
		r.Fail(e.Pos, "identity-type=\"jwt\" is not available: this node has no built-in identity provider to validate the caller's token")
	}
	if p.provider != nil && p.auth != nil && !p.provider.IsExpression() && !p.auth.IsExpression() {
		pid, _ := p.provider.String(nil)
		aid, _ := p.auth.String(nil)
		if !strings.Contains(pid+aid, "{{") {
			for name, v := range map[string]string{"provider-id": pid, "authorization-id": aid} {
				if !resource.ValidName(v) {
					r.Fail(e.Pos, "attribute '%s' must be a resource name, got %q", name, v)
				}
			}
			p.path = connectionPath(pid, aid)
		}
	}
	return p, nil
}

// Run sets the context variable to the connection's Authorization.
func (p *getContext) Run(x *policy.Exchange) error {
	path := p.path
	if path == "" {
		pid, err := p.provider.String(x)
		if err != nil {
			return err
		}
		aid, err := p.auth.String(x)
		if err != nil {
			return err
		}
		if !resource.ValidName(pid) || !resource.ValidName(aid) {
			return p.fail(x, &Error{Code: "AuthorizationNotFound", Message: "provider-id and authorization-id must be resource names."})
		}
		path = connectionPath(pid, aid)
	}
	e, err := p.m.get(x.Context(), path)
	if err != nil {
		return p.fail(x, err)
	}
	if p.jwt {
		if err := p.checkCaller(x, e); err != nil {
			return p.fail(x, err)
		}
	} else if !e.managed {
		return p.fail(x, errDenied)
	}
	x.SetVariable(p.variable, e.auth)
	return nil
}

func (p *getContext) checkCaller(x *policy.Exchange, e *entry) error {
	raw, err := p.identity.String(x)
	if err != nil {
		return err
	}
	raw = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(raw), "Bearer "))
	if raw == "" {
		return &Error{Code: "IdentityMissing", Message: "The identity token is empty."}
	}
	c, err := p.callers.VerifyCaller(x.Context(), raw)
	if err != nil {
		return &Error{Code: "IdentityInvalid", Message: "The identity token is not valid: " + err.Error()}
	}
	for _, ap := range e.policies {
		if !strings.EqualFold(ap.TenantID, c.TenantID) {
			continue
		}
		if ap.ObjectID != "" && strings.EqualFold(ap.ObjectID, c.ObjectID) {
			return nil
		}
		for _, id := range ap.AppIDs {
			if c.AppID != "" && strings.EqualFold(id, c.AppID) {
				return nil
			}
		}
	}
	return errDenied
}

// fail applies APIM's error semantics: with ignore-error the variable is
// null and processing goes on; otherwise a 500 (context.LastError, on-error).
func (p *getContext) fail(x *policy.Exchange, err error) error {
	if p.ignoreError {
		x.SetVariable(p.variable, nil)
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return policy.Failure(http.StatusInternalServerError, e.Code, e.Message, nil)
	}
	x.Logger().Error("get-authorization-context failed", "err", err)
	return policy.Failure(http.StatusInternalServerError, "AuthorizationError", "The authorization context could not be obtained.", nil)
}

// CheckExtensions returns get-authorization-context for compiling documents
// without a running manager (tollgate policy check); its policies must not
// be run.
func CheckExtensions() []policy.Extension { return (*Manager)(nil).Extensions(nil) }
