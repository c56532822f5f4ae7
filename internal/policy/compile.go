package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/osteele/liquid"

	"github.com/tollgate/tollgate/internal/expression"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// Sections of a document, as bits so a policy can name where it may stand.
type section uint8

const (
	secInbound section = 1 << iota
	secBackend
	secOutbound
	secOnError
	secAll = secInbound | secBackend | secOutbound | secOnError
)

// Tracer traces the pipeline: a span per policy section (Section runs fn
// with the span's context) and per outgoing request of send-request.
type Tracer interface {
	Section(ctx context.Context, name string, fn func(context.Context) error) error
	Transport(base http.RoundTripper, name string) http.RoundTripper
}

var sectionNames = []struct {
	s    section
	name string
}{{secInbound, "inbound"}, {secBackend, "backend"}, {secOutbound, "outbound"}, {secOnError, "on-error"}}

func (s section) String() string {
	for _, n := range sectionNames {
		if n.s == s {
			return n.name
		}
	}
	var parts []string
	for _, n := range sectionNames {
		if s&n.s != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, ", ")
}

// Scope names, as context.LastError.Scope reports them.
const (
	ScopeGlobal    = "global"
	ScopeProduct   = "product"
	ScopeAPI       = "api"
	ScopeOperation = "operation"
)

// Problem is one reason a document cannot be compiled, at its position in
// the document as saved (before named values were substituted).
type Problem struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func (p Problem) String() string { return fmt.Sprintf("%d:%d: %s", p.Line, p.Column, p.Message) }

// Problems is a list of problems; as an error it reads as the first few.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(ps)-5)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Lookup resolves what a document refers to. The management API backs it
// with its write transaction; snapshot compilation with the records.
type Lookup interface {
	// NamedValue returns the (unsealed) value of the named value whose
	// display name or name is name, and whether it is secret.
	NamedValue(ctx context.Context, name string) (v ResolvedValue, ok bool, err error)
	// Fragment returns the XML of the policy fragment with the given id.
	Fragment(ctx context.Context, id string) (xml string, ok bool, err error)
}

// ResolvedValue is a named value as a Lookup resolves it. A secret value
// is redacted from every problem message that could carry it.
type ResolvedValue struct {
	Value  string
	Secret bool
}

// OpenFunc unseals a secret value stored under the record path aad
// (keyring.Keyring.Open).
type OpenFunc func(sealed string, aad []byte) ([]byte, error)

// Options configure a Compiler.
type Options struct {
	// Limiter counts rate limits, quotas and concurrency. Required for
	// documents that use those policies.
	Limiter ratelimit.Limiter
	// Open unseals secret named values; nil when none are sealed.
	Open OpenFunc
	// HTTPClient is used by send-request; nil means a client with no
	// redirects followed and the policy's timeout.
	HTTPClient *http.Client
	// Tracer, when set, traces each policy section and, when HTTPClient
	// is nil, each send-request call; nil turns tracing off.
	Tracer Tracer
	// Logger receives trace output and recovered panics; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CacheEntries and CacheBytes bound the in-process cache of the
	// caching policies (default 10000 entries, 64 MiB). The cache lives in
	// the Compiler, so it survives snapshot rebuilds.
	CacheEntries int
	CacheBytes   int64
	// ExternalCache is the cache the nodes share (Redis), used by caching
	// policies whose caching-type is external or prefer-external; nil
	// means every policy uses the in-process cache.
	ExternalCache Cache
	// Metrics counts emit-metric's metrics; nil means a private set
	// (Compiler.Metrics).
	Metrics *Metrics
	// MaxBodyBuffer bounds a request or response body held in memory when
	// a policy reads it (default 4 MiB).
	MaxBodyBuffer int
	// Extensions are policies implemented by other packages.
	Extensions []Extension
}

// Compiler compiles policy documents. One Compiler lives as long as the
// process: it owns the value cache and the limiter handle.
type Compiler struct {
	opts   Options
	memory *memoryCache
	liquid *liquid.Engine
	defs   map[string]*definition
	// backends is the per-node state of backend entities (circuit
	// breakers, TLS transports).
	backends *backendRuntime
}

