package ratelimit

import (
	"math"
	"time"
)

// The arithmetic shared by Local and Redis. Times are Unix microseconds in int64;
// estimates are float64. The Lua scripts in redis.go mirror these functions line by line,
// so that both implementations give the same answers (Lua numbers are float64 too, and
// microsecond timestamps stay well inside float64's exact integers).

type op uint8

const (
	opTake op = iota
	opPeek
	opAdd
)

// Codes of the ops as the Lua scripts receive them.
var opCodes = [...]string{opTake: "t", opPeek: "p", opAdd: "a"}

// counter is the stored state of one rate or quota key: the index of the fixed window it
// was last counted in, that window's count and (rate limits) the previous window's.
type counter struct {
	win, cur, prev int64
	// expires is when the state stops mattering (Unix µs): evictable from then on.
	expires int64

	// Local's identity of the counter, and the next counter whose key hashes alike.
	key           string
	fixed         bool
	period, start int64
	next          *counter
}

// outcome is a Result in microseconds.
type outcome struct {
	allowed   bool
	remaining int64
	retry     int64
	reset     int64
}

// result converts o, capping RetryAfter at the period: a Retry-After longer
// than the window the client was told about reads as a bug (the sliding
// estimate after a burst at a window's start can refuse for up to twice the
// period). A client retrying at a capped RetryAfter may be refused again,
// with the rest of the wait.
func (o outcome) result(limit, period int64) Result {
	return Result{
		Allowed:    o.allowed,
		Remaining:  o.remaining,
		RetryAfter: time.Duration(min(o.retry, period)) * time.Microsecond,
		Limit:      limit,
		Reset:      time.UnixMicro(o.reset),
	}
}

// floorDiv is ⌊a/b⌋ for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// micros is a window length in whole microseconds.
func micros(d time.Duration) int64 { return int64(d / time.Microsecond) }

// startMicros is a quota's alignment; the zero time is the epoch.
func startMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// estimate is the sliding-window count: prev weighted by the part of the previous fixed
// window still inside the sliding window, plus cur. The conversions forbid a fused
// multiply-add, which would round differently from Lua.
func estimate(prev, cur int64, weight float64) float64 {
	return float64(float64(prev)*weight) + float64(cur)
}

// slide applies o to a rate-limit counter at time now (µs). exists is false for a key
// with no state yet. It updates c and reports the outcome; for opPeek c is changed only
// by the window roll, which callers need not store.
func slide(c *counter, exists bool, now, period, limit, n int64, o op) outcome {
	idx := floorDiv(now, period)
	if !exists {
		c.win, c.cur, c.prev = idx, 0, 0
	}
	switch {
	case c.win > idx: // the clock went back: stay in the newer window
		idx = c.win
	case c.win == idx-1:
		c.prev, c.cur = c.cur, 0
	case c.win < idx-1:
		c.prev, c.cur = 0, 0
	}
	c.win = idx
	elapsed := max(now-idx*period, 0)
	weight := float64(period-elapsed) / float64(period)
	flimit := float64(limit)

	need := int64(1)
	allowed := false
	switch o {
	case opTake:
		need = n
		if estimate(c.prev, c.cur, weight)+float64(n) <= flimit {
			c.cur += n
			allowed = true
		}
	case opPeek:
		allowed = estimate(c.prev, c.cur, weight)+1 <= flimit
	case opAdd:
		c.cur += n
		if c.cur < 0 { // a refund larger than this window's count: the rest from the previous one
			c.prev = max(c.prev+c.cur, 0)
			c.cur = 0
		}
		allowed = estimate(c.prev, c.cur, weight)+1 <= flimit
	}

	var reset int64
	switch {
	case c.cur > 0:
		reset = (idx + 2) * period
	case c.prev > 0:
		reset = (idx + 1) * period
	default:
		reset = now
	}
	c.expires = reset

	remaining := int64(math.Floor(flimit - estimate(c.prev, c.cur, weight)))
	out := outcome{allowed: allowed, remaining: max(remaining, 0), reset: reset}
	if !allowed {
		out.retry = slideRetry(c, now, elapsed, period, limit, need)
	}
	return out
}

// slideRetry is how long until a call of weight need fits, given that it does not fit now.
func slideRetry(c *counter, now, elapsed, period, limit, need int64) int64 {
	if need > limit { // never fits: until the counts clear
		return max(c.expires-now, period)
	}
	fperiod := float64(period)
	var retry int64
	if c.cur+need > limit {
		// Not in this window: in the next one, cur becomes prev and decays until
		// cur × (1 − t/period) + need ≤ limit.
		retry = period - elapsed + int64(math.Ceil(fperiod*(1-float64(limit-need)/float64(c.cur))))
	} else {
		// Later in this window, when prev × (1 − (elapsed+t)/period) + cur + need ≤ limit.
		retry = int64(math.Ceil(float64(fperiod*(1-float64(limit-need-c.cur)/float64(c.prev))) - float64(elapsed)))
	}
	// Float rounding may put the ceiling a microsecond off either way: settle it with the
	// estimate itself, so that the call fits at RetryAfter and not a microsecond before.
	if slideFits(c, elapsed, period, limit, need, retry-1) {
		retry--
	} else if !slideFits(c, elapsed, period, limit, need, retry) {
		retry++
	}
	return max(retry, 1)
}

// slideFits reports whether a call of weight need fits after another t µs.
func slideFits(c *counter, elapsed, period, limit, need, t int64) bool {
	at := elapsed + t
	if at < period {
		return estimate(c.prev, c.cur, float64(period-at)/float64(period))+float64(need) <= float64(limit)
	}
	return estimate(c.cur, 0, float64(2*period-at)/float64(period))+float64(need) <= float64(limit)
}

// fixed applies o to a quota counter at time now (µs), in windows of period aligned to
// start.
func fixed(c *counter, exists bool, now, start, period, limit, n int64, o op) outcome {
	idx := floorDiv(now-start, period)
	switch {
	case !exists, c.win < idx:
		c.win, c.cur, c.prev = idx, 0, 0
	case c.win > idx: // the clock went back: stay in the newer window
		idx = c.win
	}
	end := start + (idx+1)*period
	c.expires = end

	allowed := false
	switch o {
	case opTake:
		if c.cur+n <= limit {
			c.cur += n
			allowed = true
		}
	case opPeek:
		allowed = c.cur+1 <= limit
	case opAdd:
		c.cur = max(c.cur+n, 0)
		allowed = c.cur+1 <= limit
	}
	out := outcome{allowed: allowed, remaining: max(limit-c.cur, 0), reset: end}
	if !allowed {
		out.retry = max(end-now, 1)
	}
	return out
}
