//go:build !purego

package rsaverify

import (
	"crypto/rsa"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"testing"
)

// vectors returns n limbs of random data, or of an edge pattern: all ones
// (every addition carries), zero, a single top or bottom bit, alternating.
func vector(r *mrand.Rand, n, kind int) []uint64 {
	z := make([]uint64, n)
	for i := range z {
		switch kind {
		case 0:
			z[i] = ^uint64(0)
		case 1:
			z[i] = 0
		case 2:
			if i == n-1 {
				z[i] = 1 << 63
			}
		case 3:
			if i == 0 {
				z[i] = 1
			}
		case 4:
			z[i] = 0xaaaaaaaaaaaaaaaa >> (i % 2)
		default:
			z[i] = r.Uint64()
		}
	}
	return z
}

const kinds = 8 // edge patterns 0..4, random otherwise

// TestAddMulVVW holds the MULQ kernel to the math/bits one.
func TestAddMulVVW(t *testing.T) {
	r := mrand.New(mrand.NewPCG(3, 4))
	for n := 1; n <= 40; n++ {
		for zk := range kinds {
			for xk := range kinds {
				for _, y := range []uint64{0, 1, ^uint64(0), 1 << 63, r.Uint64()} {
					z, x := vector(r, n, zk), vector(r, n, xk)
					want := slices.Clone(z)
					cw := addMulVVWGeneric(want, x, y)
					got := slices.Clone(z)
					cg := addMulVVW(got, x, y)
					if cg != cw || !slices.Equal(got, want) {
						t.Fatalf("n=%d z=%x x=%x y=%x: got %x carry %x, want %x carry %x", n, z, x, y, got, cg, want, cw)
					}
				}
			}
		}
	}
}

// TestADXKernels holds mulADX, sqrADX and reduceADX to the generic code
// and to math/big, on random and edge operands, including an all-ones
// modulus (the largest odd one) and operands just below it.
func TestADXKernels(t *testing.T) {
	if !hasADX {
		t.Skip("no BMI2 and ADX on this CPU")
	}
	r := mrand.New(mrand.NewPCG(5, 6))
	for _, k := range []int{4, 8, 12, 32, 36, 48, 64, 128} {
		for nk := range kinds {
			n := vector(r, k, nk)
			n[0] |= 1
			if n[k-1] == 0 {
				n[k-1] = r.Uint64() | 1
			}
			nb := limbsToBig(n)
			inv := n[0]
			for range 5 {
				inv *= 2 - n[0]*inv
			}
			n0 := -inv
			rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), uint(64*k)), nb)
			for xk := range kinds {
				for yk := range kinds {
					x, y := belowN(r, n, xk), belowN(r, n, yk)

					tg, tw := make([]uint64, 2*k), make([]uint64, 2*k)
					mulADX(&tg[0], &x[0], &y[0], k)
					mulGeneric(tw, x, y)
					if !slices.Equal(tg, tw) {
						t.Fatalf("k=%d mul(%x, %x) = %x, want %x", k, x, y, tg, tw)
					}
					prod := new(big.Int).Mul(limbsToBig(x), limbsToBig(y))
					if limbsToBig(tg).Cmp(prod) != 0 {
						t.Fatalf("k=%d mul(%x, %x) = %x, want %x", k, x, y, tg, prod)
					}

					zg, zw := make([]uint64, k), make([]uint64, k)
					t2 := slices.Clone(tw)
					reduceADX(&zg[0], &tg[0], &n[0], k, n0)
					reduceGeneric(zw, t2, n, n0)
					if !slices.Equal(zg, zw) {
						t.Fatalf("k=%d reduce(%x·%x) = %x, generic %x", k, x, y, zg, zw)
					}
					want := new(big.Int).Mul(prod, rInv)
					want.Mod(want, nb)
					if limbsToBig(zg).Cmp(want) != 0 {
						t.Fatalf("k=%d reduce(%x·%x) = %x, want %x", k, x, y, zg, want)
					}

					if yk == 0 {
						sg, sw := make([]uint64, 2*k), make([]uint64, 2*k)
						sqrADX(&sg[0], &x[0], k)
						sqrGeneric(sw, x)
						sq := new(big.Int).Mul(limbsToBig(x), limbsToBig(x))
						if !slices.Equal(sg, sw) || limbsToBig(sg).Cmp(sq) != 0 {
							t.Fatalf("k=%d sqr(%x) = %x, generic %x, want %x", k, x, sg, sw, sq)
						}
					}
				}
			}
		}
	}
}

// belowN returns an operand below n: n-1, n-2^63, or a pattern or random
// value reduced mod n.
func belowN(r *mrand.Rand, n []uint64, kind int) []uint64 {
	nb := limbsToBig(n)
	var x *big.Int
	switch kind {
	case 0:
		x = new(big.Int).Sub(nb, big.NewInt(1))
	case 1:
		x = new(big.Int)
	case 2:
		x = new(big.Int).Sub(nb, new(big.Int).Lsh(big.NewInt(1), 63))
		if x.Sign() < 0 {
			x.SetInt64(1)
		}
	default:
		x = limbsToBig(vector(r, len(n), kind))
		x.Mod(x, nb)
	}
	z := make([]uint64, len(n))
	bytesToLimbs(z, x.FillBytes(make([]byte, 8*len(n))))
	return z
}

// TestVerifyWithoutADX runs whole verifications on the MULQ path, as on a
// CPU without BMI2 and ADX (and so without AVX-512 IFMA either).
func TestVerifyWithoutADX(t *testing.T) {
	defer func(adx, ifma bool) { hasADX, hasIFMA = adx, ifma }(hasADX, hasIFMA)
	hasADX, hasIFMA = false, false
	for _, priv := range loadKeys(t)[:5] {
		pub := &priv.PublicKey
		k := mustNew(t, pub)
		for _, h := range hashes {
			hashed := digest(h, []byte("no adx"))
			sig, err := rsa.SignPKCS1v15(nil, priv, h, hashed)
			if err != nil {
				t.Fatal(err)
			}
			if !check(t, "valid", pub, k, h, hashed, sig) {
				t.Fatalf("%d bits %v: a valid signature is refused", pub.N.BitLen(), h)
			}
			sig[len(sig)/2] ^= 4
			if check(t, "flipped", pub, k, h, hashed, sig) {
				t.Fatalf("%d bits %v: a flipped signature is accepted", pub.N.BitLen(), h)
			}
		}
	}
}
