package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/client"
)

// defaultManagementURL is where a local `tollgate serve` listens by default.
const defaultManagementURL = "http://127.0.0.1:8001"

// connFlags are the flags every client verb shares to find the server.
type connFlags struct {
	managementURL string
	adminKey      string
	dataDir       string
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.managementURL, "management-url", "", "management API `URL` (default: $TOLLGATE_MANAGEMENT_URL, <data-dir>/management.url, "+defaultManagementURL+")")
	fs.StringVar(&c.adminKey, "admin-key", "", "admin `key` (default: $TOLLGATE_ADMIN_KEY, <data-dir>/admin.key, then a token from tollgate login)")
	fs.StringVar(&c.dataDir, "data-dir", "", "local server's data `directory` (default: $TOLLGATE_DATA_DIR or ./tollgate-data)")
}

// Files of the data dir the CLI reads.
const (
	adminKeyFile      = "admin.key"
	managementURLFile = "management.url"
	cliTokenFile      = "cli-token.json"
	// maxLocalFile bounds the small files read from the data dir.
	maxLocalFile = 64 << 10
)

// connection is where to send requests, and with which credential.
type connection struct {
	URL        string
	Credential string
	// CredentialSource says where the credential came from, for errors.
	CredentialSource string
}

// resolveConnection finds the management URL and credential: flags, then
// TOLLGATE_MANAGEMENT_URL / TOLLGATE_ADMIN_KEY, then the data dir
// (admin.key, management.url), then a token stored by `tollgate login`.
func resolveConnection(cf connFlags, getenv func(string) string, now time.Time) (connection, error) {
	dataDir := cmp.Or(cf.dataDir, getenv("TOLLGATE_DATA_DIR"), "./tollgate-data")
	var conn connection

	switch {
	case cf.managementURL != "":
		conn.URL = cf.managementURL
	case getenv("TOLLGATE_MANAGEMENT_URL") != "":
		conn.URL = getenv("TOLLGATE_MANAGEMENT_URL")
	default:
		u, err := readLocalFile(filepath.Join(dataDir, managementURLFile))
		switch {
		case err == nil && u != "":
			conn.URL = u
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return conn, err
		default:
			conn.URL = defaultManagementURL
		}
	}

	switch {
	case cf.adminKey != "":
		conn.Credential, conn.CredentialSource = cf.adminKey, "--admin-key"
	case getenv("TOLLGATE_ADMIN_KEY") != "":
		conn.Credential, conn.CredentialSource = getenv("TOLLGATE_ADMIN_KEY"), "TOLLGATE_ADMIN_KEY"
	default:
		p := filepath.Join(dataDir, adminKeyFile)
		k, err := readLocalFile(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return conn, err
		}
		if k != "" {
			conn.Credential, conn.CredentialSource = k, p
			break
		}
		tp := filepath.Join(dataDir, cliTokenFile)
		tok, err := readCLIToken(tp, now)
		if err != nil {
			return conn, err
		}
		if tok == "" {
			return conn, fmt.Errorf("no credential: give --admin-key, set TOLLGATE_ADMIN_KEY, run against a local data dir (%s has no %s), or run tollgate login", dataDir, adminKeyFile)
		}
		conn.Credential, conn.CredentialSource = tok, tp
	}
	return conn, nil
}

// readCLIToken returns the access token `tollgate login` stored, or "" if
// there is none or it has expired.
func readCLIToken(path string, now time.Time) (string, error) {
	data, err := readLocalFile(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && data == "") {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresAt   string `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(data), &tok); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if tok.ExpiresAt != "" {
		exp, err := time.Parse(time.RFC3339, tok.ExpiresAt)
		if err != nil {
			return "", fmt.Errorf("read %s: expires_at: %w", path, err)
		}
		if !now.Before(exp) {
			return "", nil
		}
	}
	return tok.AccessToken, nil
}

func readLocalFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxLocalFile+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxLocalFile {
		return "", fmt.Errorf("read %s: larger than %d bytes", path, maxLocalFile)
	}
	return strings.TrimSpace(string(data)), nil
}

// connect resolves the connection and returns a client for it.
func connect(cf connFlags, env cliEnv) (*client.Client, error) {
	conn, err := resolveConnection(cf, env.getenv, time.Now())
	if err != nil {
		return nil, err
	}
	return client.New(conn.URL, conn.Credential, env.httpClient)
}

// parseFlags parses a verb's flags, allowing them before, between and
// after positional arguments ("get apis -o json"), and returns the
// positional arguments. "--" ends the flags.
func parseFlags(fs *flag.FlagSet, args []string, usage string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			var b strings.Builder
			fs.SetOutput(&b)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
			if errors.Is(err, flag.ErrHelp) {
				return nil, &usageError{msg: fmt.Sprintf("%s\n\nFlags:\n%s", usage, b.String()), help: true}
			}
			return nil, usageErrorf("%v\n%s\n\nFlags:\n%s", err, usage, b.String())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse consumed a "--" if the arguments before rest end with it.
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
