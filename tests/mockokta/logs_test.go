package mockokta

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

func checkOktaError(t *testing.T, resp response, status int, code string) map[string]any {
	t.Helper()
	if resp.status != status {
		t.Errorf("status = %d, want %d (body %s)", resp.status, status, resp.body)
	}
	body := resp.json(t)
	if body["errorCode"] != code {
		t.Errorf("errorCode = %v, want %s", body["errorCode"], code)
	}
	if body["errorLink"] != code {
		t.Errorf("errorLink = %v, want %s", body["errorLink"], code)
	}
	if _, ok := body["errorCauses"].([]any); !ok {
		t.Errorf("errorCauses = %v, want an array", body["errorCauses"])
	}
	return body
}

func checkChallenge(t *testing.T, resp response, status int, scheme, code, desc string) {
	t.Helper()
	if resp.status != status {
		t.Errorf("status = %d, want %d (body %s)", resp.status, status, resp.body)
	}
	h := resp.header.Get("WWW-Authenticate")
	if !strings.HasPrefix(h, scheme+" ") {
		t.Errorf("WWW-Authenticate %q does not start with %s", h, scheme)
	}
	if !strings.Contains(h, `error="`+code+`"`) {
		t.Errorf("WWW-Authenticate %q lacks error=%q", h, code)
	}
	if !strings.Contains(h, `error_description="`+desc+`"`) {
		t.Errorf("WWW-Authenticate %q lacks error_description=%q", h, desc)
	}
}

func makeEvents(n int, published time.Time) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = testEvent(fmt.Sprintf("uuid-%05d", i), "user.session.start",
			published.Add(time.Duration(i)*time.Millisecond))
	}
	return out
}

func TestLogsPollingPagination(t *testing.T) {
	srv, c := startServer(t, nil, func(cfg *Config) {
		cfg.Events = makeEvents(250, time.Now().Add(-time.Hour))
	})
	c.login()

	next := srv.LogsURL() + "?limit=100&sortOrder=ASCENDING&since=" +
		url.QueryEscape(time.Now().Add(-2*time.Hour).UTC().Format(time.RFC3339))
	seen := map[string]bool{}
	var sizes []int
	for range 5 {
		resp := c.getLogs(next)
		if resp.status != http.StatusOK {
			t.Fatalf("status %d, body %s", resp.status, resp.body)
		}
		if n := len(resp.header.Values("Link")); n != 2 {
			t.Errorf("%d Link header lines, want 2 (self and next)", n)
		}
		l := links(t, resp.header)
		if l["self"] == "" {
			t.Error("no self link")
		}
		if l["next"] == "" {
			t.Fatalf("no next link on page %d", len(sizes)+1)
		}
		nu, err := url.Parse(l["next"])
		if err != nil {
			t.Fatal(err)
		}
		if nu.Query().Has("since") {
			t.Errorf("next link %s repeats since", l["next"])
		}
		if nu.Query().Get("limit") != "100" || nu.Query().Get("sortOrder") != "ASCENDING" {
			t.Errorf("next link %s drops limit or sortOrder", l["next"])
		}
		if ok, _ := matchCursor(nu.Query().Get("after")); !ok {
			t.Errorf("after %q is not <millis>_<seq>", nu.Query().Get("after"))
		}
		events := eventsOf(t, resp)
		for _, ev := range events {
			id := ev["uuid"].(string)
			if seen[id] {
				t.Errorf("event %s served twice", id)
			}
			seen[id] = true
		}
		sizes = append(sizes, len(events))
		next = l["next"]
		for _, h := range []string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining",
			"X-Rate-Limit-Reset", "Date"} {
			if resp.header.Get(h) == "" {
				t.Errorf("header %s missing", h)
			}
		}
	}
	if fmt.Sprint(sizes) != "[100 100 50 0 0]" {
		t.Errorf("page sizes = %v, want [100 100 50 0 0]", sizes)
	}
	if len(seen) != 250 {
		t.Errorf("%d distinct events, want 250", len(seen))
	}

	srv.Append(testEvent("uuid-new", "user.session.end", time.Now()))
	resp := c.getLogs(next)
	events := eventsOf(t, resp)
	if len(events) != 1 || events[0]["uuid"] != "uuid-new" {
		t.Errorf("after Append the next link returned %v, want uuid-new only", events)
	}
	st := srv.Stats()
	if st.EmptyPages != 2 {
		t.Errorf("EmptyPages = %d, want 2", st.EmptyPages)
	}
	if st.EventsServed != 251 {
		t.Errorf("EventsServed = %d, want 251", st.EventsServed)
	}
}

