package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordHasher hashes user passwords with argon2id. The parameters are
// stored in each hash (PHC string format), so they can be raised later
// without invalidating existing hashes.
type PasswordHasher struct {
	Time      uint32 // iterations
	MemoryKiB uint32
	Threads   uint8
}

// Default argon2id parameters, OWASP's recommendation (19 MiB, 2
// iterations, 1 lane); a zero PasswordHasher uses them.
const (
	defaultArgonTime      = 2
	defaultArgonMemoryKiB = 19 * 1024
	defaultArgonThreads   = 1
)

const argonKeyLen = 32

// Hash returns the PHC-format argon2id hash of password.
func (h PasswordHasher) Hash(password string) (string, error) {
	if h.Time == 0 || h.MemoryKiB == 0 || h.Threads == 0 {
		h = PasswordHasher{Time: defaultArgonTime, MemoryKiB: defaultArgonMemoryKiB, Threads: defaultArgonThreads}
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.Time, h.MemoryKiB, h.Threads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.MemoryKiB, h.Time, h.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

var errBadHash = errors.New("not an argon2id hash")

// verifyPassword checks password against a PHC argon2id hash in constant
// time. Parameters are bounded so a tampered hash cannot exhaust memory.
func verifyPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, errBadHash
	}
	if m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false, errBadHash
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 64 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
