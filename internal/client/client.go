// Package client is a small client of Tollgate's management API, used by
// the tollgate CLI. It speaks the API's conventions: flat JSON resources
// addressed by path, lists as {"value","count","nextLink"}, ETag/If-Match,
// POST {item}/{action}, and the {"error":{...}} body, which it returns as
// *Error.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Object is a decoded JSON object.
type Object = map[string]any

// Limits on what is read from the server.
const (
	maxBody = 32 << 20
	// maxPages stops a server that keeps returning nextLink.
	maxPages = 100000
)

// Client talks to one management API with one credential.
type Client struct {
	base       *url.URL
	credential string
	http       *http.Client
}

// New returns a client of the management API at baseURL (e.g.
// "http://127.0.0.1:8001"), sending credential (the admin key or an access
// token) as a bearer token. A nil httpClient means http.DefaultClient.
func New(baseURL, credential string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("management URL %q: must be an absolute http or https URL", baseURL)
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: u, credential: credential, http: httpClient}, nil
}

// BaseURL returns the management API's URL.
func (c *Client) BaseURL() string { return c.base.String() }

// Error is an error answered by the API, with its body.
type Error struct {
	Status  int      `json:"-"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Details []Detail `json:"details,omitempty"`
}

// Detail names one bad field.
type Detail struct {
	Target  string `json:"target"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for _, d := range e.Details {
		fmt.Fprintf(&b, "\n  %s: %s", d.Target, d.Message)
	}
	return b.String()
}

// IsNotFound reports whether err is a 404 from the API.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// Kind describes a resource kind, as GET /kinds lists them (parents before
// children).
type Kind struct {
	// Name is the collection name: "apis", "apis/operations".
	Name string `json:"name"`
	// Pattern is the item path with "{}" for each id: "/apis/{}/operations/{}".
	Pattern   string   `json:"pattern"`
	ApplyKind string   `json:"applyKind"`
	Secrets   []string `json:"secrets,omitempty"`
	ReadOnly  []string `json:"readOnly,omitempty"`
	// BuiltIn are resources every installation makes itself; export
	// leaves them out.
	BuiltIn []string `json:"builtIn,omitempty"`
}

// Kinds returns every resource kind the server knows, parents first.
func (c *Client) Kinds(ctx context.Context) ([]Kind, error) {
	var out struct {
		Value []Kind `json:"value"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/kinds", nil, nil, "", &out); err != nil {
		return nil, fmt.Errorf("list kinds: %w", err)
	}
	return out.Value, nil
}

// Get reads one resource and its ETag.
func (c *Client) Get(ctx context.Context, path string) (Object, string, error) {
	var out Object
	resp, err := c.do(ctx, http.MethodGet, path, nil, nil, "", &out)
	if err != nil {
		return nil, "", err
	}
	return out, resp.Header.Get("ETag"), nil
}

// List reads a whole collection, following nextLink.
func (c *Client) List(ctx context.Context, path string, query url.Values) ([]Object, error) {
	var all []Object
	next := c.resolve(path, query)
	for page := 0; next != nil; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("list %s: more than %d pages", path, maxPages)
		}
		var out struct {
			Value    []Object `json:"value"`
			NextLink string   `json:"nextLink"`
		}
		if _, err := c.doURL(ctx, http.MethodGet, next, nil, "", &out); err != nil {
			return nil, err
		}
		all = append(all, out.Value...)
		next = nil
		if out.NextLink != "" {
			u, err := c.base.Parse(out.NextLink)
			if err != nil {
				return nil, fmt.Errorf("list %s: bad nextLink %q: %w", path, out.NextLink, err)
			}
			// Never send the credential to another origin.
			if u.Scheme != c.base.Scheme || u.Host != c.base.Host {
				return nil, fmt.Errorf("list %s: nextLink %q points outside %s", path, out.NextLink, c.base)
			}
			next = u
		}
	}
	return all, nil
}

// Put creates or replaces a resource. created is true when the server
// answered 201. A non-empty ifMatch is sent as If-Match.
func (c *Client) Put(ctx context.Context, path string, body any, ifMatch string) (obj Object, created bool, err error) {
	resp, err := c.do(ctx, http.MethodPut, path, nil, body, ifMatch, &obj)
	if err != nil {
		return nil, false, err
	}
	return obj, resp.StatusCode == http.StatusCreated, nil
}

// Patch merges body into a resource.
func (c *Client) Patch(ctx context.Context, path string, body any, ifMatch string) (Object, error) {
	var obj Object
	if _, err := c.do(ctx, http.MethodPatch, path, nil, body, ifMatch, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// Delete removes a resource; query carries options such as
// deleteSubscriptions=true.
func (c *Client) Delete(ctx context.Context, path string, query url.Values) error {
	_, err := c.do(ctx, http.MethodDelete, path, query, nil, "", nil)
	return err
}

// Post runs an action on a resource: POST {path}/{action}. A nil body sends
// no body; the answer is decoded when there is one.
func (c *Client) Post(ctx context.Context, path, action string, body any) (Object, error) {
	var obj Object
	if _, err := c.do(ctx, http.MethodPost, strings.TrimRight(path, "/")+"/"+action, nil, body, "", &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func (c *Client) resolve(path string, query url.Values) *url.URL {
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + "/" + strings.TrimLeft(path, "/")
	u.RawQuery = query.Encode()
	return &u
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any, ifMatch string, out any) (*http.Response, error) {
	return c.doURL(ctx, method, c.resolve(path, query), body, ifMatch, out)
}

func (c *Client) doURL(ctx context.Context, method string, u *url.URL, body any, ifMatch string, out any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode body: %w", method, u.Path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.credential != "" {
		req.Header.Set("Authorization", "Bearer "+c.credential)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, u.Path, err)
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("%s %s: answer larger than %d bytes", method, u.Path, maxBody)
	}
	if resp.StatusCode >= 300 {
		return nil, decodeError(resp.StatusCode, data)
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("%s %s: decode answer: %w", method, u.Path, err)
		}
	}
	return resp, nil
}

func decodeError(status int, data []byte) *Error {
	var body struct {
		Error *Error `json:"error"`
	}
	if err := json.Unmarshal(data, &body); err == nil && body.Error != nil {
		body.Error.Status = status
		return body.Error
	}
	// Not our error body (a proxy in between, say): keep a bounded excerpt.
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Status: status, Message: msg}
}
