package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fakeEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeConfigFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tollgate.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeConfigDefaults(t *testing.T) {
	cfg, err := loadServeConfig(nil, fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := serveConfig{
		GatewayAddr: "127.0.0.1:8000", ManagementAddr: "127.0.0.1:8001",
		PortalAddr: "127.0.0.1:8002", IdentityAddr: "127.0.0.1:8003",
		DataDir: "./tollgate-data", Database: "sqlite://./tollgate-data/tollgate.db",
		MasterKeyFile:   filepath.Join("tollgate-data", "master.key"),
		ShutdownTimeout: 30 * time.Second, LogLevel: "info", LogFormat: "text",
		AccessTokenLifetime: time.Hour, RefreshTokenLifetime: 14 * 24 * time.Hour,
		SigningAlg: "RS256", SigningKeyRotation: 30 * 24 * time.Hour, KeyRefresh: time.Hour,
		KidRefetch:     30 * time.Second,
		AuditRetention: 90 * 24 * time.Hour,
	}
	if cfg != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
	if p, ok := cfg.SQLitePath(); !ok || p != "./tollgate-data/tollgate.db" {
		t.Errorf("SQLitePath = %q, %v", p, ok)
	}
}

// A plain path is a SQLite file, as docs/storage.md says.
func TestServeConfigPlainDatabasePath(t *testing.T) {
	cfg, err := loadServeConfig([]string{"--database", "./elsewhere/tg.db"}, fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := cfg.SQLitePath(); !ok || p != "./elsewhere/tg.db" {
		t.Errorf("SQLitePath = %q, %v (database %q)", p, ok, cfg.Database)
	}
}

func TestServeConfigDerivedFromDataDir(t *testing.T) {
	cfg, err := loadServeConfig([]string{"--data-dir", "/var/lib/tollgate"}, fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database != "sqlite:///var/lib/tollgate/tollgate.db" {
		t.Errorf("database = %q", cfg.Database)
	}
	if cfg.MasterKeyFile != "/var/lib/tollgate/master.key" {
		t.Errorf("master key file = %q", cfg.MasterKeyFile)
	}
	if p, _ := cfg.SQLitePath(); p != "/var/lib/tollgate/tollgate.db" {
		t.Errorf("SQLitePath = %q", p)
	}
}

// TestServeConfigPrecedence checks flag > env > file > default, key by key.
func TestServeConfigPrecedence(t *testing.T) {
	file := writeConfigFile(t, `
gateway-addr: 127.0.0.1:9000    # file only
management-addr: 127.0.0.1:9001 # file and env
portal-addr: 127.0.0.1:9002     # file, env and flag
log-level: debug
shutdown-timeout: 5s
no-defaults: true
`)
	env := fakeEnv(map[string]string{
		"TOLLGATE_MANAGEMENT_ADDR": "127.0.0.1:7001",
		"TOLLGATE_PORTAL_ADDR":     "127.0.0.1:7002",
		"TOLLGATE_IDENTITY_ADDR":   "127.0.0.1:7003", // env and flag
		"TOLLGATE_LOG_FORMAT":      "json",
		"TOLLGATE_MASTER_KEY":      "k-from-env",
		"TOLLGATE_ADMIN_KEY":       "admin-from-env",
	})
	cfg, err := loadServeConfig([]string{"--config", file, "--portal-addr=127.0.0.1:6002", "--identity-addr", "127.0.0.1:6003", "--shutdown-timeout=1m"}, env)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"gateway-addr (file)", cfg.GatewayAddr, "127.0.0.1:9000"},
		{"management-addr (env over file)", cfg.ManagementAddr, "127.0.0.1:7001"},
		{"portal-addr (flag over env and file)", cfg.PortalAddr, "127.0.0.1:6002"},
		{"identity-addr (flag over env)", cfg.IdentityAddr, "127.0.0.1:6003"},
		{"log-level (file)", cfg.LogLevel, "debug"},
		{"log-format (env)", cfg.LogFormat, "json"},
		{"shutdown-timeout (flag over file)", cfg.ShutdownTimeout.String(), "1m0s"},
		{"master-key (env)", cfg.MasterKey, "k-from-env"},
		{"admin-key (env)", cfg.AdminKey, "admin-from-env"},
		{"config file", cfg.ConfigFile, file},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !cfg.NoDefaults {
		t.Error("no-defaults from the file was not applied")
	}
}

func TestServeConfigFileFromEnv(t *testing.T) {
	file := writeConfigFile(t, "data-dir: /srv/tg\n")
	cfg, err := loadServeConfig(nil, fakeEnv(map[string]string{"TOLLGATE_CONFIG": file}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/srv/tg" || cfg.Database != "sqlite:///srv/tg/tollgate.db" {
		t.Errorf("got data dir %q, database %q", cfg.DataDir, cfg.Database)
	}
}

func TestServeConfigListenersOff(t *testing.T) {
	file := writeConfigFile(t, "portal-addr: \"\"\nidentity-addr:\n")
	cfg, err := loadServeConfig([]string{"--config", file, "--gateway-addr="}, fakeEnv(map[string]string{"TOLLGATE_MANAGEMENT_ADDR": "off"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GatewayAddr != "" || cfg.ManagementAddr != "" || cfg.PortalAddr != "" || cfg.IdentityAddr != "" {
		t.Errorf("listeners not all off: %+v", cfg)
	}
}

func TestServeConfigValues(t *testing.T) {
	cfg, err := loadServeConfig([]string{
		"--database", "postgres://tg:pw@db:5432/tg?sslmode=disable",
		"--gateway-tls-cert", "c.pem", "--gateway-tls-key", "k.pem",
		"--public-url-gateway", "https://api.example.com/",
		"--redis", "redis:6379", "--no-defaults", "--log-level", "WARN",
		"--master-key-file", "/etc/tg/master.key",
	}, fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database != "postgres://tg:pw@db:5432/tg?sslmode=disable" || cfg.GatewayTLSCert != "c.pem" || cfg.GatewayTLSKey != "k.pem" ||
		cfg.PublicURLGateway != "https://api.example.com" || cfg.Redis != "redis:6379" || !cfg.NoDefaults || cfg.LogLevel != "warn" ||
		cfg.MasterKeyFile != "/etc/tg/master.key" {
		t.Errorf("got %+v", cfg)
	}
	if _, ok := cfg.SQLitePath(); ok {
		t.Error("SQLitePath ok for a postgres URL")
	}
	for raw, want := range map[string]int64{"": 0, "4MiB": 4 << 20, "65536": 65536, "off": -1} {
		cfg, err := loadServeConfig([]string{"--jwt-cache-bytes", raw}, fakeEnv(nil))
		if err != nil || cfg.JWTCacheBytes != want {
			t.Errorf("--jwt-cache-bytes %q: %d, %v; want %d", raw, cfg.JWTCacheBytes, err, want)
		}
	}
	for raw, want := range map[string]int64{"": 0, "256MiB": 256 << 20, "1GiB": 1 << 30, "off": -1} {
		cfg, err := loadServeConfig([]string{"--memory-limit", raw}, fakeEnv(nil))
		if err != nil || cfg.MemoryLimit != want {
			t.Errorf("--memory-limit %q: %d, %v; want %d", raw, cfg.MemoryLimit, err, want)
		}
	}
	if _, err := loadServeConfig(nil, fakeEnv(map[string]string{"TOLLGATE_MEMORY_LIMIT": "lots"})); err == nil ||
		!strings.Contains(err.Error(), "memory-limit (env TOLLGATE_MEMORY_LIMIT)") {
		t.Errorf("TOLLGATE_MEMORY_LIMIT=lots: %v", err)
	}
}

// TestServeConfigErrors checks every refusal names the key and its source.
func TestServeConfigErrors(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		env   map[string]string
		file  string
		wants []string
		usage bool
	}{
		{name: "bad address from flag", args: []string{"--gateway-addr", "localhost"},
			wants: []string{"gateway-addr", "flag --gateway-addr", `"localhost" is not host:port`}},
		{name: "bad port from env", env: map[string]string{"TOLLGATE_MANAGEMENT_ADDR": "127.0.0.1:99999"},
			wants: []string{"management-addr", "env TOLLGATE_MANAGEMENT_ADDR", "bad port"}},
		{name: "bad address from file", file: "log-level: info\nportal-addr: nope\n",
			wants: []string{"portal-addr", "tollgate.yaml:2", "not host:port"}},
		{name: "bad redis", args: []string{"--redis", "redis"}, wants: []string{"redis (flag --redis)", "not host:port"}},
		{name: "bad duration", args: []string{"--shutdown-timeout", "soon"},
			wants: []string{"shutdown-timeout", "flag --shutdown-timeout", "not a duration"}},
		{name: "negative duration", env: map[string]string{"TOLLGATE_SHUTDOWN_TIMEOUT": "-1s"},
			wants: []string{"shutdown-timeout", "env TOLLGATE_SHUTDOWN_TIMEOUT", "negative"}},
		{name: "bad bool from file", file: "no-defaults: maybe\n",
			wants: []string{"no-defaults", "tollgate.yaml:1", "not a boolean"}},
		{name: "bad bool from env", env: map[string]string{"TOLLGATE_NO_DEFAULTS": "yes please"},
			wants: []string{"no-defaults", "env TOLLGATE_NO_DEFAULTS"}},
		{name: "bad jwt cache bytes", env: map[string]string{"TOLLGATE_JWT_CACHE_BYTES": "-5MiB"},
			wants: []string{"jwt-cache-bytes", "env TOLLGATE_JWT_CACHE_BYTES", "not a positive number of bytes"}},
		{name: "bad log level", args: []string{"--log-level", "loud"},
			wants: []string{"log-level", "must be one of debug, info, warn, error"}},
		{name: "bad log format", env: map[string]string{"TOLLGATE_LOG_FORMAT": "xml"},
			wants: []string{"log-format", "env TOLLGATE_LOG_FORMAT", "text, json"}},
		{name: "bad database scheme", args: []string{"--database", "mysql://x/y"},
			wants: []string{"database", "flag --database", `unsupported database scheme "mysql"`}},
		{name: "database scheme unknown", args: []string{"--database", "mysql://db/tollgate"},
			wants: []string{"database", "unsupported database scheme"}},
		{name: "sqlite without path", args: []string{"--database", "sqlite://"},
			wants: []string{"database", "needs a file path"}},
		{name: "password not echoed", args: []string{"--database", "postgres://u:secret@[::1/x"},
			wants: []string{"database"}},
		{name: "bad public url", args: []string{"--public-url-portal", "portal.example.com"},
			wants: []string{"public-url-portal", "not an absolute http or https URL"}},
		{name: "empty data dir", args: []string{"--data-dir="}, wants: []string{"data-dir", "must not be empty"}},
		{name: "tls cert without key", args: []string{"--gateway-tls-cert", "c.pem"},
			wants: []string{"gateway-tls-cert and gateway-tls-key must be given together"}},
		{name: "tls key without cert", env: map[string]string{"TOLLGATE_GATEWAY_TLS_KEY": "k.pem"},
			wants: []string{"gateway-tls-cert and gateway-tls-key"}},
		{name: "unknown file key", file: "gateway-addr: 127.0.0.1:1\ngateway-adr: x\n",
			wants: []string{"tollgate.yaml:2", `unknown key "gateway-adr"`}},
		{name: "secret in file", file: "master-key: abc\n",
			wants: []string{"tollgate.yaml:1", `"master-key" is a secret`, "TOLLGATE_MASTER_KEY"}},
		{name: "admin key in file", file: "\nadmin-key: abc\n",
			wants: []string{"tollgate.yaml:2", "TOLLGATE_ADMIN_KEY"}},
		{name: "config in file", file: "config: other.yaml\n", wants: []string{"tollgate.yaml:1", `"config" cannot be set`}},
		{name: "nested value in file", file: "redis:\n  addr: x\n", wants: []string{"tollgate.yaml:1", `"redis" must have a single value`}},
		{name: "duplicate key in file", file: "redis: a:1\nredis: b:2\n", wants: []string{"redis"}},
		{name: "file not a mapping", file: "- a\n- b\n", wants: []string{"tollgate.yaml:1", "must be a mapping"}},
		{name: "file not YAML", file: "a: [\n", wants: []string{"tollgate.yaml"}},
		{name: "several errors at once", args: []string{"--gateway-addr", "x", "--log-level", "y"},
			wants: []string{"gateway-addr (flag --gateway-addr)", "log-level (flag --log-level)"}},
		{name: "unknown flag", args: []string{"--gateway-address", "x"}, wants: []string{"gateway-address"}, usage: true},
		{name: "master key is not a flag", args: []string{"--master-key", "x"}, wants: []string{"master-key"}, usage: true},
		{name: "admin key is not a flag", args: []string{"--admin-key", "x"}, wants: []string{"admin-key"}, usage: true},
		{name: "positional argument", args: []string{"now"}, wants: []string{`unexpected argument "now"`}, usage: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.file != "" {
				args = append([]string{"--config", writeConfigFile(t, c.file)}, args...)
			}
			_, err := loadServeConfig(args, fakeEnv(c.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret@") {
				t.Errorf("error shows a password: %q", err)
			}
			var ue *usageError
			if errors.As(err, &ue) != c.usage {
				t.Errorf("usage error = %v, want %v (%v)", !c.usage, c.usage, err)
			}
		})
	}
}

func TestServeConfigMissingFile(t *testing.T) {
	_, err := loadServeConfig([]string{"--config", filepath.Join(t.TempDir(), "nope.yaml")}, fakeEnv(nil))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("err = %v", err)
	}
}

func TestServeConfigHelp(t *testing.T) {
	_, err := loadServeConfig([]string{"-h"}, fakeEnv(nil))
	var ue *usageError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v", err)
	}
	for _, w := range []string{"-gateway-addr", "-public-url-identity", "-shutdown-timeout", "TOLLGATE_MASTER_KEY"} {
		if !strings.Contains(ue.msg, w) {
			t.Errorf("usage lacks %q", w)
		}
	}
}

func TestEnvName(t *testing.T) {
	if got := envName("public-url-gateway"); got != "TOLLGATE_PUBLIC_URL_GATEWAY" {
		t.Errorf("envName = %q", got)
	}
}

// The observability settings: values, and refusals naming the key.
func TestServeConfigObservability(t *testing.T) {
	cfg, err := loadServeConfig([]string{"--metrics-addr", "127.0.0.1:9464", "--access-log", "/var/log/tg/access.log",
		"--access-log-format", "JSON", "--access-log-sample", "0.25"}, fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MetricsAddr != "127.0.0.1:9464" || cfg.AccessLog != "/var/log/tg/access.log" || cfg.AccessLogFormat != "json" || cfg.AccessLogSample != 0.25 {
		t.Errorf("got %+v", cfg)
	}
	if cfg.Pprof {
		t.Error("pprof is on without --pprof")
	}
	cfg, err = loadServeConfig([]string{"--metrics-addr", "127.0.0.1:9464"}, fakeEnv(map[string]string{"TOLLGATE_PPROF": "true"}))
	if err != nil || !cfg.Pprof {
		t.Errorf("TOLLGATE_PPROF=true: pprof %v, err %v", cfg.Pprof, err)
	}
	for _, c := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"--access-log-sample", "0"}, []string{"access-log-sample", "not a fraction above 0 and at most 1"}},
		{[]string{"--access-log-sample", "1.5"}, []string{"access-log-sample", "not a fraction"}},
		{[]string{"--access-log-sample", "most"}, []string{"access-log-sample", `"most"`}},
		{[]string{"--access-log-format", "xml"}, []string{"access-log-format", "text, json"}},
		{[]string{"--metrics-addr", "metrics"}, []string{"metrics-addr", "not host:port"}},
		{[]string{"--pprof"}, []string{"pprof needs metrics-addr"}},
		{[]string{"--pprof=maybe", "--metrics-addr", "127.0.0.1:9464"}, []string{"pprof", `"maybe"`}},
	} {
		_, err := loadServeConfig(c.args, fakeEnv(nil))
		if err == nil {
			t.Errorf("%v: accepted", c.args)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", c.args, err, w)
			}
		}
	}
}
