package server

import (
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/tracing"
)

// Config is everything a server is configured with (the command line
// builds it from flags, TOLLGATE_* environment variables and a YAML file).
type Config struct {
	// Listener addresses (host:port). An empty address turns the listener off.
	GatewayAddr    string
	ManagementAddr string
	PortalAddr     string
	IdentityAddr   string

	DataDir string
	// Database is a URL: sqlite://PATH, postgres://... or postgresql://...
	Database string

	MasterKeyFile string
	// MasterKey and AdminKey come only from the environment
	// (TOLLGATE_MASTER_KEY, TOLLGATE_ADMIN_KEY): secrets do not belong in
	// argv or in a config file that gets committed.
	MasterKey string
	AdminKey  string

	// Externally visible base URLs (behind a proxy); empty means "derive
	// from the listener address".
	PublicURLGateway    string
	PublicURLManagement string
	PublicURLPortal     string
	PublicURLIdentity   string

	GatewayTLSCert string
	GatewayTLSKey  string

	NoDefaults      bool
	ShutdownTimeout time.Duration
	LogLevel        string // debug, info, warn, error
	LogFormat       string // text, json
	// MetricsAddr, when set, is a listener serving only /metrics (the
	// management listener serves it too), and with Pprof the profiles.
	MetricsAddr string
	// Pprof serves the Go runtime's profiles (net/http/pprof) under
	// /debug/pprof/ on the metrics listener; it needs MetricsAddr.
	Pprof bool
	// AccessLog is where the gateway's access log goes: "stdout" (with the
	// other logs; also when empty), "off", or a file appended to.
	AccessLog string
	// AccessLogFormat is text or json; empty means LogFormat.
	AccessLogFormat string
	// AccessLogSample is the fraction of successful requests logged, in
	// (0, 1]; 0 means 1.
	AccessLogSample float64
	// Redis is host:port of a Redis shared by the nodes; empty means
	// counters stay in process.
	Redis string

	// The identity provider's token lifetimes and signing keys.
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	SigningAlg           string
	SigningKeyRotation   time.Duration
	// KeyRefresh is how often validate-jwt refreshes OpenID providers' keys.
	KeyRefresh time.Duration
	// KidRefetch is how old the last fetch of a provider's keys must be
	// before a token with an unknown kid refetches them.
	KidRefetch time.Duration
	// AuditRetention is how long the audit log keeps entries (0: for ever).
	AuditRetention time.Duration
	// JWTCacheBytes bounds the node's cache of verified tokens, shared by
	// every validate-jwt policy and application token check, in bytes (0:
	// jwtvalidate.DefaultCacheBytes; negative: off).
	JWTCacheBytes int64

	// MemoryLimit is the Go runtime's soft memory limit in bytes (0: the
	// runtime's own, from GOMEMLIMIT; negative: none). It belongs to the
	// process: the command sets it (runtime/debug.SetMemoryLimit), not Start.
	MemoryLimit int64

	// Timeouts bound how long clients may take on the listeners; zero
	// fields take the defaults (see ListenerTimeouts).
	Timeouts ListenerTimeouts

	// Tracing, when set, is the node's tracing (embedders, tests);
	// otherwise the OTEL_* environment variables decide (see
	// tracing.FromEnv). It is not a setting of the command line.
	Tracing *tracing.Tracing

	// ConfigFile is the YAML file that was read, if any.
	ConfigFile string
}

// SQLitePath returns the database file of a sqlite:// database URL, and
// false for other schemes.
func (c Config) SQLitePath() (string, bool) {
	p, ok := strings.CutPrefix(c.Database, "sqlite://")
	return p, ok
}

// ListenerTimeouts bound what a slow or idle client may hold. A zero field
// means its default.
type ListenerTimeouts struct {
	// ReadHeader bounds reading a request's headers, on every listener
	// (default 10s).
	ReadHeader time.Duration
	// Idle is how long a kept-alive connection may wait for its next
	// request, on every listener (default 2m).
	Idle time.Duration
	// Body bounds reading a request's body on the management, identity
	// and portal listeners, whose requests are small (default 30s).
	Body time.Duration
	// GatewayBody is the gateway's allowance for reading a body before
	// GatewayBodyMinRate counts (default 30s): a body of n bytes may take
	// GatewayBody + n/GatewayBodyMinRate, so a large upload at a decent
	// rate is never cut while a client trickling bytes is.
	GatewayBody time.Duration
	// GatewayBodyMinRate is the slowest upload the gateway waits for, in
	// bytes per second (default 16 KiB/s; negative turns the rate off, so
	// that GatewayBody bounds the whole body).
	GatewayBodyMinRate int64
}

// Default listener timeouts.
const (
	DefaultReadHeaderTimeout  = 10 * time.Second
	DefaultIdleTimeout        = 2 * time.Minute
	DefaultBodyTimeout        = 30 * time.Second
	DefaultGatewayBodyTimeout = 30 * time.Second
	DefaultGatewayBodyMinRate = 16 << 10
)

// withDefaults fills the zero fields.
func (t ListenerTimeouts) withDefaults() ListenerTimeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, DefaultReadHeaderTimeout)
	def(&t.Idle, DefaultIdleTimeout)
	def(&t.Body, DefaultBodyTimeout)
	def(&t.GatewayBody, DefaultGatewayBodyTimeout)
	switch {
	case t.GatewayBodyMinRate == 0:
		t.GatewayBodyMinRate = DefaultGatewayBodyMinRate
	case t.GatewayBodyMinRate < 0:
		t.GatewayBodyMinRate = 0
	}
	return t
}
