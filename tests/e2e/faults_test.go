package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/tests/mockokta"
)

// stopTimeout bounds how long the host may take to exit after a stop command. It catches a
// hang and is not a speed target.
const stopTimeout = 20 * time.Second

// logRequests returns the mock's /api/v1/logs requests, oldest first.
func logRequests(o *org) []mockokta.RequestRecord {
	var out []mockokta.RequestRecord
	for _, r := range o.Requests() {
		if r.Path == "/api/v1/logs" {
			out = append(out, r)
		}
	}
	return out
}

// waitRecords waits until the run wrote at least n records.
func (r *hostRun) waitRecords(n int) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("%d records", n), runTimeout, func() bool {
		return len(r.records()) >= n
	})
}

// finish waits for every expected record, stops the host, and checks the summary and that
// each record arrived exactly once.
func (r *hostRun) finish(want map[string]int) []hostRecord {
	r.t.Helper()
	r.waitRecords(sum(want))
	r.send("stop")
	if code := r.wait(stopTimeout); code != 0 {
		r.t.Fatalf("host exit code %d", code)
	}
	r.checkClean()
	recs := r.records()
	checkExactlyOnce(r.t, countByKey(recs), want)
	return recs
}

// checkExactlyOnce compares the delivered record counts with the expected ones.
func checkExactlyOnce(t *testing.T, got, want map[string]int) {
	t.Helper()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("record %s delivered %d times, want %d", k, got[k], n)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("record %s was delivered but never served", k)
		}
	}
}

