package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// policyDoc is the typical chain of the policy benchmarks (check-header,
// rate-limit-by-key, set-header with expressions); n makes each save a
// real change.
func policyDoc(n int) string {
	return fmt.Sprintf(`<policies><inbound><base/>
		<check-header name="X-Api-Key" failed-check-httpcode="401" failed-check-error-message="no" ignore-case="false"><value>k%d</value></check-header>
		<rate-limit-by-key calls="100" renewal-period="60" counter-key="@(context.Request.IpAddress)"/>
		<set-header name="X-Caller" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("X-Api-Key", "none"))</value></set-header>
	</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`, n)
}

// BenchmarkPolicySave is what a policy save costs end to end: PUT through
// the management API on SQLite, which checks (compiles) the document,
// writes it, and waits until the gateway has recompiled it and serves it.
// Compare with BenchmarkPolicyCompileOnce, the cost of one of the two
// compilations, to see what compiling once per save would save.
func BenchmarkPolicySave(b *testing.B) {
	dir := b.TempDir()
	cfg := Config{
		GatewayAddr: "127.0.0.1:0", ManagementAddr: "127.0.0.1:0", IdentityAddr: "127.0.0.1:0",
		DataDir: dir, Database: "sqlite://" + filepath.Join(dir, "tollgate.db"), MasterKeyFile: filepath.Join(dir, "master.key"),
		NoDefaults: true, ShutdownTimeout: 5 * time.Second, LogLevel: "warn", LogFormat: "text",
		AccessTokenLifetime: time.Hour, RefreshTokenLifetime: time.Hour, SigningAlg: "RS256",
		SigningKeyRotation: 720 * time.Hour, KeyRefresh: time.Hour,
	}
	s, err := Start(context.Background(), cfg, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown()
	put := func(path, body string) { adminPut(b, s, path, body) }
	put("/apis/bench", `{"path": "bench", "serviceUrl": "http://backend.invalid", "subscriptionRequired": false}`)
	for i := range 20 { // other documents the gateway keeps compiled
		put(fmt.Sprintf("/apis/other%d", i), fmt.Sprintf(`{"path": "other%d", "serviceUrl": "http://backend.invalid"}`, i))
		put(fmt.Sprintf("/apis/other%d/policies/policy", i), policyJSON(i))
	}
	n := 0
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		n++
		put("/apis/bench/policies/policy", policyJSON(n))
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func policyJSON(n int) string {
	body, _ := json.Marshal(map[string]string{"format": "xml", "value": policyDoc(n)})
	return string(body)
}

// BenchmarkPolicyCompileOnce is one compilation of the document the save
// benchmark writes: what a save would spend less if the gateway reused
// the save check's compiled form.
func BenchmarkPolicyCompileOnce(b *testing.B) {
	lim := ratelimit.NewLocal(ratelimit.LocalOptions{})
	defer lim.Close()
	c := policy.NewCompiler(policy.Options{Limiter: lim})
	doc := policyDoc(1)
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if ps := c.CheckOffline(doc, map[string]string{}); len(ps) > 0 {
			b.Fatal(ps)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user+system CPU time: on a shared machine, CPU
// per operation is steadier than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// adminPut PUTs a JSON body to the management API with the admin key and
// fails tb unless the answer is 2xx.
func adminPut(tb testing.TB, s *Server, path, body string) {
	tb.Helper()
	mg, _ := s.URL("management")
	req, _ := http.NewRequest("PUT", mg+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.AdminKey())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		tb.Fatalf("PUT %s: %d %s", path, resp.StatusCode, msg)
	}
}
