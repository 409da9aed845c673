package systemlog

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"

	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/edgeaudit/fluent-bit-okta/internal/auth"
)

// logsRequest is one /api/v1/logs request the fake org received.
type logsRequest struct {
	query         url.Values
	authorization string
	proof         map[string]any // verified claims of the DPoP proof, nil without one
}

// fakeOrg is an Okta org over real TLS: a token endpoint that issues tok-1, tok-2, ... and a
// System Log endpoint whose answers come from logs.
type fakeOrg struct {
	t         *testing.T
	srv       *httptest.Server
	org       *url.URL
	tokenType string

	mu     sync.Mutex
	tokens int
	calls  []logsRequest
	logs   func(n int, req logsRequest, w http.ResponseWriter)
}

func newFakeOrg(t *testing.T, tokenType string) *fakeOrg {
	t.Helper()
	f := &fakeOrg{t: t, tokenType: tokenType}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	var err error
	if f.org, err = url.Parse(f.srv.URL); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeOrg) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/oauth2/v1/token":
		f.mu.Lock()
		f.tokens++
		n := f.tokens
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":%q,"access_token":"tok-%d","expires_in":3600,`+
			`"scope":"okta.logs.read"}`, f.tokenType, n)
	case LogsPath:
		req := logsRequest{query: r.URL.Query(), authorization: r.Header.Get("Authorization")}
		if proof := r.Header.Get("DPoP"); proof != "" {
			claims, err := verifyProof(proof)
			if err != nil {
				f.t.Errorf("DPoP proof: %v", err)
			}
			req.proof = claims
		}
		f.mu.Lock()
		f.calls = append(f.calls, req)
		n := len(f.calls)
		logs := f.logs
		f.mu.Unlock()
		logs(n, req, w)
	default:
		http.NotFound(w, r)
	}
}

func verifyProof(proof string) (map[string]any, error) {
	msg, err := jws.Parse([]byte(proof))
	if err != nil {
		return nil, err
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	payload, err := jws.Verify([]byte(proof), jws.WithKey(hdr.Algorithm(), hdr.JWK()))
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	err = json.Unmarshal(payload, &claims)
	return claims, err
}

func (f *fakeOrg) Calls() []logsRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]logsRequest(nil), f.calls...)
}

func (f *fakeOrg) Tokens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens
}

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var (
	clientKeyOnce sync.Once
	clientKey     *ecdsa.PrivateKey
)

