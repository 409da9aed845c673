package mockokta

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const (
	// retention is how far back the System Log returns events.
	retention = 90 * 24 * time.Hour
	// maxSinceAge is the oldest since Okta accepts; older is a 400 E0000053.
	maxSinceAge = 180 * 24 * time.Hour
	// defaultWindow is the default distance of since before until.
	defaultWindow = 7 * 24 * time.Hour
	defaultLimit  = 100
	maxLimit      = 1000
)

func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Now()
	s.mu.Lock()
	s.stats.LogRequests++
	s.inFlight++
	s.stats.MaxInFlight = max(s.stats.MaxInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()

	buf := newResponseBuffer()
	outcome := s.serveLogs(buf, r, now)
	s.record(r, buf.status, outcome.reason, outcome.events)

	switch {
	case outcome.reset:
		resetConnection(w)
		return
	case outcome.delay > 0:
		timer := time.NewTimer(outcome.delay)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	if outcome.truncate {
		writeTruncated(w, buf)
		return
	}
	buf.flushTo(w)
}

// logsOutcome is how a /api/v1/logs response is to be delivered and recorded.
type logsOutcome struct {
	reason   string
	events   int
	delay    time.Duration
	truncate bool
	reset    bool
}

// serveLogs runs the limit, authentication and query checks and writes the response to w.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request, now time.Time) logsOutcome {
	s.mu.Lock()
	rate, rej := s.admitLogRequest(now)
	s.mu.Unlock()
	rate.set(w.Header())
	if rej != nil {
		writeOktaError(w, http.StatusTooManyRequests, "E0000047", summaryRateLimit)
		return logsOutcome{reason: rej.reason}
	}
	if r.Method != http.MethodGet {
		writeOktaError(w, http.StatusMethodNotAllowed, "E0000022",
			"The endpoint does not support the provided HTTP method")
		return logsOutcome{reason: ReasonMethod}
	}
	if reason, ok := s.authenticate(w, r, now); !ok {
		return logsOutcome{reason: reason}
	}

	s.mu.Lock()
	outcome, failed := s.takeLogFault(w)
	s.mu.Unlock()
	if failed {
		return outcome
	}

	query, bad := s.parseLogsQuery(r.URL.Query(), now)
	if bad != nil {
		writeOktaError(w, http.StatusBadRequest, bad.code, bad.summary)
		return logsOutcome{reason: bad.reason}
	}

	s.mu.Lock()
	page := s.readPage(query, now)
	s.stats.LogPages++
	s.stats.EventsServed += len(page.events)
	if len(page.events) == 0 {
		s.stats.EmptyPages++
	}
	s.mu.Unlock()

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Add("Link", "<"+s.url+r.URL.RequestURI()+`>; rel="self"`)
	if page.next != "" {
		h.Add("Link", "<"+s.nextLink(query, page.next)+`>; rel="next"`)
	}
	w.WriteHeader(http.StatusOK)
	writeEventArray(w, page.events)
	outcome.reason = reasonOK
	if outcome.truncate {
		outcome.reason = ReasonFault
	}
	outcome.events = len(page.events)
	return outcome
}

// admitLogRequest applies the concurrency and rate limits. The caller holds s.mu.
func (s *Server) admitLogRequest(now time.Time) (rateHeaders, *rejection) {
	overConcurrency := s.cfg.ConcurrencyLimit > 0 && s.inFlight > s.cfg.ConcurrencyLimit
	if s.fault.ConcurrencyBurst > 0 || overConcurrency {
		if !overConcurrency {
			s.fault.ConcurrencyBurst--
		}
		s.stats.RateLimited++
		rate := s.limiter.peek(now, s.cfg.RateLimit, s.cfg.RateWindow)
		rate.limit, rate.remaining = 0, 0
		return rate, reject(ReasonConcurrency, "")
	}
	if s.fault.RateLimitBurst > 0 {
		s.fault.RateLimitBurst--
		s.stats.RateLimited++
		rate := s.limiter.peek(now, s.cfg.RateLimit, s.cfg.RateWindow)
		rate.remaining = 0
		return rate, reject(ReasonRateLimit, "")
	}
	rate, ok := s.limiter.take(now, s.cfg.RateLimit, s.cfg.RateWindow)
	if !ok {
		s.stats.RateLimited++
		return rate, reject(ReasonRateLimit, "")
	}
	return rate, nil
}

// takeLogFault writes an injected failure, or sets how the page is to be delivered. It
// reports true when the request gets no page: an error response or a connection reset. The
// caller holds s.mu.
func (s *Server) takeLogFault(w http.ResponseWriter) (logsOutcome, bool) {
	f := &s.fault
	var outcome logsOutcome
	if f.FailLogRequests > 0 {
		f.FailLogRequests--
		summary, ok := oktaErrorSummaries[f.FailCode]
		if !ok {
			summary = "Injected failure"
		}
		writeOktaError(w, f.FailStatus, f.FailCode, summary)
		return logsOutcome{reason: ReasonFault}, true
	}
	if f.ResetLogRequests > 0 {
		f.ResetLogRequests--
		return logsOutcome{reason: ReasonFault, reset: true}, true
	}
	if f.SlowLogRequests > 0 {
		f.SlowLogRequests--
		outcome.delay = f.SlowDelay
	}
	if f.TruncateLogRequests > 0 {
		f.TruncateLogRequests--
		outcome.truncate = true
	}
	return outcome, false
}

