package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
)

// These helpers are for backends: the rules of Tx.Put's precondition and
// the shape of an ETag are the same for every one.

// CheckIfMatch applies Tx.Put's precondition to the record at id, given
// whether it exists and its current ETag.
func CheckIfMatch(id, ifMatch string, exists bool, current string) error {
	switch {
	case ifMatch == "":
		return nil
	case ifMatch == "*" && !exists:
		return fmt.Errorf("put record %q: it does not exist: %w", id, ErrConflict)
	case ifMatch == "*":
		return nil
	case ifMatch == "-" && exists:
		return fmt.Errorf("put record %q: it already exists: %w", id, ErrConflict)
	case ifMatch == "-":
		return nil
	case !exists:
		return fmt.Errorf("put record %q: it does not exist: %w", id, ErrConflict)
	case ifMatch != current:
		return fmt.Errorf("put record %q: it was changed (etag %s, expected %s): %w", id, current, ifMatch, ErrConflict)
	}
	return nil
}

// NewETag is "<version>-<random hex>": unique per write even within one
// Update, and free of characters that need quoting.
func NewETag(version int64) string {
	var b [6]byte
	rand.Read(b[:])
	return strconv.FormatInt(version, 10) + "-" + hex.EncodeToString(b[:])
}
