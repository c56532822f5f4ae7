// Package keyring seals secrets with envelope encryption: every value gets a
// fresh AES-256-GCM data key, and the data key is wrapped by a key encryption
// key (KEK) from the keyring. Rotating the KEK re-wraps data keys only.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// KEK wraps and unwraps data keys. The local key file implements it; a KMS
// client can too.
type KEK interface {
	ID() string
	Wrap(dek []byte) ([]byte, error)
	Unwrap(wrapped []byte) ([]byte, error)
}

// Keyring seals with its primary KEK and opens with any KEK it holds. Its
// keys can be replaced while it is in use (Replace), so that everything
// holding it sees a rotated key file at once.
type Keyring struct {
	r atomic.Pointer[ring]
}

type ring struct {
	primary KEK
	ids     []string // primary first
	byID    map[string]KEK
}

// New returns a keyring sealing with primary and opening with primary and
// older (keys being rotated out).
func New(primary KEK, older ...KEK) *Keyring {
	r := &ring{primary: primary, ids: []string{primary.ID()}, byID: map[string]KEK{primary.ID(): primary}}
	for _, o := range older {
		if _, dup := r.byID[o.ID()]; !dup {
			r.ids = append(r.ids, o.ID())
		}
		r.byID[o.ID()] = o
	}
	k := &Keyring{}
	k.r.Store(r)
	return k
}

// Replace gives k the keys of other (e.g. the key file read again after a
// rotation). Values sealed meanwhile use either primary; both open them
// as long as the new keyring still holds the old primary.
func (k *Keyring) Replace(other *Keyring) { k.r.Store(other.r.Load()) }

// PrimaryID names the KEK new values are sealed with.
func (k *Keyring) PrimaryID() string { return k.r.Load().primary.ID() }

// IDs names the KEKs held, the primary first.
func (k *Keyring) IDs() []string { return append([]string(nil), k.r.Load().ids...) }

// SealedWith returns the id of the KEK that wraps a sealed value's data
// key, or false when s is not a sealed value.
func SealedWith(s string) (string, bool) {
	id, _, _, err := parseSealed(s)
	return id, err == nil
}

const sealedPrefix = "tg1."

// ErrNotSealed is returned by Open for a value that is not a sealed value.
var ErrNotSealed = errors.New("value is not sealed")

// Seal encrypts plaintext. aad binds the ciphertext to where it is stored
// (e.g. the resource path), so a sealed value copied elsewhere won't open.
// The result is "tg1.<kek id>.<wrapped data key>.<nonce|ciphertext>", base64url.
func (k *Keyring) Seal(plaintext, aad []byte) (string, error) {
	dek := make([]byte, 32)
	if _, err := rand.Read(dek); err != nil {
		return "", fmt.Errorf("seal: data key: %w", err)
	}
	primary := k.r.Load().primary
	wrapped, err := primary.Wrap(dek)
	if err != nil {
		return "", fmt.Errorf("seal: wrap data key with %q: %w", primary.ID(), err)
	}
	ct, err := gcmSeal(dek, plaintext, aad)
	if err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	enc := base64.RawURLEncoding
	return sealedPrefix + primary.ID() + "." + enc.EncodeToString(wrapped) + "." + enc.EncodeToString(ct), nil
}

func parseSealed(sealed string) (kekID string, wrapped, ct []byte, err error) {
	if !strings.HasPrefix(sealed, sealedPrefix) {
		return "", nil, nil, ErrNotSealed
	}
	parts := strings.Split(sealed[len(sealedPrefix):], ".")
	if len(parts) != 3 {
		return "", nil, nil, ErrNotSealed
	}
	enc := base64.RawURLEncoding
	if wrapped, err = enc.DecodeString(parts[1]); err != nil {
		return "", nil, nil, ErrNotSealed
	}
	if ct, err = enc.DecodeString(parts[2]); err != nil {
		return "", nil, nil, ErrNotSealed
	}
	return parts[0], wrapped, ct, nil
}

// Open decrypts a value made by Seal with the same aad.
func (k *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	kekID, wrapped, ct, err := parseSealed(sealed)
	if err != nil {
		return nil, err
	}
	kek, ok := k.r.Load().byID[kekID]
	if !ok {
		return nil, fmt.Errorf("open: key encryption key %q is not in the keyring", kekID)
	}
	dek, err := kek.Unwrap(wrapped)
	if err != nil {
		return nil, fmt.Errorf("open: unwrap data key with %q: %w", kekID, err)
	}
	pt, err := gcmOpen(dek, ct, aad)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	return pt, nil
}

// Rewrap re-wraps a sealed value's data key with the primary KEK without
// touching the ciphertext. It is a no-op for values already on the primary.
func (k *Keyring) Rewrap(sealed string) (string, error) {
	kekID, wrapped, ct, err := parseSealed(sealed)
	if err != nil {
		return "", err
	}
	r := k.r.Load()
	if kekID == r.primary.ID() {
		return sealed, nil
	}
	kek, ok := r.byID[kekID]
	if !ok {
		return "", fmt.Errorf("rewrap: key encryption key %q is not in the keyring", kekID)
	}
	dek, err := kek.Unwrap(wrapped)
	if err != nil {
		return "", fmt.Errorf("rewrap: unwrap data key with %q: %w", kekID, err)
	}
	rewrapped, err := r.primary.Wrap(dek)
	if err != nil {
		return "", fmt.Errorf("rewrap: %w", err)
	}
	enc := base64.RawURLEncoding
	return sealedPrefix + r.primary.ID() + "." + enc.EncodeToString(rewrapped) + "." + enc.EncodeToString(ct), nil
}

