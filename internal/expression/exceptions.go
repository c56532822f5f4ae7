package expression

import (
	"errors"
	"fmt"
	"strings"
)

// Exceptions: the Exception types, throw, and try/catch/finally.
//
// A thrown exception travels as a *RuntimeError whose exc field holds it, so
// every layer that passes runtime errors on keeps it. The errors the
// interpreter itself raises are caught as exceptions too: their .NET-worded
// messages tell their .NET type (classify). The evaluation's own limits
// (step and allocation budgets) are never exceptions: no catch sees them and
// no finally runs after them, so a document cannot go on past its budget.

type exceptionVal struct {
	t     *typ
	msg   string
	inner *exceptionVal
	pos   int // offset of the throw, kept by a rethrow
}

// excClass describes one exception type.
type excClass struct {
	name, ns, base string
	defMsg         string // Message when constructed without one
}

var excClasses = []excClass{
	{"Exception", "System", "", ""},
	{"SystemException", "System", "Exception", "System error."},
	{"ArgumentException", "System", "SystemException", "Value does not fall within the expected range."},
	{"ArgumentNullException", "System", "ArgumentException", "Value cannot be null."},
	{"ArgumentOutOfRangeException", "System", "ArgumentException", "Specified argument was out of the range of valid values."},
	{"ArithmeticException", "System", "SystemException", "Overflow or underflow in the arithmetic operation."},
	{"DivideByZeroException", "System", "ArithmeticException", errDivZero.Error()},
	{"OverflowException", "System", "ArithmeticException", "Arithmetic operation resulted in an overflow."},
	{"FormatException", "System", "SystemException", "One of the identified items was in an invalid format."},
	{"UriFormatException", "System", "FormatException", "Invalid URI: The format of the URI could not be determined."},
	{"IndexOutOfRangeException", "System", "SystemException", errIndexRange.Error()},
	{"InvalidCastException", "System", "SystemException", "Specified cast is not valid."},
	{"InvalidOperationException", "System", "SystemException", "Operation is not valid due to the current state of the object."},
	{"NotImplementedException", "System", "SystemException", "The method or operation is not implemented."},
	{"NotSupportedException", "System", "SystemException", "Specified method is not supported."},
	{"NullReferenceException", "System", "SystemException", errNullRef.Error()},
	{"TimeoutException", "System", "SystemException", "The operation has timed out."},
	{"KeyNotFoundException", "System.Collections.Generic", "SystemException", "The given key was not present in the dictionary."},
	{"JsonException", "Newtonsoft.Json", "Exception", ""},
	{"JsonReaderException", "Newtonsoft.Json", "JsonException", ""},
	{"JsonSerializationException", "Newtonsoft.Json", "JsonException", ""},
	{"XmlException", "System.Xml", "SystemException", "System error."},
	{"CryptographicException", "System.Security.Cryptography", "SystemException", "Error occurred during a cryptographic operation."},
	{"SwitchExpressionException", "System.Runtime.CompilerServices", "InvalidOperationException", errNoSwitchMatch.Error()},
}

var (
	tException *typ
	excTypes   = map[string]*typ{}    // by short name
	excBase    = map[*typ]*typ{}      // the base class of each
	excInfo    = map[*typ]*excClass{} // the description of each
)

func fillExceptions() {
	for i := range excClasses {
		k := &excClasses[i]
		t := &typ{name: k.name}
		excTypes[k.name] = t
		excInfo[t] = k
		if k.base != "" {
			excBase[t] = excTypes[k.base]
		}
		typeNames[k.name] = t
	}
	tException = excTypes["Exception"]
	props := map[string]*prop{
		"Message": pr(tString, func(v any) any { return v.(*exceptionVal).msg }),
		"InnerException": pr(tException, func(v any) any {
			if in := v.(*exceptionVal).inner; in != nil {
				return in
			}
			return nil
		}),
		"StackTrace": pr(tString, func(any) any { return nil }),
		"Source":     pr(tString, func(any) any { return nil }),
	}
	methods := map[string]*method{
		"ToString": mth(0, 0, tString, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return r.(*exceptionVal).String(), nil
		}),
		"GetBaseException": mth(0, 0, tException, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			x := r.(*exceptionVal)
			for x.inner != nil {
				x = x.inner
			}
			return x, nil
		}),
	}
	for _, t := range excTypes {
		t.props, t.methods = props, methods
		t.conv = func(v any) (any, bool) {
			x, ok := v.(*exceptionVal)
			return x, ok && isSubclass(x.t, t)
		}
		addObjectMethods(t)
		constructors[t.name] = newException(t)
	}
}

// fullName is the namespace-qualified name, as ToString prints it.
func excFullName(t *typ) string {
	k := excInfo[t]
	return k.ns + "." + k.name
}

