package policy

// --- wait ---

type wait struct {
	steps chain
}

// compileWait: APIM runs wait's children (send-request,
// cache-lookup-value, choose) in parallel and continues when all (or any)
// complete. Tollgate runs them in order, so their effects are the same
// as for="all" and the call takes the sum of their times rather than the
// longest; for="any" also runs every child.
func compileWait(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	a.oneOf("for", "all", "all", "any")
	a.children("send-request", "cache-lookup-value", "choose")
	p := &wait{steps: cc.nested(e, cc.path)}
	return p, a.err()
}

func (p *wait) Run(x *Exchange) error { return x.runChain(p.steps) }
