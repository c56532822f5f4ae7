package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxTokenResponse bounds what is read from a provider's token endpoint.
const maxTokenResponse = 256 << 10

// tokenSet is what a token endpoint returned, kept sealed at rest.
type tokenSet struct {
	AccessToken  string         `json:"accessToken"`
	RefreshToken string         `json:"refreshToken,omitempty"`
	ExpiresAt    time.Time      `json:"expiresAt,omitzero"`
	Claims       map[string]any `json:"claims,omitempty"`
}

// providerError is a token endpoint's refusal: its error code and
// description, never a token. Permanent marks refusals that a retry cannot
// fix (a dead refresh token, bad client credentials).
type providerError struct {
	Code      string
	Message   string
	Permanent bool
}

func (e *providerError) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// tokenRequest posts a grant to the token endpoint and reads the answer,
// JSON or form-encoded.
func (m *Manager) tokenRequest(ctx context.Context, ep *endpoints, tokenURL string, form url.Values, extra map[string]string) (*tokenSet, error) {
	for k, v := range extra {
		form.Set(k, v)
	}
	if ep.preset.ClientAuthentication == "body" || ep.clientSecret == "" {
		form.Set("client_id", ep.clientID)
		if ep.clientSecret != "" {
			form.Set("client_secret", ep.clientSecret)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.UpstreamTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("token request to %s: %w", redactURL(tokenURL), err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if ep.preset.ClientAuthentication == "basic" && ep.clientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(ep.clientID), url.QueryEscape(ep.clientSecret))
	}
	resp, err := m.opts.HTTPClient.Do(req)
	if err != nil {
		// The transport's error repeats the URL with its query: keep only
		// the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("token request to %s: %w", redactURL(tokenURL), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return nil, fmt.Errorf("token response from %s: %w", redactURL(tokenURL), err)
	}
	if len(body) > maxTokenResponse {
		return nil, fmt.Errorf("token response from %s is larger than %d bytes", redactURL(tokenURL), maxTokenResponse)
	}
	fields, perr := parseTokenResponse(resp.Header.Get("Content-Type"), body)
	if resp.StatusCode >= 500 {
		return nil, &providerError{Code: "ProviderUnavailable", Message: fmt.Sprintf("the token endpoint answered %d", resp.StatusCode)}
	}
	if code, _ := fields["error"].(string); code != "" || resp.StatusCode >= 400 {
		if code == "" {
			code = "HTTP" + strconv.Itoa(resp.StatusCode)
		}
		desc, _ := fields["error_description"].(string)
		if len(desc) > 500 {
			desc = desc[:500]
		}
		// 400/401 with invalid_grant or invalid_client will not get better
		// by retrying; throttling and server trouble will.
		permanent := code == "invalid_grant" || code == "invalid_client" || code == "unauthorized_client" || code == "bad_verification_code" || code == "incorrect_client_credentials"
		return nil, &providerError{Code: code, Message: desc, Permanent: permanent}
	}
	if perr != nil {
		return nil, &providerError{Code: "InvalidTokenResponse", Message: perr.Error()}
	}
	return m.tokenSet(ep, fields)
}

// parseTokenResponse reads a JSON or form-encoded body into fields.
func parseTokenResponse(contentType string, body []byte) (map[string]any, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return map[string]any{}, fmt.Errorf("the token response is not form-encoded: %v", err)
		}
		out := make(map[string]any, len(vals))
		for k, v := range vals {
			out[k] = v[0]
		}
		return out, nil
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil || out == nil {
		return map[string]any{}, fmt.Errorf("the token response is not a JSON object")
	}
	return out, nil
}

// lookup reads a dot path from fields.
func lookup(fields map[string]any, path string) any {
	var cur any = fields
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func (m *Manager) tokenSet(ep *endpoints, fields map[string]any) (*tokenSet, error) {
	shape := TokenShape{AccessToken: "access_token", RefreshToken: "refresh_token", ExpiresIn: "expires_in"}
	if s := ep.preset.TokenResponse; s != nil {
		if s.AccessToken != "" {
			shape.AccessToken = s.AccessToken
		}
		if s.RefreshToken != "" {
			shape.RefreshToken = s.RefreshToken
		}
		if s.ExpiresIn != "" {
			shape.ExpiresIn = s.ExpiresIn
		}
	}
	ts := &tokenSet{Claims: map[string]any{}}
	ts.AccessToken, _ = lookup(fields, shape.AccessToken).(string)
	if ts.AccessToken == "" {
		return nil, &providerError{Code: "InvalidTokenResponse", Message: "the token response has no access token"}
	}
	ts.RefreshToken, _ = lookup(fields, shape.RefreshToken).(string)
	var secs float64
	switch v := lookup(fields, shape.ExpiresIn).(type) {
	case float64:
		secs = v
	case string:
		secs, _ = strconv.ParseFloat(v, 64)
	}
	if secs > 0 {
		secs = min(secs, 10*365*24*3600) // no overflow from absurd lifetimes
		ts.ExpiresAt = m.opts.Now().Add(time.Duration(secs) * time.Second)
	}
	// Claims are the answer's other fields (token_type, scope, ...);
	// tokens stay out of them.
	for k, v := range fields {
		switch k {
		case "access_token", "refresh_token", "id_token", shape.AccessToken, shape.RefreshToken:
			continue
		}
		ts.Claims[k] = v
	}
	return ts, nil
}

// redactURL drops a URL's query and user info for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(bad URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// exchangeCode redeems an authorization code.
func (m *Manager) exchangeCode(ctx context.Context, ep *endpoints, code, redirect, verifier string) (*tokenSet, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return m.tokenRequest(ctx, ep, ep.tokenURL, form, ep.preset.TokenParams)
}

// refresh redeems a refresh token.
func (m *Manager) refresh(ctx context.Context, ep *endpoints, refreshToken string) (*tokenSet, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	ts, err := m.tokenRequest(ctx, ep, ep.refreshURL, form, ep.preset.RefreshParams)
	if err == nil && ts.RefreshToken == "" {
		// The provider does not rotate: the refresh token stays valid.
		ts.RefreshToken = refreshToken
	}
	return ts, err
}

// clientCredentials gets an app-only token.
func (m *Manager) clientCredentials(ctx context.Context, ep *endpoints) (*tokenSet, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	switch {
	case ep.resourceScope != "":
		form.Set("scope", ep.resourceScope)
	case len(ep.scopes) > 0:
		form.Set("scope", ep.scopeString())
	}
	return m.tokenRequest(ctx, ep, ep.tokenURL, form, ep.preset.TokenParams)
}
