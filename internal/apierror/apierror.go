// Package apierror is the management API's error body:
// {"error": {"code", "message", "details": [{"target", "message"}]}}.
// Every JSON API of Tollgate's control plane answers errors through it.
package apierror

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tollgate/tollgate/internal/resource"
)

// Error is an API error with its HTTP status.
type Error struct {
	Status  int                   `json:"-"`
	Code    string                `json:"code"`
	Message string                `json:"message"`
	Details []resource.FieldError `json:"details,omitempty"`
}

func (e *Error) Error() string {
	if len(e.Details) == 0 {
		return e.Message
	}
	return fmt.Sprintf("%s (%v)", e.Message, e.Details)
}

// New returns an error with a formatted message.
func New(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Validation is a 400 listing every bad field.
func Validation(details []resource.FieldError) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "ValidationError", Message: "One or more fields contain incorrect values.", Details: details}
}

// Common errors.
func NotFound(id string) *Error {
	return New(http.StatusNotFound, "ResourceNotFound", "%s was not found.", id)
}

// Write sends err as the error body. Errors that are not *Error become 500
// with a generic message: internal details are logged by the caller, never
// sent.
func Write(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = New(http.StatusInternalServerError, "InternalError", "The request failed because of an internal error.")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Error *Error `json:"error"`
	}{e})
}
