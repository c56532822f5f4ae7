//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts are only meaningful without it.

package keyring_test

import (
	"testing"

	"github.com/tollgate/tollgate/internal/keyring"
)

// The gateway hashes every presented key; it must not allocate.
func TestHasherDoesNotAllocate(t *testing.T) {
	h := keyring.NewHasher([]byte("lookup key"))
	if n := testing.AllocsPerRun(100, func() { h.Sum("a subscription key of 32 chars!") }); n != 0 {
		t.Errorf("Sum allocates %v times", n)
	}
}
