// Command jwtkit prepares the jwt benchmark's inputs:
//
//	jwtkit tokens -token-url URL -client-id ID -scope S -n N -out FILE
//	    fetches N access tokens with the client credentials grant (the
//	    client secret comes from $JWTKIT_CLIENT_SECRET, never argv) and
//	    writes them one a line;
//	jwtkit pem -jwks URL -out FILE [-kid KID]
//	    writes an RSA signing key of a JWKS as a PEM public key, the form
//	    HAProxy's jwt_verify reads;
//	jwtkit issuer -addr HOST:PORT -dir DIR -aud AUD -n N [-files K]
//	    a stand-in OpenID provider for when the built-in one is not
//	    available: makes an RSA key, writes DIR/public.pem and K files of N
//	    RS256 tokens each (DIR/tokens-0.txt ...), then serves its
//	    openid-configuration and JWKS until stopped.
package main

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxBody bounds every response read from the network.
const maxBody = 1 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "jwtkit:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: jwtkit tokens|pem [flags]")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	switch args[0] {
	case "tokens":
		fs := flag.NewFlagSet("tokens", flag.ContinueOnError)
		tokenURL := fs.String("token-url", "", "token endpoint URL")
		clientID := fs.String("client-id", "", "client id")
		scope := fs.String("scope", "", "scope, e.g. api://bench/.default")
		n := fs.Int("n", 1000, "how many tokens")
		conc := fs.Int("c", 4, "concurrent requests")
		out := fs.String("out", "", "output file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *tokenURL == "" || *clientID == "" || *out == "" {
			return errors.New("tokens: -token-url, -client-id and -out are required")
		}
		secret := os.Getenv("JWTKIT_CLIENT_SECRET")
		if secret == "" {
			return errors.New("tokens: set JWTKIT_CLIENT_SECRET")
		}
		toks, err := fetchTokens(ctx, client, *tokenURL, *clientID, secret, *scope, *n, *conc)
		if err != nil {
			return err
		}
		return writeLines(*out, toks)
	case "pem":
		fs := flag.NewFlagSet("pem", flag.ContinueOnError)
		jwksURL := fs.String("jwks", "", "JWKS URL")
		kid := fs.String("kid", "", "key id (default: the first RSA signing key)")
		out := fs.String("out", "", "output file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *jwksURL == "" || *out == "" {
			return errors.New("pem: -jwks and -out are required")
		}
		body, err := get(ctx, client, *jwksURL)
		if err != nil {
			return err
		}
		key, err := rsaKeyFromJWKS(body, *kid)
		if err != nil {
			return fmt.Errorf("%s: %w", *jwksURL, err)
		}
		der, err := x509.MarshalPKIXPublicKey(key)
		if err != nil {
			return fmt.Errorf("marshal key: %w", err)
		}
		return os.WriteFile(*out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	case "issuer":
		fs := flag.NewFlagSet("issuer", flag.ContinueOnError)
		addr := fs.String("addr", "", "listen address, host:port")
		dir := fs.String("dir", "", "output directory")
		aud := fs.String("aud", "", "audience of the tokens")
		n := fs.Int("n", 1000, "tokens per file")
		files := fs.Int("files", 1, "how many token files")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *addr == "" || *dir == "" || *aud == "" {
			return errors.New("issuer: -addr, -dir and -aud are required")
		}
		return runIssuer(ctx, *addr, *dir, *aud, *n, *files)
	default:
		return fmt.Errorf("unknown command %q (want tokens, pem or issuer)", args[0])
	}
}

func get(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", u, resp.Status, body)
	}
	return body, nil
}

type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func rsaKeyFromJWKS(body []byte, kid string) (*rsa.PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") || (kid != "" && k.Kid != kid) {
			continue
		}
		n, err := base64.RawURLEncoding.DecodeString(k.N)
		if err != nil {
			return nil, fmt.Errorf("key %q: bad n: %w", k.Kid, err)
		}
		e, err := base64.RawURLEncoding.DecodeString(k.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("key %q: bad e", k.Kid)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	}
	if kid != "" {
		return nil, fmt.Errorf("no RSA signing key with kid %q", kid)
	}
	return nil, errors.New("no RSA signing key")
}

// fetchTokens asks the token endpoint n times; every answer is a fresh
// token (its own jti and iat), so n requests give n distinct tokens.
func fetchTokens(ctx context.Context, client *http.Client, tokenURL, clientID, secret, scope string, n, conc int) ([]string, error) {
	if n < 1 || conc < 1 {
		return nil, fmt.Errorf("-n and -c must be positive")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {clientID},
		"client_secret": {secret},
	}
	if scope != "" {
		form.Set("scope", scope)
	}
	encoded := form.Encode()
	toks := make([]string, n)
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				tok, err := fetchToken(ctx, client, tokenURL, encoded)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					mu.Unlock()
					return
				}
				toks[i] = tok
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return toks, nil
}

func fetchToken(ctx context.Context, client *http.Client, tokenURL, form string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", fmt.Errorf("token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// The error body is the provider's OAuth error, which holds no secret.
		return "", fmt.Errorf("token endpoint answered %s: %.300s", resp.Status, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("token response has no access_token")
	}
	return tr.AccessToken, nil
}

func writeLines(path string, lines []string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
