package policy

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// limitHeaders are the optional header and variable names of the limit
// policies.
type limitHeaders struct {
	retryAfterHeader, retryAfterVar string
	remainingHeader, remainingVar   string
	totalHeader                     string
}

func (cc *compileCtx) limitHeaders(a *attrs) limitHeaders {
	return limitHeaders{
		retryAfterHeader: a.str("retry-after-header-name", "", false),
		retryAfterVar:    a.str("retry-after-variable-name", "", false),
		remainingHeader:  a.str("remaining-calls-header-name", "", false),
		remainingVar:     a.str("remaining-calls-variable-name", "", false),
		totalHeader:      a.str("total-calls-header-name", "", false),
	}
}

var limitHeaderAttrs = []string{"retry-after-header-name", "retry-after-variable-name", "remaining-calls-header-name", "remaining-calls-variable-name", "total-calls-header-name"}

func seconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

// report sets the configured headers and variables from a result.
func (h *limitHeaders) report(x *exchange, r ratelimit.Result) {
	if h.remainingHeader != "" {
		x.extra().Set(h.remainingHeader, strconv.FormatInt(r.Remaining, 10))
	}
	if h.remainingVar != "" {
		x.vars()[h.remainingVar] = r.Remaining
	}
	if h.totalHeader != "" {
		x.extra().Set(h.totalHeader, strconv.FormatInt(r.Limit, 10))
	}
	if !r.Allowed {
		if h.retryAfterVar != "" {
			x.vars()[h.retryAfterVar] = seconds(r.RetryAfter)
		}
	}
}

func (h *limitHeaders) rateExceeded(r ratelimit.Result) error {
	secs := seconds(r.RetryAfter)
	name := h.retryAfterHeader
	if name == "" {
		name = "Retry-After"
	}
	return &failure{Status: http.StatusTooManyRequests, Reason: "RateLimitExceeded",
		Message: fmt.Sprintf("Rate limit is exceeded. Try again in %d seconds.", secs),
		Header:  http.Header{http.CanonicalHeaderKey(name): {strconv.FormatInt(secs, 10)}}}
}

// quotaExceeded is APIM's 403, with Retry-After (or the policy's
// retry-after-header-name) saying when the quota period renews.
func (h *limitHeaders) quotaExceeded(r ratelimit.Result) error {
	secs := seconds(r.RetryAfter)
	d := time.Duration(secs) * time.Second
	name := h.retryAfterHeader
	if name == "" {
		name = "Retry-After"
	}
	return &failure{Status: http.StatusForbidden, Reason: "QuotaExceeded",
		Message: fmt.Sprintf("Out of call volume quota. Quota will be replenished in %02d:%02d:%02d.",
			int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60),
		Header: http.Header{http.CanonicalHeaderKey(name): {strconv.FormatInt(secs, 10)}}}
}

// needLimiter reports a missing limiter at compile time.
func (cc *compileCtx) needLimiter(a *attrs) {
	if cc.c.opts.Limiter == nil && !cc.offline && !cc.standalone {
		a.fail(a.e.Pos, "no limiter is configured")
	}
}

// take counts one call, failing open when the counter store is broken.
func take(x *exchange, key string, w ratelimit.Window, n int64) (ratelimit.Result, bool) {
	r, err := x.c.opts.Limiter.Take(x.ctx, key, w, n)
	if err != nil {
		x.logger().Warn("policy: limiter failed; admitting", "error", err)
		return ratelimit.Result{Allowed: true, Limit: w.Limit, Remaining: w.Limit}, false
	}
	return r, true
}

// --- rate-limit and quota (per subscription) ---

type scopedLimit struct {
	name, id string // of the <api> or <operation>
	calls    int64
	period   time.Duration
	ops      []scopedLimit
}

type subscriptionLimit struct {
	quota  bool
	calls  int64
	period time.Duration
	apis   []scopedLimit
	h      limitHeaders
	bw     bandwidth
}

func compileRateLimit(er *ElementReader) (ExtensionPolicy, error) {
	return compileSubscriptionLimit(er, false)
}

func compileQuota(er *ElementReader) (ExtensionPolicy, error) {
	return compileSubscriptionLimit(er, true)
}

