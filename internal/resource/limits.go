package resource

import (
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/tollgate/tollgate/internal/keyring"
)

// MaxStringLength is the most characters any string field may hold when
// no narrower limit names it. Documents (policy XML, certificates) are
// bounded only by the request size.
const MaxStringLength = 32 << 10

// maxLengths are APIM's documented limits (characters) by JSON field name,
// for every kind that has the field; a kind narrows them with a
// maxLengths method.
var maxLengths = map[string]int{
	"displayName": 300,
	"serviceUrl":  2000,
	"urlTemplate": 1000,
	"email":       254,
	"firstName":   100,
	"lastName":    100,
}

// unboundedFields hold documents, bounded by the request size only.
var unboundedFields = map[string]bool{"value": true, "data": true, "privateKey": true}

// lengthLimits is implemented by kinds whose limits differ from
// maxLengths.
type lengthLimits interface{ maxLengths() map[string]int }

func (*Subscription) maxLengths() map[string]int { return map[string]int{"displayName": 100} }

func (*Product) maxLengths() map[string]int { return map[string]int{"description": 1000} }

func (*Operation) maxLengths() map[string]int { return map[string]int{"description": 1000} }

// CheckLengths reports every string field of r, nested ones included, that
// is longer than its limit.
func CheckLengths(r Resource) Errors {
	var own map[string]int
	if l, ok := r.(lengthLimits); ok {
		own = l.maxLengths()
	}
	var errs Errors
	checkLengths(reflect.ValueOf(r), "", own, &errs)
	return errs
}

func checkLengths(v reflect.Value, target string, own map[string]int, errs *Errors) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			checkLengths(v.Elem(), target, own, errs)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Anonymous {
				checkLengths(v.Field(i), target, own, errs)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			sub := name
			if target != "" {
				sub = target + "." + name
			}
			checkLengths(v.Field(i), sub, own, errs)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := 0; i < v.Len(); i++ {
			checkLengths(v.Index(i), fmt.Sprintf("%s[%d]", target, i), own, errs)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			checkLengths(iter.Value(), target+"."+fmt.Sprint(iter.Key().Interface()), own, errs)
		}
	case reflect.String:
		if keyring.IsSealed(v.String()) {
			return // a stored secret, longer than the plaintext that was checked
		}
		field := target
		if i := strings.LastIndexAny(field, ".]"); i >= 0 && field[i] == '.' {
			field = field[i+1:]
		} else if j := strings.IndexByte(field, '['); j >= 0 {
			field = field[:j]
		}
		limit, ok := own[field]
		if !ok {
			limit, ok = maxLengths[field]
		}
		if !ok {
			if unboundedFields[field] {
				return
			}
			limit = MaxStringLength
		}
		if n := utf8.RuneCountInString(v.String()); n > limit {
			errs.Add(target, "must be at most %d characters, got %d", limit, n)
		}
	}
}
