package jwtvalidate

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// special8 must flag a word exactly when one of its bytes is '"', '\\' or
// below 0x20: every byte value at every position, among plain and
// multi-byte UTF-8 neighbours, and random words.
func TestSpecial8(t *testing.T) {
	special := func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }
	for _, fill := range []byte{'a', 0x7f, 0x80, 0xff, 0x20, 0x21, 0x23, 0x5b, 0x5d} {
		for pos := range 8 {
			for c := range 256 {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				if got, want := special8(binary.LittleEndian.Uint64(w[:])), special(fill) || special(byte(c)); got != want {
					t.Fatalf("%q: special8 = %v", w, got)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 1_000_000 {
		x := r.Uint64()
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		want := false
		for _, c := range w {
			want = want || special(c)
		}
		if special8(x) != want {
			t.Fatalf("%q: special8 = %v", w, !want)
		}
	}
}

// members must agree with encoding/json on every object it accepts.
func TestMembersAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`{}`, ` { "a" : 1 , "b":[1,{"c":"}"}],"d":{"e":[]} ,"f":"x\"y","g":null,"h":true,"i":-1.5e3}`,
		`{"\u0065xp":5,"exp":6}`, `{"a":"\\"}`, `{"a":[[[]]],"b":"]"}`, `{"a":{"b":{"c":{}}}}`,
	} {
		got := map[string]any{}
		if !members([]byte(s), func(name, val []byte) { got[string(name)] = jsonAny(val) }) {
			t.Errorf("%s: refused", s)
			continue
		}
		var want map[string]any
		json.Unmarshal([]byte(s), &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", s, got, want)
		}
	}
	for _, s := range []string{``, `[]`, `{`, `{"a":}`, `{"a":1,}`, `"x"`, `{"a":1}x`, `null`} {
		if members([]byte(s), func(_, _ []byte) {}) {
			t.Errorf("%q accepted", s)
		}
	}
}

func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":[1,"]"],"b":{"c":"\""}}`, `{"\u0061":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := map[string]any{}
		ok := members(b, func(name, val []byte) { got[string(name)] = jsonAny(val) })
		var want map[string]any
		err := json.Unmarshal(b, &want)
		if ok != (err == nil && want != nil) {
			if !(err == nil && want == nil && !ok) {
				t.Fatalf("%q: members %v, encoding/json %v", b, ok, err)
			}
		}
		if ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %v, want %v", b, got, want)
		}
	})
}
