//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package sqlite

import (
	"errors"
	"os"
)

var errLockHeld = errors.New("lock held")

// lockFile only creates the file on platforms without flock: there a second
// process on the same database is not detected.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
