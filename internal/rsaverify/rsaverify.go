// Package rsaverify verifies RSA PKCS #1 v1.5 signatures with public keys
// whose Montgomery constants are computed once, when the key is loaded.
// crypto/rsa derives them from the *rsa.PublicKey on every call, which is
// about a third of a 2048-bit verification; a gateway checking every
// request's token against the same few keys pays that for nothing.
//
// Verification handles only public data (the key, the signature, the
// hash), so the arithmetic is variable-time.
package rsaverify

import (
	"crypto"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
)

// MinBits and MaxBits bound the moduli New accepts.
const (
	MinBits = 2048
	MaxBits = 8192
)

// limbBlock is what a modulus's limb count is rounded up to: the assembly
// kernels work four limbs at a time. Leading zero limbs do not change the
// arithmetic (R just grows), and 2048, 3072 and 4096 bits need none.
const limbBlock = 4

const maxLimbs = (MaxBits + 63) / 64

// PublicKey is an RSA public key ready for verification. It is immutable
// and safe for concurrent use.
type PublicKey struct {
	n    []uint64 // modulus, little-endian 64-bit limbs, len a multiple of limbBlock
	n0   uint64   // -n⁻¹ mod 2⁶⁴
	rr   []uint64 // R² mod n, R = 2^(64·len(n))
	e    uint32
	size int      // modulus length in bytes: the signature's length
	ifma *ifmaKey // 2048-bit keys' constants for the AVX-512 IFMA path, or nil
	// em holds, per digest (SHA-256, SHA-384, SHA-512), the expected
	// encoding with the digest's bytes zero: only those vary by message.
	em [3][]uint64
}

// New precomputes pub's Montgomery constants. It refuses what crypto/rsa
// refuses for verification (even modulus, exponent even, below 3 or above
// 2³¹-1) and moduli outside MinBits..MaxBits.
func New(pub *rsa.PublicKey) (*PublicKey, error) {
	if pub == nil || pub.N == nil {
		return nil, errors.New("rsaverify: missing public modulus")
	}
	nbits := pub.N.BitLen()
	if nbits < MinBits || nbits > MaxBits {
		return nil, fmt.Errorf("rsaverify: modulus of %d bits is outside %d..%d", nbits, MinBits, MaxBits)
	}
	if pub.N.Bit(0) == 0 {
		return nil, errors.New("rsaverify: public modulus is even")
	}
	if pub.E < 3 || pub.E&1 == 0 || pub.E > 1<<31-1 {
		return nil, fmt.Errorf("rsaverify: public exponent %d is not an odd number in 3..2³¹-1", pub.E)
	}
	k := (nbits + 63) / 64
	k = (k + limbBlock - 1) / limbBlock * limbBlock
	size := (nbits + 7) / 8
	n := make([]uint64, k)
	bytesToLimbs(n, pub.N.FillBytes(make([]byte, size)))

	// Newton's iteration for n⁻¹ mod 2⁶⁴: an odd n is its own inverse
	// mod 8, and each step doubles the correct low bits (3, 6, ..., 96).
	inv := n[0]
	for range 5 {
		inv *= 2 - n[0]*inv
	}

	r2 := new(big.Int).Lsh(big.NewInt(1), uint(2*64*k))
	r2.Mod(r2, pub.N)
	rr := make([]uint64, k)
	bytesToLimbs(rr, r2.FillBytes(make([]byte, 8*k)))
	pk := &PublicKey{n: n, n0: -inv, rr: rr, e: uint32(pub.E), size: size}
	pk.ifma = newIFMAKey(n, pub.N, -inv)
	for i, h := range digests {
		pk.em[i] = template(k, size, digestInfo[i], h.Size())
	}
	return pk, nil
}

// Size is the modulus length in bytes, which is every signature's length.
func (k *PublicKey) Size() int { return k.size }

