package identity

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tollgate/tollgate/internal/store"
)

const (
	keyCacheTTL       = 5 * time.Second
	rotationLeaseTime = time.Minute
)

// storedKey is one signing key as kept in the state store, the private key
// sealed with the keyring.
type storedKey struct {
	KID        string    `json:"kid"`
	Alg        string    `json:"alg"`
	Private    string    `json:"private"` // sealed PKCS #8
	Created    time.Time `json:"created"`
	ActiveFrom time.Time `json:"activeFrom"`
	// NotAfter is set when a newer key takes over: the key stays published
	// until the last token it signed has expired, then it is removed.
	NotAfter time.Time `json:"notAfter,omitempty"`
}

type storedKeys struct {
	Keys []storedKey `json:"keys"`
}

// loadedKey is a usable signing key.
type loadedKey struct {
	storedKey
	signer   crypto.Signer
	public   jose.JSONWebKey
	atSigner jose.Signer // typ at+jwt
	idSigner jose.Signer // typ JWT
}

type keyCache struct {
	fetched time.Time
	raw     []byte
	keys    []*loadedKey // ordered by ActiveFrom
}

func keyAAD(kid string) []byte { return []byte("tollgate identity signing key " + kid) }

func (p *Provider) newStoredKey(alg string, activeFrom time.Time) (storedKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return storedKey{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storedKey{}, fmt.Errorf("encode key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return storedKey{}, fmt.Errorf("encode public key: %w", err)
	}
	// The kid is a digest of the public key: stable and unique.
	sum := sha256.Sum256(pubDER)
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	sealed, err := p.kr.Seal(der, keyAAD(kid))
	if err != nil {
		return storedKey{}, fmt.Errorf("seal signing key: %w", err)
	}
	return storedKey{KID: kid, Alg: alg, Private: sealed, Created: p.now().UTC(), ActiveFrom: activeFrom.UTC()}, nil
}

// ensureSigningKey makes the first signing key, active at once (nobody can
// hold tokens or cached keys yet).
func (p *Provider) ensureSigningKey(ctx context.Context) error {
	if _, err := p.state.SigningKeys(ctx); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	k, err := p.newStoredKey(p.opts.SigningAlg, p.now())
	if err != nil {
		return err
	}
	if err := p.state.CreateSigningKeys(ctx, storedKeys{Keys: []storedKey{k}}); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("store signing key: %w", err)
	}
	return nil
}

// maxTokenLifetime is how long a token signed now may be accepted.
func (p *Provider) maxTokenLifetime() time.Duration {
	d := p.opts.AccessTokenLifetime
	if p.opts.IDTokenLifetime > d {
		d = p.opts.IDTokenLifetime
	}
	return d + 5*time.Minute // relying parties' clock skew
}

// RotatedKey describes a key made by RotateSigningKey.
type RotatedKey struct {
	KID        string    `json:"kid"`
	Alg        string    `json:"alg"`
	ActiveFrom time.Time `json:"activeFrom"`
}

