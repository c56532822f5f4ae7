package policy

import (
	"context"
	"sync"

	"github.com/tollgate/tollgate/internal/expression"
)

// --- wait ---

type wait struct {
	any   bool
	steps chain
}

// compileWait: wait's children are send-request, cache-lookup-value and
// choose. The HTTP calls of its send-request children run in parallel;
// the other children run in order meanwhile (they only touch the
// request's state, which one goroutine owns). With for="any" and only
// send-request children, the first answer wins and the other calls are
// cancelled (their variables are not set); otherwise every child
// completes.
func compileWait(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	p := &wait{any: a.oneOf("for", "all", "all", "any") == "any"}
	a.children("send-request", "cache-lookup-value", "choose")
	p.steps = cc.nested(e, cc.path)
	return p, a.err()
}

type waitCall struct {
	s    *step
	sr   *sendRequest
	resp *expression.Response
	err  error
}

func (p *wait) Run(x *Exchange) error {
	var calls []*waitCall
	others := 0
	for _, s := range p.steps {
		if sr, ok := s.r.(*sendRequest); ok {
			calls = append(calls, &waitCall{s: s, sr: sr})
		} else {
			others++
		}
	}
	if len(calls) == 0 {
		return x.runChain(p.steps)
	}
	ctx, cancel := context.WithCancel(x.ctx)
	defer cancel()
	var wg sync.WaitGroup
	done := make(chan *waitCall, len(calls))
	for _, c := range calls {
		method, target, h, body, err := c.sr.build(x)
		if err != nil {
			cancel()
			wg.Wait()
			return stamp(err, c.s)
		}
		timeout, err := c.sr.timeout.seconds(x)
		if err != nil {
			cancel()
			wg.Wait()
			return stamp(err, c.s)
		}
		wg.Add(1)
		client, cerr := c.sr.client(x)
		go func() {
			defer wg.Done()
			if c.err = cerr; cerr == nil {
				c.resp, c.err = c.sr.do(ctx, client, timeout, method, target, h, body)
			}
			done <- c
		}()
	}
	for _, s := range p.steps {
		if _, ok := s.r.(*sendRequest); ok {
			continue
		}
		if err := x.runChain(chain{s}); err != nil {
			cancel()
			wg.Wait()
			return err
		}
	}
	if p.any && others == 0 {
		first := <-done
		cancel()
		wg.Wait()
		return stampIf(first.sr.finish(x, first.resp, first.err), first.s)
	}
	wg.Wait()
	for _, c := range calls {
		if err := c.sr.finish(x, c.resp, c.err); err != nil {
			return stamp(err, c.s)
		}
	}
	return nil
}

func stampIf(err error, s *step) error {
	if err == nil {
		return nil
	}
	return stamp(err, s)
}
