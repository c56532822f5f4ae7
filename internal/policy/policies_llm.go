package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/internal/resource"
)

// The LLM gateway policies work with any OpenAI-compatible backend (chat
// completions, completions, embeddings, the Responses API): token counts
// come from the response's "usage" (prompt_tokens/completion_tokens, or
// input_tokens/output_tokens), streamed responses included (the last
// usage object of the event stream). Prompt tokens can be estimated
// before the call from the request body (about four characters a token),
// so a caller already over its limit is refused without calling the
// backend; the estimate is corrected by the response's usage.

// --- llm-token-limit (azure-openai-token-limit) ---

var llmTokenLimitAttrs = []string{"counter-key", "tokens-per-minute", "token-quota", "token-quota-period", "estimate-prompt-tokens",
	"retry-after-header-name", "retry-after-variable-name", "remaining-quota-tokens-header-name", "remaining-quota-tokens-variable-name",
	"remaining-tokens-header-name", "remaining-tokens-variable-name", "tokens-consumed-header-name", "tokens-consumed-variable-name"}

type llmTokenLimit struct {
	key             *value
	tpm             int64
	quota           int64
	quotaPeriod     time.Duration
	estimate        bool
	retryHeader     string
	retryVar        string
	remQuotaHeader  string
	remQuotaVar     string
	remHeader       string
	remVar          string
	consumedHeader  string
	consumedVar     string
	maxPromptBuffer int
}

var quotaPeriods = map[string]time.Duration{
	"Hourly": time.Hour, "Daily": 24 * time.Hour, "Weekly": 7 * 24 * time.Hour,
	"Monthly": 30 * 24 * time.Hour, "Yearly": 365 * 24 * time.Hour,
}

func compileLLMTokenLimit(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	a.children()
	cc.needLimiter(a)
	p := &llmTokenLimit{
		key:            a.value("counter-key", true),
		tpm:            a.integer("tokens-per-minute", 0, 0, math.MaxInt32, false),
		quota:          a.integer("token-quota", 0, 0, math.MaxInt64/2, false),
		estimate:       a.boolean("estimate-prompt-tokens", false),
		retryHeader:    a.str("retry-after-header-name", "Retry-After", false),
		retryVar:       a.str("retry-after-variable-name", "", false),
		remQuotaHeader: a.str("remaining-quota-tokens-header-name", "", false),
		remQuotaVar:    a.str("remaining-quota-tokens-variable-name", "", false),
		remHeader:      a.str("remaining-tokens-header-name", "", false),
		remVar:         a.str("remaining-tokens-variable-name", "", false),
		consumedHeader: a.str("tokens-consumed-header-name", "", false),
		consumedVar:    a.str("tokens-consumed-variable-name", "", false),
	}
	if e.Name == "azure-openai-token-limit" && !a.has("estimate-prompt-tokens") {
		a.fail(e.Pos, "attribute 'estimate-prompt-tokens' is required")
	}
	period := a.oneOf("token-quota-period", "", "", "Hourly", "Daily", "Weekly", "Monthly", "Yearly")
	switch {
	case p.tpm == 0 && p.quota == 0:
		a.fail(e.Pos, "%s needs tokens-per-minute, token-quota with token-quota-period, or both", e.Name)
	case p.quota > 0 && period == "":
		a.fail(e.Pos, "attribute 'token-quota-period' is required with token-quota (Hourly, Daily, Weekly, Monthly or Yearly)")
	case p.quota == 0 && period != "":
		a.fail(e.Pos, "attribute 'token-quota' is required with token-quota-period")
	}
	p.quotaPeriod = quotaPeriods[period]
	return p, a.err()
}

func (p *llmTokenLimit) windows() (rate, quota ratelimit.Window) {
	return ratelimit.Rate(p.tpm, time.Minute), ratelimit.Quota(p.quota, p.quotaPeriod, time.Time{})
}

