// Package urlredact hides the credentials in connection URLs (database,
// Redis, public base URLs) before they are printed: in the start banner,
// in errors and in logs. Every place that prints such a URL uses URL.
package urlredact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask is what stands in for a hidden credential (as url.URL.Redacted).
const Mask = "xxxxx"

// URL returns s with every credential-bearing part replaced by Mask: the
// password of the user info (postgres://u:secret@h, redis://:secret@h),
// and the value of query parameters that carry secrets (password=,
// sslpassword=, passwd=, token=, secret=, apikey=, ...). The rest is kept as
// written. A string that is not a URL (a libpq "key=value" string, a URL
// with a syntax error) gets the same treatment as text.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return text(s)
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
		}
	}
	u.RawQuery = query(u.RawQuery)
	// A fragment means nothing in a connection URL: drop it rather than
	// guess what it holds.
	u.Fragment, u.RawFragment = "", ""
	// A secret parameter where no driver would look for one (in the path,
	// after a second '?') is still not printed.
	return params(u.String())
}

// Query returns a raw query with the values of secret parameters (as
// Secret tells) replaced by Mask, the rest kept byte for byte and in order.
func Query(raw string) string { return query(raw) }

// query masks the values of secret parameters in a raw query, keeping the
// others byte for byte and in order.
func query(raw string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		k, _, hasValue := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if hasValue && Secret(name) {
			parts[i] = k + "=" + Mask
		}
	}
	return strings.Join(parts, "&")
}

// secretWords are the parts of parameter names that carry credentials.
var secretWords = []string{"pass", "pwd", "secret", "token", "apikey", "api_key", "api-key", "accesskey", "access_key", "credential", "signature"}

// Secret tells whether a parameter of this name carries a credential
// (password, sslpassword, passwd, client_secret, access_token, apikey, ...).
func Secret(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return n == "key" || n == "sig"
}

// userInfo is "scheme://" then anything up to an '@' before the host;
// param is a name=value pair in a query or a key=value connection string.
var (
	userInfo = regexp.MustCompile(`(://)[^/?#]*@`)
	param    = regexp.MustCompile(`([A-Za-z0-9_.\-]+)=('(?:[^'\\]|\\.)*'|[^&;?\s]*)`)
)

// text masks what looks like credentials in a string that is not a
// well-formed URL.
func text(s string) string {
	return params(userInfo.ReplaceAllString(s, "${1}"+Mask+"@"))
}

// params masks the values of secret name=value pairs anywhere in s.
func params(s string) string {
	return param.ReplaceAllStringFunc(s, func(m string) string {
		name, _, _ := strings.Cut(m, "=")
		if Secret(name) {
			return name + "=" + Mask
		}
		return m
	})
}

// Error returns err with every credential of the URL raw (as URL hides
// them) replaced by Mask in its message, for errors of libraries that
// quote the URL or its parts (a driver's parse error). errors.Is and
// errors.As still see err.
func Error(err error, raw string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	masked := strings.ReplaceAll(msg, raw, URL(raw))
	for _, s := range secrets(raw) {
		masked = strings.ReplaceAll(masked, s, Mask)
	}
	if masked == msg {
		return err
	}
	return &maskedError{msg: masked, err: err}
}

type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

// secrets are the credential values in raw, as written and unescaped.
func secrets(raw string) []string {
	var out []string
	add := func(vs ...string) {
		for _, v := range vs {
			if len(v) >= 3 && v != Mask {
				out = append(out, v)
			}
		}
	}
	if m := userInfo.FindString(raw); m != "" {
		info := strings.TrimSuffix(strings.TrimPrefix(m, "://"), "@")
		if _, pw, ok := strings.Cut(info, ":"); ok {
			un, _ := url.PathUnescape(pw)
			add(pw, un)
		}
	}
	for _, m := range param.FindAllStringSubmatch(raw, -1) {
		if Secret(m[1]) {
			un, _ := url.QueryUnescape(m[2])
			add(m[2], strings.Trim(m[2], "'"), un)
		}
	}
	return out
}
