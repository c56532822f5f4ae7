package policy

import (
	"errors"
	"net/http"

	"github.com/tollgate/tollgate/internal/apicall"

	"github.com/tollgate/tollgate/internal/expression"
)

// failure is an error that ends the normal flow and runs on-error; it
// becomes context.LastError. The runtime fills Scope, Section, Path and
// PolicyId from the step that failed.
type failure struct {
	Status  int
	Source  string // "" means the failing policy's name
	Reason  string
	Message string
	// Public is the message of the caller's default error body, when it
	// differs from Message (check-header's failed-check-error-message).
	Public string
	// Header is added to the default error response (Retry-After).
	Header http.Header
}

func (f *failure) Error() string { return f.Reason + ": " + f.Message }

func fail(status int, reason, message string) *failure {
	return &failure{Status: status, Reason: reason, Message: message}
}

// exprFailure turns an expression error into the failure APIM reports.
func exprFailure(err error) error {
	var re *expression.RuntimeError
	msg := err.Error()
	if errors.As(err, &re) {
		msg = re.Msg
	}
	return &failure{Status: http.StatusInternalServerError, Reason: "ExpressionValueEvaluationFailure",
		Message: "Expression evaluation failed. " + msg}
}

// errReturn ends the pipeline with the response built so far
// (return-response, mock-response, a cors preflight).
var errReturn = errors.New("return response")

// invalidPath refuses a path that could walk out of the backend's base path
// (apicall.UnsafePath): rewrite-uri's result, or the URL forward-request
// would call.
func invalidPath() error {
	return &failure{Status: http.StatusBadRequest, Reason: apicall.ReasonInvalidPath, Message: apicall.MsgInvalidPath}
}
