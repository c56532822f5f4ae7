package expression

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// Context is the `context` object of an expression. The policy runtime fills one
// in per request; expressions only read it (apart from Variables, which the runtime
// owns, and JSON bodies, which expressions may edit in place).
type Context struct {
	Request      *Request
	Response     *Response
	Variables    Variables
	Api          *API
	Operation    *Operation
	Product      *Product      // nil when the request matched no product
	Subscription *Subscription // nil for requests without a subscription
	User         *User         // nil when the subscription (or application) has no user
	Application  *Application  // nil unless an application's token admitted the request
	LastError    *LastError    // nil outside on-error
	RequestId    string
	Timestamp    time.Time
	Deployment   *Deployment
	// Elapsed returns the time since the request arrived; nil reads as zero.
	Elapsed func() time.Duration
	// Now is the clock behind DateTime.UtcNow and DateTime.Now; nil means time.Now.
	// Tests set it to get stable results.
	Now func() time.Time
	// Trace receives context.Trace(message); nil drops it.
	Trace func(message string)
}

// Request is context.Request.
type Request struct {
	Method    string
	Url       *URL
	Headers   Headers
	IpAddress string
	Body      *Body
	// Certificate is always null in Tollgate (no client certificates yet).
	Certificate any
	// MatchedParameters are the URL template parameters of the matched operation.
	MatchedParameters map[string]string
}

// Response is context.Response, and also what send-request stores in a variable
// (an expression reads it back through the IResponse cast).
type Response struct {
	StatusCode   int
	StatusReason string
	Headers      Headers
	Body         *Body
}

// URL is context.Request.Url and context.Api.ServiceUrl.
type URL struct {
	Scheme string
	Host   string
	Port   int
	Path   string
	Query  QueryParams
	// QueryString is the raw query with its leading "?" (empty when there is no query), as APIM prints it.
	QueryString string
}

// QueryParams are the query parameters of a URL: IReadOnlyDictionary<string, string[]>.
// Names are matched exactly, as in APIM.
type QueryParams map[string][]string

// Headers are HTTP headers as an IReadOnlyDictionary<string, string[]> with
// case-insensitive names. It shares the map of the http.Header it wraps, so an
// expression sees the changes earlier policies made.
type Headers http.Header

// Variables are context.Variables: IReadOnlyDictionary<string, object>. The policy
// runtime stores values of the types this package knows (string, bool, int64,
// float64, time.Time, time.Duration, []string, *JObject, *JArray, *Jwt,
// *Authorization, *Response, ...); ints should be stored as int64.
type Variables map[string]any

// API is context.Api.
type API struct {
	Id                string
	Name              string
	Path              string
	ServiceUrl        *URL
	Version           string
	IsCurrentRevision bool
	Revision          string
}

// Operation is context.Operation.
type Operation struct {
	Id          string
	Name        string
	Method      string
	UrlTemplate string
}

// Product is context.Product.
type Product struct {
	Id   string
	Name string
}

// Subscription is context.Subscription.
type Subscription struct {
	Id           string
	Name         string
	Key          string
	PrimaryKey   string
	SecondaryKey string
	CreatedDate  time.Time
}

// Application is context.Application: the client application whose
// access token admitted the request to an OAuth product.
type Application struct {
	Id          string
	DisplayName string
	OwnerId     string
}

// User is context.User.
type User struct {
	Id        string
	Email     string
	FirstName string
	LastName  string
}

// LastError is context.LastError.
type LastError struct {
	Source   string
	Reason   string
	Message  string
	Scope    string
	Section  string
	Path     string
	PolicyId string
}

// Deployment is context.Deployment.
type Deployment struct {
	Region      string
	ServiceName string
	Gateway     string
}

// Authorization is what get-authorization-context stores: the access token and the
// token endpoint's response fields.
type Authorization struct {
	AccessToken string
	Claims      map[string]any
}

// DefaultBodyLimit bounds what Body.As reads when Body.Limit is zero.
const DefaultBodyLimit = 1 << 20

// Body is a message body. Load is called each time an expression reads the body;
// the runtime decides about buffering (preserveContent is accepted and ignored).
type Body struct {
	Load  func() ([]byte, error)
	Limit int // bytes; 0 means DefaultBodyLimit
}

// BytesBody is a Body over bytes already in memory.
func BytesBody(b []byte) *Body {
	return &Body{Load: func() ([]byte, error) { return b, nil }}
}

// get returns the header values of name, case-insensitively.
func (h Headers) get(name string) ([]string, bool) {
	if v, ok := h[name]; ok {
		return v, true
	}
	if v, ok := h[http.CanonicalHeaderKey(name)]; ok {
		return v, true
	}
	// Keys put in the map directly (not through Set) may be in any case.
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// GetValueOrDefault returns the values of the header name joined with ",", or def.
func (h Headers) GetValueOrDefault(name, def string) string {
	v, ok := h.get(name)
	if !ok {
		return def
	}
	return joinValues(v)
}

func joinValues(v []string) string {
	if len(v) == 1 {
		return v[0]
	}
	return strings.Join(v, ",")
}

// sortedKeys gives dictionary enumeration a stable order (Go maps have none).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
