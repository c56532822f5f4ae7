package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const issuerKID = "bench-1"

// issuer is a minimal OpenID provider: one RSA key, an openid-configuration
// and a JWKS. It signs tokens locally; it has no token endpoint.
type issuer struct {
	key *rsa.PrivateKey
	iss string // the issuer URL, also the base of the endpoints
}

func newIssuer(base string) (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return &issuer{key: key, iss: base}, nil
}

func (is *issuer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                is.iss,
			"jwks_uri":                              is.iss + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		writeJSON(w, map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": issuerKID,
			"n": b64(is.key.N.Bytes()), "e": b64(big.NewInt(int64(is.key.E)).Bytes()),
		}}})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// mint signs an RS256 access token for aud; each carries its own jti.
func (is *issuer) mint(aud, jti string, now time.Time) (string, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": issuerKID})
	claims, _ := json.Marshal(map[string]any{
		"iss": is.iss, "aud": aud, "sub": "bench-client", "azp": "bench-client",
		"roles": []string{"Bench.Call"}, "jti": jti, "ver": "2.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(),
	})
	signingInput := b64(header) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, is.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return signingInput + "." + b64(sig), nil
}

// mintMany signs n tokens on every cpu; jti is prefix-index.
func (is *issuer) mintMany(aud, prefix string, n int) ([]string, error) {
	toks := make([]string, n)
	now := time.Now()
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				tok, err := is.mint(aud, prefix+"-"+strconv.Itoa(i), now)
				if err != nil {
					errs[w] = err
					return
				}
				toks[i] = tok
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return toks, nil
}

func runIssuer(ctx context.Context, addr, dir, aud string, n, files int) error {
	if n < 1 || files < 1 {
		return errors.New("issuer: -n and -files must be positive")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	defer ln.Close()
	is, err := newIssuer("http://" + ln.Addr().String())
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(&is.key.PublicKey)
	if err != nil {
		return fmt.Errorf("marshal key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "public.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("write public key: %w", err)
	}
	for f := range files {
		toks, err := is.mintMany(aud, "f"+strconv.Itoa(f), n)
		if err != nil {
			return err
		}
		if err := writeLines(filepath.Join(dir, fmt.Sprintf("tokens-%d.txt", f)), toks); err != nil {
			return err
		}
	}
	// The files are complete: a reader that sees "ready" may use them.
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		return fmt.Errorf("write ready: %w", err)
	}
	srv := &http.Server{Handler: is.handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