// authenticate checks the access token, its scheme, its DPoP proof and its scope (Okta DPoP
// guide for Okta resource servers, RFC 9449 section 7). It writes the rejection and reports
// false when a check fails.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request,
	now time.Time) (string, bool) {
	scheme, value := parseAuthorization(r.Header.Get("Authorization"))
	s.mu.Lock()
	token, known := s.tokens[value]
	var tok accessToken
	if known {
		tok = *token
	}
	s.mu.Unlock()

	if value == "" || !known {
		s.writeInvalidToken(w, scheme)
		if value == "" {
			return ReasonNoToken, false
		}
		return ReasonInvalidToken, false
	}
	if !strings.EqualFold(scheme, tok.tokenType) {
		// Okta responds with 400 when a DPoP-bound token is sent with the Bearer scheme.
		s.writeChallenge(w, http.StatusBadRequest, tok.tokenType, "invalid_request",
			descWrongScheme)
		return ReasonWrongScheme, false
	}
	if !now.Before(tok.expires) {
		s.writeInvalidToken(w, tok.tokenType)
		return ReasonExpiredToken, false
	}

	if tok.tokenType == "DPoP" {
		if reason, ok := s.checkResourceProof(w, r, value, &tok, now); !ok {
			return reason, false
		}
	}
	if !slices.Contains(tok.scopes, ScopeLogsRead) {
		s.writeChallenge(w, http.StatusForbidden, tok.tokenType, "insufficient_scope",
			descInsufficientScope)
		return ReasonInsufficientScope, false
	}
	return "", true
}

// checkResourceProof verifies the DPoP proof of an API request: htm GET, htu without the
// query, ath for this token, the key the token is bound to, and a jti not seen before.
func (s *Server) checkResourceProof(w http.ResponseWriter, r *http.Request, value string,
	tok *accessToken, now time.Time) (string, bool) {
	want := proofRequest{method: r.Method, url: s.LogsURL(), accessToken: value}
	proof, rej := verifyProof(r.Header.Values("DPoP"), want, now, s.cfg.ClockSkew)
	if rej == nil && proof.thumbprint != tok.thumbprint {
		rej = reject(ReasonProofJKT, proofClaimDescription("jwk"))
	}
	if rej == nil {
		s.mu.Lock()
		fresh := s.proofs.use(proof.jti, now, now.Add(2*s.cfg.ClockSkew))
		s.mu.Unlock()
		if !fresh {
			rej = reject(ReasonProofReplay, proofClaimDescription("jti"))
		}
	}
	if rej != nil {
		s.writeChallenge(w, http.StatusBadRequest, "DPoP", "invalid_dpop_proof", rej.desc)
		return rej.reason, false
	}
	return "", true
}

// writeInvalidToken sends Okta's 401 E0000011 for a missing, unknown or expired token.
func (s *Server) writeInvalidToken(w http.ResponseWriter, scheme string) {
	if scheme != "Bearer" {
		scheme = "DPoP"
	}
	w.Header().Set("WWW-Authenticate", s.challenge(scheme, "invalid_token",
		"The access token is invalid."))
	writeOktaError(w, http.StatusUnauthorized, "E0000011", summaryInvalidToken)
}

// nextLink returns the next link: the request's query without since and with the new after
// cursor. Okta rejects since together with after, so since cannot stay in the link.
func (s *Server) nextLink(q *logsQuery, cursor string) string {
	values := url.Values{}
	for name, v := range q.raw {
		if name != "since" && name != "after" {
			values[name] = v
		}
	}
	values.Set("after", cursor)
	return s.url + logsPath + "?" + values.Encode()
}

func writeEventArray(w http.ResponseWriter, events []*storedEvent) {
	size := 2
	for _, ev := range events {
		size += len(ev.raw) + 1
	}
	out := make([]byte, 0, size)
	out = append(out, '[')
	for i, ev := range events {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, ev.raw...)
	}
	out = append(out, ']')
	_, _ = w.Write(out)
}

// resetConnection closes the client connection with a TCP RST (SO_LINGER 0).
func resetConnection(w http.ResponseWriter) {
	conn := hijack(w)
	if conn == nil {
		return
	}
	if tcp, ok := netConn(conn).(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// writeTruncated sends the headers of buf with the full Content-Length but only the first
// half of its body, then closes the connection.
func writeTruncated(w http.ResponseWriter, buf *responseBuffer) {
	buf.copyHeaders(w)
	w.WriteHeader(buf.status)
	body := buf.body.Bytes()
	_, _ = w.Write(body[:len(body)/2])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if conn := hijack(w); conn != nil {
		_ = conn.Close()
	}
}

func hijack(w http.ResponseWriter) net.Conn {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return nil
	}
	return conn
}

// netConn returns the TCP connection under a TLS connection.
func netConn(conn net.Conn) net.Conn {
	if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		return tc.NetConn()
	}
	return conn
}