func matchCursor(s string) (bool, error) {
	millis, seq, ok := strings.Cut(s, "_")
	if !ok {
		return false, nil
	}
	if _, err := strconv.ParseInt(millis, 10, 64); err != nil {
		return false, err
	}
	if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
		return false, err
	}
	return true, nil
}

func TestLogsLateEventFollowsCursor(t *testing.T) {
	now := time.Now()
	srv, c := startServer(t, nil, func(cfg *Config) {
		cfg.Events = makeEvents(3, now.Add(-time.Minute))
	})
	c.login()
	resp := c.getLogs(srv.LogsURL() + "?limit=1000")
	if n := len(eventsOf(t, resp)); n != 3 {
		t.Fatalf("%d events, want 3", n)
	}
	late := now.Add(-time.Hour)
	srv.AppendLate(late, testEvent("uuid-late", "user.session.start", now))
	resp = c.getLogs(links(t, resp.header)["next"])
	events := eventsOf(t, resp)
	if len(events) != 1 {
		t.Fatalf("%d events after AppendLate, want 1", len(events))
	}
	if events[0]["uuid"] != "uuid-late" {
		t.Errorf("uuid = %v, want uuid-late", events[0]["uuid"])
	}
	if got, want := events[0]["published"], late.UTC().Format(publishedLayout); got != want {
		t.Errorf("published = %v, want %s", got, want)
	}
}

func TestLogsQueryRejections(t *testing.T) {
	srv, c := startServer(t, nil, nil)
	c.login()
	old := func(d time.Duration) string {
		return url.QueryEscape(time.Now().Add(-d).UTC().Format(time.RFC3339))
	}
	cases := []struct {
		name   string
		query  string
		code   string
		reason string
	}{
		{"limit negative", "limit=-1", "E0000001", ReasonBadLimit},
		{"limit over 1000", "limit=1001", "E0000001", ReasonBadLimit},
		{"limit not a number", "limit=ten", "E0000001", ReasonBadLimit},
		{"since not a date", "since=yesterday", "E0000001", ReasonBadDate},
		{"since Go String", "since=" + url.QueryEscape(time.Now().String()), "E0000001", ReasonBadDate},
		{"until not a date", "until=2026-13-01", "E0000001", ReasonBadDate},
		{"since 181 days", "since=" + old(181*24*time.Hour), "E0000053", ReasonSinceTooOld},
		{"since and after", "since=" + old(time.Hour) + "&after=1_1", "E0000001", ReasonSinceAndAfter},
		{"forged after", "after=1627500044869_1", "E0000001", ReasonBadCursor},
		{"sortOrder lower case", "sortOrder=ascending", "E0000001", ReasonBadSortOrder},
		{"filter published", `filter=` + url.QueryEscape(`published gt "2026-01-01"`),
			"E0000031", ReasonBadFilter},
		{"filter gt", `filter=` + url.QueryEscape(`severity gt "INFO"`), "E0000031", ReasonBadFilter},
		{"filter unterminated", `filter=` + url.QueryEscape(`eventType eq "x`),
			"E0000031", ReasonBadFilter},
		{"filter dangling and", `filter=` + url.QueryEscape(`eventType eq "x" and`),
			"E0000031", ReasonBadFilter},
		{"q 11 keywords", "q=" + url.QueryEscape("a b c d e f g h i j k"), "E0000001", ReasonBadQuery},
		{"q long keyword", "q=" + strings.Repeat("x", 41), "E0000001", ReasonBadQuery},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := c.getLogs(srv.LogsURL() + "?" + tc.query)
			checkOktaError(t, resp, http.StatusBadRequest, tc.code)
			if got := srv.Stats().Rejected[tc.reason]; got == 0 {
				t.Errorf("Rejected[%s] = 0", tc.reason)
			}
		})
	}
	body := checkOktaError(t, c.getLogs(srv.LogsURL()+"?since="+old(200*24*time.Hour)),
		http.StatusBadRequest, "E0000053")
	want := "Invalid parameter: The since parameter is over 180 days prior to the current day."
	if body["errorSummary"] != want {
		t.Errorf("errorSummary = %q, want %q", body["errorSummary"], want)
	}
}

func TestLogsLimitZeroAndMax(t *testing.T) {
	srv, c := startServer(t, nil, func(cfg *Config) { cfg.Events = makeEvents(1200, time.Now()) })
	c.login()
	resp := c.getLogs(srv.LogsURL() + "?limit=0")
	if n := len(eventsOf(t, resp)); n != 0 {
		t.Errorf("limit=0 returned %d events", n)
	}
	if links(t, resp.header)["next"] == "" {
		t.Error("limit=0 page has no next link")
	}
	resp = c.getLogs(links(t, resp.header)["next"])
	if n := len(eventsOf(t, resp)); n != 0 {
		t.Errorf("next of limit=0 returned %d events, want 0 (it keeps limit=0)", n)
	}
	resp = c.getLogs(srv.LogsURL() + "?limit=1000")
	if n := len(eventsOf(t, resp)); n != 1000 {
		t.Errorf("limit=1000 returned %d events", n)
	}
	resp = c.getLogs(srv.LogsURL())
	if n := len(eventsOf(t, resp)); n != 100 {
		t.Errorf("default limit returned %d events, want 100", n)
	}
}