// countLines returns the number of stderr lines that contain s.
func (r *hostRun) countLines(s string) int {
	n := 0
	for _, line := range strings.Split(r.stderr.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// checkNoSecrets fails when stderr contains an access token the mock issued (they start with
// "mockat."), a JWT (client assertions and DPoP proofs start with "eyJ"), the token endpoint's
// current DPoP nonce, or any part of the client's private key.
func checkNoSecrets(t *testing.T, o *org, r *hostRun) {
	t.Helper()
	text := r.stderr.String()
	for _, s := range []string{"mockat.", "eyJ", "PRIVATE KEY"} {
		if strings.Contains(text, s) {
			t.Errorf("stderr contains %q, part of a secret", s)
		}
	}
	if nonce := o.CurrentNonce(); nonce != "" && strings.Contains(text, nonce) {
		t.Error("stderr contains the token endpoint's DPoP nonce")
	}
	pemBytes, err := os.ReadFile(o.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(pemBytes), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(text, line) {
			t.Errorf("stderr contains a line of the client key PEM")
			break
		}
	}
}

// checkRetriedSameCursor checks that each request the mock failed (as picked by failed) was
// followed by a request for the same URL, so no page was skipped. It returns the number of
// failed requests.
func checkRetriedSameCursor(t *testing.T, reqs []mockokta.RequestRecord,
	failed func(i int) bool) int {
	t.Helper()
	n := 0
	for i := range reqs {
		if !failed(i) {
			continue
		}
		n++
		if i+1 >= len(reqs) {
			t.Errorf("request %d (%s) failed and was never retried", i, reqs[i].Reason)
			continue
		}
		if reqs[i+1].Query != reqs[i].Query {
			t.Errorf("request %d failed with %s on %q; the next request asked for %q", i,
				reqs[i].Reason, reqs[i].Query, reqs[i+1].Query)
		}
	}
	return n
}

// faultMidStream waits until the records of the first events arrived, then sets the fault and
// appends the rest, so the fault meets a polling request on a cursor from a next link with
// events behind it.
func faultMidStream(t *testing.T, o *org, run *hostRun, first, rest [][]byte,
	fault mockokta.Fault) {
	t.Helper()
	run.waitRecords(sum(expectedRecords(t, first)))
	o.SetFault(fault)
	o.Append(rest...)
}

func TestFaultsRetriedFromSameCursor(t *testing.T) {
	byReason := func(reasons ...string) func([]mockokta.RequestRecord, int) bool {
		return func(reqs []mockokta.RequestRecord, i int) bool {
			for _, r := range reasons {
				if reqs[i].Reason == r {
					return true
				}
			}
			return false
		}
	}
	// A slow response is recorded as a normal page before the delay, and the client times out
	// reading it: it is the one page with events that was asked for twice in a row.
	repeatedPage := func(reqs []mockokta.RequestRecord, i int) bool {
		return reqs[i].Events > 0 && i+1 < len(reqs) && reqs[i+1].Query == reqs[i].Query
	}
	cases := []struct {
		name   string
		fault  mockokta.Fault
		count  int
		props  []string
		failed func([]mockokta.RequestRecord, int) bool
		log    string // text of the one warning line for the run of failures
	}{
		{"500", mockokta.Fault{FailLogRequests: 3}, 3, nil, byReason(mockokta.ReasonFault),
			"HTTP 500 E0000009"},
		{"503", mockokta.Fault{FailLogRequests: 2, FailStatus: 503}, 2, nil,
			byReason(mockokta.ReasonFault), "HTTP 503"},
		// NOTE: net/http's Transport resends the GET after a reset on a reused connection with
		// the same DPoP proof, so the line users see is the mock's rejection of the repeated
		// jti, not the reset.
		{"connection reset", mockokta.Fault{ResetLogRequests: 2}, 2, nil,
			byReason(mockokta.ReasonFault), "invalid_dpop_proof"},
		{"truncated body", mockokta.Fault{TruncateLogRequests: 2}, 2, nil,
			byReason(mockokta.ReasonFault), "reading the response body failed"},
		{"slow response", mockokta.Fault{SlowLogRequests: 1, SlowDelay: 7 * time.Second}, 1,
			[]string{"http_timeout=5s"}, repeatedPage, "Client.Timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			events := synthetic(120)
			want := expectedRecords(t, events)
			o := newOrg(t, events[:40], nil)
			run := runHost(t, []hostInstance{{name: "okta.0",
				props: o.props(append([]string{"page_size=20"}, tc.props...)...)}})
			faultMidStream(t, o, run, events[:40], events[40:], tc.fault)
			run.finish(want)

			reqs := logRequests(o)
			failed := checkRetriedSameCursor(t, reqs, func(i int) bool { return tc.failed(reqs, i) })
			if failed != tc.count {
				t.Errorf("%d failed requests, want the %d injected", failed, tc.count)
			}
			if n := run.countLines("retrying in"); n != 1 {
				t.Errorf("%d retry lines for one run of failures, want 1", n)
			}
			if !run.stderrHas(tc.log) {
				t.Errorf("stderr lacks %q", tc.log)
			}
			if !run.stderrHas("requests to Okta succeed again") {
				t.Error("stderr lacks the line saying requests succeed again")
			}
			checkNoSecrets(t, o, run)
		})
	}
}

// retryLine matches the warning the poller logs for a failed request.
var retryLine = regexp.MustCompile(`\[ warn\] \[input:okta:okta\.0\] .*; retrying in \S+`)

func TestRateLimitPacingAndInjected429s(t *testing.T) {
	for _, share := range []string{"100", "50"} {
		t.Run("share "+share, func(t *testing.T) {
			t.Parallel()
			events := synthetic(70)
			want := expectedRecords(t, events)
			o := newOrg(t, events[:10], func(c *mockokta.Config) {
				c.RateLimit = 6
				c.RateWindow = 4 * time.Second
			})
			run := runHost(t, []hostInstance{{name: "okta.0",
				props: o.props("page_size=10", "rate_limit_share="+share)}})
			faultMidStream(t, o, run, events[:10], events[10:],
				mockokta.Fault{RateLimitBurst: 1, ConcurrencyBurst: 1})
			run.finish(want)

			st := o.Stats()
			// Only the two injected 429s: the plugin's pacing never runs into the limit.
			if st.RateLimited != 2 {
				t.Errorf("the mock sent %d 429s, want the 2 injected", st.RateLimited)
			}
			reqs := logRequests(o)
			n := checkRetriedSameCursor(t, reqs, func(i int) bool {
				return reqs[i].Reason == mockokta.ReasonRateLimit ||
					reqs[i].Reason == mockokta.ReasonConcurrency
			})
			if n != 2 {
				t.Errorf("%d requests got a 429, want 2", n)
			}
			if !run.stderrHas("HTTP 429 E0000047") {
				t.Error("stderr lacks the 429 warning")
			}
			if n := len(retryLine.FindAllString(run.stderr.String(), -1)); n < 1 || n > 2 {
				t.Errorf("%d retry lines for 2 rate-limited requests, want 1 or 2", n)
			}
			checkNoSecrets(t, o, run)
		})
	}
}

func TestTokenExpiryMidPagination(t *testing.T) {
	events := synthetic(150)
	want := expectedRecords(t, events)
	o := newOrg(t, events[:20], nil)
	run := runHost(t, []hostInstance{{name: "okta.0", props: o.props("page_size=10")}})
	faultMidStream(t, o, run, events[:20], events[20:], mockokta.Fault{ExpireTokens: true})
	run.finish(want)

	reqs := logRequests(o)
	n := checkRetriedSameCursor(t, reqs, func(i int) bool {
		return reqs[i].Reason == mockokta.ReasonExpiredToken
	})
	if n != 1 {
		t.Errorf("%d requests with an expired token, want 1", n)
	}
	if st := o.Stats(); st.TokensIssued != 2 {
		t.Errorf("the mock issued %d tokens, want 2 (one renewal after the 401)", st.TokensIssued)
	}
	if !run.stderrHas("Okta rejected the access token; requesting a new one") {
		t.Error("stderr lacks the token renewal line")
	}
	checkNoSecrets(t, o, run)
}

func TestNonceRotationOnTokenEndpoint(t *testing.T) {
	events := synthetic(150)
	want := expectedRecords(t, events)
	o := newOrg(t, events[:20], nil)
	run := runHost(t, []hostInstance{{name: "okta.0", props: o.props("page_size=10")}})
	run.waitRecords(sum(expectedRecords(t, events[:20])))
	before := o.Stats().NonceChallenges
	// The previous nonce stays valid for one rotation, so two rotations retire the one the
	// plugin holds; the expired token makes it ask the token endpoint again.
	o.SetFault(mockokta.Fault{RotateNonce: true})
	faultMidStream(t, o, run, nil, events[20:],
		mockokta.Fault{RotateNonce: true, ExpireTokens: true})
	run.finish(want)

	st := o.Stats()
	if st.NonceChallenges != before+1 {
		t.Errorf("%d nonce challenges after the rotation, want 1", st.NonceChallenges-before)
	}
	if st.TokensIssued != 2 {
		t.Errorf("the mock issued %d tokens, want 2", st.TokensIssued)
	}
	for reason, n := range st.Rejected {
		switch reason {
		case mockokta.ReasonNonce, mockokta.ReasonExpiredToken:
		default:
			t.Errorf("the mock rejected %d requests with %s", n, reason)
		}
	}
	checkNoSecrets(t, o, run)
}

func TestClientClockOffByTwoMinutes(t *testing.T) {
	for _, shift := range []time.Duration{2 * time.Minute, -2 * time.Minute} {
		t.Run(shift.String(), func(t *testing.T) {
			t.Parallel()
			events := synthetic(40)
			want := expectedRecords(t, events)
			// The org's clock is shifted, so the plugin's clock is off by -shift.
			o := newOrg(t, events, func(c *mockokta.Config) {
				c.Now = func() time.Time { return time.Now().Add(shift) }
			})
			run := runHost(t, []hostInstance{{name: "okta.0", props: o.props("page_size=10")}})
			run.finish(want)
			if st := o.Stats(); st.TokensIssued < 1 {
				t.Errorf("the mock issued %d tokens", st.TokensIssued)
			}
			if !run.stderrHas("the local clock differs from Okta's") {
				t.Errorf("no clock correction was logged:\n%s", run.stderr.String())
			}
			checkNoSecrets(t, o, run)
		})
	}
}

func TestOldStartClampedWithWarning(t *testing.T) {
	t.Run("initial_lookback time", func(t *testing.T) {
		t.Parallel()
		events := synthetic(30)
		want := expectedRecords(t, events)
		o := newOrg(t, events, nil)
		old := time.Now().Add(-100 * 24 * time.Hour).UTC().Format(time.RFC3339)
		run := runHost(t, []hostInstance{{name: "okta.0",
			props: o.props("initial_lookback=" + old)}})
		run.finish(want)
		if !run.stderrHas("initial_lookback is older than Okta's 90-day retention") {
			t.Error("stderr lacks the warning about initial_lookback")
		}
		reqs := logRequests(o)
		if len(reqs) == 0 || !strings.Contains(reqs[0].Query, "since=") {
			t.Fatalf("the first request has no since: %v", reqs)
		}
		since := sinceOf(t, reqs[0].Query)
		if age := time.Since(since); age > 90*24*time.Hour {
			t.Errorf("since %s is %s old, beyond the 90-day retention", since, age)
		}
	})
	t.Run("checkpoint", func(t *testing.T) {
		t.Parallel()
		events := synthetic(60)
		o := newOrg(t, events[:30], nil)
		state := filepath.Join(t.TempDir(), "okta.state")
		props := o.props("page_size=10", "state_file="+state)
		first := runHost(t, []hostInstance{{name: "okta.0", props: props}})
		first.finish(expectedRecords(t, events[:30]))

		ageCheckpoint(t, state, 100*24*time.Hour)
		o.Append(events[30:]...)
		second := runHost(t, []hostInstance{{name: "okta.0", props: props}})
		second.finish(expectedRecords(t, events[30:]))
		if !second.stderrHas("the checkpoint is older than Okta's 90-day retention") {
			t.Error("stderr lacks the warning about the old checkpoint")
		}
	})
}

// sinceOf returns the since parameter of a System Log query.
func sinceOf(t *testing.T, query string) time.Time {
	t.Helper()
	m := regexp.MustCompile(`since=([^&]+)`).FindStringSubmatch(query)
	if m == nil {
		t.Fatalf("no since in %q", query)
	}
	s := strings.ReplaceAll(m[1], "%3A", ":")
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("since %q: %v", m[1], err)
	}
	return ts
}