func (x *exceptionVal) String() string {
	s := excFullName(x.t) + ": " + x.msg
	if x.inner != nil {
		s += " ---> " + x.inner.String()
	}
	return s
}

// newException is the constructor of t: (), (message), (message, inner);
// the Argument exceptions take (message, paramName), and ArgumentNullException
// and ArgumentOutOfRangeException (paramName) or (paramName, message).
func newException(t *typ) *method {
	return mth(0, 2, t, ts(tString, nil), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		x := &exceptionVal{t: t, msg: defaultMessage(t)}
		var s [2]string
		for i, a := range args {
			switch a := a.(type) {
			case string:
				s[i] = a
			case *exceptionVal:
				if i == 1 {
					x.inner = a
					continue
				}
				return nil, errCast(a, tString)
			case nil:
			default:
				return nil, errCast(a, tString)
			}
		}
		argLike := isSubclass(t, excTypes["ArgumentException"])
		switch {
		case len(args) == 0:
		case t == excTypes["ArgumentNullException"] || t == excTypes["ArgumentOutOfRangeException"]:
			// (paramName) or (paramName, message)
			if len(args) == 2 && x.inner == nil {
				x.msg = s[1]
			}
			if s[0] != "" {
				x.msg += " (Parameter '" + s[0] + "')"
			}
		case argLike && len(args) == 2 && x.inner == nil:
			x.msg = s[0]
			if s[1] != "" {
				x.msg += " (Parameter '" + s[1] + "')"
			}
		case args[0] != nil:
			x.msg = s[0]
		}
		return x, nil
	})
}

func defaultMessage(t *typ) string {
	if m := excInfo[t].defMsg; m != "" {
		return m
	}
	return "Exception of type '" + excFullName(t) + "' was thrown."
}

// isSubclass reports whether from is to or derives from it.
func isSubclass(from, to *typ) bool {
	for t := from; t != nil; t = excBase[t] {
		if t == to {
			return true
		}
	}
	return false
}

func isException(t *typ) bool { return excInfo[t] != nil }

// isLimit reports whether a message is one of the evaluation's own limits,
// which no catch may see. RuntimeError keeps the error it wraps, so errors.Is
// finds most; this also covers a limit whose message was copied into another
// error.
func isLimit(msg string) bool {
	return strings.Contains(msg, errStepBudget.Error()) || strings.Contains(msg, errTooLarge.Error()) ||
		strings.Contains(msg, errCallDepth.Error()) || strings.HasPrefix(msg, "the expression ")
}

// exceptionOf turns an evaluation error into the exception a catch sees;
// nil when it is not one (a limit).
func exceptionOf(err error) *exceptionVal {
	if err == nil || err == errShortCircuit {
		return nil
	}
	msg, pos := err.Error(), 0
	var re *RuntimeError
	if errors.As(err, &re) {
		if re.exc != nil {
			return re.exc
		}
		msg, pos = re.Msg, re.Offset
	}
	if errors.Is(err, errStepBudget) || errors.Is(err, errTooLarge) || errors.Is(err, errCallDepth) || isLimit(msg) {
		return nil
	}
	return &exceptionVal{t: classify(msg), msg: msg, pos: pos}
}

