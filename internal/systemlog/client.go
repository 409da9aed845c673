// Package systemlog reads Okta's System Log (GET /api/v1/logs) as a polling stream: requests
// without until and with sortOrder=ASCENDING, following the next links Okta returns, and hands
// the decoded records to Fluent Bit through a bounded queue.
package systemlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jsoniter "github.com/json-iterator/go"

	"github.com/edgeaudit/fluent-bit-okta/internal/auth"
)

// LogsPath is the System Log endpoint.
const LogsPath = "/api/v1/logs"

// maxPageBytes bounds the body of one page. A page of 1000 events is a few MB.
const maxPageBytes = 64 << 20

// Client sends System Log requests with an access token and, when DPoP is on, a fresh proof per
// request.
type Client struct {
	OrgURL    *url.URL
	HTTP      *http.Client
	Tokens    *auth.TokenSource
	Prover    *auth.Prover // nil when DPoP is off
	Clock     *auth.Clock
	UserAgent string
	Logger    *slog.Logger

	resourceNonce string // dpop-nonce sent by the resource server, if it ever requires one
}

// Response is one page as Okta returned it.
type Response struct {
	URL  string // the request URL
	Body []byte
	Next string // the rel="next" link, checked to stay on the org; "" when absent
	Rate RateLimit
}

// RateLimit holds the X-Rate-Limit headers of a response and its Date.
type RateLimit struct {
	Limit, Remaining int
	Reset            time.Time // when the window resets, by the server's clock
	Date             time.Time // the response's Date header
	Known            bool      // the three headers were present and valid
}

// APIError is an error response of /api/v1/logs.
type APIError struct {
	Status    int
	Code      string // Okta errorCode, such as E0000047
	Summary   string // Okta errorSummary, plus errorCauses
	Challenge string // error and error_description of WWW-Authenticate, when present
	Rate      RateLimit
}

// Error returns the error in plain words with a hint for the usual causes.
func (e *APIError) Error() string {
	msg := fmt.Sprintf("systemlog: Okta returned HTTP %d", e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Summary != "" {
		msg += ": " + e.Summary
	}
	if e.Challenge != "" {
		msg += " (WWW-Authenticate: " + e.Challenge + ")"
	}
	if hint := e.hint(); hint != "" {
		msg = strings.TrimSuffix(msg, ".") + "; " + hint
	}
	return msg
}

func (e *APIError) hint() string {
	switch {
	case e.Code == "E0000006":
		return "assign the Report Administrator (or Read-only Administrator) role to the app"
	case strings.Contains(e.Challenge, "insufficient_scope"):
		return "grant okta.logs.read on the app's Okta API Scopes tab"
	case e.Status == http.StatusTooManyRequests:
		return "waiting for the rate limit window to reset"
	case e.Code == "E0000053" && strings.Contains(e.Summary, "180 days"):
		return "the checkpoint or initial_lookback is too old"
	case e.Status == http.StatusBadRequest && (e.Code == "E0000031" || e.Code == "E0000053" ||
		e.Code == "E0000001"):
		return "check filter and query"
	}
	return ""
}

// Retryable reports whether the same request may succeed later without a configuration change.
// A rejected DPoP proof counts: every attempt signs a new proof, and the rejection is often of
// a proof that net/http's Transport sent twice after a connection reset.
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500 ||
		e.Status == http.StatusUnauthorized || strings.Contains(e.Challenge, "invalid_dpop_proof")
}

// Get fetches one page. After a 401 it repeats the request once, with a new access token or
// with the DPoP nonce the resource server sent.
func (c *Client) Get(ctx context.Context, target string) (*Response, error) {
	for attempt := 0; ; attempt++ {
		tok, err := c.Tokens.Token(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := c.get(ctx, target, tok)
		var apiErr *APIError
		if attempt == 0 && errors.As(err, &apiErr) &&
			strings.Contains(apiErr.Challenge, "invalid_dpop_proof") {
			// net/http's Transport sends a GET again, headers unchanged, when a reused
			// connection fails before the response, so Okta may see the proof's jti twice.
			c.Logger.Debug("Okta rejected the DPoP proof; retrying once with a new proof",
				"status", apiErr.Status)
			continue
		}
		if attempt == 0 && errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
			if strings.Contains(apiErr.Challenge, "use_dpop_nonce") && c.resourceNonce != "" {
				c.Logger.Debug("System Log endpoint sent a DPoP nonce challenge; retrying")
				continue
			}
			c.Logger.Info("Okta rejected the access token; requesting a new one",
				"status", apiErr.Status, "reason", apiErr.Code)
			c.Tokens.Invalidate(tok)
			continue
		}
		return resp, err
	}
}

func (c *Client) get(ctx context.Context, target string, tok *auth.Token) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("systemlog: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	req.Header.Set("Authorization", tok.Type+" "+tok.Value)
	if c.Prover != nil {
		proof, err := c.Prover.Proof(http.MethodGet, target, c.resourceNonce, tok.Value)
		if err != nil {
			return nil, err
		}
		req.Header.Set("DPoP", proof)
	}

	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("systemlog: request failed: %w", err)
	}
	defer resp.Body.Close()
	rate := parseRateLimit(resp.Header)
	if !rate.Date.IsZero() {
		c.Clock.Observe(rate.Date)
	}
	if nonce := resp.Header.Get("DPoP-Nonce"); nonce != "" && c.Prover != nil {
		c.resourceNonce = nonce
	}
	body, err := readBody(resp)
	if err != nil {
		return nil, fmt.Errorf("systemlog: reading the response body failed after %d bytes: %w",
			len(body), err)
	}
	if len(body) > maxPageBytes {
		return nil, fmt.Errorf("systemlog: response body exceeds %d bytes", maxPageBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, newAPIError(resp, body, rate)
	}
	out := &Response{URL: target, Body: body, Rate: rate}
	if next := nextLink(resp.Header); next != "" {
		if err := c.checkLink(next); err != nil {
			return nil, err
		}
		out.Next = next
	}
	return out, nil
}

