package jwtvalidate

// Reasons, as APIM's validate-jwt reports them in context.LastError.Reason.
const (
	ReasonTokenNotPresent           = "TokenNotPresent"
	ReasonJwtInvalid                = "JwtInvalid"
	ReasonTokenSignatureInvalid     = "TokenSignatureInvalid"
	ReasonTokenSignatureKeyNotFound = "TokenSignatureKeyNotFound"
	ReasonTokenExpired              = "TokenExpired"
	ReasonTokenNotYetValid          = "TokenNotYetValid"
	ReasonTokenAudienceNotAllowed   = "TokenAudienceNotAllowed"
	ReasonTokenIssuerNotAllowed     = "TokenIssuerNotAllowed"
	ReasonTokenClaimNotFound        = "TokenClaimNotFound"
	ReasonTokenClaimValueNotAllowed = "TokenClaimValueNotAllowed"
)

// Error is a validation failure. Message is safe to show to the caller: it
// never contains key material or configuration the caller could not see in
// its own token.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Reason + ": " + e.Message }

func fail(reason, msg string) *Error { return &Error{Reason: reason, Message: msg} }

var (
	errNotPresent = fail(ReasonTokenNotPresent, "JWT not present.")
	errTooLarge   = fail(ReasonJwtInvalid, "JWT is larger than 16384 bytes.")
	errMalformed  = fail(ReasonJwtInvalid, "JWT is malformed.")
	errSignature  = fail(ReasonTokenSignatureInvalid, "JWT signature validation failed.")
	errExpired    = fail(ReasonTokenExpired, "Lifetime validation failed. The token is expired.")
	errNotYet     = fail(ReasonTokenNotYetValid, "Lifetime validation failed. The token is not yet valid.")
	errFuture     = fail(ReasonTokenNotYetValid, "Lifetime validation failed. The token was issued in the future.")
	errNoExp      = fail(ReasonJwtInvalid, "Lifetime validation failed. The token has no expiration time.")
	errAudience   = fail(ReasonTokenAudienceNotAllowed, "Audience validation failed.")
	errIssuer     = fail(ReasonTokenIssuerNotAllowed, "Issuer validation failed.")
	errUnsigned   = fail(ReasonTokenSignatureInvalid, "JWT is not signed, and signed tokens are required.")
)
