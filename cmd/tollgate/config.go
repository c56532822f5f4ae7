package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	tgserver "github.com/tollgate/tollgate/internal/server"
	"github.com/tollgate/tollgate/internal/urlredact"
)

// serveConfig is everything `tollgate serve` is configured with (the
// server package's Config). It is built by loadServeConfig from flags,
// TOLLGATE_* environment variables and a YAML file, in that order of
// precedence, then defaults.
type serveConfig = tgserver.Config

// configKey describes one serve setting in all its forms.
type configKey struct {
	name  string // the flag name and YAML key, e.g. "gateway-addr"
	kind  keyKind
	def   string // the default as text; "" for none
	usage string
	// envOnly keys are secrets: accepted only from the environment.
	envOnly bool
	set     func(c *serveConfig, v value) error
}

type keyKind int

const (
	kindString keyKind = iota
	kindAddr           // host:port, or empty/"off" for "turned off"
	kindBool
	kindDuration
	kindURL      // absolute http(s) URL, or empty
	kindDatabase // sqlite://, postgres://, postgresql://
	kindEnum
)

// value is one raw setting with where it came from, so errors can say.
type value struct {
	raw    string
	source string // "flag --x", "env TOLLGATE_X", "file:line", "default"
}

// envName is the environment variable of a key: TOLLGATE_ + upper-cased
// name with '-' turned into '_'.
func envName(key string) string {
	return "TOLLGATE_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

func serveKeys() []configKey {
	str := func(field func(*serveConfig) *string) func(*serveConfig, value) error {
		return func(c *serveConfig, v value) error { *field(c) = v.raw; return nil }
	}
	addr := func(field func(*serveConfig) *string) func(*serveConfig, value) error {
		return func(c *serveConfig, v value) error {
			a, err := parseAddr(v.raw, true)
			if err != nil {
				return err
			}
			*field(c) = a
			return nil
		}
	}
	pubURL := func(field func(*serveConfig) *string) func(*serveConfig, value) error {
		return func(c *serveConfig, v value) error {
			if v.raw == "" {
				return nil
			}
			u, err := url.Parse(v.raw)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("%q is not an absolute http or https URL", urlredact.URL(v.raw))
			}
			*field(c) = strings.TrimRight(v.raw, "/")
			return nil
		}
	}
	enum := func(field func(*serveConfig) *string, allowed ...string) func(*serveConfig, value) error {
		return func(c *serveConfig, v value) error {
			for _, a := range allowed {
				if strings.EqualFold(v.raw, a) {
					*field(c) = a
					return nil
				}
			}
			return fmt.Errorf("must be one of %s, got %q", strings.Join(allowed, ", "), v.raw)
		}
	}
	return []configKey{
		{name: "gateway-addr", kind: kindAddr, def: "127.0.0.1:8000", usage: "gateway listener `host:port` (empty turns it off)",
			set: addr(func(c *serveConfig) *string { return &c.GatewayAddr })},
		{name: "management-addr", kind: kindAddr, def: "127.0.0.1:8001", usage: "management API listener `host:port` (empty turns it off)",
			set: addr(func(c *serveConfig) *string { return &c.ManagementAddr })},
		{name: "portal-addr", kind: kindAddr, def: "127.0.0.1:8002", usage: "developer portal listener `host:port` (empty turns it off)",
			set: addr(func(c *serveConfig) *string { return &c.PortalAddr })},
		{name: "identity-addr", kind: kindAddr, def: "127.0.0.1:8003", usage: "identity provider listener `host:port` (empty turns it off)",
			set: addr(func(c *serveConfig) *string { return &c.IdentityAddr })},
		{name: "data-dir", def: "./tollgate-data", usage: "`directory` for the SQLite database, master key and admin key",
			set: func(c *serveConfig, v value) error {
				if v.raw == "" {
					return errors.New("must not be empty")
				}
				c.DataDir = v.raw
				return nil
			}},
		{name: "database", kind: kindDatabase, usage: "database `URL`: sqlite://PATH (or just a path) or postgres://... (default sqlite://<data-dir>/tollgate.db)",
			set: func(c *serveConfig, v value) error {
				if v.raw == "" {
					return nil // derived from data-dir
				}
				if !strings.Contains(v.raw, "://") {
					// A plain path is a SQLite file.
					c.Database = "sqlite://" + v.raw
					return nil
				}
				if err := checkDatabaseURL(v.raw); err != nil {
					return err
				}
				c.Database = v.raw
				return nil
			}},
		{name: "master-key-file", usage: "`file` holding the master key (default <data-dir>/master.key)",
			set: str(func(c *serveConfig) *string { return &c.MasterKeyFile })},
		{name: "master-key", envOnly: true, set: str(func(c *serveConfig) *string { return &c.MasterKey })},
		{name: "admin-key", envOnly: true, set: str(func(c *serveConfig) *string { return &c.AdminKey })},
		{name: "public-url-gateway", kind: kindURL, usage: "externally visible base `URL` of the gateway",
			set: pubURL(func(c *serveConfig) *string { return &c.PublicURLGateway })},
		{name: "public-url-management", kind: kindURL, usage: "externally visible base `URL` of the management API",
			set: pubURL(func(c *serveConfig) *string { return &c.PublicURLManagement })},
		{name: "public-url-portal", kind: kindURL, usage: "externally visible base `URL` of the developer portal",
			set: pubURL(func(c *serveConfig) *string { return &c.PublicURLPortal })},
		{name: "public-url-identity", kind: kindURL, usage: "externally visible base `URL` of the identity provider",
			set: pubURL(func(c *serveConfig) *string { return &c.PublicURLIdentity })},
		{name: "gateway-tls-cert", usage: "PEM certificate `file` for the gateway (with --gateway-tls-key)",
			set: str(func(c *serveConfig) *string { return &c.GatewayTLSCert })},
		{name: "gateway-tls-key", usage: "PEM private key `file` for the gateway (with --gateway-tls-cert)",
			set: str(func(c *serveConfig) *string { return &c.GatewayTLSKey })},
		{name: "no-defaults", kind: kindBool, def: "false", usage: "do not create the default user, products and Echo API on first start",
			set: boolean(func(c *serveConfig) *bool { return &c.NoDefaults })},
		{name: "shutdown-timeout", kind: kindDuration, def: "30s", usage: "how long in-flight requests may take to finish on shutdown (`duration`)",
			set: nonNegativeDuration(func(c *serveConfig) *time.Duration { return &c.ShutdownTimeout })},
		{name: "audit-retention", kind: kindDuration, def: "2160h", usage: "how long the audit log keeps management changes; 0 keeps them for ever (`duration`)",
			set: nonNegativeDuration(func(c *serveConfig) *time.Duration { return &c.AuditRetention })},
		{name: "access-token-lifetime", kind: kindDuration, def: "1h", usage: "lifetime of the identity provider's access and ID tokens (`duration`)",
			set: positiveDuration(func(c *serveConfig) *time.Duration { return &c.AccessTokenLifetime })},
		{name: "refresh-token-lifetime", kind: kindDuration, def: "336h", usage: "how long an unused refresh token stays valid (`duration`)",
			set: positiveDuration(func(c *serveConfig) *time.Duration { return &c.RefreshTokenLifetime })},
		{name: "signing-alg", kind: kindEnum, def: "RS256", usage: "`algorithm` of the identity provider's token signatures: RS256 or ES256",
			set: enum(func(c *serveConfig) *string { return &c.SigningAlg }, "RS256", "ES256")},
		{name: "signing-key-rotation", kind: kindDuration, def: "720h", usage: "how often the identity provider rotates its signing key (`duration`)",
			set: positiveDuration(func(c *serveConfig) *time.Duration { return &c.SigningKeyRotation })},
		{name: "openid-key-refresh", kind: kindDuration, def: "1h", usage: "how often validate-jwt refreshes the keys of the OpenID providers it uses (`duration`); keep it at most the providers' publish delay",
			set: positiveDuration(func(c *serveConfig) *time.Duration { return &c.KeyRefresh })},
		{name: "openid-kid-refetch", kind: kindDuration, def: "30s", usage: "a token with an unknown kid refetches its OpenID provider's keys when they are older than this (`duration`); a kid still unknown then is not looked up again for 5 minutes",
			set: positiveDuration(func(c *serveConfig) *time.Duration { return &c.KidRefetch })},
		{name: "log-level", kind: kindEnum, def: "info", usage: "log `level`: debug, info, warn or error",
			set: enum(func(c *serveConfig) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},
		{name: "log-format", kind: kindEnum, def: "text", usage: "log `format`: text or json",
			set: enum(func(c *serveConfig) *string { return &c.LogFormat }, "text", "json")},
		{name: "metrics-addr", kind: kindAddr, usage: "a listener `host:port` serving only /metrics, and the runtime's profiles with --pprof (optional; the management listener serves /metrics too)",
			set: addr(func(c *serveConfig) *string { return &c.MetricsAddr })},
		{name: "pprof", kind: kindBool, def: "false", usage: "also serve the Go runtime's profiles (net/http/pprof: heap, goroutine, cpu...) under /debug/pprof/ on the --metrics-addr listener, for diagnosing memory and cpu use",
			set: boolean(func(c *serveConfig) *bool { return &c.Pprof })},
		{name: "access-log", kind: kindString, usage: "where the gateway's access log goes: stdout, off, or a `file` (appended to; default stdout)",
			set: func(c *serveConfig, v value) error {
				c.AccessLog = v.raw
				return nil
			}},
		{name: "access-log-format", kind: kindEnum, usage: "access log `format`: text or json (default: --log-format)",
			set: func(c *serveConfig, v value) error {
				if v.raw == "" {
					return nil
				}
				return enum(func(c *serveConfig) *string { return &c.AccessLogFormat }, "text", "json")(c, v)
			}},
		{name: "access-log-sample", kind: kindString, usage: "`fraction` of successful requests the access log records, above 0 and at most 1 (default 1; failed requests are always recorded)",
			set: func(c *serveConfig, v value) error {
				if v.raw == "" {
					return nil
				}
				f, err := strconv.ParseFloat(v.raw, 64)
				if err != nil || !(f > 0 && f <= 1) {
					return fmt.Errorf("%q is not a fraction above 0 and at most 1 (e.g. 0.1)", v.raw)
				}
				c.AccessLogSample = f
				return nil
			}},
		{name: "read-header-timeout", kind: kindDuration, usage: "how long a client may take to send a request's headers, on every listener (`duration`, default 10s)",
			set: optionalDuration(func(c *serveConfig) *time.Duration { return &c.Timeouts.ReadHeader })},
		{name: "idle-timeout", kind: kindDuration, usage: "how long a kept-alive connection may wait for its next request, on every listener (`duration`, default 2m)",
			set: optionalDuration(func(c *serveConfig) *time.Duration { return &c.Timeouts.Idle })},
		{name: "body-timeout", kind: kindDuration, usage: "how long a request's body may take to arrive on the management, identity and portal listeners (`duration`, default 30s)",
			set: optionalDuration(func(c *serveConfig) *time.Duration { return &c.Timeouts.Body })},
		{name: "gateway-body-timeout", kind: kindDuration, usage: "the gateway's allowance for a request body before --gateway-body-min-rate counts (`duration`, default 30s)",
			set: optionalDuration(func(c *serveConfig) *time.Duration { return &c.Timeouts.GatewayBody })},
		{name: "gateway-body-min-rate", kind: kindString, usage: "slowest request body the gateway waits for, in `bytes` per second (e.g. 16384, 16KiB, 1MiB; default 16KiB; off: --gateway-body-timeout bounds the whole body)",
			set: bytesOrOff(func(c *serveConfig) *int64 { return &c.Timeouts.GatewayBodyMinRate }, "bytes per second (e.g. 16384, 16KiB, 1MiB, or off)")},
		{name: "jwt-cache-bytes", kind: kindString, usage: "memory the node may keep for verified tokens, shared by every validate-jwt policy and application token check, in `bytes` (e.g. 4MiB, 64MiB; default 2MiB, about 1,500 tokens of 1.2 KB; off: no cache)",
			set: bytesOrOff(func(c *serveConfig) *int64 { return &c.JWTCacheBytes }, "bytes (e.g. 4194304, 4MiB, or off)")},
		{name: "memory-limit", kind: kindString, usage: "soft limit on the Go runtime's memory (heap, stacks, its own bookkeeping; not the program's code), in `bytes` (e.g. 256MiB, 1GiB): the garbage collector works harder as it is approached (default: GOMEMLIMIT, else none)",
			set: bytesOrOff(func(c *serveConfig) *int64 { return &c.MemoryLimit }, "bytes (e.g. 268435456, 256MiB, 1GiB, or off)")},
		{name: "redis", kind: kindString, usage: "Redis shared by the nodes for counters and caches (optional): `host:port`, or redis://[user:password@]host:port/db (rediss:// for TLS)",
			set: func(c *serveConfig, v value) error {
				if strings.HasPrefix(v.raw, "redis://") || strings.HasPrefix(v.raw, "rediss://") {
					if _, err := redis.ParseURL(v.raw); err != nil {
						return fmt.Errorf("%q is not a Redis URL: %w", urlredact.URL(v.raw), urlredact.Error(err, v.raw))
					}
					c.Redis = v.raw
					return nil
				}
				a, err := parseAddr(v.raw, true)
				if err != nil {
					return err
				}
				c.Redis = a
				return nil
			}},
	}
}

// parseAddr checks host:port. An empty value or "off" means "no address"
// when allowOff (the environment cannot express an empty value, so "off"
// exists for it).
func parseAddr(s string, allowOff bool) (string, error) {
	if allowOff && (s == "" || strings.EqualFold(s, "off")) {
		return "", nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%q has a bad port (0-65535)", s)
	}
	return s, nil
}

// boolean sets a true/false setting.
func boolean(field func(*serveConfig) *bool) func(*serveConfig, value) error {
	return func(c *serveConfig, v value) error {
		b, err := strconv.ParseBool(v.raw)
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", v.raw)
		}
		*field(c) = b
		return nil
	}
}

