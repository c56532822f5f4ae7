//go:build !purego

package rsaverify

import (
	"crypto"
	"crypto/rsa"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"testing"
)

func requireIFMA(t testing.TB) {
	t.Helper()
	if !hasIFMA {
		t.Skip("no AVX-512 IFMA (with F and VL) on this CPU")
	}
}

// from52Big is the value of 52-bit limbs, normalized or not.
func from52Big(x []uint64) *big.Int {
	z := new(big.Int)
	for i := len(x) - 1; i >= 0; i-- {
		z.Lsh(z, 52)
		z.Add(z, new(big.Int).SetUint64(x[i]))
	}
	return z
}

// to52Big splits x < 2²⁰⁸⁰ into 52-bit limbs, independently of to52.
func to52Big(x *big.Int) *[ifmaLimbs]uint64 {
	var z [ifmaLimbs]uint64
	m := new(big.Int).SetUint64(mask52)
	for i := range z {
		z[i] = new(big.Int).And(new(big.Int).Rsh(x, uint(52*i)), m).Uint64()
	}
	return &z
}

// TestIFMAKernel holds ammIFMA to its contract, checked with math/big:
// the result is a·b·R'⁻¹ mod n, below 2n, in normalized limbs, for
// operands up to 2n-1, including when z aliases a or b.
func TestIFMAKernel(t *testing.T) {
	requireIFMA(t)
	r := mrand.New(mrand.NewPCG(7, 8))
	rInv := new(big.Int)
	for trial := range 200 {
		var nb *big.Int
		switch trial {
		case 0: // all ones: the largest 2048-bit modulus
			nb = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 2048), big.NewInt(1))
		case 1: // the smallest odd 2048-bit modulus
			nb = new(big.Int).SetBit(big.NewInt(1), 2047, 1)
		default:
			nb = randBig(r, 2048)
			nb.SetBit(nb, 0, 1)
			nb.SetBit(nb, 2047, 1)
		}
		k := mustNew(t, &rsa.PublicKey{N: nb, E: 65537})
		ik := k.ifma
		if ik == nil {
			t.Fatal("2048-bit key without IFMA constants")
		}
		rInv.ModInverse(new(big.Int).Lsh(big.NewInt(1), 52*ifmaLimbs), nb)
		twoN := new(big.Int).Lsh(nb, 1)
		ops := func(j int) *big.Int {
			switch j {
			case 0:
				return new(big.Int).Sub(twoN, big.NewInt(1))
			case 1:
				return new(big.Int)
			case 2:
				return new(big.Int).Sub(nb, big.NewInt(1))
			case 3:
				return new(big.Int).Set(nb)
			case 4:
				return big.NewInt(1)
			}
			return new(big.Int).Mod(randBig(r, 2049), twoN)
		}
		for j := range 9 {
			a, b := ops(j), ops(r.IntN(8))
			if j == 8 {
				// n·1/R' comes out as n itself, not 0: the one result
				// here that is not below n.
				a, b = ops(3), ops(4)
			}
			want := new(big.Int).Mul(a, b)
			want.Mul(want, rInv).Mod(want, nb)
			for alias := range 3 {
				a52, b52 := to52Big(a), to52Big(b)
				var z [ifmaLimbs]uint64
				zp := &z
				switch alias {
				case 1:
					zp = a52
				case 2:
					zp = b52
				}
				ammIFMA(&zp[0], &a52[0], &b52[0], &ik.n[0], ik.k0)
				for i, v := range zp {
					if v > mask52 {
						t.Fatalf("limb %d = %x is not normalized", i, v)
					}
				}
				got := from52Big(zp[:])
				if got.Cmp(twoN) >= 0 {
					t.Fatalf("n=%x a=%x b=%x: %x is not below 2n", nb, a, b, got)
				}
				if j == 8 && got.Cmp(nb) != 0 {
					t.Fatalf("n=%x: n·1/R' = %x, want n", nb, got)
				}
				if got.Mod(got, nb).Cmp(want) != 0 {
					t.Fatalf("n=%x a=%x b=%x: a·b/R' = %x, want %x", nb, a, b, got, want)
				}
			}
		}
	}
}

