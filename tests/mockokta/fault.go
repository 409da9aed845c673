package mockokta

import (
	"net/http"
	"strconv"
	"time"
)

// Fault describes failures to inject. Counters apply to the next requests of their endpoint
// and count down; SetFault replaces all pending counters, so SetFault(Fault{}) clears them.
type Fault struct {
	// FailLogRequests makes the next authenticated /api/v1/logs requests fail with
	// FailStatus (default 500) and an Okta error body with FailCode (default E0000009).
	FailLogRequests int
	FailStatus      int
	FailCode        string

	// RateLimitBurst makes the next /api/v1/logs requests get 429 E0000047 with
	// X-Rate-Limit-Remaining 0, as if the window were exhausted.
	RateLimitBurst int
	// ConcurrencyBurst makes the next /api/v1/logs requests get 429 E0000047 with
	// X-Rate-Limit-Limit 0 and X-Rate-Limit-Remaining 0, as Okta does at its concurrency limit.
	ConcurrencyBurst int

	// SlowLogRequests delays the response to the next authenticated /api/v1/logs requests by
	// SlowDelay (default 2s), or until the client gives up.
	SlowLogRequests int
	SlowDelay       time.Duration

	// TruncateLogRequests sends only the first half of the next pages, with a Content-Length
	// for the whole page, then closes the connection.
	TruncateLogRequests int
	// ResetLogRequests resets the TCP connection instead of responding to the next authenticated
	// /api/v1/logs requests.
	ResetLogRequests int

	// FailTokenRequests makes the next token requests fail with TokenFailStatus (default 500).
	// A 429 gets Okta's E0000047 body; other statuses get E0000009.
	FailTokenRequests int
	TokenFailStatus   int

	// ExpireTokens expires every issued access token now, so the next /api/v1/logs request
	// gets 401 E0000011.
	ExpireTokens bool
	// RotateNonce rotates the token-endpoint DPoP nonce now. The previous nonce stays valid
	// until the next rotation.
	RotateNonce bool
}

// SetFault replaces the pending faults with f and applies its one-time actions.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if f.ExpireTokens {
		for _, t := range s.tokens {
			if t.expires.After(now) {
				t.expires = now
			}
		}
	}
	if f.RotateNonce {
		s.nonces.rotate(now)
	}
	f.ExpireTokens = false
	f.RotateNonce = false
	if f.FailStatus == 0 {
		f.FailStatus = http.StatusInternalServerError
	}
	if f.FailCode == "" {
		f.FailCode = "E0000009"
	}
	if f.SlowDelay == 0 {
		f.SlowDelay = 2 * time.Second
	}
	if f.TokenFailStatus == 0 {
		f.TokenFailStatus = http.StatusInternalServerError
	}
	s.fault = f
}

// CurrentNonce returns the token-endpoint DPoP nonce a client would get in a challenge.
func (s *Server) CurrentNonce() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nonces.maybeRotate(s.cfg.Now(), s.cfg.NonceLifetime)
	return s.nonces.current
}

// takeTokenFault returns a writer for an injected token-endpoint failure, or nil. The caller
// holds s.mu.
func (s *Server) takeTokenFault() func(http.ResponseWriter) (int, string) {
	if s.fault.FailTokenRequests <= 0 {
		return nil
	}
	s.fault.FailTokenRequests--
	status := s.fault.TokenFailStatus
	if status == http.StatusTooManyRequests {
		s.stats.RateLimited++
	}
	return func(w http.ResponseWriter) (int, string) {
		if status == http.StatusTooManyRequests {
			writeOktaError(w, status, "E0000047", summaryRateLimit)
			return status, ReasonRateLimit
		}
		writeOktaError(w, status, "E0000009", oktaErrorSummaries["E0000009"])
		return status, ReasonFault
	}
}

// rateLimiter is a fixed-window counter whose window starts at the first request after the
// previous window ended.
type rateLimiter struct {
	start time.Time
	used  int
}

// unlimitedHeaderLimit is the X-Rate-Limit-Limit sent when Config.RateLimit is 0.
const unlimitedHeaderLimit = 1000000

// rateHeaders are the X-Rate-Limit-* values for one response.
type rateHeaders struct {
	limit     int
	remaining int
	reset     time.Time
}

func (h rateHeaders) set(header http.Header) {
	header.Set("X-Rate-Limit-Limit", strconv.Itoa(h.limit))
	header.Set("X-Rate-Limit-Remaining", strconv.Itoa(h.remaining))
	// Okta sends the reset as UTC epoch seconds; rounding up keeps a client that waits
	// until Reset from coming back a fraction of a second early.
	reset := h.reset.Unix()
	if h.reset.Nanosecond() > 0 {
		reset++
	}
	header.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset, 10))
}

// take counts one request and reports whether it is within the limit.
func (l *rateLimiter) take(now time.Time, limit int, window time.Duration) (rateHeaders, bool) {
	if l.start.IsZero() || !now.Before(l.start.Add(window)) {
		l.start = now
		l.used = 0
	}
	h := rateHeaders{limit: limit, reset: l.start.Add(window)}
	if limit == 0 {
		l.used++
		h.limit = unlimitedHeaderLimit
		h.remaining = max(unlimitedHeaderLimit-l.used, 0)
		return h, true
	}
	if l.used >= limit {
		return h, false
	}
	l.used++
	h.remaining = limit - l.used
	return h, true
}

// peek returns the headers for the current window without counting a request.
func (l *rateLimiter) peek(now time.Time, limit int, window time.Duration) rateHeaders {
	h := rateHeaders{limit: limit, remaining: max(limit-l.used, 0), reset: l.start.Add(window)}
	if l.start.IsZero() || !now.Before(l.start.Add(window)) {
		h.remaining = limit
		h.reset = now.Add(window)
	}
	if limit == 0 {
		h.limit = unlimitedHeaderLimit
		h.remaining = max(unlimitedHeaderLimit-l.used, 0)
	}
	return h
}
