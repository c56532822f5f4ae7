package keyring

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// RewrapValue re-wraps, with the primary KEK, every sealed value stored in
// v: v itself when it is a sealed string, or any string inside it when it
// is a JSON document (a configuration record, a state record). It returns
// the new bytes and how many values moved; with none, v is returned as it
// is. Ciphertexts are untouched, so no additional data is needed.
func (k *Keyring) RewrapValue(v []byte) ([]byte, int, error) {
	if IsSealed(string(bytes.TrimSpace(v))) {
		re, err := k.Rewrap(string(bytes.TrimSpace(v)))
		if err != nil {
			return nil, 0, err
		}
		if re == string(bytes.TrimSpace(v)) {
			return v, 0, nil
		}
		return []byte(re), 1, nil
	}
	if !bytes.Contains(v, []byte(sealedPrefix)) {
		return v, 0, nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return v, 0, nil // not JSON and not sealed: nothing sealed in it
	}
	n := 0
	var walk func(x any) (any, error)
	walk = func(x any) (any, error) {
		switch x := x.(type) {
		case string:
			if !IsSealed(x) {
				return x, nil
			}
			re, err := k.Rewrap(x)
			if err != nil {
				return nil, err
			}
			if re != x {
				n++
			}
			return re, nil
		case map[string]any:
			for key, e := range x {
				r, err := walk(e)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", key, err)
				}
				x[key] = r
			}
		case []any:
			for i, e := range x {
				r, err := walk(e)
				if err != nil {
					return nil, err
				}
				x[i] = r
			}
		}
		return x, nil
	}
	doc, err := walk(doc)
	if err != nil || n == 0 {
		return v, 0, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, 0, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), n, nil
}

// SealedOutside counts the sealed values in v (as RewrapValue finds them)
// whose data keys are not wrapped by the primary KEK.
func (k *Keyring) SealedOutside(v []byte) int {
	primary := k.PrimaryID()
	if s := string(bytes.TrimSpace(v)); IsSealed(s) {
		if id, _ := SealedWith(s); id != primary {
			return 1
		}
		return 0
	}
	if !bytes.Contains(v, []byte(sealedPrefix)) {
		return 0
	}
	var doc any
	if json.Unmarshal(v, &doc) != nil {
		return 0
	}
	n := 0
	var walk func(x any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			if id, ok := SealedWith(x); ok && id != primary {
				n++
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	return n
}