func compileSubscriptionLimit(er *ElementReader, quota bool) (ExtensionPolicy, error) {
	cc, a := er.a.cc, er.a
	a.noText()
	cc.needLimiter(a)
	p := &subscriptionLimit{quota: quota, h: cc.limitHeaders(a), bw: compileBandwidth(a, quota)}
	p.calls = a.integer("calls", 0, 0, math.MaxInt32, !quota || !a.has("bandwidth"))
	p.period = time.Duration(a.integer("renewal-period", 60, 1, maxSeconds, true)) * time.Second
	for _, c := range a.children("api") {
		if c.Name != "api" {
			continue
		}
		s := compileScopedLimit(cc, c, a)
		for _, o := range c.Children {
			if o.Name != "operation" {
				a.fail(o.Pos, "<api> takes <operation> elements, not <%s>", o.Name)
				continue
			}
			s.ops = append(s.ops, compileScopedLimit(cc, o, a))
		}
		p.apis = append(p.apis, s)
	}
	return p, a.err()
}

func compileScopedLimit(cc *compileCtx, e *Element, parent *attrs) scopedLimit {
	a := cc.attrs(e, "name", "id", "calls", "renewal-period", "bandwidth")
	s := scopedLimit{name: a.str("name", "", false), id: a.str("id", "", false)}
	if s.name == "" && s.id == "" {
		a.fail(e.Pos, "attribute 'name' or 'id' is required")
	}
	s.calls = a.integer("calls", 0, 0, math.MaxInt32, true)
	s.period = time.Duration(a.integer("renewal-period", 60, 1, maxSeconds, true)) * time.Second
	parent.merge(a.err())
	return s
}

func (p *subscriptionLimit) window(calls int64, period time.Duration, start time.Time) ratelimit.Window {
	if p.quota {
		return ratelimit.Quota(calls, period, start)
	}
	return ratelimit.Rate(calls, period)
}

// subscriptionStart is when a quota's periods start: the subscription's
// creation, as APIM computes them ("relative to the start time of the
// subscription"); the epoch for anonymous calls or an unreadable date.
func subscriptionStart(s *apicall.SubscriptionInfo) time.Time {
	if s == nil || s.CreatedDate == "" {
		return time.Time{}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.000Z", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s.CreatedDate); err == nil {
			return t
		}
	}
	return time.Time{}
}

// appliedLimit is one counter a call is checked against.
type appliedLimit struct {
	key string
	w   ratelimit.Window
}

func (p *subscriptionLimit) Run(x *Exchange) error {
	sub := "anonymous"
	var start time.Time
	if s := x.call.Subscription; s != nil {
		sub = s.ID
		if p.quota {
			start = subscriptionStart(s)
		}
	} else if a := x.call.Application; a != nil {
		// An application's calls count like a subscription's.
		sub = a.ID
		if p.quota {
			start = subscriptionStart(&apicall.SubscriptionInfo{CreatedDate: a.CreatedDate})
		}
	}
	apiName, apiDisplay, opName, opDisplay := "", "", "", ""
	if a := x.call.API; a != nil {
		apiName, apiDisplay = a.Name, a.DisplayName
	}
	if o := x.call.Operation; o != nil {
		opName, opDisplay = o.Name, o.DisplayName
	}
	var limits [8]appliedLimit
	applied := limits[:0]
	for _, al := range p.apis {
		if !(al.id == apiName || (al.name != "" && al.name == apiDisplay)) {
			continue
		}
		for _, ol := range al.ops {
			if ol.id == opName || (ol.name != "" && ol.name == opDisplay) {
				applied = append(applied, appliedLimit{sub + "\x00api:" + apiName + "\x00op:" + opName, p.window(ol.calls, ol.period, start)})
			}
		}
		applied = append(applied, appliedLimit{sub + "\x00api:" + apiName, p.window(al.calls, al.period, start)})
	}
	if p.bw.kilobytes > 0 {
		if err := p.bw.check(x, "\x00subbw:"+sub, p.bw.window(p.period, start), &p.h); err != nil {
			return err
		}
	}
	if p.calls > 0 || (len(p.apis) == 0 && p.bw.kilobytes == 0) {
		applied = append(applied, appliedLimit{sub, p.window(p.calls, p.period, start)})
	}
	// Every limit that applies counts the call, or none does: a call
	// refused by one limit is refunded to those that had counted it. The
	// headers report the tightest limit: the one refusing, or the one with
	// the fewest calls left.
	var tightest ratelimit.Result
	for i, l := range applied {
		r, _ := take(x, "\x00sub:"+l.key, l.w, 1)
		if !r.Allowed {
			for _, done := range applied[:i] {
				if _, err := x.c.opts.Limiter.Add(x.ctx, "\x00sub:"+done.key, done.w, -1); err != nil {
					x.logger().Warn("policy: limiter refund failed", "error", err)
				}
			}
			p.h.report(x, r)
			if p.quota {
				return p.h.quotaExceeded(r)
			}
			return p.h.rateExceeded(r)
		}
		if i == 0 || r.Remaining < tightest.Remaining {
			tightest = r
		}
	}
	if len(applied) > 0 {
		p.h.report(x, tightest)
	}
	return nil
}

