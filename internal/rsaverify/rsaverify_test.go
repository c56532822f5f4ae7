package rsaverify

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testKeys are fixed (testdata), so a failing fuzz input names the same
// key on every run: 2048, 3072, 4096 and 8192 bits with e = 65537; 2056
// bits (33 limbs, padded to 36) with e = 3; 2110 bits (the top byte
// partly used) with e = 2³¹-1, the largest crypto/rsa takes. The files
// say TESTING KEY so that secret scanners leave them alone.
var testKeys = sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
	names := []string{"rsa2048.pem", "rsa3072.pem", "rsa4096.pem", "rsa2056-e3.pem", "rsa2110-e2147483647.pem", "rsa8192.pem"}
	var keys []*rsa.PrivateKey
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			return nil, err
		}
		blk, _ := pem.Decode([]byte(strings.ReplaceAll(string(b), "TESTING KEY", "PRIVATE KEY")))
		if blk == nil {
			return nil, fmt.Errorf("%s: no PEM block", name)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		keys = append(keys, k.(*rsa.PrivateKey))
	}
	return keys, nil
})

func loadKeys(t testing.TB) []*rsa.PrivateKey {
	t.Helper()
	keys, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func mustNew(t testing.TB, pub *rsa.PublicKey) *PublicKey {
	t.Helper()
	k, err := New(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func digest(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(msg)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	}
	d := sha512.Sum512(msg)
	return d[:]
}

// encodeEM is EMSA-PKCS1-v1_5, written out from RFC 8017 section 9.2.
func encodeEM(size int, h crypto.Hash, hashed []byte) []byte {
	prefix := map[crypto.Hash]string{
		crypto.SHA256: "3031300d060960864801650304020105000420",
		crypto.SHA384: "3041300d060960864801650304020205000430",
		crypto.SHA512: "3051300d060960864801650304020305000440",
	}[h]
	t, _ := new(big.Int).SetString(prefix, 16)
	tb := append(t.Bytes(), hashed...)
	em := make([]byte, size)
	em[1] = 1
	for i := 2; i < size-len(tb)-1; i++ {
		em[i] = 0xff
	}
	copy(em[size-len(tb):], tb)
	return em
}

// rawSign returns m^d mod n as a signature (size bytes), whatever m is:
// the way to make the verifier see an encoding of our choosing.
func rawSign(k *rsa.PrivateKey, m []byte) ([]byte, bool) {
	x := new(big.Int).SetBytes(m)
	if x.Cmp(k.N) >= 0 {
		return nil, false
	}
	// By the Chinese remainder theorem, four times faster than x^d mod n.
	p, q := k.Primes[0], k.Primes[1]
	m1 := new(big.Int).Exp(x, k.Precomputed.Dp, p)
	m2 := new(big.Int).Exp(x, k.Precomputed.Dq, q)
	h := m1.Sub(m1, m2)
	h.Mul(h, k.Precomputed.Qinv).Mod(h, p)
	s := h.Mul(h, q).Add(h, m2)
	return s.FillBytes(make([]byte, (k.N.BitLen()+7)/8)), true
}

// check asserts that both verifiers agree on sig, and returns the verdict.
func check(t *testing.T, what string, pub *rsa.PublicKey, k *PublicKey, h crypto.Hash, hashed, sig []byte) bool {
	t.Helper()
	want := rsa.VerifyPKCS1v15(pub, h, hashed, sig)
	got := k.VerifyPKCS1v15(h, hashed, sig)
	if (want == nil) != (got == nil) {
		t.Fatalf("%s: crypto/rsa says %v, rsaverify says %v", what, want, got)
	}
	if got != nil && errors.Is(want, rsa.ErrVerification) && !errors.Is(got, rsa.ErrVerification) {
		t.Fatalf("%s: crypto/rsa says %v, rsaverify says %v (not rsa.ErrVerification)", what, want, got)
	}
	return got == nil
}

var hashes = []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}

func TestVerifyMatchesCryptoRSA(t *testing.T) {
	for _, priv := range loadKeys(t) {
		pub := &priv.PublicKey
		t.Run(fmt.Sprintf("%d-bits-e%d", pub.N.BitLen(), pub.E), func(t *testing.T) {
			k := mustNew(t, pub)
			if k.Size() != pub.Size() {
				t.Fatalf("Size %d, crypto/rsa %d", k.Size(), pub.Size())
			}
			for _, h := range hashes {
				msg := []byte("message for " + h.String())
				hashed := digest(h, msg)
				sig, err := rsa.SignPKCS1v15(nil, priv, h, hashed)
				if err != nil {
					t.Fatal(err)
				}
				if !check(t, "valid signature", pub, k, h, hashed, sig) {
					t.Fatalf("%v: a valid signature is refused", h)
				}

				// Every single-bit flip of the signature (a sample of them on
				// 8192 bits, where each check costs most).
				step := 1
				if pub.N.BitLen() > 4096 || testing.Short() {
					step = 61
				}
				for bit := 0; bit < 8*len(sig); bit += step {
					bad := slices.Clone(sig)
					bad[bit/8] ^= 1 << (bit % 8)
					if check(t, fmt.Sprintf("%v bit %d flipped", h, bit), pub, k, h, hashed, bad) {
						t.Fatalf("%v: bit %d flipped is accepted", h, bit)
					}
				}
				// Every single-bit flip of the digest.
				for bit := 0; bit < 8*len(hashed); bit++ {
					bad := slices.Clone(hashed)
					bad[bit/8] ^= 1 << (bit % 8)
					if check(t, fmt.Sprintf("%v digest bit %d flipped", h, bit), pub, k, h, bad, sig) {
						t.Fatalf("%v: digest bit %d flipped is accepted", h, bit)
					}
				}

				// The same signature under the wrong hash, or of the wrong length.
				for _, other := range hashes {
					if other != h {
						check(t, fmt.Sprintf("%v signature checked as %v", h, other), pub, k, other, digest(other, msg), sig)
						if k.VerifyPKCS1v15(other, hashed, sig) == nil {
							t.Fatalf("a %v digest is accepted as %v", h, other)
						}
					}
				}
				check(t, "leading zero added", pub, k, h, hashed, append([]byte{0}, sig...))
				check(t, "last byte cut", pub, k, h, hashed, sig[:len(sig)-1])
				check(t, "first byte cut", pub, k, h, hashed, sig[1:])
				check(t, "empty", pub, k, h, hashed, nil)
			}

			// Signatures at and above the modulus, and the smallest ones.
			size := pub.Size()
			hashed := digest(crypto.SHA256, []byte("x"))
			for i, s := range []*big.Int{
				pub.N,
				new(big.Int).Add(pub.N, big.NewInt(1)),
				new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(8*size)), big.NewInt(1)),
				new(big.Int).Sub(pub.N, big.NewInt(1)),
				big.NewInt(0),
				big.NewInt(1),
			} {
				if s.BitLen() > 8*size {
					continue
				}
				if check(t, fmt.Sprintf("boundary signature %d", i), pub, k, crypto.SHA256, hashed, s.FillBytes(make([]byte, size))) {
					t.Fatalf("boundary signature %d is accepted", i)
				}
			}
		})
	}
}

