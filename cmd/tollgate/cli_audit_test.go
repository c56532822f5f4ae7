package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// Changes made by apply and delete show up in `tollgate audit`, and the
// subscription keys apply set are not in it.
func TestCLIAudit(t *testing.T) {
	cliBackends(t, func(t *testing.T, s *cliServer) {
		dir := writeCLIFiles(t, sampleConfig)
		s.ok(t, "", "apply", "-f", dir)
		s.ok(t, "", "delete", "subscription", "alice-starter")
		table := s.ok(t, "", "audit", "--filter", "startswith(path, '/subscriptions/')")
		lines := strings.Split(strings.TrimSpace(table), "\n")
		if len(lines) != 3 || !strings.Contains(lines[1], "create") || !strings.Contains(lines[2], "delete") || !strings.Contains(lines[2], "admin") {
			t.Fatalf("audit table:\n%s", table)
		}
		jl := s.ok(t, "", "audit", "-o", "jsonl")
		if strings.Contains(jl, "alice-primary-key-0001") {
			t.Fatalf("audit log shows a subscription key:\n%s", jl)
		}
		n := 0
		for _, l := range strings.Split(strings.TrimSpace(jl), "\n") {
			var e map[string]any
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			n++
		}
		if n < 5 {
			t.Fatalf("audit -o jsonl printed %d entries after an apply of the sample configuration", n)
		}
		if r := s.cli(t, "", "audit", "--filter", "time ge 'soon'"); r.code != 1 || !strings.Contains(r.stderr, "RFC 3339") {
			t.Fatalf("bad filter: %d %s", r.code, r.stderr)
		}
	})
}