// NewCompiler returns a compiler.
func NewCompiler(opts Options) *Compiler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheEntries <= 0 {
		opts.CacheEntries = 10000
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 64 << 20
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.MaxBodyBuffer <= 0 {
		opts.MaxBodyBuffer = 4 << 20
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if opts.Tracer != nil {
			opts.HTTPClient.Transport = opts.Tracer.Transport(http.DefaultTransport, "send-request")
		}
	}
	c := &Compiler{opts: opts, memory: newMemoryCache(opts.CacheEntries, opts.CacheBytes, opts.Now), liquid: newLiquidEngine(), backends: newBackendRuntime()}
	c.defs = map[string]*definition{
		// include-fragment is expanded by the compiler; its fragment's
		// policies are checked against the section.
		"include-fragment": {name: "include-fragment", sections: secAll},
	}
	for _, ext := range append(builtins(), opts.Extensions...) {
		if _, dup := c.defs[ext.Name]; dup {
			panic("policy: two policies named " + ext.Name) // a wiring bug
		}
		c.defs[ext.Name] = extensionDefinition(ext)
	}
	return c
}

// definition is one policy's entry in the table: where it may stand and how
// it compiles.
type definition struct {
	name     string
	sections section
	compile  func(cc *compileCtx, e *Element) (ExtensionPolicy, error)
}

// step is a compiled policy in a chain, with what context.LastError says
// about it.
type step struct {
	name    string
	id      string
	path    string
	scope   string
	section section
	r       ExtensionPolicy
	base    bool // a <base/> placeholder, replaced at composition
	// secrets are the secret named values in the step's document: a run
	// time error built from the step's text is redacted with them.
	secrets []secretValue
}

type chain []*step

// compiled is one compiled document: four sections.
type compiled struct {
	scope    string
	id       string
	sections [4]chain
	present  [4]bool
}

// compileCtx is the state of compiling one document.
type compileCtx struct {
	c       *Compiler
	ctx     context.Context
	scope   string
	section section
	offline bool // policy check without named values: names are defined
	// standalone: policy check, with no store (fragments) and no limiter.
	standalone bool
	lookup     Lookup
	problems   []Problem
	// warnings collects what a save-time check reports without refusing
	// (nil when nobody listens: the snapshot's compilation). Shared by
	// copies of the context; a fragment's own warnings are reported when
	// the fragment is saved, not in the documents including it.
	warnings *[]Problem
	// frag is the fragment being compiled ("" for the document itself);
	// fragments nest.
	frags []string
	// responseChildren: compiling return-response's children, which act
	// on the response whatever the section.
	responseChildren bool
	// path is the element being compiled ("choose[1]"), for nested chains.
	path string
	// secrets are the secret named values substituted into the text, so
	// problem messages built from that text can be redacted.
	secrets []secretValue
}

func (cc *compileCtx) problem(p Pos, format string, args ...any) {
	msg := redactSecrets(fmt.Sprintf(format, args...), cc.secrets)
	cc.problems = append(cc.problems, Problem{Line: p.Line, Column: p.Col, Message: msg})
}

// warn reports a warning at p: the document is accepted, and the warning
// is shown with the management API's answer and by tollgate policy check.
func (cc *compileCtx) warn(p Pos, format string, args ...any) {
	if cc.warnings == nil {
		return
	}
	msg := redactSecrets(fmt.Sprintf(format, args...), cc.secrets)
	*cc.warnings = append(*cc.warnings, Problem{Line: p.Line, Column: p.Col, Message: msg})
}

// errAt is a compile error of one element or attribute.
type errAt struct {
	pos Pos
	msg string
}

func (e *errAt) Error() string { return e.pos.String() + ": " + e.msg }

func errorf(p Pos, format string, args ...any) error {
	return &errAt{p, fmt.Sprintf(format, args...)}
}

// compileDocument reads and compiles one document's text.
func (cc *compileCtx) compileDocument(text string, id string) *compiled {
	src := cc.substitute(text)
	if src == nil {
		return nil
	}
	doc, err := read(src)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			cc.problem(se.Pos, "%s", se.Msg)
		} else {
			cc.problem(Pos{1, 1}, "%v", err)
		}
		return nil
	}
	root := doc.Root
	if root.Name != "policies" {
		cc.problem(root.Pos, "the root element must be <policies>, not <%s>", root.Name)
		return nil
	}
	cc.noAttrs(root)
	out := &compiled{scope: cc.scope, id: id}
	for _, sec := range root.Children {
		i := -1
		for k, n := range sectionNames {
			if n.name == sec.Name {
				i = k
			}
		}
		if i < 0 {
			cc.problem(sec.Pos, "<%s> is not a section: expected inbound, backend, outbound or on-error", sec.Name)
			continue
		}
		if out.present[i] {
			cc.problem(sec.Pos, "section <%s> appears twice", sec.Name)
			continue
		}
		cc.noAttrs(sec)
		cc.noText(sec)
		out.present[i] = true
		cc.section = sectionNames[i].s
		out.sections[i] = cc.compileChain(sec, "", true)
	}
	cc.noText(root)
	return out
}