// optionalDuration sets a duration that must be above zero, or leaves it
// zero (the server's default) when not given.
func optionalDuration(field func(*serveConfig) *time.Duration) func(*serveConfig, value) error {
	set := positiveDuration(field)
	return func(c *serveConfig, v value) error {
		if v.raw == "" {
			return nil
		}
		return set(c, v)
	}
}

// positiveDuration sets a duration that must be above zero.
func positiveDuration(field func(*serveConfig) *time.Duration) func(*serveConfig, value) error {
	return duration(field, func(d time.Duration) string {
		if d <= 0 {
			return "must be above zero"
		}
		return ""
	})
}

// nonNegativeDuration is positiveDuration that also takes zero.
func nonNegativeDuration(field func(*serveConfig) *time.Duration) func(*serveConfig, value) error {
	return duration(field, func(d time.Duration) string {
		if d < 0 {
			return "must not be negative"
		}
		return ""
	})
}

func duration(field func(*serveConfig) *time.Duration, check func(time.Duration) string) func(*serveConfig, value) error {
	return func(c *serveConfig, v value) error {
		d, err := time.ParseDuration(v.raw)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 30s, 1h)", v.raw)
		}
		if msg := check(d); msg != "" {
			return fmt.Errorf("%q %s", v.raw, msg)
		}
		*field(c) = d
		return nil
	}
}