// excPrefixes tell the .NET type of the interpreter's errors by the start of
// their message, which follows .NET's wording.
var excPrefixes = []struct{ prefix, class string }{
	{errNullRef.Error(), "NullReferenceException"},
	{errIndexRange.Error(), "IndexOutOfRangeException"},
	{errDivZero.Error(), "DivideByZeroException"},
	{errOverflow.Error(), "OverflowException"},
	{"Value was either too large or too small", "OverflowException"},
	{"TimeSpan overflowed", "OverflowException"},
	{errFormat.Error(), "FormatException"},
	{"String was not recognized as a valid", "FormatException"},
	{"Unrecognized Guid format", "FormatException"},
	{"The input is not a valid", "FormatException"},
	{"Invalid URI:", "UriFormatException"},
	{"The given key '", "KeyNotFoundException"},
	{"Unable to cast object of type", "InvalidCastException"},
	{"Value cannot be null.", "ArgumentNullException"},
	{"Specified argument was out of the range", "ArgumentOutOfRangeException"},
	{"Index was out of range.", "ArgumentOutOfRangeException"},
	{"Index and length must refer", "ArgumentOutOfRangeException"},
	{"Non-negative number required", "ArgumentOutOfRangeException"},
	{"Valid values are between", "ArgumentOutOfRangeException"},
	{"Rounding digits must be", "ArgumentOutOfRangeException"},
	{"The added or subtracted value", "ArgumentOutOfRangeException"},
	{"Year, Month, and Day parameters", "ArgumentOutOfRangeException"},
	{"startIndex cannot be larger", "ArgumentOutOfRangeException"},
	{"Length cannot be less than zero", "ArgumentOutOfRangeException"},
	{"'maxValue' must be", "ArgumentOutOfRangeException"},
	{"'minValue' cannot be", "ArgumentOutOfRangeException"},
	{"Index (zero based) must be", "FormatException"},
	{"TimeSpan does not accept", "ArgumentException"},
	{"Byte array for Guid", "ArgumentException"},
	{"Duplicate attribute", "InvalidOperationException"},
	{"The parent is missing", "InvalidOperationException"},
	{"This operation would create an incorrectly structured document", "InvalidOperationException"},
	{"Failed to compare two elements", "InvalidOperationException"},
	{"The '{' character", "XmlException"},
	{"An item with the same key has already been added", "ArgumentException"},
	{"Can not add property", "ArgumentException"},
	{"Could not add ", "ArgumentException"},
	{"Source array was not long enough", "ArgumentException"},
	{"Destination array was not long enough", "ArgumentException"},
	{"Offset and length were out of bounds", "ArgumentException"},
	{"The value cannot be an empty string", "ArgumentException"},
	{"String cannot be of zero length", "ArgumentException"},
	{"Sequence contains", "InvalidOperationException"},
	{errNullableNil.Error(), "InvalidOperationException"},
	{"This operation is not supported for a relative URI", "InvalidOperationException"},
	{"invalid JSON:", "JsonReaderException"},
	{"the body is not valid JSON", "JsonReaderException"},
	{"the JSON is not a", "JsonReaderException"},
	{"the body is not a JSON", "JsonReaderException"},
	{"Path '", "JsonException"},
	{"Path returned multiple tokens", "JsonException"},
	{"the XML is not well formed", "XmlException"},
	{"the body is not XML", "XmlException"},
	{"Root element is missing", "XmlException"},
	{"The name '", "XmlException"},
	{"Padding is invalid", "CryptographicException"},
	{"The input data is not a complete block", "CryptographicException"},
	{"Specified key is not a valid size", "CryptographicException"},
	{"Specified initialization vector", "CryptographicException"},
	{"Specified padding mode", "CryptographicException"},
	{"Specified cipher mode", "CryptographicException"},
	{errNoSwitchMatch.Error(), "SwitchExpressionException"},
}

// classify is the exception type of an interpreter error message; Exception
// when it is not known.
func classify(msg string) *typ {
	for _, p := range excPrefixes {
		if strings.HasPrefix(msg, p.prefix) {
			return excTypes[p.class]
		}
	}
	if strings.Contains(msg, " (Parameter '") && strings.HasSuffix(msg, "')") {
		return excTypes["ArgumentException"] // .NET names the parameter of argument errors only
	}
	return tException
}

// thrown is the error that carries x out of the evaluation.
func thrown(x *exceptionVal) error {
	return &RuntimeError{Offset: x.pos, Msg: x.msg, exc: x}
}

// throwExprNode is a throw expression (C# 7): x ?? throw new ..., c ? v :
// throw ..., and the arms of a switch expression.
type throwExprNode struct {
	p int
	x node
}

func (n *throwExprNode) position() int { return n.p }

func (p *parser) throwExpr() node {
	t := p.advance()
	p.enter(t.pos)
	defer p.leave()
	return &throwExprNode{p: t.pos, x: p.coalesce()}
}

// throwExpr compiles a throw expression. Its type is that of null, which
// ?:, ?? and switch expressions give way to the other operands' type.
func (c *compiler) throwExpr(n *throwExprNode) cexpr {
	f := c.throwStmt(&throwStmt{p: n.p, x: n.x})
	return cexpr{fn: func(e *env) (any, error) {
		_, _, err := f(e)
		return nil, err
	}, t: tNull}
}

// throwStmt compiles throw x; and the rethrow throw; (only inside a catch).
func (c *compiler) throwStmt(s *throwStmt) stmtFn {
	p := s.p
	if s.x == nil {
		if len(c.caught) == 0 {
			c.errf(p, "a throw statement with no arguments is only allowed in a catch clause")
		}
		slot := c.caught[len(c.caught)-1]
		return func(e *env) (ctl, any, error) {
			x, ok := e.locals[slot].(*exceptionVal)
			if !ok {
				return 0, nil, &RuntimeError{Offset: p, Msg: errNullRef.Error()}
			}
			return 0, nil, thrown(x)
		}
	}
	x := c.value(s.x)
	if !x.t.dynamic && !isException(x.t) {
		c.errf(s.x.position(), "only an Exception can be thrown, not '%s'", x.t.name)
	}
	f := x.fn
	return func(e *env) (ctl, any, error) {
		if err := e.step(); err != nil {
			return 0, nil, at(p, err)
		}
		v, err := f(e)
		if err != nil {
			return 0, nil, err
		}
		switch v := v.(type) {
		case *exceptionVal:
			// A thrown exception object records where it was thrown; a
			// copy keeps the value an expression may still hold unchanged.
			y := *v
			y.pos = p
			return 0, nil, thrown(&y)
		case nil:
			return 0, nil, thrown(&exceptionVal{t: excTypes["NullReferenceException"], msg: errNullRef.Error(), pos: p})
		}
		return 0, nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("cannot throw %s: it is not an Exception", typeNameOf(v))}
	}
}

