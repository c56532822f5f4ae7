package gateway

import "github.com/tollgate/tollgate/internal/apicall"

// The gateway–policy contract lives in package apicall; these names keep
// the gateway's callers (the server assembly, tests) reading as before.
// Its messages and reasons are apicall's (apicall.MsgKeyMissing, ...).
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