// newClient returns a Client for f, with DPoP when f issues DPoP tokens.
func newClient(t *testing.T, f *fakeOrg) *Client {
	t.Helper()
	clientKeyOnce.Do(func() {
		var err error
		if clientKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	clock := auth.NewClock(nil)
	var prover *auth.Prover
	if f.tokenType == "DPoP" {
		var err error
		if prover, err = auth.NewProver(nil, clock); err != nil {
			t.Fatal(err)
		}
	}
	tokens := auth.NewTokenSource(auth.Config{
		OrgURL: f.srv.URL, ClientID: "0oaclient", KeyID: "kid", ClientKey: clientKey,
		Scopes: []string{"okta.logs.read"}, Prover: prover, Client: f.srv.Client(),
		Clock: clock, Logger: testLogger(),
	})
	return &Client{OrgURL: f.org, HTTP: f.srv.Client(), Tokens: tokens, Prover: prover,
		Clock: clock, Logger: testLogger(), UserAgent: "test/1"}
}

func (f *fakeOrg) logsURL(query string) string { return f.srv.URL + LogsPath + "?" + query }

func TestNextLink(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  string
	}{
		{"two lines", []string{`<https://o.okta.com/api/v1/logs?since=x>; rel="self"`,
			`<https://o.okta.com/api/v1/logs?after=1_1>; rel="next"`},
			"https://o.okta.com/api/v1/logs?after=1_1"},
		{"one comma list", []string{`<https://o.okta.com/api/v1/logs?a=1,2>; rel="self", ` +
			`<https://o.okta.com/api/v1/logs?after=2_1>; rel="next"`},
			"https://o.okta.com/api/v1/logs?after=2_1"},
		{"unquoted rel", []string{`<https://o.okta.com/n>; rel=next`}, "https://o.okta.com/n"},
		{"other parameters first", []string{`<https://o.okta.com/n>; type="x"; REL="next"`},
			"https://o.okta.com/n"},
		{"relation list", []string{`<https://o.okta.com/n>; rel="next last"`},
			"https://o.okta.com/n"},
		{"upper-case relation", []string{`<https://o.okta.com/n>; rel="Next"`},
			"https://o.okta.com/n"},
		{"self only", []string{`<https://o.okta.com/s>; rel="self"`}, ""},
		{"no brackets", []string{`https://o.okta.com/n; rel="next"`}, ""},
		{"no parameters", []string{`<https://o.okta.com/n>`}, ""},
		{"no header", nil, ""},
	}
	for _, tc := range cases {
		h := http.Header{}
		for _, l := range tc.lines {
			h.Add("Link", l)
		}
		if got := nextLink(h); got != tc.want {
			t.Errorf("%s: nextLink = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCheckLink(t *testing.T) {
	org, _ := url.Parse("https://example.okta.com")
	c := &Client{OrgURL: org}
	cases := []struct {
		link string
		ok   bool
	}{
		{"https://example.okta.com/api/v1/logs?after=1_1", true},
		{"https://EXAMPLE.okta.com:443/api/v1/logs?after=1_1", true},
		{"https://other.okta.com/api/v1/logs?after=1_1", false},
		{"https://example.okta.com.evil.test/api/v1/logs", false},
		{"http://example.okta.com/api/v1/logs?after=1_1", false},
		{"https://example.okta.com:8443/api/v1/logs", false},
		{"https://example.okta.com/api/v1/users", false},
		{"https://example.okta.com/api/v1/logs/../users", false},
		{"https://user:pw@example.okta.com/api/v1/logs", false},
		{"/api/v1/logs?after=1_1", false},
		{"https://example.okta.com/api/v1/logs\x7f", false},
	}
	for _, tc := range cases {
		err := c.checkLink(tc.link)
		if (err == nil) != tc.ok {
			t.Errorf("checkLink(%q) = %v, want ok %v", tc.link, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("checkLink(%q) error %q shows the user information", tc.link, err)
		}
	}
}

func TestParseRateLimit(t *testing.T) {
	date := "Sun, 01 Mar 2026 12:00:00 GMT"
	dateTime := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		headers map[string]string
		want    RateLimit
	}{
		{"all headers", map[string]string{"X-Rate-Limit-Limit": "120",
			"X-Rate-Limit-Remaining": "119", "X-Rate-Limit-Reset": "1772366460", "Date": date},
			RateLimit{Limit: 120, Remaining: 119, Reset: time.Unix(1772366460, 0),
				Date: dateTime, Known: true}},
		{"concurrency limit", map[string]string{"X-Rate-Limit-Limit": "0",
			"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "1772366460"},
			RateLimit{Reset: time.Unix(1772366460, 0), Known: true}},
		{"missing reset", map[string]string{"X-Rate-Limit-Limit": "120",
			"X-Rate-Limit-Remaining": "1", "Date": date}, RateLimit{Date: dateTime}},
		{"negative remaining", map[string]string{"X-Rate-Limit-Limit": "120",
			"X-Rate-Limit-Remaining": "-1", "X-Rate-Limit-Reset": "1772366460"}, RateLimit{}},
		{"not a number", map[string]string{"X-Rate-Limit-Limit": "lots",
			"X-Rate-Limit-Remaining": "1", "X-Rate-Limit-Reset": "1772366460"}, RateLimit{}},
		{"bad Date", map[string]string{"Date": "yesterday"}, RateLimit{}},
	}
	for _, tc := range cases {
		h := http.Header{}
		for k, v := range tc.headers {
			h.Set(k, v)
		}
		got := parseRateLimit(h)
		if got.Limit != tc.want.Limit || got.Remaining != tc.want.Remaining ||
			!got.Reset.Equal(tc.want.Reset) || !got.Date.Equal(tc.want.Date) ||
			got.Known != tc.want.Known {
			t.Errorf("%s: parseRateLimit = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestAPIErrorText(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		challenge []string
		want      []string
		retry     bool
	}{
		{"error causes", 400, `{"errorCode":"E0000001","errorSummary":"Api validation failed",` +
			`"errorCauses":[{"errorSummary":"limit: must be 1000 or less"}]}`, nil,
			[]string{"HTTP 400 E0000001", "Api validation failed (limit: must be 1000 or less)",
				"check filter and query"}, false},
		{"insufficient scope", 403, "", []string{`DPoP algs="RS256 ES256", ` +
			`realm="http://o.okta.com", scope="okta.logs.read", error="insufficient_scope", ` +
			`error_description="The access token provided does not contain the required scopes."`},
			[]string{"HTTP 403", `error="insufficient_scope"`,
				`error_description="The access token provided does not contain the required scopes."`,
				"grant okta.logs.read"}, false},
		{"missing role", 403, `{"errorCode":"E0000006","errorSummary":"You do not have ` +
			`permission to perform the requested action","errorCauses":[]}`, nil,
			[]string{"E0000006", "Report Administrator"}, false},
		{"rate limited", 429, `{"errorCode":"E0000047","errorSummary":"API call exceeded ` +
			`rate limit due to too many requests."}`, nil,
			[]string{"HTTP 429 E0000047", "waiting for the rate limit window"}, true},
		{"since too old", 400, `{"errorCode":"E0000053","errorSummary":"Invalid parameter: ` +
			`The since parameter is over 180 days prior to the current day."}`, nil,
			[]string{"180 days", "initial_lookback is too old"}, false},
		{"invalid token", 401, `{"errorCode":"E0000011","errorSummary":"Invalid token provided"}`,
			[]string{`Bearer error="invalid_token", error_description="The access token is invalid."`},
			[]string{"E0000011", `error="invalid_token"`}, true},
		{"timeout", 500, `{"errorCode":"E0000009","errorSummary":"Internal Server Error"}`, nil,
			[]string{"HTTP 500 E0000009"}, true},
		{"HTML body", 502, "<html>\n  <h1>Bad gateway</h1>\n</html>", nil,
			[]string{"HTTP 502: <html> <h1>Bad gateway</h1> </html>"}, true},
	}
	for _, tc := range cases {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
		for _, c := range tc.challenge {
			resp.Header.Add("WWW-Authenticate", c)
		}
		e := newAPIError(resp, []byte(tc.body), RateLimit{})
		for _, want := range tc.want {
			if !strings.Contains(e.Error(), want) {
				t.Errorf("%s: error %q does not contain %q", tc.name, e, want)
			}
		}
		if strings.Contains(e.Error(), "realm") || strings.Contains(e.Error(), "algs") {
			t.Errorf("%s: error %q keeps challenge parameters other than error", tc.name, e)
		}
		if e.Retryable() != tc.retry {
			t.Errorf("%s: Retryable = %v, want %v", tc.name, e.Retryable(), tc.retry)
		}
	}
}

func TestAuthParam(t *testing.T) {
	challenge := `DPoP algs="ES256", error="use_dpop_nonce", error_description="Resource ` +
		`server requires nonce in DPoP proof", xerror=bad, scope=okta.logs.read`
	cases := []struct{ key, want string }{
		{"error", "use_dpop_nonce"},
		{"error_description", "Resource server requires nonce in DPoP proof"},
		{"scope", "okta.logs.read"},
		{"realm", ""},
	}
	for _, tc := range cases {
		if got := authParam(challenge, tc.key); got != tc.want {
			t.Errorf("authParam(%s) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

func TestClientGetBearer(t *testing.T) {
	f := newFakeOrg(t, "Bearer")
	f.logs = func(_ int, _ logsRequest, w http.ResponseWriter) {
		w.Header().Add("Link", fmt.Sprintf(`<%s>; rel="self"`, f.logsURL("since=x")))
		w.Header().Add("Link", fmt.Sprintf(`<%s>; rel="next"`, f.logsURL("after=1_1")))
		w.Header().Set("X-Rate-Limit-Limit", "120")
		w.Header().Set("X-Rate-Limit-Remaining", "99")
		w.Header().Set("X-Rate-Limit-Reset", "1772366460")
		_, _ = io.WriteString(w, "[]")
	}
	c := newClient(t, f)
	target := f.logsURL("since=x&limit=10")
	resp, err := c.Get(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Next != f.logsURL("after=1_1") {
		t.Errorf("Next = %q", resp.Next)
	}
	if resp.URL != target || string(resp.Body) != "[]" {
		t.Errorf("URL = %q, Body = %q", resp.URL, resp.Body)
	}
	if !resp.Rate.Known || resp.Rate.Remaining != 99 {
		t.Errorf("Rate = %+v", resp.Rate)
	}
	calls := f.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d logs requests, want 1", len(calls))
	}
	if calls[0].authorization != "Bearer tok-1" {
		t.Errorf("Authorization = %q, want Bearer tok-1", calls[0].authorization)
	}
	if calls[0].proof != nil {
		t.Error("a DPoP proof was sent with a Bearer token")
	}
}

func TestClientGetDPoP(t *testing.T) {
	f := newFakeOrg(t, "DPoP")
	f.logs = func(_ int, _ logsRequest, w http.ResponseWriter) { _, _ = io.WriteString(w, "[]") }
	c := newClient(t, f)
	for i := 0; i < 2; i++ {
		if _, err := c.Get(context.Background(), f.logsURL("after=1_1&limit=1000")); err != nil {
			t.Fatal(err)
		}
	}
	calls := f.Calls()
	sum := sha256.Sum256([]byte("tok-1"))
	for i, call := range calls {
		if call.authorization != "DPoP tok-1" {
			t.Errorf("call %d: Authorization = %q, want DPoP tok-1", i, call.authorization)
		}
		if call.proof == nil {
			t.Fatalf("call %d: no DPoP proof", i)
		}
		want := map[string]any{"htm": "GET", "htu": f.srv.URL + LogsPath,
			"ath": base64.RawURLEncoding.EncodeToString(sum[:])}
		for k, v := range want {
			if call.proof[k] != v {
				t.Errorf("call %d: claim %s = %v, want %v", i, k, call.proof[k], v)
			}
		}
	}
	if calls[0].proof["jti"] == calls[1].proof["jti"] {
		t.Error("two requests share a proof jti")
	}
}

func TestClientGet401RenewsTokenOnce(t *testing.T) {
	cases := []struct {
		name     string
		reject   func(auth string) bool
		wantErr  bool
		tokens   int
		requests int
	}{
		{"new token accepted", func(a string) bool { return a == "Bearer tok-1" }, false, 2, 2},
		{"every token rejected", func(string) bool { return true }, true, 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOrg(t, "Bearer")
			f.logs = func(_ int, req logsRequest, w http.ResponseWriter) {
				if tc.reject(req.authorization) {
					w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
					w.WriteHeader(http.StatusUnauthorized)
					_, _ = io.WriteString(w, `{"errorCode":"E0000011","errorSummary":"Invalid token provided"}`)
					return
				}
				_, _ = io.WriteString(w, "[]")
			}
			c := newClient(t, f)
			_, err := c.Get(context.Background(), f.logsURL("after=1_1"))
			var apiErr *APIError
			if tc.wantErr && (!errors.As(err, &apiErr) || apiErr.Status != 401) {
				t.Errorf("Get = %v, want the 401 APIError", err)
			}
			if !tc.wantErr && err != nil {
				t.Errorf("Get = %v", err)
			}
			if got := f.Tokens(); got != tc.tokens {
				t.Errorf("%d token requests, want %d", got, tc.tokens)
			}
			if got := len(f.Calls()); got != tc.requests {
				t.Errorf("%d logs requests, want %d", got, tc.requests)
			}
		})
	}
}

func TestClientResourceNonce(t *testing.T) {
	f := newFakeOrg(t, "DPoP")
	f.logs = func(n int, req logsRequest, w http.ResponseWriter) {
		if req.proof["nonce"] != "rs-nonce" {
			w.Header().Set("DPoP-Nonce", "rs-nonce")
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", `+
				`error_description="Resource server requires nonce in DPoP proof"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "[]")
	}
	c := newClient(t, f)
	if _, err := c.Get(context.Background(), f.logsURL("after=1_1")); err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d logs requests, want 2", len(calls))
	}
	if f.Tokens() != 1 {
		t.Errorf("%d token requests, want 1: a nonce challenge needs no new token", f.Tokens())
	}
}

func TestClientRejectsNextLinkOffOrg(t *testing.T) {
	f := newFakeOrg(t, "Bearer")
	f.logs = func(_ int, _ logsRequest, w http.ResponseWriter) {
		w.Header().Add("Link", `<https://attacker.example/api/v1/logs?after=1>; rel="next"`)
		_, _ = io.WriteString(w, "[]")
	}
	c := newClient(t, f)
	_, err := c.Get(context.Background(), f.logsURL("after=1_1"))
	if err == nil || !strings.Contains(err.Error(), "attacker.example") {
		t.Fatalf("Get = %v, want a refused next link naming the host", err)
	}
}