// RotateSigningKey adds a new signing key that is published at once and
// signs from now+publishDelay on (negative: the provider's
// KeyPublishDelay). The key it supersedes stays published until the tokens
// it signed have expired; keys past that are removed.
func (p *Provider) RotateSigningKey(ctx context.Context, publishDelay time.Duration) (RotatedKey, error) {
	if publishDelay < 0 {
		publishDelay = p.opts.KeyPublishDelay
	}
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := p.state.SigningKeys(ctx)
		if err != nil {
			return RotatedKey{}, fmt.Errorf("rotate signing key: %w", err)
		}
		ks := cur.Value
		now := p.now().UTC()
		nk, err := p.newStoredKey(p.opts.SigningAlg, now.Add(publishDelay))
		if err != nil {
			return RotatedKey{}, fmt.Errorf("rotate signing key: %w", err)
		}
		// Every older key stops signing when the new one starts; each may
		// have signed until then.
		kept := ks.Keys[:0:0]
		for _, k := range ks.Keys {
			if !k.NotAfter.IsZero() && k.NotAfter.Before(now) {
				continue
			}
			if k.NotAfter.IsZero() || k.NotAfter.After(nk.ActiveFrom.Add(p.maxTokenLifetime())) {
				k.NotAfter = nk.ActiveFrom.Add(p.maxTokenLifetime())
			}
			kept = append(kept, k)
		}
		kept = append(kept, nk)
		err = p.state.SwapSigningKeys(ctx, cur, storedKeys{Keys: kept})
		if errors.Is(err, store.ErrConflict) {
			continue // another node rotated at the same moment: retry on its result
		}
		if err != nil {
			return RotatedKey{}, fmt.Errorf("rotate signing key: store: %w", err)
		}
		p.expireKeys() // re-read at once in this process
		p.log.Info("signing key rotated", "kid", nk.KID, "alg", nk.Alg, "activeFrom", nk.ActiveFrom)
		return RotatedKey{KID: nk.KID, Alg: nk.Alg, ActiveFrom: nk.ActiveFrom}, nil
	}
	return RotatedKey{}, errors.New("rotate signing key: too much contention")
}

// rotateIfDue rotates when the newest key is older than the rotation
// interval. A lease in the state store makes one node do it.
func (p *Provider) rotateIfDue(ctx context.Context) error {
	if p.opts.KeyRotationInterval < 0 {
		return nil
	}
	kc, err := p.loadKeys(ctx)
	if err != nil {
		return err
	}
	var newest time.Time
	for _, k := range kc.keys {
		if k.Created.After(newest) {
			newest = k.Created
		}
	}
	if p.now().Sub(newest) < p.opts.KeyRotationInterval {
		return nil
	}
	err = p.state.TakeRotationLease(ctx, p.now().Add(rotationLeaseTime))
	if errors.Is(err, store.ErrConflict) {
		return nil // another node holds the lease
	}
	if err != nil {
		return fmt.Errorf("take rotation lease: %w", err)
	}
	// Re-check under the lease: another node may just have rotated.
	p.expireKeys()
	if kc, err = p.loadKeys(ctx); err != nil {
		return err
	}
	for _, k := range kc.keys {
		if p.now().Sub(k.Created) < p.opts.KeyRotationInterval {
			return nil
		}
	}
	_, err = p.RotateSigningKey(ctx, -1)
	return err
}