// IsSealed reports whether s has the shape of a sealed value.
func IsSealed(s string) bool {
	_, _, _, err := parseSealed(s)
	return err == nil
}

func gcmSeal(key, plaintext, aad []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plaintext)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plaintext, aad), nil
}

func gcmOpen(key, sealed, aad []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize()+gcm.Overhead() {
		return nil, errors.New("ciphertext too short")
	}
	return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], aad)
}

// LocalKEK is an AES-256 key held in memory (from the key file or the
// environment) that wraps data keys with AES-GCM.
type LocalKEK struct {
	id  string
	key []byte
}

// NewLocalKEK makes a KEK from 32 raw bytes. Its ID is derived from the key
// so the same key always has the same ID.
func NewLocalKEK(key []byte) (*LocalKEK, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("key encryption key must be 32 bytes, got %d", len(key))
	}
	sum := sha256.Sum256(append([]byte("tollgate kek id\x00"), key...))
	return &LocalKEK{id: "local-" + hex.EncodeToString(sum[:4]), key: append([]byte(nil), key...)}, nil
}

func (l *LocalKEK) ID() string                      { return l.id }
func (l *LocalKEK) Wrap(dek []byte) ([]byte, error) { return gcmSeal(l.key, dek, []byte(l.id)) }
func (l *LocalKEK) Unwrap(wrapped []byte) ([]byte, error) {
	return gcmOpen(l.key, wrapped, []byte(l.id))
}

// keyFile is the on-disk form of <data-dir>/master.key: the first key is the
// primary, the rest are older keys still able to open values.
type keyFile struct {
	Keys []string `json:"keys"` // base64 (std) 32-byte keys
}

// ParseKey decodes a base64 (standard or URL, padded or not) 32-byte key, as
// given in TOLLGATE_MASTER_KEY.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("master key must decode to 32 bytes, got %d", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("master key is not valid base64")
}

// LoadFile reads a key file. A file holding a single base64 key (no JSON) is
// accepted too, so an operator can write one by hand.
func LoadFile(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read master key file %s: %w", path, err)
	}
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil || len(kf.Keys) == 0 {
		kf.Keys = []string{string(data)}
	}
	var keks []KEK
	for i, s := range kf.Keys {
		raw, err := ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("master key file %s, key %d: %w", path, i+1, err)
		}
		kek, err := NewLocalKEK(raw)
		if err != nil {
			return nil, fmt.Errorf("master key file %s, key %d: %w", path, i+1, err)
		}
		keks = append(keks, kek)
	}
	return New(keks[0], keks[1:]...), nil
}

// LoadOrCreateFile reads the key file, creating it (mode 0600) with a fresh
// key if it does not exist. created reports whether it was made now.
func LoadOrCreateFile(path string) (k *Keyring, created bool, err error) {
	if _, err := os.Stat(path); err == nil {
		k, err := LoadFile(path)
		return k, false, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("master key file %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, false, err
	}
	if err := writeKeyFile(path, [][]byte{raw}); err != nil {
		return nil, false, err
	}
	k, err = LoadFile(path)
	return k, true, err
}

// RotateFile puts a fresh primary key at the head of the key file, keeping
// the older ones so existing values still open until re-wrapped.
func RotateFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read master key file %s: %w", path, err)
	}
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil || len(kf.Keys) == 0 {
		kf.Keys = []string{strings.TrimSpace(string(data))}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	keys := [][]byte{raw}
	for _, s := range kf.Keys {
		b, err := ParseKey(s)
		if err != nil {
			return fmt.Errorf("master key file %s: %w", path, err)
		}
		keys = append(keys, b)
	}
	return writeKeyFile(path, keys)
}

// DropOlderFile keeps only the primary (first) key of the key file: once
// every value is re-wrapped with it, the older keys are retired.
func DropOlderFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read master key file %s: %w", path, err)
	}
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil || len(kf.Keys) == 0 {
		return nil // a single key: nothing to drop
	}
	b, err := ParseKey(kf.Keys[0])
	if err != nil {
		return fmt.Errorf("master key file %s: %w", path, err)
	}
	return writeKeyFile(path, [][]byte{b})
}

func writeKeyFile(path string, keys [][]byte) error {
	var kf keyFile
	for _, k := range keys {
		kf.Keys = append(kf.Keys, base64.StdEncoding.EncodeToString(k))
	}
	data, _ := json.MarshalIndent(kf, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write master key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write master key file: %w", err)
	}
	return nil
}

// Hasher computes keyed hashes (HMAC-SHA256) used to look secrets up without
// storing them in the clear, e.g. subscription keys. It is safe for
// concurrent use and does not allocate per call.
type Hasher struct {
	pool sync.Pool
}

// NewHasher returns a hasher for the given lookup key.
func NewHasher(key []byte) *Hasher {
	key = append([]byte(nil), key...)
	h := &Hasher{}
	h.pool.New = func() any { return &hashState{mac: hmac.New(sha256.New, key)} }
	return h
}

type hashState struct {
	mac hash.Hash
	buf []byte // the input, so converting the string does not allocate
	out []byte // the MAC, so Sum's result does not escape to the heap
}

// Sum returns the keyed hash of s.
func (h *Hasher) Sum(s string) [32]byte {
	st := h.pool.Get().(*hashState)
	st.buf = append(st.buf[:0], s...)
	st.mac.Reset()
	st.mac.Write(st.buf)
	st.out = st.mac.Sum(st.out[:0])
	var out [32]byte
	copy(out[:], st.out)
	h.pool.Put(st)
	return out
}