func checkDatabaseURL(s string) error {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return fmt.Errorf("%q is not a database URL (sqlite://PATH or postgres://...)", urlredact.URL(s))
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		if rest == "" {
			return errors.New("sqlite:// needs a file path, e.g. sqlite://./tollgate-data/tollgate.db")
		}
	case "postgres", "postgresql":
		if _, err := url.Parse(s); err != nil {
			return fmt.Errorf("%q is not a valid PostgreSQL URL", urlredact.URL(s))
		}
	default:
		return fmt.Errorf("unsupported database scheme %q (use sqlite, postgres or postgresql)", scheme)
	}
	return nil
}

// flagValue records a flag's raw text and whether it was given.
type flagValue struct {
	raw    string
	set    bool
	isBool bool
}

func (f *flagValue) String() string     { return f.raw }
func (f *flagValue) Set(s string) error { f.raw, f.set = s, true; return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.isBool }

// maxConfigFile bounds the YAML config file; real ones are a few hundred bytes.
const maxConfigFile = 1 << 20

// loadServeConfig builds the serve configuration. Precedence: flag >
// environment (TOLLGATE_<KEY>) > config file (--config / TOLLGATE_CONFIG)
// > default. Errors name the key and where its value came from.
func loadServeConfig(args []string, getenv func(string) string) (serveConfig, error) {
	keys := serveKeys()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := map[string]*flagValue{}
	for _, k := range keys {
		if k.envOnly {
			continue
		}
		fv := &flagValue{isBool: k.kind == kindBool}
		flags[k.name] = fv
		fs.Var(fv, k.name, k.usage)
		// --help shows each default.
		if k.def != "false" {
			fs.Lookup(k.name).DefValue = k.def
		}
	}
	configFlag := &flagValue{}
	fs.Var(configFlag, "config", "YAML `file` with the same keys as the flags")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return serveConfig{}, &usageError{msg: serveUsage(fs), help: true}
		}
		return serveConfig{}, usageErrorf("serve: %v\n\n%s", err, serveUsage(fs))
	}
	if fs.NArg() > 0 {
		return serveConfig{}, usageErrorf("serve: unexpected argument %q\n\n%s", fs.Arg(0), serveUsage(fs))
	}

	var cfg serveConfig
	var file map[string]value
	switch {
	case configFlag.set:
		cfg.ConfigFile = configFlag.raw
	case getenv("TOLLGATE_CONFIG") != "":
		cfg.ConfigFile = getenv("TOLLGATE_CONFIG")
	}
	if cfg.ConfigFile != "" {
		var err error
		file, err = readConfigFile(cfg.ConfigFile, keys)
		if err != nil {
			return serveConfig{}, err
		}
	}

	var errs []string
	for _, k := range keys {
		v, ok := value{}, false
		if fv := flags[k.name]; fv != nil && fv.set {
			v, ok = value{raw: fv.raw, source: "flag --" + k.name}, true
		} else if e := getenv(envName(k.name)); e != "" {
			v, ok = value{raw: e, source: "env " + envName(k.name)}, true
		} else if fvv, found := file[k.name]; found {
			v, ok = fvv, true
		}
		if !ok {
			v = value{raw: k.def, source: "default"}
		}
		if err := k.set(&cfg, v); err != nil {
			errs = append(errs, fmt.Sprintf("%s (%s): %v", k.name, v.source, err))
		}
	}
	if len(errs) > 0 {
		return serveConfig{}, fmt.Errorf("serve configuration: %s", strings.Join(errs, "; "))
	}

	// Derived defaults.
	if cfg.Database == "" {
		cfg.Database = "sqlite://" + filepath.ToSlash(filepath.Join(cfg.DataDir, "tollgate.db"))
		if strings.HasPrefix(cfg.DataDir, "./") {
			// filepath.Join drops "./"; keep it so the URL reads as relative.
			cfg.Database = "sqlite://./" + strings.TrimPrefix(cfg.Database, "sqlite://")
		}
	}
	if cfg.MasterKeyFile == "" {
		cfg.MasterKeyFile = filepath.Join(cfg.DataDir, "master.key")
	}
	if cfg.Pprof && cfg.MetricsAddr == "" {
		return serveConfig{}, errors.New("serve configuration: pprof needs metrics-addr (profiles are served only on the metrics listener)")
	}
	if (cfg.GatewayTLSCert == "") != (cfg.GatewayTLSKey == "") {
		return serveConfig{}, errors.New("serve configuration: gateway-tls-cert and gateway-tls-key must be given together")
	}
	return cfg, nil
}

