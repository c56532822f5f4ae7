package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
)

const maxFormBody = 64 << 10

// retryAfter is the Retry-After (seconds) of a 503 while the store is
// unavailable.
const retryAfter = "5"

// oauthError is an RFC 6749 §5.2 error.
type oauthError struct {
	status      int
	code        string
	description string
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func oerr(status int, code, format string, args ...any) *oauthError {
	return &oauthError{status: status, code: code, description: fmt.Sprintf(format, args...)}
}

func invalidRequest(format string, args ...any) *oauthError {
	return oerr(http.StatusBadRequest, "invalid_request", format, args...)
}

func invalidGrant(format string, args ...any) *oauthError {
	return oerr(http.StatusBadRequest, "invalid_grant", format, args...)
}

func invalidScope(format string, args ...any) *oauthError {
	return oerr(http.StatusBadRequest, "invalid_scope", format, args...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeOAuthError answers an RFC 6749 error. invalid_client is a 401, with
// WWW-Authenticate when the client tried Basic authentication.
func (p *Provider) writeOAuthError(w http.ResponseWriter, err error, basic bool) {
	var oe *oauthError
	switch {
	case errors.As(err, &oe):
	case errors.Is(err, ErrUnavailable):
		p.log.Error("identity store unavailable", "err", err)
		w.Header().Set("Retry-After", retryAfter)
		oe = oerr(http.StatusServiceUnavailable, "temporarily_unavailable", "The server cannot reach its database just now; try again shortly.")
	default:
		p.log.Error("identity request failed", "err", err)
		oe = oerr(http.StatusInternalServerError, "server_error", "The server could not complete the request.")
	}
	if oe.code == "invalid_client" {
		oe.status = http.StatusUnauthorized
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="tollgate", charset="UTF-8"`)
		}
	}
	writeJSON(w, oe.status, map[string]string{"error": oe.code, "error_description": oe.description})
}

// parseForm reads a bounded urlencoded POST body and refuses repeated
// parameters (RFC 6749 §3.2).
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, oerr(http.StatusMethodNotAllowed, "invalid_request", "Use POST.")
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("The body must be application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return nil, invalidRequest("The body could not be read.")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, invalidRequest("The parameter %s is repeated.", k)
		}
	}
	return r.PostForm, nil
}

// handleToken serves /{tenant}/oauth2/v2.0/token.
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	form, err := parseForm(w, r)
	if err != nil {
		p.writeOAuthError(w, err, false)
		return
	}
	snap, err := p.directory(r.Context())
	if err != nil {
		p.writeOAuthError(w, err, false)
		return
	}
	c, err := p.authenticateClient(form, r, snap)
	if err != nil {
		if form.Get("grant_type") == "authorization_code" && form.Get("code") != "" {
			// RFC 9700 §4.5.3: a code presented in a failed redemption is
			// not redeemable afterwards.
			p.burnCode(r.Context(), form.Get("code"))
		}
		p.writeOAuthError(w, err, c.basic)
		return
	}
	var resp any
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
		resp, err = p.grantClientCredentials(r.Context(), snap, c, form)
	case "authorization_code":
		resp, err = p.grantAuthorizationCode(r.Context(), snap, c, form)
	case "refresh_token":
		resp, err = p.grantRefreshToken(r.Context(), snap, c, form)
	case "":
		err = invalidRequest("grant_type is required.")
	default:
		err = oerr(http.StatusBadRequest, "unsupported_grant_type", "The grant type %q is not supported (client_credentials, authorization_code, refresh_token).", gt)
	}
	p.observeGrant(form.Get("grant_type"), err)
	if err != nil {
		p.writeOAuthError(w, err, c.basic)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// GrantObserver is told how each token request that named a client ended:
// the grant type asked for (as sent: bound it before labelling) and the
// failure, nil when a token was issued.
type GrantObserver interface {
	ObserveGrant(grantType string, err error)
}

func (p *Provider) observeGrant(grantType string, err error) {
	if p.opts.Grants != nil {
		p.opts.Grants.ObserveGrant(grantType, err)
	}
}
