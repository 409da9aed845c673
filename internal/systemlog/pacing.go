package systemlog

import (
	"math/rand/v2"
	"time"
)

// Pacer spreads requests over Okta's rate-limit window so that this input uses at most Share of
// the bucket reported by X-Rate-Limit-Limit, leaving the rest to other clients of the org.
type Pacer struct {
	Share float64 // fraction of the bucket this input may use, in (0, 1]
}

// Delay returns how long to wait before the next request, given the rate-limit headers of the
// previous response and the local time now. Reset is converted to local time through the
// response's Date header, because the local clock may be off.
func (p Pacer) Delay(r RateLimit, now time.Time) time.Duration {
	if !r.Known || r.Limit <= 0 {
		return 0
	}
	resetIn := p.untilReset(r, now)
	if resetIn <= 0 {
		return 0
	}
	allowed := int(float64(r.Limit) * p.Share)
	if allowed < 1 {
		allowed = 1
	}
	used := r.Limit - r.Remaining
	reserve := r.Limit - allowed
	if used >= allowed || r.Remaining <= reserve {
		return resetIn
	}
	// Requests go back to back while budget is left: the stream is sequential, so bursts never
	// exceed one request in flight, and a backlog drains at the full allowed rate.
	return 0
}

// RetryAfter429 returns the wait after a 429: until the reset the response names, measured
// against its Date header, plus one second, and never less than one second.
func (p Pacer) RetryAfter429(r RateLimit, now time.Time) time.Duration {
	d := p.untilReset(r, now) + time.Second
	if d < time.Second {
		d = time.Second
	}
	// A concurrency 429 carries only an estimate; cap the wait at one window.
	if d > 61*time.Second {
		d = 61 * time.Second
	}
	return d
}

func (p Pacer) untilReset(r RateLimit, now time.Time) time.Duration {
	if !r.Known {
		return 0
	}
	if !r.Date.IsZero() {
		return r.Reset.Sub(r.Date)
	}
	return r.Reset.Sub(now)
}

// Backoff is exponential backoff with full jitter for retries of failed requests.
type Backoff struct {
	Base, Max time.Duration
	attempt   int
	rand      func() float64
}

// Next returns the wait before the next retry and counts the attempt.
func (b *Backoff) Next() time.Duration {
	// Every call counts, also once the ceiling reached Max: callers read Attempts to skip ahead.
	ceiling := b.Max
	if shifted := b.Base << b.attempt; shifted > 0 && shifted>>b.attempt == b.Base &&
		shifted < b.Max {
		ceiling = shifted
	}
	b.attempt++
	r := b.rand
	if r == nil {
		r = rand.Float64
	}
	// Half fixed, half random: waits grow steadily and clients that failed together spread out.
	return ceiling/2 + time.Duration(r()*float64(ceiling/2))
}

// Reset starts the sequence again after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Attempts returns the retries since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }
