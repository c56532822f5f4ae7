package policy

import (
	"net/http"
	"strconv"
	"time"
)

// nested compiles the policies inside a control-flow element; path is the
// element's path (e.g. "choose[1]/when[2]").
func (cc *compileCtx) nested(e *Element, path string) chain {
	return cc.compileChain(e, path, false)
}

// --- choose ---

type when struct {
	cond  *value
	steps chain
	path  string
}

type choose struct {
	whens     []when
	otherwise chain
	hasOther  bool
}

func compileChoose(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	p := &choose{}
	nw := 0
	for _, c := range a.children("when", "otherwise") {
		switch c.Name {
		case "when":
			nw++
			if p.hasOther {
				a.fail(c.Pos, "<when> must come before <otherwise>")
			}
			ca := cc.attrs(c, "condition")
			w := when{cond: ca.condition("condition"), path: cc.path + "/when[" + strconv.Itoa(nw) + "]"}
			a.merge(ca.err())
			w.steps = cc.nested(c, w.path)
			p.whens = append(p.whens, w)
		case "otherwise":
			if p.hasOther {
				a.fail(c.Pos, "<otherwise> appears twice")
			}
			for _, at := range c.Attrs {
				a.fail(at.Pos, "<otherwise> takes no attribute '%s'", at.Name)
			}
			p.hasOther = true
			p.otherwise = cc.nested(c, cc.path+"/otherwise[1]")
		}
	}
	if nw == 0 {
		a.fail(e.Pos, "<choose> needs at least one <when>")
	}
	return p, a.err()
}

func (p *choose) Run(x *Exchange) error {
	for i := range p.whens {
		w := &p.whens[i]
		ok, err := w.cond.boolean(x)
		if err != nil {
			return &stepError{f: asFailure(err), s: x.current, path: w.path}
		}
		if ok {
			return x.runChain(w.steps)
		}
	}
	return x.runChain(p.otherwise)
}

func asFailure(err error) *failure {
	if f, ok := err.(*failure); ok {
		return f
	}
	return &failure{Status: http.StatusInternalServerError, Reason: "InternalError", Message: err.Error()}
}

// --- retry ---

type retry struct {
	cond *value
	// count and the intervals may be expressions, evaluated once as the
	// retry starts.
	count, interval, maxInterval, delta intValue
	firstFast                           bool
	steps                               chain
}

// backoff is a retry's schedule for one run.
type backoff struct {
	interval, maxInterval, delta time.Duration
	firstFast                    bool
}

func compileRetry(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	p := &retry{
		cond:        a.condition("condition"),
		count:       a.intValue("count", 1, 1, 50, true),
		interval:    a.intValue("interval", 0, 0, 600, true),
		maxInterval: a.intValue("max-interval", 0, 0, 3600, false),
		delta:       a.intValue("delta", 0, 0, 600, false),
		firstFast:   a.boolean("first-fast-retry", false),
	}
	p.steps = cc.nested(e, cc.path)
	return p, a.err()
}

// wait returns the delay before retry n (1-based): fixed, linear with
// delta, or exponential with delta when max-interval is set.
func (p backoff) wait(n int) time.Duration {
	if n == 1 && p.firstFast {
		return 0
	}
	if p.firstFast {
		n--
	}
	d := p.interval
	switch {
	case p.maxInterval > 0 && p.delta > 0:
		d = p.interval + time.Duration((1<<min(n-1, 20))-1)*p.delta
		d = min(d, p.maxInterval)
	case p.delta > 0:
		d = p.interval + time.Duration(n-1)*p.delta
	}
	return d
}

func (p *retry) Run(x *Exchange) error {
	// A forward-request inside must be able to send the body again.
	if _, err := x.loadRequestBody(); err != nil {
		return &failure{Status: http.StatusInternalServerError, Reason: "RequestBodyTooLarge", Message: err.Error()}
	}
	count, err := p.count.get(x)
	if err != nil {
		return err
	}
	b := backoff{firstFast: p.firstFast}
	for _, f := range []struct {
		v   intValue
		out *time.Duration
	}{{p.interval, &b.interval}, {p.maxInterval, &b.maxInterval}, {p.delta, &b.delta}} {
		if *f.out, err = f.v.seconds(x); err != nil {
			return err
		}
	}
	for n := 0; ; n++ {
		err := x.runChain(p.steps)
		if err != nil {
			return err
		}
		if n >= int(count) {
			return nil
		}
		again, err := p.cond.boolean(x)
		if err != nil || !again {
			return err
		}
		if d := b.wait(n + 1); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-x.ctx.Done():
				t.Stop()
				return &failure{Status: http.StatusInternalServerError, Reason: "RequestCanceled", Message: "The caller went away."}
			case <-t.C:
			}
		}
	}
}

// --- limit-concurrency ---

type limitConcurrency struct {
	key   *value
	max   int64
	steps chain
}

func compileLimitConcurrency(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	p := &limitConcurrency{key: a.value("key", true), max: a.integer("max-count", 1, 1, 1<<31, true)}
	if cc.c.opts.Limiter == nil && !cc.offline && !cc.standalone {
		a.fail(e.Pos, "no limiter is configured")
	}
	p.steps = cc.nested(e, cc.path)
	return p, a.err()
}

func (p *limitConcurrency) Run(x *Exchange) error {
	k, err := p.key.str(x)
	if err != nil {
		return err
	}
	release, ok, err := x.c.opts.Limiter.Acquire(x.ctx, "lc:"+k, p.max, 10*time.Minute)
	if err != nil {
		// Fail open: a broken counter store must not take the API down.
		x.logger().Warn("limit-concurrency: limiter failed; admitting", "error", err)
		return x.runChain(p.steps)
	}
	if !ok {
		return &failure{Status: http.StatusTooManyRequests, Reason: "ConcurrencyLimitExceeded", Message: "Too many concurrent requests."}
	}
	defer release()
	return x.runChain(p.steps)
}