// substitute replaces named values, reporting missing ones.
func (cc *compileCtx) substitute(text string) *source {
	var lookupErr error
	src, missing := substitute(text, func(name string) (string, bool) {
		if cc.offline {
			return "", false
		}
		v, ok, err := cc.lookup.NamedValue(cc.ctx, name)
		if err != nil && lookupErr == nil {
			lookupErr = err
		}
		if ok && v.Secret {
			cc.secrets = addSecret(cc.secrets, name, v.Value)
		}
		return v.Value, ok
	})
	if lookupErr != nil {
		cc.problem(Pos{1, 1}, "cannot read named values: %v", lookupErr)
		return nil
	}
	if !cc.offline {
		missing = outsideLiquid(text, missing)
		for _, m := range missing {
			cc.problem(src.origPos(m.start), "named value '%s' is not defined", m.name)
		}
		if len(missing) > 0 {
			return nil
		}
	}
	return src
}

func (s *source) origPos(off int) Pos {
	if s.orig != nil {
		return s.orig.pos(off)
	}
	return s.pos(off)
}

// compileChain compiles the policies inside parent (a section or a
// control-flow element).
func (cc *compileCtx) compileChain(parent *Element, path string, top bool) chain {
	var out chain
	counts := map[string]int{}
	sawBase := false
	for _, e := range parent.Children {
		counts[e.Name]++
		p := e.Name + "[" + strconv.Itoa(counts[e.Name]) + "]"
		if path != "" {
			p = path + "/" + p
		}
		if e.Name == "base" {
			if !top {
				cc.problem(e.Pos, "<base/> is only allowed directly inside a section")
				continue
			}
			if sawBase {
				cc.problem(e.Pos, "<base/> appears twice in <%s>", cc.section)
				continue
			}
			if len(cc.frags) > 0 {
				cc.problem(e.Pos, "<base/> is not allowed in a fragment")
				continue
			}
			sawBase = true
			cc.checkAttrs(e, "id")
			cc.noChildren(e)
			out = append(out, &step{name: "base", base: true, section: cc.section, scope: cc.scope})
			continue
		}
		s := cc.compileStep(e, p)
		if s != nil {
			out = append(out, s...)
		}
	}
	return out
}

// compileStep compiles one policy element. include-fragment expands into
// the fragment's steps.
func (cc *compileCtx) compileStep(e *Element, path string) chain {
	d, ok := cc.c.defs[e.Name]
	if !ok {
		switch {
		case e.Name == "when" || e.Name == "otherwise":
			cc.problem(e.Pos, "<%s> is only allowed inside <choose>", e.Name)
		case unsupportedPolicies[e.Name]:
			cc.problem(e.Pos, "policy '%s' is not supported%s", e.Name, refusalHint(e.Name))
		default:
			cc.problem(e.Pos, "unknown policy '%s'", e.Name)
		}
		return nil
	}
	if d.sections&cc.section == 0 {
		cc.problem(e.Pos, "policy '%s' is not allowed in <%s> (allowed in: %s)", e.Name, cc.section, d.sections)
		return nil
	}
	if e.Name == "include-fragment" {
		return cc.includeFragment(e, path)
	}
	saved := cc.path
	cc.path = path
	r, err := d.compile(cc, e)
	cc.path = saved
	if err != nil {
		var ea *errAt
		var ps Problems
		switch {
		case errors.As(err, &ps):
			for _, p := range ps {
				cc.problem(Pos{Line: p.Line, Col: p.Column}, "%s", p.Message)
			}
		case errors.As(err, &ea):
			cc.problem(ea.pos, "%s", ea.msg)
		default:
			cc.problem(e.Pos, "%s: %v", e.Name, err)
		}
		return nil
	}
	if r == nil {
		return nil
	}
	id := ""
	if a, ok := e.Attr("id"); ok {
		id = a.Value.Value
	}
	return chain{{name: e.Name, id: id, path: path, scope: cc.scope, section: cc.section, r: r, secrets: cc.secrets}}
}

