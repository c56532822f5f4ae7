package apicall

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Messages of the gateway's built-in errors (REFERENCE.md).
const (
	MsgResourceNotFound  = "Resource not found"
	MsgOperationNotFound = "Unable to match incoming request to an operation."
	MsgKeyMissing        = "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
	MsgKeyInvalid        = "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
	MsgBackendFailure    = "Backend service could not be reached."
	MsgBackendTimeout    = "Backend service did not respond in time."
	MsgClientBodyTimeout = "The request body did not arrive in time."
	MsgClientBodyFailed  = "The request body could not be read."
)

// Reasons, as context.LastError.Reason and in the access log.
const (
	ReasonOperationNotFound        = "OperationNotFound"
	ReasonSubscriptionKeyNotFound  = "SubscriptionKeyNotFound"
	ReasonSubscriptionKeyInvalid   = "SubscriptionKeyInvalid"
	ReasonBackendConnectionFailure = "BackendConnectionFailure"
	ReasonBackendTimeout           = "Timeout"
	// ReasonClientConnectionFailure: the caller's request body failed to
	// arrive while it was forwarded.
	ReasonClientConnectionFailure = "ClientConnectionFailure"
)

// ErrorBody is APIM's error body:
// {"statusCode": 404, "message": "Resource not found"}. A failure answers
// byte for byte the same whether the gateway or a policy writes it.
func ErrorBody(status int, message string) []byte {
	m, _ := json.Marshal(message)
	b := make([]byte, 0, 40+len(m))
	b = append(b, `{"statusCode": `...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `, "message": `...)
	b = append(b, m...)
	return append(b, '}')
}

// WriteError writes APIM's error response with ErrorBody.
func WriteError(w http.ResponseWriter, status int, message string) {
	body := ErrorBody(status, message)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
