package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// trickle sends a request's headers, then its body one byte every 50ms,
// and returns how long the server kept the connection open and the status
// line it answered, if any.
func trickle(t *testing.T, method, base, path string, headers ...string) (time.Duration, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	req := method + " " + path + " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"
	for i := 0; i+1 < len(headers); i += 2 {
		req += headers[i] + ": " + headers[i+1] + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := conn.Write([]byte("{")); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var answer strings.Builder
	_, err = io.Copy(&answer, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s %s%s: the connection is still open after 10s of trickling", method, base, path)
	}
	status, _, _ := strings.Cut(answer.String(), "\r\n")
	return time.Since(start), status
}

// A client that sends headers and then trickles its body loses the
// connection once the body timeout passes, on every listener; a body
// arriving at the gateway above the minimum rate may take longer; an idle
// kept-alive connection is closed.
func TestSlowBodyTimeouts(t *testing.T) {
	srv, _ := testServer(t, t.TempDir(), "--body-timeout", "400ms", "--gateway-body-timeout", "400ms",
		"--gateway-body-min-rate", "1KiB", "--idle-timeout", "400ms")
	key := starterKey(t, srv)
	for _, c := range []struct {
		name, method, path string
		headers            []string
		status             string // "": any
	}{
		// Forwarding a body that stops arriving is the caller's fault.
		{"gateway", "POST", "/echo/resource", []string{"Ocp-Apim-Subscription-Key", key}, "HTTP/1.1 408 Request Timeout"},
		{"gateway", "POST", "/no-such-api", nil, "HTTP/1.1 404 Not Found"}, // answered at once; the unread body is still bounded
		{"management", "PUT", "/apis/slow", srv.admin(), ""},
		{"identity", "POST", "/default/oauth2/v2.0/token", nil, ""},
	} {
		took, status := trickle(t, c.method, srv.urls[c.name], c.path, c.headers...)
		if took < 350*time.Millisecond || took > 5*time.Second {
			t.Errorf("%s %s: connection closed after %v, want about 400ms", c.name, c.path, took)
		}
		if c.status != "" && status != c.status {
			t.Errorf("%s %s: answered %q, want %q", c.name, c.path, status, c.status)
		}
	}

	// 3,000 bytes at about 3 KiB/s take a second, more than the 400ms
	// allowance but above the minimum rate: the upload completes.
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 30; i++ {
			time.Sleep(30 * time.Millisecond)
			if _, err := pw.Write([]byte(strings.Repeat("x", 100))); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", srv.urls["gateway"]+"/echo/resource", pr)
	req.ContentLength = 3000
	req.Header.Set("Ocp-Apim-Subscription-Key", key)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload above the minimum rate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || time.Since(start) < 400*time.Millisecond {
		t.Fatalf("upload above the minimum rate: %d after %v: %s", resp.StatusCode, time.Since(start), body)
	}

	// Idle: after one answered request the connection is closed.
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.urls["management"], "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /apis HTTP/1.1\r\nHost: test\r\nAuthorization: %s\r\n\r\n", srv.admin()[1])
	br := bufio.NewReader(conn)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start = time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF || time.Since(start) < 300*time.Millisecond {
		t.Errorf("idle connection: %v after %v, want EOF after about 400ms", err, time.Since(start))
	}
}
