package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeProcessMemorySettings runs `tollgate serve` as a process, since
// the memory limit and heap profiling belong to the process: --memory-limit
// wins over GOMEMLIMIT, which is honoured without it, and --pprof serves
// the heap profile on the metrics listener (404 without it). The runtime
// reports its limit in /metrics.
func TestServeProcessMemorySettings(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tollgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	serve := func(args ...string) string {
		t.Helper()
		metrics := freeAddr(t)
		cmd := exec.Command(bin, append([]string{"serve", "--data-dir", t.TempDir(), "--no-defaults", "--log-level", "warn",
			"--gateway-addr", freeAddr(t), "--management-addr", "", "--portal-addr", "", "--identity-addr", "",
			"--metrics-addr", metrics}, args...)...)
		cmd.Env = append(os.Environ(), "GOMEMLIMIT=123MiB")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		url := "http://" + metrics
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if res, err := http.Get(url + "/metrics"); err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					return url
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("serve %v: the metrics listener did not answer", args)
			}
		}
	}
	limit := func(url string) string {
		t.Helper()
		_, _, b := call(t, "GET", url+"/metrics", "")
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "go_gc_gomemlimit_bytes "); ok {
				return v
			}
		}
		t.Fatal("/metrics lacks go_gc_gomemlimit_bytes")
		return ""
	}

	withFlags := serve("--memory-limit", "300MiB", "--pprof")
	if got := limit(withFlags); got != "3.145728e+08" {
		t.Errorf("--memory-limit 300MiB: the runtime's limit is %s", got)
	}
	if st, _, b := call(t, "GET", withFlags+"/debug/pprof/heap?debug=1", ""); st != 200 || !strings.Contains(string(b), "heap profile:") {
		t.Errorf("--pprof: /debug/pprof/heap answered %d %.100s", st, b)
	}

	plain := serve()
	if got := limit(plain); got != "1.28974848e+08" {
		t.Errorf("GOMEMLIMIT=123MiB: the runtime's limit is %s", got)
	}
	if st, _, _ := call(t, "GET", plain+"/debug/pprof/heap", ""); st != 404 {
		t.Errorf("without --pprof: /debug/pprof/heap answered %d", st)
	}
}
