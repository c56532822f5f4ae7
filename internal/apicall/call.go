// Package apicall is the contract between the gateway and the policy engine:
// the state of one API call in flight (Call), how a compiled set of policies
// serves it (Pipeline, Policies), how the pipeline reaches the backend
// (Forwarder, implemented by the gateway), and APIM's error answers (the
// one error writer both sides use). The request path reads top to bottom:
// gateway (route, admit) → Pipeline (policies) → Forwarder (gateway's
// backend call); neither side imports the other.
package apicall

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// Call is one request's state as it passes through the gateway. The gateway
// fills it in while routing and checking the subscription; the policy
// pipeline reads and changes it (e.g. set-backend-service changes
// BackendURL).
type Call struct {
	RequestID string
	Start     time.Time

	API       *resource.API
	Operation *resource.Operation
	// Params are the operation's URL template parameters.
	Params map[string]string
	// Product is the product the request was admitted through (by its
	// subscription, or as the API's open product); nil if none.
	Product *resource.Product
	// Subscription is the subscription whose key was presented; nil if
	// none. It never carries the key material.
	Subscription *SubscriptionInfo
	// Application is the client application whose token was presented
	// (for a product with OAuth access); nil if none.
	Application *ApplicationInfo
	// User owns the subscription or the application; nil if none.
	User *resource.User

	// BackendURL is where forward-request sends the request: the API's
	// serviceUrl joined with the operation's path, query kept.
	BackendURL *url.URL
	// BackendTimeout bounds the backend call.
	BackendTimeout time.Duration
	// BackendTime is the time spent waiting for backends' response
	// headers (every forward of the call), for the access log and metrics.
	BackendTime time.Duration

	// Reason is the machine code of the error that ended the call (a
	// policy's, e.g. RateLimitExceeded), for the access log; "" if none.
	Reason string
}

// SubscriptionInfo is what the gateway knows of a subscription at request
// time. Key is the key the caller presented (APIM exposes it as
// context.Subscription.Key); it must never be logged.
type SubscriptionInfo struct {
	ID          string // "/subscriptions/{sid}"
	Name        string
	DisplayName string
	Scope       string
	OwnerID     string
	CreatedDate string
	Key         string
}

// Forwarder sends a call's request to its backend. The gateway implements
// it; the forward-request policy calls it.
type Forwarder interface {
	// Forward sends r to c.BackendURL and returns the backend's response
	// (the caller closes its body). Errors are *BackendError.
	Forward(ctx context.Context, c *Call, r *http.Request, opts ForwardOptions) (*http.Response, error)
}

// ForwardOptions are forward-request's attributes.
type ForwardOptions struct {
	Timeout         time.Duration // 0: the call's BackendTimeout
	FollowRedirects bool
	// Proxy is the HTTP proxy to reach the backend through (the proxy
	// policy), its user info the proxy's credentials; nil: direct.
	Proxy *url.URL
	// Transport, when set, sends the request instead of the gateway's
	// transport: a backend entity's own TLS checks and client certificate.
	Transport http.RoundTripper
}

// BackendError is a failed backend call: Timeout distinguishes 504 from the
// 500 BackendConnectionFailure.
type BackendError struct {
	Timeout bool
	Err     error
}

func (e *BackendError) Error() string { return "backend: " + e.Err.Error() }
func (e *BackendError) Unwrap() error { return e.Err }

// ClientBodyError is a failed read of the caller's request body while it
// was forwarded: the client failed, not the backend. Timeout is set when
// the body did not arrive in time (the listener's body deadline).
type ClientBodyError struct {
	Timeout bool
	Err     error
}

func (e *ClientBodyError) Error() string { return "read the request body: " + e.Err.Error() }
func (e *ClientBodyError) Unwrap() error { return e.Err }

// ClientBodyStatus is the answer to a ClientBodyError: 408 when the body
// did not arrive in time, 400 otherwise.
func ClientBodyStatus(e *ClientBodyError) (status int, message string) {
	if e.Timeout {
		return http.StatusRequestTimeout, MsgClientBodyTimeout
	}
	return http.StatusBadRequest, MsgClientBodyFailed
}

// BackendReason is the reason (access log, context.LastError) of a failed
// backend call or backend body read: ReasonBackendTimeout or
// ReasonBackendConnectionFailure; "" when err is not a *BackendError (e.g.
// a failed write to the client).
func BackendReason(err error) string {
	var be *BackendError
	switch {
	case !errors.As(err, &be):
		return ""
	case be.Timeout:
		return ReasonBackendTimeout
	default:
		return ReasonBackendConnectionFailure
	}
}

// Pipeline runs the policies that apply to one call and writes the
// response. The policy engine provides it; fwd is how it reaches the
// backend.
type Pipeline interface {
	Serve(w http.ResponseWriter, r *http.Request, c *Call, fwd Forwarder)
}

// Policies is a compiled set of policy documents, part of a snapshot.
type Policies interface {
	// Pipeline returns the pipeline for an operation reached through a
	// product (product "" when none, or when the subscription was scoped to
	// an API or to all APIs: APIM skips product policies then).
	Pipeline(apiID, operationID, productID string) Pipeline
	// Preflight returns the pipeline that answers a CORS preflight for an
	// API whose operations do not match an OPTIONS request, or nil when the
	// API has no cors policy (the gateway then answers 404
	// OperationNotFound).
	Preflight(apiID string) Pipeline
}

// PolicyCompiler compiles every policy document of a configuration when a
// snapshot is built. records are all the configuration records except the
// kinds the gateway decodes itself (APIs, operations, products, product
// links, users, subscriptions): policy documents, named values, fragments
// and whatever else policies may refer to; it is called only when one of
// those changed. An error fails the snapshot build (documents were already
// checked when saved, so this means a bug or a broken database).
type PolicyCompiler interface {
	Compile(ctx context.Context, records []store.Record) (Policies, error)
}

// PolicyRecompiler is a PolicyCompiler that can start from the policies of
// the previous snapshot, reusing what did not change (documents whose
// record and whose named values and fragments are unchanged) instead of
// compiling everything again.
type PolicyRecompiler interface {
	PolicyCompiler
	Recompile(ctx context.Context, records []store.Record, prev Policies) (Policies, error)
}

// ApplicationInfo is what the gateway knows of the client application a
// call was admitted for.
type ApplicationInfo struct {
	ID            string // "/clientApplications/{id}"
	Name          string
	DisplayName   string
	OwnerID       string
	ApplicationID string // the client id (azp)
	CreatedDate   string
}