// TestVerifyEncodings makes the verifier see encodings that are almost
// right (by signing them raw) and holds it to crypto/rsa's verdict.
func TestVerifyEncodings(t *testing.T) {
	for _, priv := range loadKeys(t)[:5] {
		pub := &priv.PublicKey
		k := mustNew(t, pub)
		size := pub.Size()
		for _, h := range hashes {
			hashed := digest(h, []byte("encodings"))
			em := encodeEM(size, h, hashed)
			if sig, _ := rawSign(priv, em); !check(t, "the encoding itself", pub, k, h, hashed, sig) {
				t.Fatalf("%d bits %v: the correct encoding is refused", pub.N.BitLen(), h)
			}
			variants := map[string][]byte{}
			for _, i := range []int{0, 1, 2, size/2 - 1, size - len(hashed) - 20, size - len(hashed) - 19, size - len(hashed) - 2, size - len(hashed) - 1, size - len(hashed), size - 1} {
				for _, x := range []byte{0x01, 0x80, 0xff} {
					b := slices.Clone(em)
					b[i] ^= x
					variants[fmt.Sprintf("byte %d ^ %#x", i, x)] = b
				}
			}
			// The digest shifted by one byte into the padding, and a
			// shorter padding with garbage after the digest.
			shifted := slices.Clone(em)
			copy(shifted[1:], em[2:])
			shifted[size-1] = 0
			variants["shifted"] = shifted
			variants["no 0x01"] = append([]byte{0, 0}, em[2:]...)
			for name, b := range variants {
				sig, ok := rawSign(priv, b)
				if !ok {
					continue
				}
				if check(t, name, pub, k, h, hashed, sig) {
					t.Fatalf("%d bits %v: %s is accepted", pub.N.BitLen(), h, name)
				}
			}
		}
	}
}

