package server

import (
	"strings"
	"time"
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

	// ConfigFile is the YAML file that was read, if any.
	ConfigFile string
}

// SQLitePath returns the database file of a sqlite:// database URL, and
// false for other schemes.
func (c Config) SQLitePath() (string, bool) {
	p, ok := strings.CutPrefix(c.Database, "sqlite://")
	return p, ok
}
