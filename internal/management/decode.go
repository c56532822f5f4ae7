package management

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tollgate/tollgate/internal/resource"
)

// jsonFields maps a struct type's JSON field names to their indexes,
// including fields of embedded structs (Meta).
func jsonFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for _, f := range reflect.VisibleFields(t) {
		if f.Anonymous || !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		out[name] = f.Index
	}
	return out
}

// field returns the addressable field of resource r with the given JSON
// name, or an invalid Value.
func field(r resource.Resource, name string) reflect.Value {
	v := reflect.ValueOf(r).Elem()
	idx, ok := jsonFields(v.Type())[name]
	if !ok {
		return reflect.Value{}
	}
	return v.FieldByIndex(idx)
}

// decodeInto decodes body into dst field by field, so that every bad field
// is reported, not only the first. Unknown fields, fields that callers may
// not set (hidden), and values of the wrong type are all collected.
// It returns the names of the fields the body set.
func decodeInto(dst resource.Resource, body []byte, hidden []string) (set []string, errs resource.Errors) {
	if target, msg := checkJSON(body); msg != "" {
		errs.Add(target, "%s", msg)
		return nil, errs
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err == nil && raw == nil {
		errs.Add("body", "must be a JSON object, got null")
		return nil, errs
	} else if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			errs.Add("body", "malformed JSON at byte %d: %s", se.Offset, se.Error())
		} else {
			errs.Add("body", "must be a JSON object: %s", err.Error())
		}
		return nil, errs
	}
	if dec.More() {
		errs.Add("body", "must hold exactly one JSON object")
		return nil, errs
	}
	v := reflect.ValueOf(dst).Elem()
	fields := jsonFields(v.Type())
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		idx, ok := fields[name]
		if !ok || slices.Contains(hidden, name) {
			errs.Add(name, "unknown field")
			continue
		}
		if bytes.Equal(bytes.TrimSpace(raw[name]), []byte("null")) {
			set = append(set, name)
			continue
		}
		fv := v.FieldByIndex(idx)
		target := reflect.New(fv.Type())
		fdec := json.NewDecoder(bytes.NewReader(raw[name]))
		fdec.DisallowUnknownFields()
		if err := fdec.Decode(target.Interface()); err != nil {
			errs.Add(name, "%s", describeDecodeError(err, fv.Type()))
			continue
		}
		fv.Set(target.Elem())
		set = append(set, name)
	}
	return set, errs
}

// maxJSONDepth bounds the nesting checkJSON follows.
const maxJSONDepth = 64

// checkJSON refuses what encoding/json would accept silently: bytes that
// are not UTF-8 (it would replace them), NUL characters in strings (stored,
// then cut short by C-based tools), and duplicate keys in an object (the
// last would win, hiding the first). It returns the offending field's path
// and a message, or "" when body is fine or not JSON at all (which the
// decoder then reports).
func checkJSON(body []byte) (target, msg string) {
	if !utf8.Valid(body) {
		off := 0
		for off < len(body) {
			r, n := utf8.DecodeRune(body[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return "body", fmt.Sprintf("is not valid UTF-8 (at byte %d)", off)
	}
	type frame struct {
		keys   map[string]bool // nil for an array
		path   string
		expect bool // in an object, the next string is a key
		key    string
	}
	var stack []*frame
	where := func(f *frame) string {
		if f.path == "" {
			return f.key
		}
		return f.path + "." + f.key
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", "" // EOF, or malformed: the decoder reports it
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil && top.expect {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			k, _ := tok.(string)
			top.key, top.expect = k, false
			if strings.ContainsRune(k, 0) {
				return where(top), "a key holds a NUL character (\\u0000)"
			}
			if top.keys[k] {
				return where(top), "appears more than once in the object"
			}
			top.keys[k] = true
			continue
		}
		// A value.
		path := ""
		if top != nil {
			if top.keys != nil {
				path = where(top)
				top.expect = true
			} else {
				path = top.path
			}
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if len(stack) >= maxJSONDepth {
					return path, fmt.Sprintf("nests deeper than %d levels", maxJSONDepth)
				}
				f := &frame{path: path}
				if v == '{' {
					f.keys, f.expect = map[string]bool{}, true
				}
				stack = append(stack, f)
			default: // ']' (a '}' is handled with keys)
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].keys != nil {
					stack[len(stack)-1].expect = true
				}
			}
		case string:
			if strings.ContainsRune(v, 0) {
				if path == "" {
					path = "body"
				}
				return path, "holds a NUL character (\\u0000)"
			}
		}
		if len(stack) == 0 {
			return "", "" // the top-level value is complete
		}
	}
}

func describeDecodeError(err error, t reflect.Type) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := ""
		if te.Field != "" {
			where = " at " + te.Field
		}
		return fmt.Sprintf("must be %s%s, got %s", typeName(te.Type), where, te.Value)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return fmt.Sprintf("must be %s: %s", typeName(t), strings.TrimPrefix(msg, "json: "))
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}