func TestLogsRetentionTruncatesSince(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	srv, c := startServer(t, clock, func(cfg *Config) {
		cfg.Events = [][]byte{testEvent("uuid-old", "user.session.start", start)}
	})
	clock.Advance(100 * 24 * time.Hour)
	srv.Append(testEvent("uuid-recent", "user.session.start", clock.Now()))
	c.login()

	since := url.QueryEscape(start.Add(-time.Hour).UTC().Format(time.RFC3339))
	resp := c.getLogs(srv.LogsURL() + "?since=" + since)
	if resp.status != http.StatusOK {
		t.Fatalf("since 100 days back: status %d, body %s", resp.status, resp.body)
	}
	events := eventsOf(t, resp)
	if len(events) != 1 || events[0]["uuid"] != "uuid-recent" {
		t.Errorf("events = %v, want uuid-recent only (90-day retention)", events)
	}
}

func TestLogsRateLimit(t *testing.T) {
	clock := newFakeClock()
	srv, c := startServer(t, clock, func(cfg *Config) { cfg.RateLimit = 3 })
	c.login()
	for i := range 3 {
		resp := c.getLogs(srv.LogsURL())
		if resp.status != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, resp.status)
		}
		if got, want := resp.header.Get("X-Rate-Limit-Remaining"), strconv.Itoa(2-i); got != want {
			t.Errorf("request %d: remaining = %s, want %s", i+1, got, want)
		}
		if got := resp.header.Get("X-Rate-Limit-Limit"); got != "3" {
			t.Errorf("request %d: limit = %s, want 3", i+1, got)
		}
	}
	resp := c.getLogs(srv.LogsURL())
	body := checkOktaError(t, resp, http.StatusTooManyRequests, "E0000047")
	if body["errorSummary"] != "API call exceeded rate limit due to too many requests." {
		t.Errorf("errorSummary = %q", body["errorSummary"])
	}
	if got := resp.header.Get("X-Rate-Limit-Remaining"); got != "0" {
		t.Errorf("429 remaining = %s, want 0", got)
	}
	reset, err := strconv.ParseInt(resp.header.Get("X-Rate-Limit-Reset"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(time.Minute).Unix(); reset != want {
		t.Errorf("reset = %d, want %d (window start + 60s)", reset, want)
	}

	clock.Advance(time.Minute)
	c.login()
	if resp := c.getLogs(srv.LogsURL()); resp.status != http.StatusOK {
		t.Errorf("after the window: status %d", resp.status)
	}
	if got := srv.Stats().RateLimited; got != 1 {
		t.Errorf("RateLimited = %d, want 1", got)
	}
}

func TestLogsAuthRejections(t *testing.T) {
	srv, c := startServer(t, nil, nil)
	c.login()
	logs := srv.LogsURL()
	claims := func(change func(map[string]any)) string {
		m := c.proofClaims(http.MethodGet, logs)
		change(m)
		return c.proof(m)
	}
	otherKey := func() string {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := jwk.FromRaw(&key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		saved, savedJWK := c.dpopKey, c.dpopJWK
		c.dpopKey, c.dpopJWK = key, pub
		defer func() { c.dpopKey, c.dpopJWK = saved, savedJWK }()
		return c.proof(c.proofClaims(http.MethodGet, logs))
	}()
	replayed := c.proofForURL(logs)
	if resp := c.getLogsWith(logs, "DPoP", replayed); resp.status != http.StatusOK {
		t.Fatalf("first use of the proof: status %d", resp.status)
	}

	cases := []struct {
		name   string
		scheme string
		proof  string
		status int
		desc   string
		reason string
	}{
		{"bearer scheme", "Bearer", "", 400, descWrongScheme, ReasonWrongScheme},
		{"proof missing", "DPoP", "", 400, "The DPoP proof JWT header is missing.", ReasonProofMissing},
		{"wrong ath", "DPoP", claims(func(m map[string]any) { m["ath"] = "AAAA" }), 400,
			"'ath' claim in the DPoP proof JWT is invalid.", ReasonProofATH},
		{"no ath", "DPoP", claims(func(m map[string]any) { delete(m, "ath") }), 400,
			"'ath' claim in the DPoP proof JWT is invalid.", ReasonProofATH},
		{"htm POST", "DPoP", claims(func(m map[string]any) { m["htm"] = "POST" }), 400,
			"'htm' claim in the DPoP proof JWT is invalid.", ReasonProofHTM},
		{"htu with query", "DPoP", claims(func(m map[string]any) { m["htu"] = logs + "?limit=10" }),
			400, "'htu' claim in the DPoP proof JWT is invalid.", ReasonProofHTU},
		{"htu token url", "DPoP", claims(func(m map[string]any) { m["htu"] = srv.TokenURL() }),
			400, "'htu' claim in the DPoP proof JWT is invalid.", ReasonProofHTU},
		{"other key", "DPoP", otherKey, 400, "'jwk' claim in the DPoP proof JWT is invalid.",
			ReasonProofJKT},
		{"replayed jti", "DPoP", replayed, 400, "'jti' claim in the DPoP proof JWT is invalid.",
			ReasonProofReplay},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := c.getLogsWith(logs, tc.scheme, tc.proof)
			code := "invalid_dpop_proof"
			if tc.reason == ReasonWrongScheme {
				code = "invalid_request"
			}
			checkChallenge(t, resp, tc.status, "DPoP", code, tc.desc)
			if got := srv.Stats().Rejected[tc.reason]; got == 0 {
				t.Errorf("Rejected[%s] = 0", tc.reason)
			}
		})
	}

	t.Run("unknown token", func(t *testing.T) {
		saved := c.token
		c.token = "mockat.unknown"
		defer func() { c.token = saved }()
		resp := c.getLogs(logs)
		checkOktaError(t, resp, http.StatusUnauthorized, "E0000011")
		if resp.header.Get("WWW-Authenticate") == "" {
			t.Error("401 has no WWW-Authenticate")
		}
	})
	t.Run("no token", func(t *testing.T) {
		saved := c.token
		c.token = ""
		defer func() { c.token = saved }()
		checkOktaError(t, c.getLogs(logs), http.StatusUnauthorized, "E0000011")
	})
}

