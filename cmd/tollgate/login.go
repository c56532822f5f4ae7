package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const loginUsage = `Usage: tollgate login --client-id ID [--client-secret SECRET] [flags]

Gets an access token for the management API from the identity provider with
the client credentials grant, and stores it in <data-dir>/cli-token.json for
the other verbs. The application must hold the app role
Management.ReadWrite.All (or Management.Read.All for read-only use) of the
built-in "Tollgate Management" application, granted by grantAdminConsent.
The secret may be given in $TOLLGATE_CLIENT_SECRET instead of the command
line.`

// Defaults of `tollgate login`.
const (
	defaultIdentityURL = "http://127.0.0.1:8003"
	managementScope    = "api://tollgate-management/.default"
)

// runLogin implements `tollgate login`.
func runLogin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	clientID := fs.String("client-id", "", "application (client) `id`")
	secret := fs.String("client-secret", "", "client `secret` (default: $TOLLGATE_CLIENT_SECRET)")
	identityURL := fs.String("identity-url", "", "identity provider base `URL` (default: $TOLLGATE_IDENTITY_URL, "+defaultIdentityURL+")")
	tenant := fs.String("tenant", "default", "directory tenant `id or name`")
	scope := fs.String("scope", managementScope, "`scope` to ask for")
	dataDir := fs.String("data-dir", "", "where to store the token (default: $TOLLGATE_DATA_DIR or ./tollgate-data)")
	pos, err := parseFlags(fs, args, loginUsage)
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.help {
			fmt.Fprintln(stdout, ue.msg)
			return 0
		}
		fmt.Fprintln(stderr, ue.msg)
		return 2
	}
	if len(pos) > 0 || *clientID == "" {
		fmt.Fprintln(stderr, loginUsage)
		return 2
	}
	if *secret == "" {
		*secret = os.Getenv("TOLLGATE_CLIENT_SECRET")
	}
	if *secret == "" {
		fmt.Fprintln(stderr, "tollgate login: a client secret is required (--client-secret or $TOLLGATE_CLIENT_SECRET)")
		return 2
	}
	base := cmp.Or(*identityURL, os.Getenv("TOLLGATE_IDENTITY_URL"), defaultIdentityURL)
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "tollgate login: --identity-url %q is not an http(s) URL\n", base)
		return 2
	}
	tokenURL := strings.TrimRight(base, "/") + "/" + url.PathEscape(*tenant) + "/oauth2/v2.0/token"
	dir := cmp.Or(*dataDir, os.Getenv("TOLLGATE_DATA_DIR"), "./tollgate-data")

	cc := clientcredentials.Config{ClientID: *clientID, ClientSecret: *secret, TokenURL: tokenURL, Scopes: []string{*scope}, AuthStyle: oauth2.AuthStyleInHeader}
	hc := &http.Client{Timeout: 30 * time.Second}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			fmt.Fprintf(stderr, "tollgate login: %s: %s\n", re.ErrorCode, re.ErrorDescription)
		} else {
			fmt.Fprintf(stderr, "tollgate login: get a token from %s: %v\n", tokenURL, err)
		}
		return 1
	}
	path := filepath.Join(dir, cliTokenFile)
	if err := writeCLIToken(path, tok, *clientID, tokenURL); err != nil {
		fmt.Fprintf(stderr, "tollgate login: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Logged in as application %s; token stored in %s (valid until %s).\n", *clientID, path, tok.Expiry.UTC().Format(time.RFC3339))
	return 0
}

// writeCLIToken stores the token (mode 0600) in the format resolveConnection
// reads.
func writeCLIToken(path string, tok *oauth2.Token, clientID, tokenURL string) error {
	rec := map[string]string{
		"access_token":   tok.AccessToken,
		"token_type":     tok.Type(),
		"client_id":      clientID,
		"token_endpoint": tokenURL,
	}
	if !tok.Expiry.IsZero() {
		rec["expires_at"] = tok.Expiry.UTC().Format(time.RFC3339)
	}
	data, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store token: %w", err)
	}
	return nil
}