// readBody reads at most maxPageBytes+1 bytes, in one allocation when Content-Length is known,
// which spares the copies io.ReadAll makes while it grows its buffer for a page of several MB.
func readBody(resp *http.Response) ([]byte, error) {
	limited := io.LimitReader(resp.Body, maxPageBytes+1)
	if n := resp.ContentLength; n > 0 && n <= maxPageBytes {
		body := make([]byte, n)
		read, err := io.ReadFull(limited, body)
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("unexpected EOF (Content-Length %d)", n)
		}
		return body[:read], err
	}
	return io.ReadAll(limited)
}

// checkLink refuses a next link that leaves the configured org: following it would send the
// access token and a proof for that URL to another host.
func (c *Client) checkLink(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("systemlog: Okta sent an invalid next link: %v", err)
	}
	host := strings.ToLower(u.Host)
	if u.Port() == "443" {
		host = strings.ToLower(u.Hostname())
	}
	if u.Scheme != "https" || host != c.OrgURL.Host || u.Path != LogsPath || u.User != nil {
		return fmt.Errorf("systemlog: refusing to follow next link %s://%s%s: it leaves %s%s",
			u.Scheme, u.Host, u.Path, c.OrgURL.String(), LogsPath)
	}
	return nil
}

// nextLink returns the rel="next" target of the Link headers. Okta sends self and next as two
// separate header lines; one line with a comma-separated list works too.
func nextLink(h http.Header) string {
	for _, line := range h.Values("Link") {
		for _, part := range splitLinks(line) {
			target, params, ok := strings.Cut(part, ";")
			if !ok {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(name, "rel") && hasRelation(value, "next") {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

// hasRelation reports whether a rel value lists relation type rel. RFC 8288 section 3.3 makes
// the value a space-separated list, and registered relation types compare case-insensitively.
func hasRelation(value, rel string) bool {
	for _, r := range strings.Fields(strings.Trim(value, `"`)) {
		if strings.EqualFold(r, rel) {
			return true
		}
	}
	return false
}

// splitLinks splits a Link header value at the commas between entries, not inside <...>.
func splitLinks(v string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, v[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, v[start:])
}

func parseRateLimit(h http.Header) RateLimit {
	var r RateLimit
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		r.Date = d
	}
	limit, err1 := strconv.Atoi(h.Get("X-Rate-Limit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-Rate-Limit-Remaining"))
	reset, err3 := strconv.ParseInt(h.Get("X-Rate-Limit-Reset"), 10, 64)
	if err1 == nil && err2 == nil && err3 == nil && limit >= 0 && remaining >= 0 && reset > 0 {
		r.Limit, r.Remaining, r.Reset, r.Known = limit, remaining, time.Unix(reset, 0), true
	}
	return r
}

type oktaErrorBody struct {
	ErrorCode    string `json:"errorCode"`
	ErrorSummary string `json:"errorSummary"`
	ErrorCauses  []struct {
		ErrorSummary string `json:"errorSummary"`
	} `json:"errorCauses"`
}

func newAPIError(resp *http.Response, body []byte, rate RateLimit) *APIError {
	e := &APIError{Status: resp.StatusCode, Rate: rate}
	var b oktaErrorBody
	if jsoniter.ConfigCompatibleWithStandardLibrary.Unmarshal(body, &b) == nil {
		e.Code, e.Summary = b.ErrorCode, b.ErrorSummary
		for _, cause := range b.ErrorCauses {
			if cause.ErrorSummary != "" {
				e.Summary += " (" + cause.ErrorSummary + ")"
			}
		}
	} else if len(body) > 0 {
		e.Summary = auth.BodySnippet(body)
	}
	e.Challenge = challengeText(resp.Header.Values("WWW-Authenticate"))
	return e
}

// challengeText keeps the error and error_description parameters of WWW-Authenticate, which
// carry no secret, and drops the rest.
func challengeText(values []string) string {
	var out []string
	for _, v := range values {
		for _, key := range []string{"error", "error_description"} {
			if val := authParam(v, key); val != "" {
				out = append(out, key+"="+strconv.Quote(val))
			}
		}
	}
	return strings.Join(out, " ")
}

// authParam returns the value of one auth-param of a challenge (RFC 9110 section 11.2).
func authParam(challenge, key string) string {
	s := challenge
	for {
		i := strings.Index(s, key+"=")
		if i < 0 {
			return ""
		}
		if i > 0 && s[i-1] != ' ' && s[i-1] != ',' {
			s = s[i+len(key)+1:]
			continue
		}
		s = s[i+len(key)+1:]
		if strings.HasPrefix(s, `"`) {
			end := strings.Index(s[1:], `"`)
			if end < 0 {
				return s[1:]
			}
			return s[1 : end+1]
		}
		end := strings.IndexAny(s, ", ")
		if end < 0 {
			return s
		}
		return s[:end]
	}
}