func TestVerifyRefusesUnsupportedHash(t *testing.T) {
	priv := loadKeys(t)[0]
	k := mustNew(t, &priv.PublicKey)
	d := sha256.Sum224([]byte("x"))
	sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA224, d[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := k.VerifyPKCS1v15(crypto.SHA224, d[:], sig); err == nil {
		t.Fatal("SHA-224 is accepted")
	}
	if err := k.VerifyPKCS1v15(0, d[:], sig); err == nil {
		t.Fatal("an unhashed message is accepted")
	}
	if err := k.VerifyPKCS1v15(crypto.SHA256, d[:], sig); err == nil {
		t.Fatal("a 28-byte digest is accepted as SHA-256")
	}
}

func TestNewRefuses(t *testing.T) {
	priv := loadKeys(t)[0]
	n := priv.N
	big8193 := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 8192), big.NewInt(1))
	small := new(big.Int).Rsh(n, 1)
	small.SetBit(small, 0, 1)
	above := int64(1<<31 + 1) // a variable: the constant overflows a 32-bit int
	for name, pub := range map[string]*rsa.PublicKey{
		"nil modulus":  {E: 65537},
		"2047 bits":    {N: small, E: 65537},
		"8193 bits":    {N: big8193, E: 65537},
		"even modulus": {N: new(big.Int).Sub(n, big.NewInt(1)), E: 65537},
		"e = 1":        {N: n, E: 1},
		"e even":       {N: n, E: 65536},
		"e negative":   {N: n, E: -3},
		"e above 2³¹":  {N: n, E: int(above)},
	} {
		if _, err := New(pub); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("nil key accepted")
	}
}

// TestExpMatchesBig checks the modular exponentiation on random odd
// moduli of many sizes (any odd modulus will do, it needs no factors)
// against math/big.
func TestExpMatchesBig(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	for _, nbits := range []int{2048, 2049, 2111, 2112, 2175, 3000, 3072, 4096, 4097, 6000, 8191, 8192} {
		for trial := range 6 {
			n := randBig(r, nbits)
			n.SetBit(n, 0, 1)
			n.SetBit(n, nbits-1, 1)
			if trial == 0 {
				// All ones: every limb's carry path at its extreme.
				n.Sub(new(big.Int).Lsh(big.NewInt(1), uint(nbits)), big.NewInt(1))
			}
			e := []int{3, 65537, 1<<31 - 1, 17, 5, 2*r.IntN(1<<30) + 3}[trial]
			k := mustNew(t, &rsa.PublicKey{N: n, E: e})
			for j := range 4 {
				s := new(big.Int).Mod(randBig(r, nbits), n)
				switch j {
				case 0:
					s.Sub(n, big.NewInt(1))
				case 1:
					s.SetInt64(2)
				}
				want := new(big.Int).Exp(s, big.NewInt(int64(e)), n)
				l := len(k.n)
				sl := make([]uint64, l)
				bytesToLimbs(sl, s.FillBytes(make([]byte, k.size)))
				got := make([]uint64, l)
				k.exp(got, sl, make([]uint64, l), make([]uint64, 2*l))
				if g := limbsToBig(got); g.Cmp(want) != 0 {
					t.Fatalf("%d bits, e = %d: s^e mod n = %x, want %x", nbits, e, g, want)
				}
			}
		}
	}
}