// --- rate-limit-by-key and quota-by-key ---

type keyLimit struct {
	quota bool
	// calls, renewal-period and increment-count may be expressions, as in
	// APIM (a tier's limit read from the product, say).
	calls     intValue
	period    intValue
	key       *value
	cond      *value
	increment intValue
	start     time.Time
	h         limitHeaders
	bw        bandwidth
}

func compileRateLimitByKey(er *ElementReader) (ExtensionPolicy, error) {
	return compileKeyLimit(er, false)
}

func compileQuotaByKey(er *ElementReader) (ExtensionPolicy, error) {
	return compileKeyLimit(er, true)
}

func compileKeyLimit(er *ElementReader, quota bool) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	a.children()
	cc.needLimiter(a)
	p := &keyLimit{quota: quota, h: cc.limitHeaders(a), bw: compileBandwidth(a, quota)}
	if at, ok := e.Attr("first-period-start"); ok {
		if !quota {
			a.fail(at.Pos, "unknown attribute 'first-period-start'")
		} else if t, err := time.Parse(time.RFC3339, at.Value.Value); err != nil {
			if t, err = time.Parse("2006-01-02T15:04:05", at.Value.Value); err != nil {
				a.fail(at.Value.PosAt(0), "attribute 'first-period-start' must be a date and time (2024-01-01T00:00:00Z)")
			} else {
				p.start = t
			}
		} else {
			p.start = t
		}
	}
	p.calls = a.intValue("calls", 0, 0, math.MaxInt32, p.bw.kilobytes == 0)
	p.period = a.intValue("renewal-period", 60, 1, maxSeconds, true)
	p.key = a.value("counter-key", true)
	if a.has("increment-condition") {
		p.cond = a.condition("increment-condition")
	}
	p.increment = a.intValue("increment-count", 1, 0, math.MaxInt32, false)
	return p, a.err()
}

func (p *keyLimit) window(calls int64, period time.Duration) ratelimit.Window {
	if p.quota {
		return ratelimit.Quota(calls, period, p.start)
	}
	return ratelimit.Rate(calls, period)
}

func (p *keyLimit) Run(x *Exchange) error {
	k, err := p.key.str(x)
	if err != nil {
		return err
	}
	// By-key counters use the key as given (no prefix to build per
	// request); per-subscription counters start with a NUL, which keys
	// built from text rarely do.
	calls, err := p.calls.get(x)
	if err != nil {
		return err
	}
	period, err := p.period.seconds(x)
	if err != nil {
		return err
	}
	if p.bw.kilobytes > 0 {
		if err := p.bw.check(x, "\x00bw:"+k, p.bw.window(period, p.start), &p.h); err != nil {
			return err
		}
		if calls == 0 {
			return nil
		}
	}
	w := p.window(calls, period)
	var r ratelimit.Result
	if p.cond == nil {
		n, err := p.increment.get(x)
		if err != nil {
			return err
		}
		r, _ = take(x, k, w, n)
	} else {
		// APIM checks now and counts once the response is known, since the
		// condition usually reads context.Response.
		var err error
		if r, err = x.c.opts.Limiter.Peek(x.ctx, k, w); err != nil {
			x.logger().Warn("policy: limiter failed; admitting", "error", err)
			r = ratelimit.Result{Allowed: true, Limit: w.Limit, Remaining: w.Limit}
		}
		if r.Allowed {
			x.deferred = append(x.deferred, func() error {
				ok, err := p.cond.boolean(x)
				if err != nil || !ok {
					return err
				}
				// Evaluated with the condition, at the end of outbound.
				n, err := p.increment.get(x)
				if err != nil {
					return err
				}
				if _, err := x.c.opts.Limiter.Add(x.ctx, k, w, n); err != nil {
					x.logger().Warn("policy: limiter failed", "error", err)
				}
				return nil
			})
		}
	}
	p.h.report(x, r)
	if r.Allowed {
		return nil
	}
	if p.quota {
		return p.h.quotaExceeded(r)
	}
	return p.h.rateExceeded(r)
}