// ageCheckpoint moves the updated time of a state file back by age.
func ageCheckpoint(t *testing.T, path string, age time.Duration) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`"updated": "([^"]+)"`)
	m := re.FindSubmatch(data)
	if m == nil {
		t.Fatalf("state file has no updated time:\n%s", data)
	}
	old := time.Now().Add(-age).UTC().Format(time.RFC3339Nano)
	writeFile(t, path, re.ReplaceAll(data, []byte(`"updated": "`+old+`"`)))
}

// checkKeepsRunning checks that a run stuck on an error that needs a change in Okta logged one
// warning containing text, is still running, and stops promptly from its long backoff.
func checkKeepsRunning(t *testing.T, o *org, run *hostRun, text string) {
	t.Helper()
	run.waitFor("the retry warning", runTimeout, func() bool {
		return run.countLines("retrying in") > 0
	})
	// Several seconds with no second line and no exit: the wait is the long backoff.
	time.Sleep(3 * time.Second)
	select {
	case <-run.done:
		t.Fatalf("the host exited; stderr:\n%s", run.stderr.String())
	default:
	}
	if n := run.countLines("retrying in"); n != 1 {
		t.Errorf("%d retry lines, want 1", n)
	}
	if !run.stderrHas(text) {
		t.Errorf("stderr lacks %q", text)
	}
	if n := run.countLines("[error]"); n != 0 {
		t.Errorf("%d error lines, want 0", n)
	}
	run.send("stop")
	if code := run.wait(stopTimeout); code != 0 {
		t.Errorf("host exit code %d", code)
	}
	run.checkClean()
	checkNoSecrets(t, o, run)
}

