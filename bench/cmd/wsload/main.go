// Command wsload is the load harness's WebSocket driver: -c connections
// each send a message and wait for its echo, again and again, for -d; it
// prints the same BENCH line as wrk/report.lua, a request being one
// message's round trip. With -check it sends one message and exits 0 only
// if the echo is right.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	url := flag.String("url", "", "ws:// URL")
	conns := flag.Int("c", 64, "connections")
	dur := flag.Duration("d", 10*time.Second, "duration")
	size := flag.Int("size", 64, "message size in bytes")
	check := flag.Bool("check", false, "one round trip, then exit 0 if the echo matched")
	var hs headers
	flag.Var(&hs, "H", "request header `Name: value` (repeatable)")
	flag.Parse()
	h := http.Header{}
	for _, kv := range hs {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			fmt.Fprintf(os.Stderr, "wsload: bad header %q\n", kv)
			os.Exit(2)
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if *check {
		*conns, *dur = 1, 0
	}
	if err := run(*url, h, *conns, *dur, *size, *check); err != nil {
		fmt.Fprintf(os.Stderr, "wsload: %v\n", err)
		os.Exit(1)
	}
}

func run(url string, h http.Header, conns int, dur time.Duration, size int, check bool) error {
	msg := bytes.Repeat([]byte("m"), size)
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	cs := make([]*websocket.Conn, 0, conns)
	for range conns {
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			return fmt.Errorf("dial %s: %w", url, err)
		}
		defer c.CloseNow()
		cs = append(cs, c)
	}
	if check {
		got, err := roundTrip(ctx, cs[0], msg)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			return errors.New("the echo differs from the message")
		}
		return cs[0].Close(websocket.StatusNormalClosure, "")
	}
	start := time.Now()
	end := start.Add(dur)
	var (
		mu       sync.Mutex
		lat      []time.Duration
		failures int
		wg       sync.WaitGroup
	)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(end) {
				t0 := time.Now()
				got, err := roundTrip(ctx, c, msg)
				if err != nil || !bytes.Equal(got, msg) {
					bad++
					break
				}
				mine = append(mine, time.Since(t0))
			}
			_ = c.Close(websocket.StatusNormalClosure, "")
			mu.Lock()
			lat = append(lat, mine...)
			failures += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) int64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()
	}
	fmt.Printf("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=0 socket_errors=%d\n",
		len(lat), elapsed.Microseconds(), pct(0.50), pct(0.99), failures)
	return nil
}

func roundTrip(ctx context.Context, c *websocket.Conn, msg []byte) ([]byte, error) {
	if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
		return nil, err
	}
	_, got, err := c.Read(ctx)
	return got, err
}
