//go:build !purego

package rsaverify

import (
	"math/big"
	"math/bits"

	"golang.org/x/sys/cpu"
)

// hasIFMA selects, for 2048-bit moduli, the AVX-512 IFMA exponentiation:
// 52-bit limbs, eight to a register, multiplied by VPMADD52LUQ/HUQ. It
// verifies in well under half the time of the MULX/ADCX/ADOX code, whose
// reduction is one long scalar carry chain. Tests turn it off to keep the
// other paths covered.
var hasIFMA = cpu.X86.HasAVX512IFMA && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512F

const (
	ifmaLimbs = 40 // 52-bit limbs: 2080 bits, room for values below 2n
	mask52    = 1<<52 - 1
)

// ifmaKey holds a 2048-bit key's constants in the 52-bit representation,
// with R' = 2²⁰⁸⁰.
type ifmaKey struct {
	n  [ifmaLimbs]uint64
	rr [ifmaLimbs]uint64 // R'² mod n
	k0 uint64            // -n⁻¹ mod 2⁵²
}

// ammIFMA sets z = a·b·R'⁻¹ mod n, up to one extra n: for a, b < 2n the
// result is below 2n. All operands are 40 normalized 52-bit limbs; z may
// alias a or b.
//
//go:noescape
func ammIFMA(z, a, b, n *uint64, k0 uint64)

// newIFMAKey returns the IFMA constants for the k-limb modulus n (nb as a
// big.Int, n0 = -n⁻¹ mod 2⁶⁴), or nil when the IFMA path does not apply.
func newIFMAKey(n []uint64, nb *big.Int, n0 uint64) *ifmaKey {
	if !hasIFMA || len(n) != 2048/64 {
		return nil
	}
	ik := &ifmaKey{k0: n0 & mask52} // -n⁻¹ mod 2⁶⁴ is also -n⁻¹ mod 2⁵²
	to52(&ik.n, n)
	r2 := new(big.Int).Lsh(big.NewInt(1), 2*52*ifmaLimbs)
	r2.Mod(r2, nb)
	rr := make([]uint64, len(n))
	bytesToLimbs(rr, r2.FillBytes(make([]byte, 8*len(n))))
	to52(&ik.rr, rr)
	return ik
}

// exp sets z = s^e mod n for s < n (32 limbs each), fully reduced, with
// the same square-and-multiply as PublicKey.exp.
func (ik *ifmaKey) exp(z, s, n []uint64, e uint32) {
	var s52, sm, a [ifmaLimbs]uint64
	to52(&s52, s)
	ammIFMA(&sm[0], &s52[0], &ik.rr[0], &ik.n[0], ik.k0) // s·R', < 2n
	a = sm
	for i := bits.Len32(e) - 2; i >= 1; i-- {
		ammIFMA(&a[0], &a[0], &a[0], &ik.n[0], ik.k0)
		if e>>i&1 == 1 {
			ammIFMA(&a[0], &a[0], &sm[0], &ik.n[0], ik.k0)
		}
	}
	ammIFMA(&a[0], &a[0], &a[0], &ik.n[0], ik.k0)
	ammIFMA(&a[0], &a[0], &s52[0], &ik.n[0], ik.k0) // out of the domain
	// a < 2n may need a 2049th bit: t[32] holds it.
	var t [2048/64 + 1]uint64
	from52(&t, &a)
	subIfAtLeast(z, t[:32], t[32], n)
}

// to52 splits the 32 64-bit limbs of x into 52-bit limbs.
func to52(z *[ifmaLimbs]uint64, x []uint64) {
	_ = x[31]
	for i := range z {
		w, off := 52*i/64, uint(52*i%64)
		var v uint64
		if w < 32 {
			v = x[w] >> off
			if off > 64-52 && w+1 < 32 {
				v |= x[w+1] << (64 - off)
			}
		}
		z[i] = v & mask52
	}
}

// from52 joins normalized 52-bit limbs into 33 64-bit ones.
func from52(z *[2048/64 + 1]uint64, x *[ifmaLimbs]uint64) {
	*z = [2048/64 + 1]uint64{}
	for i, v := range x {
		w, off := 52*i/64, uint(52*i%64)
		z[w] |= v << off
		if off > 64-52 {
			z[w+1] |= v >> (64 - off)
		}
	}
}