func TestMissingScopeKeepsRunning(t *testing.T) {
	t.Run("no scope granted", func(t *testing.T) {
		t.Parallel()
		o := newOrg(t, synthetic(5), func(c *mockokta.Config) {
			c.GrantedScopes = []string{"okta.users.read"}
		})
		run := runHost(t, []hostInstance{{name: "okta.0", props: o.props()}})
		checkKeepsRunning(t, o, run, "invalid_scope")
		if n := len(run.records()); n != 0 {
			t.Errorf("%d records delivered without a token", n)
		}
	})
	t.Run("token without okta.logs.read", func(t *testing.T) {
		t.Parallel()
		o := newOrg(t, synthetic(5), func(c *mockokta.Config) {
			c.GrantedScopes = []string{"okta.users.read"}
		})
		run := runHost(t, []hostInstance{{name: "okta.0",
			props: o.props("scopes=okta.logs.read okta.users.read")}})
		checkKeepsRunning(t, o, run, "lacks scope okta.logs.read")
		if n := logRequests(o); len(n) != 0 {
			t.Errorf("%d System Log requests with a token lacking the scope", len(n))
		}
	})
}

func TestForbiddenKeepsRunning(t *testing.T) {
	events := synthetic(60)
	o := newOrg(t, events[:20], nil)
	run := runHost(t, []hostInstance{{name: "okta.0", props: o.props("page_size=10")}})
	faultMidStream(t, o, run, events[:20], events[20:],
		mockokta.Fault{FailLogRequests: 1, FailStatus: 403, FailCode: "E0000006"})
	checkKeepsRunning(t, o, run, "assign the Report Administrator")
	checkExactlyOnce(t, countByKey(run.records()), expectedRecords(t, events[:20]))
}

