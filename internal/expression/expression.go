// Package expression implements the C#-subset expression language of APIM policies
// (`@(expression)` and `@{ statements }`) and the `context` object model they read.
//
// An expression is compiled once (parsed, statically checked against the known
// types, and turned into a tree of Go closures) and then evaluated per request.
// Evaluation does no I/O beyond the body loaders the runtime supplies, never
// panics, and is bounded in steps and in the memory its strings and collections
// may take.
package expression

import (
	"fmt"
	"strings"
	"sync"
)

// Limits of one evaluation.
const (
	// MaxSteps bounds the statements, calls, lambda invocations and loop
	// iterations of one evaluation; a method call also costs a step per
	// 4 KiB of the strings and byte arrays it is given.
	MaxSteps = 100_000
	// MaxStringLen bounds any string or collection an expression builds.
	MaxStringLen = 1 << 20
	// MaxAllocBytes bounds the total bytes of strings and collections one
	// evaluation builds.
	MaxAllocBytes = 16 << 20
	// MaxSourceLen bounds the text of one expression.
	MaxSourceLen = 64 << 10
)

// SyntaxError is a compile-time error. Offset is the byte offset within the
// expression text given to Compile (its "@(" starts at 0).
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("expression error at offset %d: %s", e.Offset, e.Msg)
}

// RuntimeError is an evaluation error. Offset is the byte offset of the failing
// construct within the expression text; Msg reads like the .NET exception message.
type RuntimeError struct {
	Offset int
	Msg    string
	cause  error         // what at() wrapped, so that catch can tell limits from exceptions
	exc    *exceptionVal // set when a throw statement raised it
}

func (e *RuntimeError) Error() string {
	return fmt.Sprintf("expression evaluation failed at offset %d: %s", e.Offset, e.Msg)
}

// Unwrap returns the error the message was taken from, if any.
func (e *RuntimeError) Unwrap() error { return e.cause }

// Program is a compiled expression. It is safe for concurrent use.
type Program struct {
	src     string
	run     evalFn
	result  *typ
	nlocals int
	envs    sync.Pool
}

// IsExpression reports whether s, trimmed of surrounding space, is an expression
// ("@(...)" or "@{...}") rather than literal text.
func IsExpression(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "@(") || strings.HasPrefix(s, "@{")
}

// Source returns the text the program was compiled from.
func (p *Program) Source() string { return p.src }

// ResultType is the static C# type of the result: "bool", "string", "int",
// "double", "DateTime", "JObject", ...; "object" (or "JToken") when it is only
// known at run time. A policy can use it to refuse, at save time, a condition
// that can never be a bool.
func (p *Program) ResultType() string { return p.result.name }

// Eval evaluates the program. The result is one of the value types listed in the
// package documentation (nil for null).
func (p *Program) Eval(ctx *Context) (result any, err error) {
	e, _ := p.envs.Get().(*env)
	if e == nil {
		e = &env{locals: make([]any, p.nlocals)}
	}
	e.ctx = ctx
	e.stack = e.stack[:0]
	e.steps = 0
	e.alloc = 0
	e.calls = 0
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, &RuntimeError{Offset: e.pos, Msg: fmt.Sprintf("internal error: %v", r)}
		}
		clear(e.locals)
		clear(e.stack[:cap(e.stack)])
		e.ctx = nil
		p.envs.Put(e)
	}()
	v, err := p.run(e)
	if err != nil {
		if err == errShortCircuit {
			return nil, nil
		}
		if re, ok := err.(*RuntimeError); ok {
			return nil, re
		}
		return nil, &RuntimeError{Offset: e.pos, Msg: err.Error()}
	}
	return v, nil
}

// EvalString evaluates the program and converts the result as C#'s ToString()
// does ("True"/"False" for booleans, "" for null).
func (p *Program) EvalString(ctx *Context) (string, error) {
	v, err := p.Eval(ctx)
	if err != nil {
		return "", err
	}
	s := toString(v)
	if len(s) > MaxStringLen {
		return "", &RuntimeError{Msg: errTooLarge.Error()}
	}
	return s, nil
}

// EvalBool evaluates the program and requires a boolean result (null is false).
func (p *Program) EvalBool(ctx *Context) (bool, error) {
	v, err := p.Eval(ctx)
	if err != nil {
		return false, err
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case nil:
		return false, nil
	}
	return false, &RuntimeError{Msg: fmt.Sprintf("the expression returned %s, not a bool", typeNameOf(v))}
}

// ToString converts a value as C#'s ToString() does; nil becomes "".
func ToString(v any) string { return toString(v) }