func randBig(r *mrand.Rand, nbits int) *big.Int {
	b := make([]byte, (nbits+7)/8)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	x := new(big.Int).SetBytes(b)
	return x.Rsh(x, uint(8*len(b)-nbits))
}

func limbsToBig(z []uint64) *big.Int {
	x := new(big.Int)
	for i := len(z) - 1; i >= 0; i-- {
		x.Lsh(x, 64)
		x.Or(x, new(big.Int).SetUint64(z[i]))
	}
	return x
}

// FuzzVerifyMatchesCryptoRSA holds the verifier to crypto/rsa's verdict.
// mode picks the digest (mode%3) and what the fuzzer controls (mode/3%4):
// the signature itself; the bits flipped in a valid signature; or the
// bits flipped in the encoding the verifier will see (signed raw), at its
// front (padding) or its back (DigestInfo and digest).
func FuzzVerifyMatchesCryptoRSA(f *testing.F) {
	keys := loadKeys(f)[:5] // 8192 bits is too slow to sign raw per input
	pubs := make([]*PublicKey, len(keys))
	for i, priv := range keys {
		pubs[i] = mustNew(f, &priv.PublicKey)
	}
	f.Add(uint8(0), uint8(0), []byte{1, 2, 3}, []byte("msg"))
	f.Add(uint8(1), uint8(3), []byte{0, 0, 1}, []byte("msg"))
	f.Add(uint8(2), uint8(4), []byte{}, []byte("msg"))
	f.Add(uint8(3), uint8(6), []byte{0, 0, 0, 0x80}, []byte(""))
	f.Add(uint8(4), uint8(11), []byte{1}, []byte("x"))
	f.Add(uint8(0), uint8(9), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, []byte("y"))
	f.Fuzz(func(t *testing.T, keyIndex, mode uint8, data, msg []byte) {
		if len(data) > 1100 || len(msg) > 4096 {
			return
		}
		i := int(keyIndex) % len(keys)
		priv, k := keys[i], pubs[i]
		pub := &priv.PublicKey
		h := hashes[mode%3]
		hashed := digest(h, msg)
		size := pub.Size()
		var sig []byte
		switch mode / 3 % 4 {
		case 0:
			sig = data
		case 1:
			var err error
			if sig, err = rsa.SignPKCS1v15(nil, priv, h, hashed); err != nil {
				t.Fatal(err)
			}
			for j := 0; j < len(data) && j < len(sig); j++ {
				sig[j] ^= data[j]
			}
		case 2, 3:
			em := encodeEM(size, h, hashed)
			for j := 0; j < len(data) && j < size; j++ {
				if mode/3%4 == 2 {
					em[j] ^= data[j]
				} else {
					em[size-1-j] ^= data[j]
				}
			}
			var ok bool
			if sig, ok = rawSign(priv, em); !ok {
				return
			}
		}
		want := rsa.VerifyPKCS1v15(pub, h, hashed, sig)
		got := k.VerifyPKCS1v15(h, hashed, sig)
		if (want == nil) != (got == nil) {
			t.Fatalf("key %d, %v: crypto/rsa says %v, rsaverify says %v", i, h, want, got)
		}
	})
}

// BenchmarkVerify2048 is this package's verifier against crypto/rsa's on
// the same 2048-bit signature (digest already computed).
func BenchmarkVerify2048(b *testing.B) {
	priv := loadKeys(b)[0]
	hashed := digest(crypto.SHA256, []byte("benchmark"))
	sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, hashed)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("rsaverify", func(b *testing.B) {
		k := mustNew(b, &priv.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			if err := k.VerifyPKCS1v15(crypto.SHA256, hashed, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("crypto-rsa", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, hashed, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkNew is the one-time cost of loading a 2048-bit key.
func BenchmarkNew(b *testing.B) {
	pub := &loadKeys(b)[0].PublicKey
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(pub); err != nil {
			b.Fatal(err)
		}
	}
}