func TestStateFileWriteFailure(t *testing.T) {
	events := synthetic(90)
	want := expectedRecords(t, events)
	o := newOrg(t, events[:30], nil)
	state := filepath.Join(t.TempDir(), "okta.state")
	props := o.props("page_size=10", "state_file="+state)
	run := runHost(t, []hostInstance{{name: "okta.0", props: props}})
	run.waitRecords(sum(expectedRecords(t, events[:30])))

	// A non-empty directory in place of the state file makes the rename of every new
	// checkpoint fail, as a full disk makes its write fail. Running as root, the plugin could
	// still write into a read-only directory, and mounting a small tmpfs needs privileges.
	saved, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, "blocker"), 0o700); err != nil {
		t.Fatal(err)
	}
	o.Append(events[30:60]...)
	run.waitRecords(sum(expectedRecords(t, events[:60])))
	run.waitFor("the checkpoint error", runTimeout, func() bool {
		return run.stderrHas("cannot write state file")
	})
	if n := run.countLines("cannot write state file"); n != 1 {
		t.Errorf("%d checkpoint error lines, want 1 (rate-limited)", n)
	}

	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	o.Append(events[60:]...)
	run.finish(want)
	if !run.stderrHas("the state file is written again") {
		t.Error("stderr lacks the line saying the state file is written again")
	}
	after, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("state file after recovery: %v", err)
	}
	if string(after) == string(saved) {
		t.Error("the state file did not move after the write failure ended")
	}

	// The checkpoint written after recovery covers everything: a new run repeats nothing.
	again := runHost(t, []hostInstance{{name: "okta.0", props: props}}, "--duration-ms", "2500")
	if code := again.wait(runTimeout); code != 0 {
		t.Fatalf("host exit code %d", code)
	}
	if n := len(again.records()); n != 0 {
		t.Errorf("a run after recovery repeated %d records", n)
	}
}
