package keyring_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/keyring"
)

// TestRewrapValue: sealed values anywhere in a JSON document, or a value
// that is itself sealed, move to the primary key; everything else is left
// byte for byte; Replace swaps the keys of a keyring in use.
func TestRewrapValue(t *testing.T) {
	oldK, newK := newKEK(t), newKEK(t)
	kr := keyring.New(oldK)
	a, _ := kr.Seal([]byte("alpha"), []byte("/a"))
	b, _ := kr.Seal([]byte("beta"), []byte("/b"))
	doc, _ := json.Marshal(map[string]any{"secret": a, "nested": []any{map[string]any{"v": b}, 3.5, "<plain & text>"}})
	plain := []byte(`{"x": "tg1.not-sealed", "n": 12345678901234567890}`)

	kr.Replace(keyring.New(newK, oldK))
	if kr.PrimaryID() != newK.ID() || len(kr.IDs()) != 2 {
		t.Fatalf("after Replace: %s %v", kr.PrimaryID(), kr.IDs())
	}
	if kr.SealedOutside(doc) != 2 || kr.SealedOutside([]byte(a)) != 1 {
		t.Fatalf("SealedOutside: %d", kr.SealedOutside(doc))
	}
	out, n, err := kr.RewrapValue(doc)
	if err != nil || n != 2 || kr.SealedOutside(out) != 0 || !strings.Contains(string(out), "<plain & text>") {
		t.Fatalf("RewrapValue(doc): %d %v %s", n, err, out)
	}
	raw, n, err := kr.RewrapValue([]byte(a))
	if err != nil || n != 1 {
		t.Fatalf("RewrapValue(raw): %d %v", n, err)
	}
	if same, n, err := kr.RewrapValue(plain); err != nil || n != 0 || string(same) != string(plain) {
		t.Fatalf("RewrapValue(plain): %d %v %s", n, err, same)
	}
	only := keyring.New(newK)
	var m struct {
		Secret string
		Nested []json.RawMessage
	}
	json.Unmarshal(out, &m)
	var inner struct{ V string }
	json.Unmarshal(m.Nested[0], &inner)
	for _, c := range []struct{ sealed, aad, want string }{{m.Secret, "/a", "alpha"}, {inner.V, "/b", "beta"}, {string(raw), "/a", "alpha"}} {
		if pt, err := only.Open(c.sealed, []byte(c.aad)); err != nil || string(pt) != c.want {
			t.Fatalf("open with the new key only: %q %v", pt, err)
		}
	}
	if _, err := only.Open(a, []byte("/a")); err == nil {
		t.Fatal("the old value opened without the old key")
	}
}
