package main

import (
	"strings"
	"testing"
)

// The traps a new user met in their first hour, each closed.
func TestFirstHour(t *testing.T) {
	s := newCLIServer(t)
	s.ok(t, "", "apply", "-f", writeCLIFiles(t, sampleConfig))

	// `tollgate get` with no kind lists the kinds.
	out := s.ok(t, "", "get")
	for _, want := range []string{"KIND", "apis/operations", "subscription", "/apis/{}/operations/{}"} {
		if !strings.Contains(out, want) {
			t.Errorf("get with no kind lacks %q:\n%s", want, out)
		}
	}
	// `get policies` shows every scope's policies, like `get policy`.
	if out := s.ok(t, "", "get", "policies"); !strings.Contains(out, "/apis/orders/policies/policy") {
		t.Errorf("get policies hides the API's policy:\n%s", out)
	}
	// A subscription's keys are one verb away.
	out = s.ok(t, "", "keys", "show", "subscription", "alice-starter")
	if !strings.Contains(out, "primary    alice-primary-key-0001") || !strings.Contains(out, "secondary  alice-secondary-key-0001") {
		t.Errorf("keys show:\n%s", out)
	}
	if out := s.ok(t, "", "keys", "show", "subscription", "alice-starter", "--primary"); out != "alice-primary-key-0001\n" {
		t.Errorf("keys show --primary = %q", out)
	}
	if r := s.cli(t, "", "keys", "show", "subscription", "nobody"); r.code != 1 || !strings.Contains(r.stderr, "404") {
		t.Errorf("keys show of a missing subscription: %d %s", r.code, r.stderr)
	}
	// Deleting a product with subscriptions names the CLI's flag.
	r := s.cli(t, "", "delete", "product", "starter")
	if r.code != 1 || !strings.Contains(r.stderr, "--delete-subscriptions") || strings.Contains(r.stderr, "?deleteSubscriptions") {
		t.Errorf("delete hint: %d %s", r.code, r.stderr)
	}
	s.ok(t, "", "delete", "product", "starter", "--delete-subscriptions")
}

func TestServeHelpShowsDefaults(t *testing.T) {
	_, err := loadServeConfig([]string{"--help"}, fakeEnv(nil))
	if err == nil {
		t.Fatal("no help")
	}
	for _, want := range []string{"(default 127.0.0.1:8000)", "(default 127.0.0.1:8001)", "(default ./tollgate-data)", "(default 30s)", "(default info)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
}

func TestConfigFileReportsEveryBadKey(t *testing.T) {
	path := writeConfigFile(t, "gateway-adr: x\nmaster-key: abc\nlog-levl: debug\nredis:\n  addr: x\n")
	_, err := loadServeConfig([]string{"--config", path}, fakeEnv(nil))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`:1: unknown key "gateway-adr"`, `:2: key "master-key" is a secret`, `:3: unknown key "log-levl"`, `:4: key "redis" must have a single value`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