// TestIFMAConversions checks that to52 and from52 round-trip.
func TestIFMAConversions(t *testing.T) {
	r := mrand.New(mrand.NewPCG(9, 10))
	for kind := range kinds {
		x := vector(r, 32, kind)
		var z [ifmaLimbs]uint64
		to52(&z, x)
		if from52Big(z[:]).Cmp(limbsToBig(x)) != 0 {
			t.Fatalf("to52(%x) = %x", x, z)
		}
		var y [33]uint64
		from52(&y, &z)
		if !slices.Equal(y[:32], x) || y[32] != 0 {
			t.Fatalf("from52(to52(%x)) = %x", x, y)
		}
	}
	// A 2049-bit value, which a result below 2n can be, keeps its top bit.
	var z [ifmaLimbs]uint64
	z[2048/52] = 1 << (2048 % 52)
	var y [33]uint64
	from52(&y, &z)
	if y[32] != 1 || slices.ContainsFunc(y[:32], func(v uint64) bool { return v != 0 }) {
		t.Fatalf("from52(2²⁰⁴⁸) = %x", y)
	}
}

// expWith runs k.exp on the IFMA path or not (and with or without ADX).
func expWith(k *PublicKey, s []uint64, ifma, adx bool) []uint64 {
	defer func(i, a bool) { hasIFMA, hasADX = i, a }(hasIFMA, hasADX)
	hasIFMA, hasADX = ifma, adx
	l := len(k.n)
	z := make([]uint64, l)
	k.exp(z, s, make([]uint64, l), make([]uint64, 2*l))
	return z
}

// TestExpIFMA is the differential test of the IFMA exponentiation
// against the ADX path, the MULQ path and math/big, on thousands of
// random odd 2048-bit moduli and edge moduli and bases.
func TestExpIFMA(t *testing.T) {
	requireIFMA(t)
	r := mrand.New(mrand.NewPCG(11, 12))
	moduli := 3000
	if testing.Short() {
		moduli = 300
	}
	one := big.NewInt(1)
	for trial := range moduli {
		var nb, square *big.Int
		switch trial {
		case 0:
			nb = new(big.Int).Sub(new(big.Int).Lsh(one, 2048), one)
		case 1:
			nb = new(big.Int).SetBit(big.NewInt(1), 2047, 1)
		case 3, 4, 5, 6: // a square, p², so that p^e mod n is 0
			p := randBig(r, 1024)
			p.SetBit(p, 1023, 1).SetBit(p, 1022, 1).SetBit(p, 0, 1)
			nb = new(big.Int).Mul(p, p)
			square = p
		case 2: // top limb all ones, the rest random
			nb = randBig(r, 2048)
			nb.Or(nb, new(big.Int).Lsh(new(big.Int).SetUint64(^uint64(0)), 2048-64))
			nb.SetBit(nb, 0, 1)
		default:
			nb = randBig(r, 2048)
			nb.SetBit(nb, 0, 1)
			nb.SetBit(nb, 2047, 1)
		}
		e := []int{65537, 3, 1<<31 - 1, 2*r.IntN(1<<30) + 1}[trial%4]
		if e == 1 {
			e = 5
		}
		k := mustNew(t, &rsa.PublicKey{N: nb, E: e})
		if k.ifma == nil {
			t.Fatal("2048-bit key without IFMA constants")
		}
		bases := []*big.Int{new(big.Int).Mod(randBig(r, 2048), nb)}
		if square != nil {
			// The last almost-Montgomery product is n, not 0: only the
			// final subtraction brings it below n.
			bases = append(bases, square, new(big.Int).Lsh(square, 1))
		}
		if trial < 40 {
			allOnes := new(big.Int).Sub(new(big.Int).Lsh(one, 2048), one)
			bases = append(bases,
				new(big.Int), big.NewInt(1), big.NewInt(2),
				new(big.Int).Sub(nb, one), new(big.Int).Sub(nb, big.NewInt(2)),
				allOnes.Mod(allOnes, nb), // all limbs 0xfff…, reduced
				new(big.Int).Rsh(nb, 1),
			)
		}
		for _, sb := range bases {
			s := make([]uint64, 32)
			bytesToLimbs(s, sb.FillBytes(make([]byte, 256)))
			got := expWith(k, s, true, hasADX)
			want := new(big.Int).Exp(sb, big.NewInt(int64(e)), nb)
			if limbsToBig(got).Cmp(want) != 0 {
				t.Fatalf("n=%x e=%d s=%x: IFMA gives %x, math/big %x", nb, e, sb, limbsToBig(got), want)
			}
			if adx := expWith(k, s, false, hasADX); !slices.Equal(got, adx) {
				t.Fatalf("n=%x e=%d s=%x: IFMA gives %x, the ADX path %x", nb, e, sb, got, adx)
			}
			if trial%8 == 0 {
				if gen := expWith(k, s, false, false); !slices.Equal(got, gen) {
					t.Fatalf("n=%x e=%d s=%x: IFMA gives %x, the generic path %x", nb, e, sb, got, gen)
				}
			}
		}
	}
}