// MaxFragmentDepth bounds fragments including fragments.
const MaxFragmentDepth = 8

func (cc *compileCtx) includeFragment(e *Element, path string) chain {
	if !cc.checkAttrs(e, "fragment-id", "id") {
		return nil
	}
	a, ok := e.Attr("fragment-id")
	if !ok {
		cc.problem(e.Pos, "include-fragment: attribute 'fragment-id' is required")
		return nil
	}
	id := a.Value.Value
	for _, f := range cc.frags {
		if f == id {
			cc.problem(a.Pos, "fragment '%s' includes itself", id)
			return nil
		}
	}
	if len(cc.frags) >= MaxFragmentDepth {
		cc.problem(a.Pos, "fragments are nested deeper than %d", MaxFragmentDepth)
		return nil
	}
	if cc.offline || cc.standalone {
		return nil
	}
	text, ok, err := cc.lookup.Fragment(cc.ctx, id)
	if err != nil {
		cc.problem(a.Pos, "cannot read fragment '%s': %v", id, err)
		return nil
	}
	if !ok {
		cc.problem(a.Pos, "fragment '%s' does not exist", id)
		return nil
	}
	sub := &compileCtx{c: cc.c, ctx: cc.ctx, scope: cc.scope, section: cc.section, lookup: cc.lookup, offline: cc.offline, frags: append(append([]string(nil), cc.frags...), id)}
	ch := sub.compileFragment(text, path)
	for _, p := range sub.problems {
		cc.problem(e.Pos, "in fragment '%s' at %s", id, p)
	}
	if len(sub.problems) > 0 {
		return nil
	}
	return ch
}

// compileFragment compiles a fragment's <fragment> element in the current
// section. Paths continue the including element's.
func (cc *compileCtx) compileFragment(text, path string) chain {
	src := cc.substitute(text)
	if src == nil {
		return nil
	}
	doc, err := read(src)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			cc.problem(se.Pos, "%s", se.Msg)
		}
		return nil
	}
	if doc.Root.Name != "fragment" {
		cc.problem(doc.Root.Pos, "the root element of a fragment must be <fragment>, not <%s>", doc.Root.Name)
		return nil
	}
	cc.noText(doc.Root)
	return cc.compileChain(doc.Root, path, false)
}

// --- attribute and content helpers ---

// checkAttrs reports attributes not in allowed ("id" is always allowed).
func (cc *compileCtx) checkAttrs(e *Element, allowed ...string) bool {
	ok := true
outer:
	for _, a := range e.Attrs {
		if a.Name == "id" {
			continue
		}
		for _, n := range allowed {
			if a.Name == n {
				continue outer
			}
		}
		cc.problem(a.Pos, "%s: unknown attribute '%s'", e.Name, a.Name)
		ok = false
	}
	return ok
}

func (cc *compileCtx) noAttrs(e *Element) {
	for _, a := range e.Attrs {
		cc.problem(a.Pos, "<%s> takes no attribute '%s'", e.Name, a.Name)
	}
}

func (cc *compileCtx) noText(e *Element) {
	if t := strings.TrimSpace(e.Text.Value); t != "" {
		i := strings.Index(e.Text.Value, t[:1])
		cc.problem(e.Text.PosAt(i), "unexpected text in <%s>", e.Name)
	}
}

func (cc *compileCtx) noChildren(e *Element) {
	for _, c := range e.Children {
		cc.problem(c.Pos, "<%s> takes no element <%s>", e.Name, c.Name)
	}
}

// unresolved reports whether an offline check should skip validating t
// because it still holds a {{name}} that would be substituted.
func (cc *compileCtx) unresolved(t Text) bool {
	return cc.offline && strings.Contains(t.Value, "{{")
}

// attrs reads an element's attributes for a policy compiler, collecting
// problems; each getter returns the zero value on a problem.
type attrs struct {
	cc   *compileCtx
	e    *Element
	errs Problems
}

func (cc *compileCtx) attrs(e *Element, allowed ...string) *attrs {
	a := &attrs{cc: cc, e: e}
	for _, at := range e.Attrs {
		if at.Name == "id" {
			continue
		}
		known := false
		for _, n := range allowed {
			if at.Name == n {
				known = true
			}
		}
		if !known {
			a.fail(at.Pos, "unknown attribute '%s'", at.Name)
		}
	}
	return a
}

