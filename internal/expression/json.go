package expression

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// JSON values in expressions are Newtonsoft's JToken family, represented as:
// *JObject, *JArray, string, int64, float64, bool and nil (JSON null).

// maxJSONDepth bounds nesting when parsing bodies.
const maxJSONDepth = 200

// JObject is a JSON object that keeps its keys in insertion order.
type JObject struct {
	keys []string
	vals map[string]any
}

// JArray is a JSON array.
type JArray struct {
	Items []any
}

// NewJObject returns an empty object.
func NewJObject() *JObject { return &JObject{vals: map[string]any{}} }

// Get returns the value of key and whether it is present.
func (o *JObject) Get(key string) (any, bool) {
	v, ok := o.vals[key]
	return v, ok
}

// Set sets key, appending it when new.
func (o *JObject) Set(key string, v any) {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

// Remove deletes key and reports whether it was present.
func (o *JObject) Remove(key string) bool {
	if _, ok := o.vals[key]; !ok {
		return false
	}
	delete(o.vals, key)
	for i, k := range o.keys {
		if k == key {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			break
		}
	}
	return true
}

// Keys returns the keys in order.
func (o *JObject) Keys() []string { return append([]string(nil), o.keys...) }

// Len is the number of properties.
func (o *JObject) Len() int { return len(o.keys) }

// MarshalJSON writes the object compactly, keys in order.
func (o *JObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	writeJSON(&b, o, "", 0)
	return b.Bytes(), nil
}

// MarshalJSON writes the array compactly.
func (a *JArray) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	writeJSON(&b, a, "", 0)
	return b.Bytes(), nil
}

// String is Newtonsoft's ToString(): indented with two spaces.
func (o *JObject) String() string { return jsonText(o, "  ") }

// String is Newtonsoft's ToString(): indented with two spaces.
func (a *JArray) String() string { return jsonText(a, "  ") }

func jsonText(v any, indent string) string {
	var b bytes.Buffer
	writeJSON(&b, v, indent, 0)
	return b.String()
}

// writeJSON stops once the output passes MaxStringLen: JSON built by an
// expression may share containers and so print exponentially large. Callers
// that bound sizes see the overlong result and fail.
func writeJSON(b *bytes.Buffer, v any, indent string, depth int) {
	if b.Len() > MaxStringLen {
		return
	}
	nl := func(d int) {
		if indent != "" {
			b.WriteByte('\n')
			for range d {
				b.WriteString(indent)
			}
		}
	}
	switch v := v.(type) {
	case *JObject:
		if len(v.keys) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			nl(depth + 1)
			writeJSONString(b, k)
			b.WriteByte(':')
			if indent != "" {
				b.WriteByte(' ')
			}
			writeJSON(b, v.vals[k], indent, depth+1)
		}
		nl(depth)
		b.WriteByte('}')
	case *JArray:
		if len(v.Items) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, e := range v.Items {
			if i > 0 {
				b.WriteByte(',')
			}
			nl(depth + 1)
			writeJSON(b, e, indent, depth+1)
		}
		nl(depth)
		b.WriteByte(']')
	case nil:
		b.WriteString("null")
	case string:
		writeJSONString(b, v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			writeJSONString(b, formatDouble(v))
			return
		}
		s := formatDouble(v)
		if !strings.ContainsAny(s, ".E") {
			s += ".0" // Newtonsoft keeps floats recognisable
		}
		b.WriteString(s)
	default:
		// Other values (dates, JWTs, ...) are written as their C# string.
		writeJSONString(b, toString(v))
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s)
	// json.Marshal escapes <, > and & for HTML; Newtonsoft does not.
	enc = bytes.ReplaceAll(enc, []byte(`\u003c`), []byte("<"))
	enc = bytes.ReplaceAll(enc, []byte(`\u003e`), []byte(">"))
	enc = bytes.ReplaceAll(enc, []byte(`\u0026`), []byte("&"))
	b.Write(enc)
}

// ParseJSON parses one JSON value into the representation above, keeping key order.
func ParseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseJSONValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

func parseJSONValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("unexpected end of JSON")
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := NewJObject()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := parseJSONValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				o.Set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			a := &JArray{}
			for dec.More() {
				v, err := parseJSONValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				a.Items = append(a.Items, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected %q", t)
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", t)
		}
		return f, nil
	default:
		return t, nil // string, bool, nil
	}
}

// attach prepares v to be stored inside parent. Like Newtonsoft, which clones
// a token that already has a parent, it copies v when v contains parent, so
// JSON values never form cycles.
func attach(parent, v any) any {
	v = jsonify(v)
	switch v.(type) {
	case *JObject, *JArray:
		if reaches(v, parent, map[any]bool{}) {
			return cloneJSON(v)
		}
	}
	return v
}

func reaches(v, target any, seen map[any]bool) bool {
	if v == target {
		return true
	}
	switch x := v.(type) {
	case *JObject:
		if seen[x] {
			return false
		}
		seen[x] = true
		for _, k := range x.keys {
			if reaches(x.vals[k], target, seen) {
				return true
			}
		}
	case *JArray:
		if seen[x] {
			return false
		}
		seen[x] = true
		for _, e := range x.Items {
			if reaches(e, target, seen) {
				return true
			}
		}
	}
	return false
}

func cloneJSON(v any) any {
	switch x := v.(type) {
	case *JObject:
		o := NewJObject()
		for _, k := range x.keys {
			o.Set(k, cloneJSON(x.vals[k]))
		}
		return o
	case *JArray:
		a := &JArray{Items: make([]any, len(x.Items))}
		for i, e := range x.Items {
			a.Items[i] = cloneJSON(e)
		}
		return a
	}
	return v
}
