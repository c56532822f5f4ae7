package resource

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/keyring"
)

// Backend is a named backend service that set-backend-service backend-id
// routes to: /backends/{id}. It mirrors APIM's backend entity: a URL with
// credentials, TLS checks and a circuit breaker, or (type Pool) a
// load-balanced pool of other backends.
type Backend struct {
	Meta
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// URL is the runtime URL (http or https); required unless Type is Pool.
	URL string `json:"url,omitempty"`
	// Protocol is "http" (default) or "soap".
	Protocol string `json:"protocol,omitempty"`
	// Type is "Single" (default) or "Pool".
	Type string `json:"type,omitempty"`

	Credentials    *BackendCredentials    `json:"credentials,omitempty"`
	TLS            *BackendTLS            `json:"tls,omitempty"`
	CircuitBreaker *BackendCircuitBreaker `json:"circuitBreaker,omitempty"`
	Pool           *BackendPool           `json:"pool,omitempty"`

	// CredentialValues holds the credentials' header and query values and
	// the authorization parameter (JSON of BackendCredentialValues), sealed
	// when stored. Callers write them in Credentials; Normalize moves them
	// here, so a GET shows header and query names only.
	CredentialValues string `json:"credentialValues,omitempty"`
}

// BackendCredentials are added to every request sent to the backend.
type BackendCredentials struct {
	// Header maps header names to values.
	Header map[string][]string `json:"header,omitempty"`
	// Query maps query parameter names to values.
	Query map[string][]string `json:"query,omitempty"`
	// Certificate lists ids of certificates (/certificates/{id}, with a
	// private key) presented as the TLS client certificate.
	Certificate []string `json:"certificate,omitempty"`
	// CertificateIDs is APIM's newer spelling of Certificate.
	CertificateIDs []string `json:"certificateIds,omitempty"`
	// Authorization sets the Authorization header.
	Authorization *BackendAuthorization `json:"authorization,omitempty"`
}

// BackendAuthorization is "Authorization: {scheme} {parameter}".
type BackendAuthorization struct {
	Scheme    string `json:"scheme"`
	Parameter string `json:"parameter,omitempty"`
}

// BackendCredentialValues are the secret parts of BackendCredentials.
type BackendCredentialValues struct {
	Header                 map[string][]string `json:"header,omitempty"`
	Query                  map[string][]string `json:"query,omitempty"`
	AuthorizationParameter string              `json:"authorizationParameter,omitempty"`
}

// BackendTLS are the TLS checks of an https backend (both default true).
type BackendTLS struct {
	ValidateCertificateChain *bool `json:"validateCertificateChain,omitempty"`
	ValidateCertificateName  *bool `json:"validateCertificateName,omitempty"`
}

// BackendCircuitBreaker trips the backend when a rule's failure condition
// is met; APIM allows one rule.
type BackendCircuitBreaker struct {
	Rules []BackendCircuitRule `json:"rules"`
}

// BackendCircuitRule is one circuit breaker rule.
type BackendCircuitRule struct {
	Name             string                  `json:"name,omitempty"`
	FailureCondition BackendFailureCondition `json:"failureCondition"`
	// TripDuration is an ISO 8601 duration ("PT1M").
	TripDuration string `json:"tripDuration"`
	// AcceptRetryAfter makes a tripping response's Retry-After the trip
	// duration.
	AcceptRetryAfter bool `json:"acceptRetryAfter,omitempty"`
}

// BackendFailureCondition counts failures within an interval.
type BackendFailureCondition struct {
	Count int `json:"count,omitempty"`
	// Percentage trips on a share of failed calls (with at least 10
	// calls in the interval).
	Percentage int `json:"percentage,omitempty"`
	// Interval is an ISO 8601 duration ("PT1M").
	Interval         string              `json:"interval"`
	StatusCodeRanges []BackendStatusCode `json:"statusCodeRanges,omitempty"`
	// ErrorReasons are failure reasons counted as failures
	// ("BackendConnectionFailure", "Timeout" / "BackendTimeout").
	ErrorReasons []string `json:"errorReasons,omitempty"`
}

// BackendStatusCode is an inclusive range of status codes.
type BackendStatusCode struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// BackendPool is a load-balanced pool of backends.
type BackendPool struct {
	Services []BackendPoolMember `json:"services"`
}

