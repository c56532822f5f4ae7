//go:build !amd64 || purego

package rsaverify

import "math/big"

func addMulVVW(z, x []uint64, y uint64) uint64 { return addMulVVWGeneric(z, x, y) }

func mul(t, x, y []uint64)               { mulGeneric(t, x, y) }
func sqr(t, x []uint64)                  { sqrGeneric(t, x) }
func reduce(z, t, n []uint64, n0 uint64) { reduceGeneric(z, t, n, n0) }

// The IFMA exponentiation is amd64 assembly only.
const hasIFMA = false

type ifmaKey struct{}

func newIFMAKey([]uint64, *big.Int, uint64) *ifmaKey { return nil }

func (*ifmaKey) exp(z, s, n []uint64, e uint32) {}