func (c *compiler) tryStmt(s *tryStmt) stmtFn {
	body := c.block(s.body)
	type clause struct {
		t       *typ
		caught  int // slot of the exception, for throw;
		nameSlt int // slot of the named variable, or -1
		when    evalFn
		body    stmtFn
	}
	clauses := make([]clause, len(s.catches))
	for i, cc := range s.catches {
		t := tException
		if cc.typ != nil {
			var err error
			if t, err = resolveType(cc.typ); err != nil {
				c.errf(cc.typ.p, "%v", err)
			}
			if !isException(t) {
				c.errf(cc.typ.p, "the type caught must be an Exception, not '%s'", t.name)
			}
		}
		for j, prev := range clauses[:i] {
			if s.catches[j].when == nil && isSubclass(t, prev.t) {
				c.errf(cc.p, "a previous catch clause already catches all exceptions of this or a super type ('%s')", prev.t.name)
			}
		}
		c.push()
		cl := clause{t: t, nameSlt: -1}
		cl.caught = c.hidden(fmt.Sprintf("<catch@%d>", cc.p), t).slot
		if cc.name != "" {
			cl.nameSlt = c.declare(cc.p, cc.name, t).slot
		}
		if cc.when != nil {
			cl.when = c.boolean(cc.when).fn
		}
		c.caught = append(c.caught, cl.caught)
		cl.body = c.block(cc.body)
		c.caught = c.caught[:len(c.caught)-1]
		c.pop()
		clauses[i] = cl
	}
	var finally stmtFn
	if s.finally != nil {
		finallyJumps(s.finally)
		finally = c.block(s.finally)
	}
	return func(e *env) (ctl, any, error) {
		k, v, err := body(e)
		if err != nil {
			x := exceptionOf(err)
			if x == nil {
				return 0, nil, err // a limit: no catch, no finally
			}
			for _, cl := range clauses {
				if !isSubclass(x.t, cl.t) {
					continue
				}
				e.locals[cl.caught] = x
				if cl.nameSlt >= 0 {
					e.locals[cl.nameSlt] = x
				}
				if cl.when != nil {
					ok, werr := cl.when(e)
					if werr != nil {
						// As in .NET, an exception in a filter means false.
						if exceptionOf(werr) == nil {
							return 0, nil, werr
						}
						continue
					}
					if !ok.(bool) {
						continue
					}
				}
				k, v, err = cl.body(e)
				break
			}
		}
		if finally != nil {
			if err != nil && exceptionOf(err) == nil {
				return 0, nil, err
			}
			if _, _, ferr := finally(e); ferr != nil {
				return 0, nil, ferr
			}
		}
		return k, v, err
	}
}

// finallyJumps refuses a return, or a break or continue leaving the finally
// block, as C# does: control cannot leave the body of a finally clause.
func finallyJumps(b *blockStmt) {
	var check func(s stmt)
	check = func(s stmt) {
		switch s := s.(type) {
		case *returnStmt:
			panic(&SyntaxError{Offset: s.p, Msg: "control cannot leave the body of a finally clause"})
		case *blockStmt:
			for _, st := range s.stmts {
				check(st)
			}
		case *checkedStmt:
			check(s.body)
		case *ifStmt:
			check(s.then)
			if s.els != nil {
				check(s.els)
			}
		case *foreachStmt:
			check(s.body)
		case *whileStmt:
			check(s.body)
		case *forStmt:
			check(s.body)
		case *switchStmt:
			for _, sec := range s.sections {
				for _, st := range sec.stmts {
					check(st)
				}
			}
		case *tryStmt:
			check(s.body)
			for _, cc := range s.catches {
				check(cc.body)
			}
			if s.finally != nil {
				check(s.finally)
			}
		}
	}
	check(b)
	walkJumps(b, func(j *jumpStmt, inLoop, inSwitch bool) {
		if !inLoop && !(inSwitch && j.kind == "break") {
			panic(&SyntaxError{Offset: j.p, Msg: "control cannot leave the body of a finally clause"})
		}
	})
}
