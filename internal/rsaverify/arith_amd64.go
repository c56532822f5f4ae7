//go:build !purego

package rsaverify

import "golang.org/x/sys/cpu"

// hasADX selects the MULX/ADCX/ADOX routines, which run two carry chains
// at once; without them the generic code runs on a MULQ addMulVVW.
var hasADX = cpu.X86.HasBMI2 && cpu.X86.HasADX

// addMulVVW sets z += x·y over len(z) == len(x) limbs and returns the
// carry out.
//
//go:noescape
func addMulVVW(z, x []uint64, y uint64) (carry uint64)

// mulADX sets t[:2k] = x[:k]·y[:k]; k is a positive multiple of 4.
//
//go:noescape
func mulADX(t, x, y *uint64, k int)

// sqrADX sets t[:2k] = x[:k]²; k is a positive multiple of 4.
//
//go:noescape
func sqrADX(t, x *uint64, k int)

// reduceADX sets z[:k] = t[:2k]·R⁻¹ mod n for t < n·R, overwriting t;
// k is a positive multiple of 4.
//
//go:noescape
func reduceADX(z, t, n *uint64, k int, n0 uint64)

func mul(t, x, y []uint64) {
	if k := len(x); hasADX && k%limbBlock == 0 {
		_, _ = t[2*k-1], y[k-1]
		mulADX(&t[0], &x[0], &y[0], k)
		return
	}
	mulGeneric(t, x, y)
}

func sqr(t, x []uint64) {
	if k := len(x); hasADX && k%limbBlock == 0 {
		_ = t[2*k-1]
		sqrADX(&t[0], &x[0], k)
		return
	}
	sqrGeneric(t, x)
}

func reduce(z, t, n []uint64, n0 uint64) {
	if k := len(n); hasADX && k%limbBlock == 0 {
		_, _ = z[k-1], t[2*k-1]
		reduceADX(&z[0], &t[0], &n[0], k, n0)
		return
	}
	reduceGeneric(z, t, n, n0)
}