// readConfigFile reads the YAML config: a mapping of key to scalar. Unknown
// keys, secrets and non-scalar values are refused with their line.
func readConfigFile(path string, keys []configKey) (map[string]value, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("config file %s: larger than %d bytes", path, maxConfigFile)
	}
	out := map[string]value{}
	if len(bytes.TrimSpace(data)) == 0 {
		return out, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return out, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config file %s:%d: must be a mapping of key: value", path, root.Line)
	}
	byName := map[string]configKey{}
	for _, k := range keys {
		byName[k.name] = k
	}
	// Every bad key is reported, not only the first.
	var bad []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		kn, vn := root.Content[i], root.Content[i+1]
		where := fmt.Sprintf("%s:%d", path, kn.Line)
		k, known := byName[kn.Value]
		switch {
		case kn.Value == "config":
			bad = append(bad, fmt.Sprintf("%s: key %q cannot be set in a config file", where, kn.Value))
			continue
		case !known:
			bad = append(bad, fmt.Sprintf("%s: unknown key %q", where, kn.Value))
			continue
		case k.envOnly:
			bad = append(bad, fmt.Sprintf("%s: key %q is a secret and is read only from %s", where, kn.Value, envName(k.name)))
			continue
		case vn.Kind != yaml.ScalarNode:
			bad = append(bad, fmt.Sprintf("%s: key %q must have a single value", where, kn.Value))
			continue
		}
		if _, dup := out[kn.Value]; dup {
			bad = append(bad, fmt.Sprintf("%s: key %q given twice", where, kn.Value))
			continue
		}
		raw := vn.Value
		if vn.Tag == "!!null" {
			raw = ""
		}
		out[kn.Value] = value{raw: raw, source: where}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("config file %s", strings.Join(bad, "; "))
	}
	return out, nil
}

