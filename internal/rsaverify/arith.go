package rsaverify

import "math/bits"

// The portable arithmetic: schoolbook products and a word-by-word
// Montgomery reduction, all built on addMulVVW (z += x·y). On amd64 with
// BMI2 and ADX, mul, sqr and reduce are whole assembly routines instead;
// these remain the reference they are tested against.

// addMulVVWGeneric sets z += x·y over len(z) == len(x) limbs and returns
// the carry out.
func addMulVVWGeneric(z, x []uint64, y uint64) (carry uint64) {
	_ = z[len(x)-1]
	for i, xi := range x {
		hi, lo := bits.Mul64(xi, y)
		var c uint64
		lo, c = bits.Add64(lo, z[i], 0)
		hi += c
		lo, c = bits.Add64(lo, carry, 0)
		hi += c
		z[i] = lo
		carry = hi // hi ≤ 2⁶⁴-2 before the two carries: no overflow
	}
	return carry
}

// mulGeneric sets t[:2k] = x·y, k = len(x) = len(y).
func mulGeneric(t, x, y []uint64) {
	k := len(x)
	clear(t[:k])
	for i := range k {
		t[i+k] = addMulVVW(t[i:i+k], x, y[i])
	}
}

// sqrGeneric sets t[:2k] = x²: each product x[i]·x[j], i < j, once, then
// doubled, then the squares x[i]² added on the diagonal.
func sqrGeneric(t, x []uint64) {
	k := len(x)
	clear(t[:2*k])
	for i := 0; i < k-1; i++ {
		t[i+k] = addMulVVW(t[2*i+1:i+k], x[i+1:], x[i])
	}
	var shift, carry uint64
	for i, xi := range x {
		hi, lo := bits.Mul64(xi, xi)
		a, b := t[2*i], t[2*i+1]
		a, shift = a<<1|shift, a>>63
		b, shift = b<<1|shift, b>>63
		a, carry = bits.Add64(a, lo, carry)
		b, carry = bits.Add64(b, hi, carry)
		t[2*i], t[2*i+1] = a, b
	}
}

// reduceGeneric sets z = t·R⁻¹ mod n for t < n·R (t has 2k limbs and is
// overwritten), R = 2^(64k), n0 = -n⁻¹ mod 2⁶⁴.
func reduceGeneric(z, t, n []uint64, n0 uint64) {
	k := len(n)
	var c uint64 // carry owed to t[i+k], beyond t's 2k limbs at the end
	for i := range k {
		m := t[i] * n0 // makes t[i] zero
		hi := addMulVVW(t[i:i+k], n, m)
		s, c1 := bits.Add64(t[i+k], hi, 0)
		s, c2 := bits.Add64(s, c, 0)
		t[i+k] = s
		c = c1 + c2
	}
	subIfAtLeast(z, t[k:2*k], c, n)
}

// subIfAtLeast sets z = (c·R + x) - n when that is not negative, else x.
// c·R + x < 2n, so z < n.
func subIfAtLeast(z, x []uint64, c uint64, n []uint64) {
	var borrow uint64
	for i := range n {
		z[i], borrow = bits.Sub64(x[i], n[i], borrow)
	}
	if c < borrow {
		copy(z, x)
	}
}