// Run rotates the signing key on schedule until ctx ends.
func (p *Provider) Run(ctx context.Context) error {
	every := p.opts.KeyRotationInterval / 20
	if every > time.Hour {
		every = time.Hour
	}
	if every < time.Second {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := p.rotateIfDue(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("scheduled signing key rotation failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// loadKeys returns the signing keys, re-read from the store at most every
// few seconds (a rotation on another node is published well ahead of use).
// While the store cannot be read, the keys already in memory keep being
// used (JWKS, signing and verification go on), and the next read is tried
// after another few seconds; one caller at a time reads.
func (p *Provider) loadKeys(ctx context.Context) (*keyCache, error) {
	now := p.now()
	fresh := func(kc *keyCache) bool {
		return kc != nil && now.Sub(kc.fetched) < keyCacheTTL && !now.Before(kc.fetched)
	}
	if kc := p.keys.Load(); fresh(kc) {
		return kc, nil
	}
	if kc := p.keys.Load(); kc != nil && kc.raw != nil && p.keysFailing.Load() {
		if !p.keysMu.TryLock() {
			return kc, nil // the store is failing and another request is trying it
		}
	} else {
		p.keysMu.Lock()
	}
	defer p.keysMu.Unlock()
	old := p.keys.Load()
	if fresh(old) {
		return old, nil
	}
	cur, err := p.state.SigningKeys(ctx)
	if err != nil {
		if old != nil && old.raw != nil && ctx.Err() == nil && errors.Is(err, ErrUnavailable) {
			p.keysFailing.Store(true)
			p.log.Warn("signing keys could not be re-read; using those in memory", "err", err)
			p.keys.Store(&keyCache{fetched: now, raw: old.raw, keys: old.keys})
			return old, nil
		}
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	p.keysFailing.Store(false)
	raw, ks := cur.raw, cur.Value
	if old != nil && bytes.Equal(old.raw, raw) {
		kc := &keyCache{fetched: now, raw: old.raw, keys: old.keys}
		p.keys.Store(kc)
		return kc, nil
	}
	prev := map[string]*loadedKey{}
	if old != nil {
		for _, k := range old.keys {
			prev[k.KID] = k
		}
	}
	kc := &keyCache{fetched: now, raw: raw}
	for _, sk := range ks.Keys {
		if lk, ok := prev[sk.KID]; ok {
			cp := *lk
			cp.storedKey = sk
			kc.keys = append(kc.keys, &cp)
			continue
		}
		lk, err := p.openKey(sk)
		if err != nil {
			return nil, err
		}
		kc.keys = append(kc.keys, lk)
	}
	sort.SliceStable(kc.keys, func(i, j int) bool { return kc.keys[i].ActiveFrom.Before(kc.keys[j].ActiveFrom) })
	p.keys.Store(kc)
	return kc, nil
}

// expireKeys makes the next loadKeys read the store, keeping the keys in
// memory for when it cannot.
func (p *Provider) expireKeys() {
	if kc := p.keys.Load(); kc != nil {
		p.keys.Store(&keyCache{raw: kc.raw, keys: kc.keys})
	}
}

func (p *Provider) openKey(sk storedKey) (*loadedKey, error) {
	der, err := p.kr.Open(sk.Private, keyAAD(sk.KID))
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: %w", sk.KID, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse signing key %s: %w", sk.KID, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key %s is not a signer", sk.KID)
	}
	alg := jose.SignatureAlgorithm(sk.Alg)
	lk := &loadedKey{storedKey: sk, signer: signer,
		public: jose.JSONWebKey{Key: signer.Public(), KeyID: sk.KID, Algorithm: sk.Alg, Use: "sig"}}
	jwk := jose.JSONWebKey{Key: signer, KeyID: sk.KID, Algorithm: sk.Alg}
	if lk.atSigner, err = jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jwk}, (&jose.SignerOptions{}).WithType("at+jwt")); err != nil {
		return nil, fmt.Errorf("signer for key %s: %w", sk.KID, err)
	}
	if lk.idSigner, err = jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jwk}, (&jose.SignerOptions{}).WithType("JWT")); err != nil {
		return nil, fmt.Errorf("signer for key %s: %w", sk.KID, err)
	}
	return lk, nil
}

// signingKey is the newest key whose time to sign has come.
func (p *Provider) signingKey(ctx context.Context) (*loadedKey, error) {
	kc, err := p.loadKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := p.now()
	var cur *loadedKey
	for _, k := range kc.keys {
		if !k.ActiveFrom.After(now) {
			cur = k
		}
	}
	if cur == nil {
		return nil, errors.New("no signing key is active yet")
	}
	return cur, nil
}

// PublicKeys returns the published signing keys (JWKS): keys about to sign,
// the current one, and retired ones whose tokens may still be valid. The
// gateway uses it to validate tokens without a network hop.
func (p *Provider) PublicKeys(ctx context.Context) (jose.JSONWebKeySet, error) {
	kc, err := p.loadKeys(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	now := p.now()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for i := len(kc.keys) - 1; i >= 0; i-- {
		k := kc.keys[i]
		if !k.NotAfter.IsZero() && k.NotAfter.Before(now) {
			continue
		}
		set.Keys = append(set.Keys, k.public)
	}
	return set, nil
}

// sign serializes claims as a JWS with the current key.
func (p *Provider) sign(ctx context.Context, claims any, accessToken bool) (string, error) {
	k, err := p.signingKey(ctx)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	s := k.idSigner
	if accessToken {
		s = k.atSigner
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return jws.CompactSerialize()
}
