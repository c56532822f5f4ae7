package policy

import (
	"context"
	"log/slog"
	"strings"
)

// --- trace ---

type traceMeta struct {
	name string
	v    *value
}

type trace struct {
	source  string
	level   slog.Level
	message *value
	meta    []traceMeta
}

// compileTrace: APIM writes trace output to the request trace and
// Application Insights; Tollgate writes it to the log.
func compileTrace(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	p := &trace{source: a.str("source", "", true)}
	if strings.TrimSpace(e.Text.Value) != "" && len(e.Children) == 0 {
		// The older form, still accepted by APIM and found in published
		// documents: <trace source="...">message</trace>.
		v, err := cc.textValue(e)
		if err != nil {
			a.merge(err)
			return p, a.err()
		}
		if v.prog == nil {
			v.lit = strings.TrimSpace(v.lit)
		}
		p.message = v
	}
	if p.message == nil {
		a.noText()
	}
	switch a.oneOf("severity", "verbose", "verbose", "information", "error") {
	case "information":
		p.level = slog.LevelInfo
	case "error":
		p.level = slog.LevelError
	default:
		p.level = slog.LevelDebug
	}
	for _, c := range a.children("message", "metadata") {
		switch c.Name {
		case "message":
			if p.message != nil {
				a.fail(c.Pos, "<message> appears twice")
			}
			v, err := cc.textValue(c)
			if err != nil {
				a.merge(err)
				continue
			}
			p.message = v
		case "metadata":
			ca := cc.attrs(c, "name", "value")
			m := traceMeta{name: ca.str("name", "", true), v: ca.value("value", true)}
			a.merge(ca.err())
			p.meta = append(p.meta, m)
		}
	}
	if p.message == nil {
		a.fail(e.Pos, "<message> is required")
	}
	return p, a.err()
}

func (p *trace) Run(x *Exchange) error {
	l := x.logger()
	if !l.Enabled(x.ctx, p.level) {
		return nil
	}
	msg, err := p.message.str(x)
	if err != nil {
		return err
	}
	attrs := []slog.Attr{slog.String("source", p.source), slog.String("requestId", x.call.RequestID)}
	for _, m := range p.meta {
		v, err := m.v.str(x)
		if err != nil {
			return err
		}
		attrs = append(attrs, slog.String(m.name, v))
	}
	l.LogAttrs(context.WithoutCancel(x.ctx), p.level, "trace: "+msg, attrs...)
	return nil
}

// traceExpr is context.Trace(message) in an expression: written like the
// trace policy's verbose output.
func (x *exchange) traceExpr(msg string) {
	l := x.logger()
	if !l.Enabled(x.ctx, slog.LevelDebug) {
		return
	}
	l.LogAttrs(context.WithoutCancel(x.ctx), slog.LevelDebug, "trace: "+msg, slog.String("source", "expression"), slog.String("requestId", x.call.RequestID))
}
