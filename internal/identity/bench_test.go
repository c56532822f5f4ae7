package identity_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/identity"
)

// BenchmarkClientCredentials measures client-credentials tokens per second
// over HTTP (client and server in this process, sharing the cores).
// Compare with BenchmarkSign, the signing-bound limit, in the same run.
func BenchmarkClientCredentials(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b, func(o *identity.Options) { o.SigningAlg = alg })
			res, client, secret := e.seedClientCredentials()
			body := url.Values{"grant_type": {"client_credentials"}, "client_id": {client.AppID}, "client_secret": {secret}, "scope": {res.AppID + "/.default"}}.Encode()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			tokenURL := e.tokenURL()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := hc.Post(tokenURL, "application/x-www-form-urlencoded", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "tokens/s")
			// The signing-bound limit, measured right after on the same
			// cores, so load from elsewhere skews both alike.
			limit := signRate(b, alg, b.N)
			b.ReportMetric(limit, "sign-limit/s")
			b.ReportMetric(100*rate/limit, "%-of-limit")
		})
	}
}

// signRate signs n typical access tokens on every core and returns
// signatures per second.
func signRate(b *testing.B, alg string, n int) float64 {
	s := newSigner(b, jose.SignatureAlgorithm(alg))
	claims := typicalClaims()
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				jws, err := s.Sign(claims)
				if err != nil {
					b.Error(err)
					return
				}
				jws.CompactSerialize()
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func newSigner(b *testing.B, alg jose.SignatureAlgorithm) jose.Signer {
	var key crypto.Signer
	if alg == jose.ES256 {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, _ = rsa.GenerateKey(rand.Reader, 2048)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: "k"}}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func typicalClaims() []byte {
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{"iss": "http://127.0.0.1:8003/" + uuid.NewString() + "/v2.0", "sub": uuid.NewString(), "aud": uuid.NewString(),
		"iat": now, "nbf": now, "exp": now + 3600, "jti": uuid.NewString(), "client_id": uuid.NewString(), "azp": uuid.NewString(), "azpacr": "1",
		"tid": uuid.NewString(), "oid": uuid.NewString(), "idtyp": "app", "roles": []string{"APIAccess"}, "ver": "2.0"})
	return claims
}

// BenchmarkSign measures one signature of a typical access token's claims
// on every core (RunParallel): its tokens/s is the signing-bound limit.
func BenchmarkSign(b *testing.B) {
	claims := typicalClaims()
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256} {
		b.Run(string(alg), func(b *testing.B) {
			s := newSigner(b, alg)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					jws, err := s.Sign(claims)
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := jws.CompactSerialize(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