// TestIFMAOnlyFor2048 checks which keys get the IFMA constants.
func TestIFMAOnlyFor2048(t *testing.T) {
	requireIFMA(t)
	for _, priv := range loadKeys(t) {
		k := mustNew(t, &priv.PublicKey)
		if want := len(k.n) == 32; (k.ifma != nil) != want {
			t.Errorf("%d bits: IFMA constants %v, want %v", priv.N.BitLen(), k.ifma != nil, want)
		}
	}
}

// TestVerifyWithoutIFMA runs whole verifications with the IFMA path off,
// as on a CPU without it, on keys built with it on.
func TestVerifyWithoutIFMA(t *testing.T) {
	defer func(was bool) { hasIFMA = was }(hasIFMA)
	keys := loadKeys(t)[:5]
	pubs := make([]*PublicKey, len(keys))
	for i, priv := range keys {
		pubs[i] = mustNew(t, &priv.PublicKey)
	}
	hasIFMA = false
	for i, priv := range keys {
		pub := &priv.PublicKey
		for _, h := range hashes {
			hashed := digest(h, []byte("no ifma"))
			sig, err := rsa.SignPKCS1v15(nil, priv, h, hashed)
			if err != nil {
				t.Fatal(err)
			}
			if !check(t, "valid", pub, pubs[i], h, hashed, sig) {
				t.Fatalf("%d bits %v: a valid signature is refused", pub.N.BitLen(), h)
			}
			sig[len(sig)/2] ^= 4
			if check(t, "flipped", pub, pubs[i], h, hashed, sig) {
				t.Fatalf("%d bits %v: a flipped signature is accepted", pub.N.BitLen(), h)
			}
		}
	}
}

// BenchmarkVerify2048WithoutIFMA is BenchmarkVerify2048's rsaverify case
// with the IFMA path off, to compare the two in one run.
func BenchmarkVerify2048WithoutIFMA(b *testing.B) {
	defer func(was bool) { hasIFMA = was }(hasIFMA)
	hasIFMA = false
	priv := loadKeys(b)[0]
	hashed := digest(crypto.SHA256, []byte("benchmark"))
	sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, hashed)
	if err != nil {
		b.Fatal(err)
	}
	k := mustNew(b, &priv.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if err := k.VerifyPKCS1v15(crypto.SHA256, hashed, sig); err != nil {
			b.Fatal(err)
		}
	}
}
