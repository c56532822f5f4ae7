// Package resource holds Tollgate's configuration model: the resources of the
// management API (APIM's names, flat JSON), their kinds and paths, defaults
// and validation. It has no I/O; the management API, the store and the
// gateway all speak in these types.
package resource

import (
	"fmt"
	"regexp"
	"strings"
)

// FieldError names one bad field of a request, as the error body's
// details[] entry.
type FieldError struct {
	Target  string `json:"target"`
	Message string `json:"message"`
}

func (e FieldError) Error() string { return e.Target + ": " + e.Message }

// Errors collects field errors during validation.
type Errors []FieldError

// Add records a problem with target.
func (e *Errors) Add(target, format string, args ...any) {
	*e = append(*e, FieldError{Target: target, Message: fmt.Sprintf(format, args...)})
}

// Meta is embedded in every resource: its path and its last segment.
type Meta struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Resource is implemented by every configuration type.
type Resource interface {
	meta() *Meta
	// Normalize fills defaults; it runs before Validate on every write.
	Normalize()
	// Validate reports every bad field.
	Validate() Errors
}

func (m *Meta) meta() *Meta { return m }

// SetMeta sets a resource's id and name from its path.
func SetMeta(r Resource, id string) {
	m := r.meta()
	m.ID = id
	m.Name = NameOf(id)
}

// NameOf is the name of the resource at id: its path's last segment.
func NameOf(id string) string { return id[strings.LastIndexByte(id, '/')+1:] }

// GetMeta returns a resource's id and name.
func GetMeta(r Resource) Meta { return *r.meta() }

var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]{0,79}$`)

// ValidName reports whether s can be a resource name (one path segment).
// APIM allows letters, digits and hyphens up to 80 characters; we also allow
// '.', '_' and '~', which are safe in URLs.
func ValidName(s string) bool { return nameRe.MatchString(s) }

func boolPtr(b bool) *bool { return &b }

// Bool reads an optional boolean with its default.
func Bool(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func oneOf(errs *Errors, target, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	errs.Add(target, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
}
