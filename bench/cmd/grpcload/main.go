// Command grpcload is the load harness's gRPC kit:
//
//	grpcload cert -dir D              a self-signed cert.pem/key.pem for 127.0.0.1
//	grpcload serve -addr A -dir D     a gRPC health service over TLS (HTTP/2)
//	grpcload load -target A -ca F     -c connections' worth of concurrent
//	                                  health Checks for -d; prints the BENCH
//	                                  line of wrk/report.lua (a request is one
//	                                  unary call); -check: one call, exit 0 if
//	                                  it answered SERVING
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: grpcload cert|serve|load [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", ".", "directory of cert.pem and key.pem")
	addr := fs.String("addr", "127.0.0.1:0", "serve: listen address")
	target := fs.String("target", "", "load: host:port")
	ca := fs.String("ca", "", "load: PEM certificate to trust")
	conns := fs.Int("c", 64, "load: concurrent calls")
	dur := fs.Duration("d", 10*time.Second, "load: duration")
	header := fs.String("H", "", "load: one `Name: value` sent as call metadata")
	check := fs.Bool("check", false, "load: one call, then exit 0 if it answered SERVING")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "cert":
		err = writeCert(*dir)
	case "serve":
		err = serve(*addr, *dir)
	case "load":
		err = load(*target, *ca, *header, *conns, *dur, *check)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "grpcload: %v\n", err)
		os.Exit(1)
	}
}

func writeCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}

func serve(addr, dir string) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := health.NewServer()
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	healthpb.RegisterHealthServer(s, hs)
	return s.Serve(ln)
}

func load(target, ca, header string, conns int, dur time.Duration, check bool) error {
	pemBytes, err := os.ReadFile(ca)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return errors.New("no certificate in " + ca)
	}
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	if err != nil {
		return err
	}
	defer cc.Close()
	ctx := context.Background()
	if k, v, ok := strings.Cut(header, ":"); ok {
		ctx = metadata.AppendToOutgoingContext(ctx, strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v))
	}
	client := healthpb.NewHealthClient(cc)
	call := func() error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		r, err := client.Check(cctx, &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			err = fmt.Errorf("status %v", r.GetStatus())
		}
		return err
	}
	if check {
		return call()
	}
	var (
		mu       sync.Mutex
		lat      []time.Duration
		failures int
		wg       sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(dur)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(end) {
				t0 := time.Now()
				if call() != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
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
	fmt.Printf("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=0\n",
		len(lat), elapsed.Microseconds(), pct(0.50), pct(0.99), failures)
	return nil
}