func serveUsage(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("Usage: tollgate serve [flags]\n\nFlags (each also TOLLGATE_<FLAG> in the environment and a key of the --config file):\n")
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	b.WriteString("\nEnvironment only: TOLLGATE_MASTER_KEY (the master key itself), TOLLGATE_ADMIN_KEY (the root admin key).\n")
	return b.String()
}

// bytesOrOff sets a byte-count setting: a positive count (see parseBytes),
// or off (-1); empty keeps the default (0). what names the unit and
// examples in the error.
func bytesOrOff(field func(*serveConfig) *int64, what string) func(*serveConfig, value) error {
	return func(c *serveConfig, v value) error {
		switch {
		case v.raw == "":
			return nil
		case strings.EqualFold(v.raw, "off"):
			*field(c) = -1
			return nil
		}
		n, ok := parseBytes(v.raw)
		if !ok {
			return fmt.Errorf("%q is not a positive number of %s", v.raw, what)
		}
		*field(c) = n
		return nil
	}
}

// parseBytes reads a positive byte count: a number, or one with a KiB, MiB
// or GiB suffix.
func parseBytes(raw string) (int64, bool) {
	num, mult := raw, int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, ok := strings.CutSuffix(raw, suffix); ok {
			num, mult = n, m
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > 1<<40/mult {
		return 0, false
	}
	return n * mult, true
}
