package policy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/expression"
)

// Every policy is registered the same way: the built-in ones (builtins,
// policies.go) and those implemented in other packages (validate-jwt,
// validate-azure-ad-token, get-authorization-context), added to a
// Compiler's table through Options.Extensions. They compile and run alike:
// the same attribute checks, positions, sections, context.LastError and
// on-error.

// Extension describes one policy.
type Extension struct {
	// Name is the element name ("validate-jwt"). An extension may take the
	// name of a policy listed as not supported; two with one name panic.
	Name string
	// Sections where it may stand: "inbound", "backend", "outbound",
	// "on-error".
	Sections []string
	// Attributes are the attributes it accepts ("id" is always accepted);
	// others are refused before Compile runs.
	Attributes []string
	// Compile reads the element. Problems go through r.Fail (with their
	// positions); the returned policy is ignored when any was reported.
	Compile func(r *ElementReader) (ExtensionPolicy, error)
}

// ExtensionPolicy is a compiled extension policy. It is shared by every
// request: it must be safe for concurrent use.
type ExtensionPolicy interface {
	// Run applies the policy. A non-nil error ends the section and runs
	// on-error: use Failure for APIM's status, reason and message; any
	// other error becomes a 500.
	Run(x *Exchange) error
}

// Exchange is one request in flight, as extension policies see it.
type Exchange = exchange

// Context is the request's context.
func (x *exchange) Context() context.Context { return x.ctx }

// Request is the request that will be forwarded; policies may change its
// headers.
func (x *exchange) Request() *http.Request { return x.r }

// Call is the gateway's view of the request.
func (x *exchange) Call() *apicall.Call { return x.call }

// Expression returns the expression context (context.* of expressions).
func (x *exchange) Expression() *expression.Context { return x.ectx() }

// SetVariable sets context.Variables[name].
func (x *exchange) SetVariable(name string, v any) { x.vars()[name] = v }

// Logger is the policy engine's logger. Never log secrets or tokens.
func (x *exchange) Logger() *slog.Logger { return x.c.opts.Logger }

// Failure is a policy error with APIM's status, reason and message
// (context.LastError.Reason and .Message; the message is also the
// caller's default error body for statuses below 500). header is added to
// the default error response (e.g. WWW-Authenticate); it may be nil.
func Failure(status int, reason, message string, header http.Header) error {
	return &failure{Status: status, Reason: reason, Message: message, Header: header}
}

// ElementReader reads an extension's element at compile time.
type ElementReader struct {
	a *attrs
}

// Element is the element being compiled (children, text, positions).
func (r *ElementReader) Element() *Element { return r.a.e }

// Offline reports a check without a store (tollgate policy check): named
// values may be left as {{name}} and network lookups should be skipped.
func (r *ElementReader) Offline() bool { return r.a.cc.offline || r.a.cc.standalone }

// Fail reports a problem at p.
func (r *ElementReader) Fail(p Pos, format string, args ...any) {
	r.a.fail(p, "%s", fmt.Sprintf(format, args...))
}

// Warn reports a warning at p: the document is saved, and the warning is
// shown with the management API's answer and by tollgate policy check (a
// configuration that runs but is probably not what was meant).
func (r *ElementReader) Warn(p Pos, format string, args ...any) {
	r.a.cc.warn(p, "%s: %s", r.a.e.Name, fmt.Sprintf(format, args...))
}

// String returns a literal attribute (expressions refused).
func (r *ElementReader) String(name, def string, required bool) string {
	return r.a.str(name, def, required)
}

// OneOf returns a literal attribute that must be one of allowed.
func (r *ElementReader) OneOf(name, def string, allowed ...string) string {
	return r.a.oneOf(name, def, allowed...)
}

// Bool returns a true/false attribute.
func (r *ElementReader) Bool(name string, def bool) bool { return r.a.boolean(name, def) }

// Int returns an integer attribute within [min, max].
func (r *ElementReader) Int(name string, def, min, max int64, required bool) int64 {
	return r.a.integer(name, def, min, max, required)
}

// Value returns an attribute that may be an expression; nil when absent
// (or bad: the problem is reported).
func (r *ElementReader) Value(name string, required bool) *Value {
	v := r.a.value(name, required)
	if v == nil {
		return nil
	}
	return &Value{v: v}
}

// Text returns an element's text as a literal or expression value.
func (r *ElementReader) Text(e *Element) *Value {
	v, err := r.a.cc.textValue(e)
	if err != nil {
		r.a.merge(err)
		return nil
	}
	return &Value{v: v}
}

// Value is a compiled literal-or-expression.
type Value struct{ v *value }

// IsExpression reports whether the value is an expression.
func (v *Value) IsExpression() bool { return v != nil && v.v.isExpr() }

// String evaluates the value as a string; an expression error is the
// ExpressionValueEvaluationFailure failure.
func (v *Value) String(x *Exchange) (string, error) {
	if v == nil {
		return "", nil
	}
	return v.v.str(x)
}

// Bool evaluates the value as a boolean.
func (v *Value) Bool(x *Exchange) (bool, error) {
	if v == nil {
		return false, nil
	}
	return v.v.boolean(x)
}

// Any evaluates the value.
func (v *Value) Any(x *Exchange) (any, error) {
	if v == nil {
		return nil, nil
	}
	return v.v.any(x)
}

// RequestAuthenticator is an extension policy that may also be nested in
// send-request (authentication-managed-identity): there it sets the
// headers of send-request's own request, h, instead of the backend
// request's.
type RequestAuthenticator interface {
	AuthenticateRequest(x *Exchange, h http.Header) error
}

// extensionDefinition turns an Extension into a table entry.
func extensionDefinition(ext Extension) *definition {
	var secs section
	for _, s := range ext.Sections {
		for _, n := range sectionNames {
			if n.name == s {
				secs |= n.s
			}
		}
	}
	return &definition{name: ext.Name, sections: secs, compile: func(cc *compileCtx, e *Element) (ExtensionPolicy, error) {
		r := &ElementReader{a: cc.attrs(e, ext.Attributes...)}
		p, err := ext.Compile(r)
		r.a.merge(err)
		if err := r.a.err(); err != nil {
			return nil, err
		}
		if p == nil {
			return nil, errorf(e.Pos, "%s: compiled to nothing", ext.Name)
		}
		return p, nil
	}}
}

// compileAs compiles e, a policy nested in another (return-response's
// set-header, send-request's authentication-basic), with its own
// registration.
func (cc *compileCtx) compileAs(e *Element) (ExtensionPolicy, error) {
	d, ok := cc.c.defs[e.Name]
	if !ok || d.compile == nil {
		return nil, errorf(e.Pos, "unknown policy '%s'", e.Name)
	}
	return d.compile(cc, e)
}