func (a *attrs) fail(p Pos, format string, args ...any) {
	a.errs = append(a.errs, Problem{Line: p.Line, Column: p.Col, Message: a.e.Name + ": " + fmt.Sprintf(format, args...)})
}

// err returns the collected problems, or nil.
func (a *attrs) err() error {
	if len(a.errs) == 0 {
		return nil
	}
	return a.errs
}

func (a *attrs) has(name string) bool { _, ok := a.e.Attr(name); return ok }

// str returns a literal attribute (no expression allowed).
func (a *attrs) str(name, def string, required bool) string {
	at, ok := a.e.Attr(name)
	if !ok {
		if required {
			a.fail(a.e.Pos, "attribute '%s' is required", name)
		}
		return def
	}
	if expression.IsExpression(at.Value.Value) {
		a.fail(at.Pos, "attribute '%s' does not accept an expression", name)
		return def
	}
	return at.Value.Value
}

func (a *attrs) oneOf(name, def string, allowed ...string) string {
	v := a.str(name, def, false)
	at, ok := a.e.Attr(name)
	if !ok || a.cc.unresolved(at.Value) {
		return v
	}
	for _, x := range allowed {
		if v == x {
			return v
		}
	}
	a.fail(at.Value.PosAt(0), "attribute '%s' must be one of %s", name, strings.Join(allowed, ", "))
	return def
}

func (a *attrs) boolean(name string, def bool) bool {
	at, ok := a.e.Attr(name)
	if !ok || a.cc.unresolved(at.Value) {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(at.Value.Value)) {
	case "true":
		return true
	case "false":
		return false
	}
	a.fail(at.Value.PosAt(0), "attribute '%s' must be true or false", name)
	return def
}

func (a *attrs) integer(name string, def int64, minV, maxV int64, required bool) int64 {
	at, ok := a.e.Attr(name)
	if !ok {
		if required {
			a.fail(a.e.Pos, "attribute '%s' is required", name)
		}
		return def
	}
	if a.cc.unresolved(at.Value) {
		return def
	}
	n, err := strconv.ParseInt(strings.TrimSpace(at.Value.Value), 10, 64)
	if err != nil {
		a.fail(at.Value.PosAt(0), "attribute '%s' must be an integer", name)
		return def
	}
	if n < minV || n > maxV {
		a.fail(at.Value.PosAt(0), "attribute '%s' must be between %d and %d", name, minV, maxV)
		return def
	}
	return n
}

// maxSeconds bounds attributes in seconds (durations, renewal periods):
// ten years.
const maxSeconds = 10 * 365 * 86400

// intValue is an integer attribute that APIM lets be a policy expression
// (rate-limit-by-key calls, send-request timeout, retry count, ...): a
// literal is checked when the document is saved, an expression's result
// each time it runs, against the same bounds.
type intValue struct {
	name     string
	n        int64
	v        *value // an expression; nil for a literal
	min, max int64
}

// intValue reads an integer attribute that may be an expression.
func (a *attrs) intValue(name string, def, minV, maxV int64, required bool) intValue {
	iv := intValue{name: name, n: def, min: minV, max: maxV}
	if at, ok := a.e.Attr(name); ok && expression.IsExpression(strings.TrimSpace(at.Value.Value)) {
		if v := a.value(name, required); v != nil && v.isExpr() {
			iv.v = v
		}
		return iv
	}
	iv.n = a.integer(name, def, minV, maxV, required)
	return iv
}

// get is the attribute's value for this request.
func (i intValue) get(x *exchange) (int64, error) {
	if i.v == nil {
		return i.n, nil
	}
	s, err := i.v.str(x)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < i.min || n > i.max {
		// The value itself stays out: it may be built from a secret.
		return 0, exprFailure(fmt.Errorf("attribute '%s' must evaluate to an integer between %d and %d", i.name, i.min, i.max))
	}
	return n, nil
}

// seconds is get for an attribute in seconds.
func (i intValue) seconds(x *exchange) (time.Duration, error) {
	n, err := i.get(x)
	return time.Duration(n) * time.Second, err
}

