package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/policy"
)

// gRPC passes through a TLS gateway listener: HTTP/2 both ways, Te:
// trailers to the backend, the status in the response trailers back, with
// and without policies.
func TestGRPCThroughGateway(t *testing.T) {
	hs := health.NewServer()
	hs.SetServingStatus("tollgate.Bench", healthpb.HealthCheckResponse_SERVING)
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	var sawTE, sawProto string
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawTE, sawProto = r.Header.Get("Te"), r.Proto
		gs.ServeHTTP(w, r)
	}))
	backend.EnableHTTP2 = true
	backend.StartTLS()
	t.Cleanup(backend.Close)
	t.Cleanup(gs.Stop)

	bothPipelines(t, func(t *testing.T, withPolicies bool) {
		// gRPC calls /package.Service/Method: the API's path is the
		// service's name.
		recs := Records(t, openAPI("health", "grpc.health.v1.Health", backend.URL+"/grpc.health.v1.Health")...)
		var compiler gateway.PolicyCompiler
		if withPolicies {
			compiler = policy.NewCompiler(policy.Options{})
			recs = append(recs, apiPolicy(t, "health", `<policies><inbound><base/><set-header name="X-In" exists-action="override"><value>1</value></set-header></inbound>`+
				`<backend><forward-request/></backend><outbound><base/><set-header name="X-Out" exists-action="override"><value>1</value></set-header></outbound><on-error><base/></on-error></policies>`))
		}
		src := &source{}
		src.set(1, recs)
		tr := gateway.NewTransport()
		tr.TLSClientConfig = &tls.Config{RootCAs: certPool(backend.Certificate())}
		gw := gateway.New(gateway.Options{Source: src, Hasher: testHasher, Policies: compiler, Transport: tr, Logger: slog.New(slog.DiscardHandler)})
		if err := gw.Sync(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		front := httptest.NewUnstartedServer(gw)
		front.EnableHTTP2 = true
		front.StartTLS()
		t.Cleanup(front.Close)

		conn, err := grpc.NewClient(strings.TrimPrefix(front.URL, "https://"),
			grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: certPool(front.Certificate())})))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		client := healthpb.NewHealthClient(conn)
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "tollgate.Bench"})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check through the gateway: %v, %v", resp, err)
		}
		if sawTE != "trailers" || sawProto != "HTTP/2.0" {
			t.Fatalf("backend saw Te %q over %s", sawTE, sawProto)
		}
		// An error status travels in the trailers (after a data-less body).
		_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("Check of an unknown service: %v, want NotFound", err)
		}
		// A stream: the first message arrives, then the call ends cleanly.
		stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "tollgate.Bench"})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := stream.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Watch: %v, %v", m, err)
		}
	})
}

func certPool(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}
