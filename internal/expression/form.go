package expression

import (
	"fmt"
	"net/url"
	"strings"
)

// URL-encoded form bodies: IMessageBody.AsFormUrlEncodedContent() reads an
// application/x-www-form-urlencoded body into an editable dictionary of
// values (APIM's IDictionary<string, IList<string>>); ToFormUrlEncodedContent()
// writes one back as body text.

// formData keeps the names in the order they first appear, as the body had them.
type formData struct {
	names []string
	vals  map[string][]string
}

var tForm = &typ{name: "IDictionary<string, IList<string>>"}

func (f *formData) lookup(name string) ([]string, bool) {
	v, ok := f.vals[name]
	return v, ok
}
func (f *formData) keys() []string { return append([]string(nil), f.names...) }
func (f *formData) size() int      { return len(f.names) }

func (f *formData) set(name string, v []string) {
	if _, ok := f.vals[name]; !ok {
		f.names = append(f.names, name)
	}
	f.vals[name] = v
}

func (f *formData) remove(name string) bool {
	if _, ok := f.vals[name]; !ok {
		return false
	}
	delete(f.vals, name)
	for i, n := range f.names {
		if n == name {
			f.names = append(f.names[:i], f.names[i+1:]...)
			break
		}
	}
	return true
}

// encode is the body text: name=value pairs joined with &, escaped as
// FormUrlEncodedContent does (spaces as +).
func (f *formData) encode() string {
	var b strings.Builder
	for _, n := range f.names {
		for _, v := range f.vals[n] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(n))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}

// parseForm decodes a urlencoded body; a malformed escape is an error.
func parseForm(s string) (*formData, error) {
	f := &formData{vals: map[string][]string{}}
	for _, pair := range strings.Split(s, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("the body is not valid URL-encoded form data: %v", err)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("the body is not valid URL-encoded form data: %v", err)
		}
		cur, _ := f.lookup(name)
		f.set(name, append(cur, val))
	}
	return f, nil
}

// formValues converts what a document assigns to a form field: a string or
// a string array (new List<string> is not available; new[] {...} is).
func formValues(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []string:
		return append([]string(nil), v...), nil
	case nil:
		return nil, errArgNull("value")
	}
	s, ok := tStrArr.conv(v)
	if !ok {
		return nil, fmt.Errorf("a form value must be a string or a string[], not %s", typeNameOf(v))
	}
	return s.([]string), nil
}

func fillForm() {
	fillStrArrDict(tForm)
	tForm.index.set = func(e *env, r, k, v any) error {
		vals, err := formValues(v)
		if err != nil {
			return err
		}
		r.(*formData).set(k.(string), vals)
		return e.grow(len(k.(string)) + len(vals))
	}
	tForm.methods["Add"] = mth(2, 2, tVoid, ts(tString, nil), func(e *env, _ *callInfo, r any, args []any) (any, error) {
		name, err := argStr(args, 0, "key")
		if err != nil {
			return nil, err
		}
		f := r.(*formData)
		if _, ok := f.lookup(name); ok {
			return nil, fmt.Errorf("An item with the same key has already been added. Key: %s", name)
		}
		vals, err := formValues(args[1])
		if err != nil {
			return nil, err
		}
		f.set(name, vals)
		return nil, e.grow(len(name) + len(vals))
	})
	tForm.methods["Remove"] = mth(1, 1, tBool, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
		name, err := argStr(args, 0, "key")
		if err != nil {
			return nil, err
		}
		return r.(*formData).remove(name), nil
	})
	toContent := mth(0, 0, tString, nil, func(e *env, _ *callInfo, r any, _ []any) (any, error) {
		s := r.(*formData).encode()
		return s, e.grow(len(s))
	})
	tForm.methods["ToFormUrlEncodedContent"] = toContent
	tForm.methods["ToString"] = toContent

	asForm := &method{min: 0, max: 1, params: ts(tBool), named: []string{"preserveContent"}, resT: tForm,
		call: func(e *env, _ *callInfo, r any, _ []any) (any, error) {
			s, err := bodyAs(e, r.(*Body), tString)
			if err != nil {
				return nil, err
			}
			return parseForm(s.(string))
		}}
	tBody.methods["AsFormUrlEncodedContent"] = asForm
	tBody.methods["AsFormUrlEncoded"] = asForm
	tString.methods["AsFormUrlEncodedContent"] = mth(0, 0, tForm, nil, func(e *env, _ *callInfo, r any, _ []any) (any, error) {
		if err := e.grow(len(r.(string))); err != nil {
			return nil, err
		}
		return parseForm(r.(string))
	})
	addObjectMethods(tForm)
}
