package keyring_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/keyring"
)

func newKEK(t testing.TB) *keyring.LocalKEK {
	raw := make([]byte, 32)
	rand.Read(raw)
	k, err := keyring.NewLocalKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	kr := keyring.New(newKEK(t))
	secret := []byte("subscription key 0123456789")
	a, err := kr.Seal(secret, []byte("/subscriptions/a"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := kr.Seal(secret, []byte("/subscriptions/a"))
	if a == b {
		t.Error("sealing twice gave the same text: data keys or nonces are reused")
	}
	if strings.Contains(a, "subscription key") || !keyring.IsSealed(a) {
		t.Errorf("sealed value %q", a)
	}
	got, err := kr.Open(a, []byte("/subscriptions/a"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open: %q %v", got, err)
	}
	// Bound to where it is stored.
	if _, err := kr.Open(a, []byte("/subscriptions/b")); err == nil {
		t.Error("opened with other additional data")
	}
	// Another keyring cannot open it.
	if _, err := keyring.New(newKEK(t)).Open(a, []byte("/subscriptions/a")); err == nil {
		t.Error("opened with a keyring that lacks the key")
	}
	// Tampering is detected.
	tampered := a[:len(a)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(a, "AA")]
	if _, err := kr.Open(tampered, []byte("/subscriptions/a")); err == nil {
		t.Error("opened a tampered value")
	}
	for _, bad := range []string{"", "plain", "tg1.x", "tg1.a.b.c.d", "tg1.k.!!.!!"} {
		if _, err := kr.Open(bad, nil); !errors.Is(err, keyring.ErrNotSealed) {
			t.Errorf("Open(%q) = %v, want ErrNotSealed", bad, err)
		}
	}
}

// TestRotation: after a new primary key, old values still open, Rewrap
// moves them to the new key without changing their plaintext, and once
// rewrapped they open without the old key.
func TestRotation(t *testing.T) {
	old, next := newKEK(t), newKEK(t)
	before := keyring.New(old)
	sealed, _ := before.Seal([]byte("v"), []byte("id"))
	rotated := keyring.New(next, old)
	if got, err := rotated.Open(sealed, []byte("id")); err != nil || string(got) != "v" {
		t.Fatalf("old value after rotation: %q %v", got, err)
	}
	re, err := rotated.Rewrap(sealed)
	if err != nil || !strings.HasPrefix(re, "tg1."+next.ID()+".") {
		t.Fatalf("Rewrap: %q %v", re, err)
	}
	if got, err := keyring.New(next).Open(re, []byte("id")); err != nil || string(got) != "v" {
		t.Fatalf("rewrapped value with the new key only: %q %v", got, err)
	}
	if same, _ := rotated.Rewrap(re); same != re {
		t.Error("Rewrap of a value on the primary key changed it")
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	kr, created, err := keyring.LoadOrCreateFile(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode().Perm())
	}
	sealed, _ := kr.Seal([]byte("v"), nil)
	again, created, err := keyring.LoadOrCreateFile(path)
	if err != nil || created {
		t.Fatalf("reload: %v %v", created, err)
	}
	if got, err := again.Open(sealed, nil); err != nil || string(got) != "v" {
		t.Fatalf("open after reload: %v", err)
	}
	if err := keyring.RotateFile(path); err != nil {
		t.Fatal(err)
	}
	rotated, err := keyring.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.PrimaryID() == kr.PrimaryID() {
		t.Error("rotation kept the primary key")
	}
	if got, err := rotated.Open(sealed, nil); err != nil || string(got) != "v" {
		t.Fatalf("old value after file rotation: %v", err)
	}

	// A file holding one bare base64 key, as an operator may write.
	raw := make([]byte, 32)
	rand.Read(raw)
	bare := filepath.Join(t.TempDir(), "bare.key")
	os.WriteFile(bare, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600)
	if _, err := keyring.LoadFile(bare); err != nil {
		t.Errorf("bare key file: %v", err)
	}
	short := filepath.Join(t.TempDir(), "short.key")
	os.WriteFile(short, []byte(base64.StdEncoding.EncodeToString(raw[:16])), 0o600)
	if _, err := keyring.LoadFile(short); err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Errorf("short key: %v", err)
	}
	if _, err := keyring.ParseKey("not base64 !!"); err == nil {
		t.Error("ParseKey accepted garbage")
	}
}

func TestHasher(t *testing.T) {
	h := keyring.NewHasher([]byte("lookup key"))
	a := h.Sum("key-1")
	if a != h.Sum("key-1") || a == h.Sum("key-2") {
		t.Fatal("hash not stable or not distinct")
	}
	if a == keyring.NewHasher([]byte("other key")).Sum("key-1") {
		t.Fatal("hash does not depend on the lookup key")
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				if h.Sum("key-1") != a {
					t.Error("concurrent Sum differs")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkHasherSum(b *testing.B) {
	h := keyring.NewHasher([]byte("lookup key"))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Sum("0123456789abcdef0123456789abcdef")
	}
}

func BenchmarkSealOpen(b *testing.B) {
	kr := keyring.New(newKEK(b))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s, _ := kr.Seal([]byte("0123456789abcdef0123456789abcdef"), []byte("/subscriptions/x"))
		kr.Open(s, []byte("/subscriptions/x"))
	}
}
