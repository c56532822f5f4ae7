package gateway

import "github.com/tollgate/tollgate/internal/apicall"

// The gateway–policy contract lives in package apicall; these names keep
// the gateway's callers (the server assembly, tests) reading as before.
type (
	Call             = apicall.Call
	SubscriptionInfo = apicall.SubscriptionInfo
	Forwarder        = apicall.Forwarder
	ForwardOptions   = apicall.ForwardOptions
	BackendError     = apicall.BackendError
	Pipeline         = apicall.Pipeline
	Policies         = apicall.Policies
	PolicyCompiler   = apicall.PolicyCompiler
	PolicyRecompiler = apicall.PolicyRecompiler
)

// Messages and reasons of the gateway's built-in errors (apicall).
const (
	MsgResourceNotFound            = apicall.MsgResourceNotFound
	MsgOperationNotFound           = apicall.MsgOperationNotFound
	MsgKeyMissing                  = apicall.MsgKeyMissing
	MsgKeyInvalid                  = apicall.MsgKeyInvalid
	MsgBackendFailure              = apicall.MsgBackendFailure
	MsgBackendTimeout              = apicall.MsgBackendTimeout
	ReasonOperationNotFound        = apicall.ReasonOperationNotFound
	ReasonSubscriptionKeyNotFound  = apicall.ReasonSubscriptionKeyNotFound
	ReasonSubscriptionKeyInvalid   = apicall.ReasonSubscriptionKeyInvalid
	ReasonBackendConnectionFailure = apicall.ReasonBackendConnectionFailure
	ReasonBackendTimeout           = apicall.ReasonBackendTimeout
)