func TestLogsExpiredToken(t *testing.T) {
	clock := newFakeClock()
	srv, c := startServer(t, clock, nil)
	c.login()
	clock.Advance(3600 * time.Second)
	resp := c.getLogs(srv.LogsURL())
	checkOktaError(t, resp, http.StatusUnauthorized, "E0000011")
	if got := srv.Stats().Rejected[ReasonExpiredToken]; got != 1 {
		t.Errorf("Rejected[%s] = %d, want 1", ReasonExpiredToken, got)
	}

	c.login()
	if resp := c.getLogs(srv.LogsURL()); resp.status != http.StatusOK {
		t.Fatalf("new token: status %d", resp.status)
	}
	srv.SetFault(Fault{ExpireTokens: true})
	checkOktaError(t, c.getLogs(srv.LogsURL()), http.StatusUnauthorized, "E0000011")
}

func TestLogsInsufficientScope(t *testing.T) {
	srv, c := startServer(t, nil, func(cfg *Config) {
		cfg.GrantedScopes = []string{"okta.users.read"}
	})
	c.nonce = srv.CurrentNonce()
	form := c.tokenForm()
	form.Set("scope", "okta.users.read okta.logs.read")
	resp := c.postToken(form, c.proof(c.proofClaims(http.MethodPost, srv.TokenURL())))
	if resp.status != http.StatusOK {
		t.Fatalf("token: status %d, body %s", resp.status, resp.body)
	}
	body := resp.json(t)
	if body["scope"] != "okta.users.read" {
		t.Errorf("scope = %v, want okta.users.read (okta.logs.read dropped)", body["scope"])
	}
	c.token, c.tokenType = body["access_token"].(string), "DPoP"
	resp = c.getLogs(srv.LogsURL())
	checkChallenge(t, resp, http.StatusForbidden, "DPoP", "insufficient_scope",
		"The access token provided does not contain the required scopes.")
	if len(resp.body) != 0 {
		t.Errorf("403 body = %q, want empty", resp.body)
	}
}

func TestLogsBearerToken(t *testing.T) {
	srv, c := startServer(t, nil, func(cfg *Config) {
		cfg.RequireDPoP = false
		cfg.Events = makeEvents(2, time.Now())
	})
	c.login()
	if c.tokenType != "Bearer" {
		t.Fatalf("token_type = %s, want Bearer", c.tokenType)
	}
	resp := c.getLogs(srv.LogsURL())
	if n := len(eventsOf(t, resp)); n != 2 {
		t.Errorf("%d events, want 2", n)
	}
	resp = c.getLogsWith(srv.LogsURL(), "DPoP", c.proofForURL(srv.LogsURL()))
	checkChallenge(t, resp, http.StatusBadRequest, "Bearer", "invalid_request", descWrongScheme)
}
