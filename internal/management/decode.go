package management

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

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
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
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
		if !ok || contains(hidden, name) {
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
