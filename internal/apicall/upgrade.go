package apicall

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// UpgradeRequested returns the protocol a request asks to switch to
// (Connection: upgrade with an Upgrade header, RFC 9110 section 7.8), or
// "". Only "websocket" is passed through by the gateway.
func UpgradeRequested(h http.Header) string {
	up := h.Get("Upgrade")
	if up == "" {
		return ""
	}
	for _, v := range h["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return up
			}
		}
	}
	return ""
}

// SwitchProtocols completes a protocol switch (a WebSocket handshake's
// 101 answer) whose resp.Body is the backend connection: it takes over the
// client's connection, sends the 101 with w's headers and resp's, and
// copies bytes both ways until either side closes. It returns the bytes
// sent to the client.
func SwitchProtocols(w http.ResponseWriter, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	back, ok := resp.Body.(io.ReadWriter)
	if !ok {
		return 0, errors.New("switch protocols: the backend's 101 answer has no connection")
	}
	h := w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return 0, fmt.Errorf("switch protocols: take over the client connection: %w", err)
	}
	defer conn.Close()
	// Deadlines set for the request do not apply to the new protocol.
	_ = conn.SetDeadline(time.Time{})
	if _, err := brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n"); err != nil {
		return 0, err
	}
	if err := h.Write(brw); err != nil {
		return 0, err
	}
	if _, err := brw.WriteString("\r\n"); err != nil {
		return 0, err
	}
	if err := brw.Flush(); err != nil {
		return 0, err
	}
	up := make(chan error, 1)
	go func() {
		// brw.Reader first hands out what the client sent after its
		// handshake, then reads the connection.
		_, err := io.Copy(back, brw.Reader)
		up <- err
		_ = resp.Body.Close()
	}()
	n, err := io.Copy(conn, back)
	_ = conn.Close()
	_ = resp.Body.Close()
	<-up
	return n, err
}
