package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// The built-in echo backend (serviceUrl "tollgate:echo") runs in process:
// the backend URL of a call to it is "tollgate://echo/<path>?<query>".
const (
	echoScheme = "tollgate"
	echoHost   = "echo"
	// maxEchoBody bounds the request body the echo backend reads and
	// returns; the rest is left unread and "bodyTruncated" is set.
	maxEchoBody = 64 << 10
)

func isEcho(c *Call) bool {
	u := c.BackendURL
	return u != nil && u.Scheme == echoScheme && (u.Host == echoHost || u.Opaque == echoHost)
}

// echoTransport answers a request with JSON describing it, as a backend
// would have received it.
type echoTransport struct{}

type echoReply struct {
	Method        string              `json:"method"`
	URL           string              `json:"url"`
	Path          string              `json:"path"`
	Query         url.Values          `json:"query"`
	Headers       map[string][]string `json:"headers"`
	Body          string              `json:"body"`
	BodyTruncated bool                `json:"bodyTruncated,omitempty"`
}

func (echoTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	reply := echoReply{
		Method:  r.Method,
		URL:     r.URL.RequestURI(),
		Path:    r.URL.Path,
		Query:   r.URL.Query(),
		Headers: r.Header,
	}
	if r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxEchoBody+1))
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(body) > maxEchoBody {
			body, reply.BodyTruncated = body[:maxEchoBody], true
		}
		reply.Body = string(body)
	}
	b, err := json.Marshal(reply)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status:     "200 OK",
		StatusCode: http.StatusOK,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":   {"application/json; charset=utf-8"},
			"Content-Length": {strconv.Itoa(len(b))},
		},
		Body:          io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)),
		Request:       r,
	}, nil
}