// BackendPoolMember is one backend of a pool: the lowest priority value
// is used first; within a priority, weights share the calls.
type BackendPoolMember struct {
	// ID is the member backend's id ("/backends/b1" or "b1").
	ID       string `json:"id"`
	Priority int    `json:"priority,omitempty"`
	Weight   int    `json:"weight,omitempty"`
}

// MaxPoolMembers bounds a pool (APIM allows 30).
const MaxPoolMembers = 30

// Normalize fills defaults and moves credential values into
// CredentialValues.
func (b *Backend) Normalize() {
	if b.Protocol == "" {
		b.Protocol = "http"
	}
	if b.Type == "" {
		b.Type = "Single"
	}
	if strings.EqualFold(b.Type, "pool") {
		b.Type = "Pool"
	}
	if b.Pool != nil {
		for i := range b.Pool.Services {
			m := &b.Pool.Services[i]
			if !strings.HasPrefix(m.ID, "/") && m.ID != "" {
				m.ID = "/backends/" + m.ID
			}
			if m.Weight == 0 {
				m.Weight = 1
			}
		}
	}
	c := b.Credentials
	if c == nil {
		return
	}
	var v BackendCredentialValues
	has := false
	if len(c.Header) > 0 {
		v.Header = map[string][]string{}
		for k, vs := range c.Header {
			if len(vs) > 0 {
				has = true
			}
			v.Header[k] = vs
			c.Header[k] = []string{}
		}
	}
	if len(c.Query) > 0 {
		v.Query = map[string][]string{}
		for k, vs := range c.Query {
			if len(vs) > 0 {
				has = true
			}
			v.Query[k] = vs
			c.Query[k] = []string{}
		}
	}
	if c.Authorization != nil && c.Authorization.Parameter != "" {
		has = true
		v.AuthorizationParameter = c.Authorization.Parameter
		c.Authorization.Parameter = ""
	}
	if has {
		j, _ := json.Marshal(v)
		b.CredentialValues = string(j)
	}
	if len(c.CertificateIDs) > 0 && len(c.Certificate) == 0 {
		c.Certificate, c.CertificateIDs = c.CertificateIDs, nil
	}
}

