package expression

import (
	"errors"
	"fmt"
)

// try/catch/finally and throw. What a catch clause catches is any run-time
// error of the expression (a null reference, a failed parse or cast, a thrown
// Exception), seen as a System.Exception with its Message. The sandbox's
// limits (steps, allocation, call depth) are not exceptions: catching them
// would let an expression run on after its budget is spent.

type exception struct{ msg string }

var tException = &typ{name: "Exception"}

// thrown is the error a throw statement raises.
type thrown struct{ ex *exception }

func (t *thrown) Error() string { return t.ex.msg }

func fillExceptions() {
	tException.props = map[string]*prop{
		"Message": pr(tString, func(v any) any { return v.(*exception).msg }),
	}
	tException.methods = map[string]*method{
		"ToString": mth(0, 0, tString, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return "System.Exception: " + r.(*exception).msg, nil
		}),
	}
	addObjectMethods(tException)
	typeNames["Exception"] = tException
	constructors["Exception"] = mth(0, 1, tException, ts(tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		msg := "Exception of type 'System.Exception' was thrown."
		if len(args) == 1 {
			if s, ok := args[0].(string); ok {
				msg = s
			}
		}
		return &exception{msg: msg}, nil
	})
}

// catchable reports whether err is an exception a catch clause handles.
func catchable(err error) bool {
	return err != errShortCircuit && !errors.Is(err, errStepBudget) && !errors.Is(err, errTooLarge) && !errors.Is(err, errCallDepth)
}

// exceptionOf is the Exception a catch clause sees for err.
func exceptionOf(err error) *exception {
	var t *thrown
	if errors.As(err, &t) {
		return t.ex
	}
	var re *RuntimeError
	if errors.As(err, &re) {
		return &exception{msg: re.Msg}
	}
	return &exception{msg: err.Error()}
}

func (c *compiler) tryStmt(s *tryStmt) stmtFn {
	body := c.block(s.body)
	var catchFn stmtFn
	slot := -1
	for i, cc := range s.catches {
		if i > 0 {
			c.errf(cc.p, "a previous catch clause already catches all exceptions")
		}
		if cc.typ != nil {
			if t := c.resolve(cc.typ); t != tException {
				c.errf(cc.typ.p, "only catch (Exception) is supported, not '%s'", t.name)
			}
		}
		c.push()
		name := cc.name
		if name == "" {
			name = fmt.Sprintf("<catch@%d>", cc.p)
		}
		slot = c.declare(cc.p, name, tException).slot
		c.caught = append(c.caught, slot)
		catchFn = c.block(cc.body)
		c.caught = c.caught[:len(c.caught)-1]
		c.pop()
	}
	var finallyFn stmtFn
	if s.finally != nil {
		if leavesFinally(s.finally, false) {
			c.errf(s.finally.p, "control cannot leave the body of a finally clause")
		}
		finallyFn = c.block(s.finally)
	}
	return func(e *env) (ctl, any, error) {
		k, v, err := body(e)
		if err != nil && catchFn != nil && catchable(err) {
			e.locals[slot] = exceptionOf(err)
			k, v, err = catchFn(e)
		}
		if finallyFn != nil {
			if _, _, ferr := finallyFn(e); ferr != nil {
				return 0, nil, ferr
			}
		}
		return k, v, err
	}
}

// leavesFinally reports whether s has a return, or a break or continue
// outside a loop of its own, which C# does not allow in a finally clause.
func leavesFinally(s stmt, inLoop bool) bool {
	switch s := s.(type) {
	case *returnStmt:
		return true
	case *jumpStmt:
		return !inLoop
	case *blockStmt:
		for _, x := range s.stmts {
			if leavesFinally(x, inLoop) {
				return true
			}
		}
	case *checkedStmt:
		return leavesFinally(s.body, inLoop)
	case *ifStmt:
		return leavesFinally(s.then, inLoop) || s.els != nil && leavesFinally(s.els, inLoop)
	case *foreachStmt:
		return leavesFinally(s.body, true)
	case *tryStmt:
		if leavesFinally(s.body, inLoop) || s.finally != nil && leavesFinally(s.finally, inLoop) {
			return true
		}
		for _, c := range s.catches {
			if leavesFinally(c.body, inLoop) {
				return true
			}
		}
	}
	return false
}

func (c *compiler) throwStmt(s *throwStmt) stmtFn {
	p := s.p
	if s.x == nil {
		if len(c.caught) == 0 {
			c.errf(p, "a throw statement with no arguments is only allowed in a catch clause")
		}
		slot := c.caught[len(c.caught)-1]
		return func(e *env) (ctl, any, error) {
			ex, _ := e.locals[slot].(*exception)
			if ex == nil {
				ex = &exception{}
			}
			return 0, nil, at(p, &thrown{ex: ex})
		}
	}
	x := c.value(s.x)
	if x.t != tException && !x.t.dynamic {
		c.errf(s.x.position(), "only an Exception can be thrown, not '%s'", x.t.name)
	}
	f := x.fn
	return func(e *env) (ctl, any, error) {
		v, err := f(e)
		if err != nil {
			return 0, nil, err
		}
		ex, ok := v.(*exception)
		if !ok {
			if v == nil {
				return 0, nil, at(p, errNullRef)
			}
			return 0, nil, at(p, errCast(v, tException))
		}
		return 0, nil, at(p, &thrown{ex: ex})
	}
}