// digests are the hashes VerifyPKCS1v15 takes; digestInfo holds the DER
// prefix of each one's DigestInfo (RFC 8017, section 9.2, note 1).
var (
	digests    = [3]crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}
	digestInfo = [3][]byte{
		{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
		{0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
		{0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
	}
)

// VerifyPKCS1v15 verifies an RSASSA-PKCS1-v1_5 signature of hashed, the
// digest of the message with hash (SHA-256, SHA-384 or SHA-512), as
// rsa.VerifyPKCS1v15 does: sig must be exactly Size bytes and below the
// modulus, and sig^e mod n must equal the expected encoding in full. A bad
// signature returns rsa.ErrVerification.
func (k *PublicKey) VerifyPKCS1v15(hash crypto.Hash, hashed, sig []byte) error {
	d := -1
	for i, h := range digests {
		if h == hash {
			d = i
		}
	}
	if d < 0 {
		return fmt.Errorf("rsaverify: unsupported hash function %v", hash)
	}
	if len(hashed) != hash.Size() {
		return errors.New("rsaverify: input must be hashed message")
	}
	if len(sig) != k.size {
		return rsa.ErrVerification
	}
	// The scratch lives on the stack, in a frame sized for the key: a
	// goroutine checking 2048-bit keys does not grow its stack for 8192.
	var ok bool
	switch l := len(k.n); {
	case l <= 2048/64:
		ok = k.verify2048(k.em[d], hashed, sig)
	case l <= 4096/64:
		ok = k.verify4096(k.em[d], hashed, sig)
	default:
		ok = k.verify8192(k.em[d], hashed, sig)
	}
	if !ok {
		return rsa.ErrVerification
	}
	return nil
}

// scratchLimbs is what one verification needs with a k-limb modulus: the
// signature, its Montgomery form, the accumulator (k each) and a
// double-width product (2k).
func scratchLimbs(k int) int { return 5 * k }

//go:noinline
func (k *PublicKey) verify2048(em []uint64, hashed, sig []byte) bool {
	var scratch [5 * 2048 / 64]uint64
	return k.verify(scratch[:scratchLimbs(len(k.n))], em, hashed, sig)
}

//go:noinline
func (k *PublicKey) verify4096(em []uint64, hashed, sig []byte) bool {
	var scratch [5 * 4096 / 64]uint64
	return k.verify(scratch[:scratchLimbs(len(k.n))], em, hashed, sig)
}

//go:noinline
func (k *PublicKey) verify8192(em []uint64, hashed, sig []byte) bool {
	var scratch [5 * maxLimbs]uint64
	return k.verify(scratch[:scratchLimbs(len(k.n))], em, hashed, sig)
}

// verify computes sig^e mod n and compares it with em, whose low
// len(hashed) bytes (a whole number of limbs) are the digest.
func (k *PublicKey) verify(scratch []uint64, em []uint64, hashed, sig []byte) bool {
	l := len(k.n)
	s, sm, a, t := scratch[:l], scratch[l:2*l], scratch[2*l:3*l], scratch[3*l:5*l]
	bytesToLimbs(s, sig)
	if !less(s, k.n) {
		return false
	}
	k.exp(a, s, sm, t)
	h := len(hashed) / 8
	for i := range h {
		if a[i] != binary.BigEndian.Uint64(hashed[len(hashed)-8*(i+1):]) {
			return false
		}
	}
	for i := h; i < l; i++ {
		if a[i] != em[i] {
			return false
		}
	}
	return true
}

// template returns EMSA-PKCS1-v1_5's encoding of a digest of hashLen
// bytes as limbs, with the digest's own bytes left zero:
// 0x00 0x01 0xff…0xff 0x00 prefix 0…0, size bytes long.
func template(k, size int, prefix []byte, hashLen int) []uint64 {
	z := make([]uint64, k)
	t := len(prefix) + hashLen
	for pos := hashLen; pos < size; pos++ { // pos counts bytes from the low end
		var b byte
		switch {
		case pos < t:
			b = prefix[t-1-pos]
		case pos == t:
			b = 0x00
		case pos < size-2:
			b = 0xff
		case pos == size-2:
			b = 0x01
		}
		z[pos/8] |= uint64(b) << (8 * (pos % 8))
	}
	return z
}

// exp sets z = s^e mod n for s < n, by left-to-right square-and-multiply
// in the Montgomery domain. sm and t are scratch (k and 2k limbs).
func (k *PublicKey) exp(z, s, sm, t []uint64) {
	if k.ifma != nil && hasIFMA {
		k.ifma.exp(z, s, k.n, k.e)
		return
	}
	montMul(sm, s, k.rr, t, k.n, k.n0) // s·R mod n
	copy(z, sm)
	for i := bits.Len32(k.e) - 2; i >= 1; i-- {
		montSqr(z, z, t, k.n, k.n0)
		if k.e>>i&1 == 1 {
			montMul(z, z, sm, t, k.n, k.n0)
		}
	}
	// e is odd: the last multiplication is by s itself, not its
	// Montgomery form, which brings the result out of the domain:
	// s^(e-1)·R · s · R⁻¹ = s^e.
	montSqr(z, z, t, k.n, k.n0)
	montMul(z, z, s, t, k.n, k.n0)
}

// montMul sets z = x·y·R⁻¹ mod n; x, y < n. z may alias x or y; t (2k
// limbs) must not alias anything.
func montMul(z, x, y, t, n []uint64, n0 uint64) {
	mul(t, x, y)
	reduce(z, t, n, n0)
}

// montSqr sets z = x²·R⁻¹ mod n, as montMul(z, x, x, ...) but cheaper.
func montSqr(z, x, t, n []uint64, n0 uint64) {
	sqr(t, x)
	reduce(z, t, n, n0)
}

// bytesToLimbs sets z to the big-endian b; b must fit.
func bytesToLimbs(z []uint64, b []byte) {
	clear(z)
	i := 0
	for ; len(b) >= 8; i++ {
		z[i] = binary.BigEndian.Uint64(b[len(b)-8:])
		b = b[:len(b)-8]
	}
	for j, c := range b {
		z[i] |= uint64(c) << (8 * (len(b) - 1 - j))
	}
}

// less reports x < y for equal-length limb slices.
func less(x, y []uint64) bool {
	for i := len(x) - 1; i >= 0; i-- {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}