var headerNameRe = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// Validate reports every bad field.
func (b *Backend) Validate() Errors {
	var errs Errors
	oneOf(&errs, "protocol", b.Protocol, "http", "soap")
	oneOf(&errs, "type", b.Type, "Single", "Pool")
	if b.Type == "Pool" {
		switch {
		case b.Pool == nil || len(b.Pool.Services) == 0:
			errs.Add("pool.services", "is required for a backend of type Pool: list the member backends")
		case len(b.Pool.Services) > MaxPoolMembers:
			errs.Add("pool.services", "must hold at most %d backends", MaxPoolMembers)
		}
		if b.CircuitBreaker != nil {
			errs.Add("circuitBreaker", "is set on the pool's members, not on a Pool backend")
		}
	} else {
		if b.Pool != nil {
			errs.Add("pool", "is only allowed when type is Pool")
		}
		if u, err := url.Parse(b.URL); b.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs.Add("url", "must be an absolute http or https URL, got %q", b.URL)
		}
	}
	if b.Pool != nil {
		seen := map[string]bool{}
		for i, m := range b.Pool.Services {
			t := "pool.services[" + strconv.Itoa(i) + "]"
			name := strings.TrimPrefix(m.ID, "/backends/")
			switch {
			case !ValidName(name):
				errs.Add(t+".id", "must name a backend (/backends/{id}), got %q", m.ID)
			case m.ID == b.ID:
				errs.Add(t+".id", "a pool cannot contain itself")
			case seen[m.ID]:
				errs.Add(t+".id", "%s is listed twice", m.ID)
			}
			seen[m.ID] = true
			if m.Priority < 0 || m.Priority > 100 {
				errs.Add(t+".priority", "must be between 0 and 100")
			}
			if m.Weight < 1 || m.Weight > 1000 {
				errs.Add(t+".weight", "must be between 1 and 1000")
			}
		}
	}
	if c := b.Credentials; c != nil {
		for k := range c.Header {
			if !headerNameRe.MatchString(k) {
				errs.Add("credentials.header", "%q is not a valid header name", k)
			}
		}
		for k := range c.Query {
			if k == "" {
				errs.Add("credentials.query", "a query parameter name is empty")
			}
		}
		if a := c.Authorization; a != nil && !headerNameRe.MatchString(a.Scheme) {
			errs.Add("credentials.authorization.scheme", "is required: a single token such as Basic or Bearer")
		}
		for i, id := range c.Certificate {
			if !ValidName(strings.TrimPrefix(id, "/certificates/")) {
				errs.Add("credentials.certificate["+strconv.Itoa(i)+"]", "must name a certificate (/certificates/{id}), got %q", id)
			}
		}
	}
	if b.CredentialValues != "" && !keyring.IsSealed(b.CredentialValues) {
		var v BackendCredentialValues
		if err := json.Unmarshal([]byte(b.CredentialValues), &v); err != nil {
			errs.Add("credentials", "could not be read: %v", err)
		}
		for k, vs := range v.Header {
			for _, s := range vs {
				if strings.ContainsAny(s, "\r\n\x00") {
					errs.Add("credentials.header", "the value of %q holds a line break or NUL", k)
				}
			}
		}
	}
	if cb := b.CircuitBreaker; cb != nil {
		if len(cb.Rules) != 1 {
			errs.Add("circuitBreaker.rules", "must hold exactly one rule")
		}
		for i, r := range cb.Rules {
			t := "circuitBreaker.rules[" + strconv.Itoa(i) + "]"
			fc := r.FailureCondition
			if fc.Count < 0 || fc.Count > 10000 {
				errs.Add(t+".failureCondition.count", "must be between 1 and 10000")
			}
			if fc.Percentage < 0 || fc.Percentage > 100 {
				errs.Add(t+".failureCondition.percentage", "must be between 1 and 100")
			}
			if fc.Count == 0 && fc.Percentage == 0 {
				errs.Add(t+".failureCondition", "needs count or percentage")
			}
			if d, err := ParseISODuration(fc.Interval); err != nil || d <= 0 || d > 24*time.Hour {
				errs.Add(t+".failureCondition.interval", "must be an ISO 8601 duration between PT1S and P1D (e.g. PT1M), got %q", fc.Interval)
			}
			if d, err := ParseISODuration(r.TripDuration); err != nil || d <= 0 || d > 24*time.Hour {
				errs.Add(t+".tripDuration", "must be an ISO 8601 duration between PT1S and P1D (e.g. PT1M), got %q", r.TripDuration)
			}
			for j, sr := range fc.StatusCodeRanges {
				if sr.Min < 100 || sr.Max > 599 || sr.Min > sr.Max {
					errs.Add(t+".failureCondition.statusCodeRanges["+strconv.Itoa(j)+"]", "must be a range of status codes within 100-599 with min <= max")
				}
			}
			for j, er := range fc.ErrorReasons {
				if er == "" || len(er) > 100 {
					errs.Add(t+".failureCondition.errorReasons["+strconv.Itoa(j)+"]", "must be a failure reason such as BackendConnectionFailure")
				}
			}
			if len(fc.StatusCodeRanges) == 0 && len(fc.ErrorReasons) == 0 {
				errs.Add(t+".failureCondition", "needs statusCodeRanges or errorReasons: what counts as a failure")
			}
		}
	}
	return errs
}

// CredentialValuesOf decodes unsealed credential values ("" gives none).
func CredentialValuesOf(plain string) (BackendCredentialValues, error) {
	var v BackendCredentialValues
	if plain == "" {
		return v, nil
	}
	err := json.Unmarshal([]byte(plain), &v)
	return v, err
}

var isoDurationRe = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// ParseISODuration reads the ISO 8601 durations APIM uses ("PT1M",
// "PT30S", "P1DT2H"); years, months and weeks are refused.
func ParseISODuration(s string) (time.Duration, error) {
	m := isoDurationRe.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, &durationError{s}
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, err := strconv.Atoi(m[i+1])
			if err != nil || n > 100000 {
				return 0, &durationError{s}
			}
			d += time.Duration(n) * unit
		}
	}
	if m[4] != "" {
		f, err := strconv.ParseFloat(m[4], 64)
		if err != nil || f > 1e7 {
			return 0, &durationError{s}
		}
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}

type durationError struct{ s string }

func (e *durationError) Error() string {
	return "invalid ISO 8601 duration " + strconv.Quote(e.s) + " (expected e.g. PT1M or PT30S)"
}