// value returns an attribute that may be a literal or an expression.
func (a *attrs) value(name string, required bool) *value {
	at, ok := a.e.Attr(name)
	if !ok {
		if required {
			a.fail(a.e.Pos, "attribute '%s' is required", name)
		}
		return nil
	}
	v, err := a.cc.valueOf(at.Value)
	if err != nil {
		var ea *errAt
		if errors.As(err, &ea) {
			a.fail(ea.pos, "attribute '%s': %s", name, ea.msg)
		}
		return nil
	}
	return v
}

// value is a literal or an expression.
type value struct {
	lit  string
	prog *expression.Program
	pos  Pos
}

// valueOf compiles a text that is either literal or one expression.
func (cc *compileCtx) valueOf(t Text) (*value, error) {
	s := t.Value
	trimmed := strings.TrimSpace(s)
	if !expression.IsExpression(trimmed) {
		return &value{lit: s, pos: t.PosAt(0)}, nil
	}
	lead := strings.Index(s, trimmed)
	if cc.unresolved(t) {
		return &value{lit: s}, nil
	}
	p, err := expression.Compile(trimmed)
	if err != nil {
		var se *expression.SyntaxError
		if errors.As(err, &se) {
			return nil, errorf(t.PosAt(lead+se.Offset), "bad expression: %s", se.Msg)
		}
		return nil, errorf(t.PosAt(lead), "bad expression: %v", err)
	}
	return &value{prog: p, pos: t.PosAt(lead)}, nil
}

// textValue compiles an element's text as a value ("" when empty).
func (cc *compileCtx) textValue(e *Element) (*value, error) {
	if len(e.Children) > 0 {
		return nil, errorf(e.Children[0].Pos, "<%s> takes text, not element <%s>", e.Name, e.Children[0].Name)
	}
	return cc.valueOf(e.Text)
}

func (v *value) isExpr() bool { return v != nil && v.prog != nil }

// str evaluates the value as a string.
func (v *value) str(x *exchange) (string, error) {
	if v == nil {
		return "", nil
	}
	if v.prog == nil {
		return v.lit, nil
	}
	s, err := v.prog.EvalString(x.ectx())
	if err != nil {
		return "", x.evalFailure(err)
	}
	return s, nil
}

// any evaluates the value.
func (v *value) any(x *exchange) (any, error) {
	if v == nil {
		return nil, nil
	}
	if v.prog == nil {
		return v.lit, nil
	}
	r, err := v.prog.Eval(x.ectx())
	if err != nil {
		return nil, x.evalFailure(err)
	}
	return r, nil
}

func (v *value) boolean(x *exchange) (bool, error) {
	if v == nil {
		return false, nil
	}
	if v.prog == nil {
		return strings.EqualFold(strings.TrimSpace(v.lit), "true"), nil
	}
	b, err := v.prog.EvalBool(x.ectx())
	if err != nil {
		return false, x.evalFailure(err)
	}
	return b, nil
}

// condition compiles a required boolean expression attribute.
func (a *attrs) condition(name string) *value {
	v := a.value(name, true)
	if v != nil && !v.isExpr() && !a.cc.unresolved(Text{Value: v.lit}) {
		l := strings.ToLower(strings.TrimSpace(v.lit))
		if l != "true" && l != "false" {
			at, _ := a.e.Attr(name)
			a.fail(at.Value.PosAt(0), "attribute '%s' must be an expression or true/false", name)
			return nil
		}
	}
	return v
}

// children returns the child elements, reporting unknown names.
func (a *attrs) children(allowed ...string) []*Element {
	for _, c := range a.e.Children {
		ok := false
		for _, n := range allowed {
			if c.Name == n {
				ok = true
			}
		}
		if !ok {
			a.fail(c.Pos, "unexpected element <%s>", c.Name)
		}
	}
	return a.e.Children
}

func (a *attrs) noText() {
	if t := strings.TrimSpace(a.e.Text.Value); t != "" {
		a.fail(a.e.Text.PosAt(strings.Index(a.e.Text.Value, t[:1])), "unexpected text")
	}
}

// merge adds a nested attrs' problems.
func (a *attrs) merge(err error) {
	var ps Problems
	var ea *errAt
	switch {
	case err == nil:
	case errors.As(err, &ps):
		if len(ps) > 0 && len(a.errs) > 0 && &ps[0] == &a.errs[0] {
			return // a's own problems (a built-in's a.err()), already held
		}
		a.errs = append(a.errs, ps...)
	case errors.As(err, &ea):
		a.fail(ea.pos, "%s", ea.msg)
	default:
		a.fail(a.e.Pos, "%v", err)
	}
}