func (p *llmTokenLimit) Run(x *Exchange) error {
	k, err := p.key.str(x)
	if err != nil {
		return err
	}
	var prompt int64
	if p.estimate {
		b, err := x.loadRequestBody()
		if err != nil {
			return fail(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body is too large to estimate its tokens.")
		}
		prompt = estimatePromptTokens(b)
	}
	rw, qw := p.windows()
	rateKey, quotaKey := "\x00llm-tpm:"+k, "\x00llm-quota:"+k
	lim := x.c.opts.Limiter
	var rr, qr ratelimit.Result
	if p.tpm > 0 {
		rr = takeTokens(x, rateKey, rw, prompt)
		if !rr.Allowed {
			return p.exceeded(x, rr, false)
		}
	}
	if p.quota > 0 {
		qr = takeTokens(x, quotaKey, qw, prompt)
		if !qr.Allowed {
			if p.tpm > 0 && prompt > 0 {
				if _, err := lim.Add(x.ctx, rateKey, rw, -prompt); err != nil {
					x.logger().Warn("policy: limiter refund failed", "error", err)
				}
			}
			return p.exceeded(x, qr, true)
		}
	}
	if p.tpm > 0 {
		p.reportRemaining(x, p.remHeader, p.remVar, rr.Remaining)
	}
	if p.quota > 0 {
		p.reportRemaining(x, p.remQuotaHeader, p.remQuotaVar, qr.Remaining)
	}
	// Once the response is known, count what the backend says was used
	// (less the estimate already counted).
	logger := x.logger()
	x.deferred = append(x.deferred, func() error {
		ctx := context.WithoutCancel(x.ctx)
		settle := func(u llmUsage) {
			used := u.total()
			if used == 0 {
				return
			}
			if p.tpm > 0 {
				if _, err := lim.Add(ctx, rateKey, rw, used-prompt); err != nil {
					logger.Warn("policy: limiter failed", "error", err)
				}
			}
			if p.quota > 0 {
				if _, err := lim.Add(ctx, quotaKey, qw, used-prompt); err != nil {
					logger.Warn("policy: limiter failed", "error", err)
				}
			}
		}
		if u, known := x.responseUsage(settle); known {
			if p.consumedHeader != "" {
				x.extra().Set(p.consumedHeader, strconv.FormatInt(u.total(), 10))
			}
			if p.consumedVar != "" {
				x.vars()[p.consumedVar] = u.total()
			}
		}
		return nil
	})
	return nil
}

// takeTokens counts a call's estimated prompt tokens; without an
// estimate it only checks that a token is left.
func takeTokens(x *exchange, key string, w ratelimit.Window, n int64) ratelimit.Result {
	if n > 0 {
		r, _ := take(x, key, w, n)
		return r
	}
	r, err := x.c.opts.Limiter.Peek(x.ctx, key, w)
	if err != nil {
		x.logger().Warn("policy: limiter failed; admitting", "error", err)
		return ratelimit.Result{Allowed: true, Limit: w.Limit, Remaining: w.Limit}
	}
	return r
}

func (p *llmTokenLimit) reportRemaining(x *exchange, header, variable string, n int64) {
	if header != "" {
		x.extra().Set(header, strconv.FormatInt(n, 10))
	}
	if variable != "" {
		x.vars()[variable] = n
	}
}

func (p *llmTokenLimit) exceeded(x *exchange, r ratelimit.Result, quota bool) error {
	secs := seconds(r.RetryAfter)
	if p.retryVar != "" {
		x.vars()[p.retryVar] = secs
	}
	h := http.Header{http.CanonicalHeaderKey(p.retryHeader): {strconv.FormatInt(secs, 10)}}
	if quota {
		p.reportRemaining(x, p.remQuotaHeader, p.remQuotaVar, 0)
		return &failure{Status: http.StatusForbidden, Reason: "TokenQuotaExceeded",
			Message: fmt.Sprintf("Token quota is exceeded. Try again in %d seconds.", secs), Header: h}
	}
	p.reportRemaining(x, p.remHeader, p.remVar, 0)
	return &failure{Status: http.StatusTooManyRequests, Reason: "TokenLimitExceeded",
		Message: fmt.Sprintf("Token limit is exceeded. Try again in %d seconds.", secs), Header: h}
}

// --- llm-emit-token-metric (azure-openai-emit-token-metric) ---

type llmDimension struct {
	name  string
	value *value // nil: APIM's default value for the name
}

type llmEmitTokenMetric struct {
	namespace string
	dims      []llmDimension
}

func compileLLMEmitTokenMetric(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	p := &llmEmitTokenMetric{namespace: a.str("namespace", "API Management", false)}
	for _, c := range a.children("dimension") {
		if c.Name != "dimension" {
			continue
		}
		ca := cc.attrs(c, "name", "value")
		d := llmDimension{name: ca.str("name", "", true)}
		if ca.has("value") {
			d.value = ca.value("value", false)
		}
		a.merge(ca.err())
		p.dims = append(p.dims, d)
	}
	if len(p.dims) == 0 {
		a.fail(e.Pos, "%s needs at least one <dimension name=\"...\"/>", e.Name)
	}
	if len(p.dims) > 5 {
		a.fail(e.Pos, "%s takes at most 5 dimensions", e.Name)
	}
	return p, a.err()
}

// Run records the call's token usage once the response is known: until
// Tollgate has a metrics endpoint, each count is a structured log record
// ("llm token usage") with the namespace and dimensions.
func (p *llmEmitTokenMetric) Run(x *Exchange) error {
	attrs := make([]any, 0, 2*len(p.dims)+2)
	attrs = append(attrs, "namespace", p.namespace)
	for _, d := range p.dims {
		v := ""
		if d.value != nil {
			s, err := d.value.str(x)
			if err != nil {
				return err
			}
			v = s
		} else {
			v = x.defaultDimension(d.name)
		}
		attrs = append(attrs, slog.String("dim."+d.name, v))
	}
	logger := x.logger()
	reqID := x.call.RequestID
	x.deferred = append(x.deferred, func() error {
		x.responseUsage(func(u llmUsage) {
			logger.Info("llm token usage", append(attrs, "requestId", reqID,
				"promptTokens", u.prompt, "completionTokens", u.completion, "totalTokens", u.total())...)
		})
		return nil
	})
	return nil
}

// defaultDimension is APIM's value for a dimension named without one.
func (x *exchange) defaultDimension(name string) string {
	c := x.call
	switch strings.ToLower(name) {
	case "api id":
		if c.API != nil {
			return c.API.Name
		}
	case "operation id":
		if c.Operation != nil {
			return c.Operation.Name
		}
	case "product id":
		if c.Product != nil {
			return c.Product.Name
		}
	case "subscription id":
		if c.Subscription != nil {
			return resource.NameOf(c.Subscription.ID)
		}
	case "user id":
		if c.User != nil {
			return c.User.Name
		}
	case "client ip":
		return clientIP(x.r)
	case "location", "gateway id":
		return "tollgate"
	}
	return ""
}

// --- token counting ---

type llmUsage struct{ prompt, completion, totalOnly int64 }

func (u llmUsage) total() int64 {
	if u.prompt+u.completion == 0 {
		return u.totalOnly
	}
	return u.prompt + u.completion
}

// responseUsage calls done with the response's token usage. A buffered
// body is read now (known is true); a streamed one is counted as it
// passes to the caller and done runs when it ends.
func (x *exchange) responseUsage(done func(llmUsage)) (u llmUsage, known bool) {
	if !x.resp.present || x.resp.status >= 400 {
		return u, false
	}
	if x.resp.hasBody {
		u = scanUsage(x.resp.body)
		done(u)
		return u, true
	}
	if x.resp.stream == nil {
		return u, false
	}
	if !strings.HasPrefix(x.resp.header.Get("Content-Type"), "text/event-stream") && x.resp.length >= 0 && x.resp.length <= int64(x.c.opts.MaxBodyBuffer) {
		// A whole JSON answer: read it now, so the counts can go in the
		// response's headers.
		if b, err := x.loadResponseBody(); err == nil {
			u = scanUsage(b)
			done(u)
			return u, true
		}
		return u, false
	}
	if c, ok := x.resp.stream.(*usageCounter); ok {
		c.done = append(c.done, done)
		return u, false
	}
	x.resp.stream = &usageCounter{ReadCloser: x.resp.stream, done: []func(llmUsage){done}}
	return u, false
}

// usageTail is how much of a streamed body's end is kept to find its
// usage: it is in the last JSON object or event.
const usageTail = 64 << 10

// usageCounter passes a response body through, keeping its tail, and
// reports the usage found there when the body is closed.
type usageCounter struct {
	io.ReadCloser
	tail []byte
	done []func(llmUsage)
}

func (c *usageCounter) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		c.tail = append(c.tail, p[:n]...)
		if len(c.tail) > 2*usageTail {
			c.tail = append(c.tail[:0], c.tail[len(c.tail)-usageTail:]...)
		}
	}
	return n, err
}

