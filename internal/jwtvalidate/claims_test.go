package jwtvalidate

import (
	"encoding/json"
	"reflect"
	"testing"
)

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