func (c *usageCounter) Close() error {
	err := c.ReadCloser.Close()
	if c.done != nil {
		u := scanUsage(c.tail)
		for _, d := range c.done {
			d(u)
		}
		c.done = nil
	}
	return err
}

// scanUsage finds the last usage counts in a body (a JSON document or an
// event stream): prompt_tokens/input_tokens, completion_tokens/
// output_tokens, total_tokens.
func scanUsage(b []byte) llmUsage {
	var u llmUsage
	u.prompt = lastNumber(b, `"prompt_tokens"`)
	if u.prompt == 0 {
		u.prompt = lastNumber(b, `"input_tokens"`)
	}
	u.completion = lastNumber(b, `"completion_tokens"`)
	if u.completion == 0 {
		u.completion = lastNumber(b, `"output_tokens"`)
	}
	u.totalOnly = lastNumber(b, `"total_tokens"`)
	return u
}

// lastNumber is the integer after the last occurrence of key and a colon.
func lastNumber(b []byte, key string) int64 {
	i := bytes.LastIndex(b, []byte(key))
	if i < 0 {
		return 0
	}
	rest := bytes.TrimLeft(b[i+len(key):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return 0
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	j := 0
	for j < len(rest) && j < 18 && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, _ := strconv.ParseInt(string(rest[:j]), 10, 64)
	return n
}

// estimatePromptTokens estimates a request's prompt tokens from its JSON
// body: the text of messages[].content (strings or text parts), prompt
// and input, at about four characters a token plus a few per message.
func estimatePromptTokens(body []byte) int64 {
	var req struct {
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Prompt json.RawMessage `json:"prompt"`
		Input  json.RawMessage `json:"input"`
		System json.RawMessage `json:"system"`
	}
	if json.Unmarshal(body, &req) != nil {
		return int64(len(body)+3) / 4
	}
	chars := 0
	for _, m := range req.Messages {
		chars += textLength(m.Content) + 16 // role and framing
	}
	chars += textLength(req.Prompt) + textLength(req.Input) + textLength(req.System)
	return int64(chars+3) / 4
}

// textLength is the length of the strings in a JSON value.
func textLength(raw json.RawMessage) int {
	if len(raw) == 0 {
		return 0
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return len(raw)
	}
	var walk func(any) int
	walk = func(v any) int {
		switch t := v.(type) {
		case string:
			return len(t)
		case []any:
			n := 0
			for _, e := range t {
				n += walk(e)
			}
			return n
		case map[string]any:
			n := 0
			for k, e := range t {
				if k == "text" || k == "content" || k == "input" {
					n += walk(e)
				}
			}
			return n
		}
		return 0
	}
	return walk(v)
}
