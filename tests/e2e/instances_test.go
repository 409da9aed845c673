package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/tests/mockokta"
)

// pluginQueueBytes is the size of the plugin's record queue (QueueBytes in internal/input).
const pluginQueueBytes = 2 << 20

// waitStalled waits until the mock's request count stays the same for two seconds and
// returns it.
func waitStalled(t *testing.T, run *hostRun, o *org) int {
	t.Helper()
	last, since := o.Stats().LogRequests, time.Now()
	run.waitFor("the poller to stop fetching", runTimeout, func() bool {
		n := o.Stats().LogRequests
		if n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= 2*time.Second
	})
	return last
}

func TestPauseHoldsRecordsUntilResume(t *testing.T) {
	const pageSize = 100
	events := synthetic(4000)
	want := expectedRecords(t, events)
	o := newOrg(t, events, nil)
	run := runHost(t, []hostInstance{{name: "okta.0",
		props: o.props(fmt.Sprintf("page_size=%d", pageSize))}})
	run.waitRecords(1)
	run.send("pause okta.0")
	run.waitFor("the pause", runTimeout, func() bool {
		return run.stderrHas("[input:okta:okta.0] paused by Fluent Bit")
	})
	atPause := len(run.records())
	requestsAtPause := o.Stats().LogRequests

	stalled := waitStalled(t, run, o)
	if n := len(run.records()); n != atPause {
		t.Errorf("%d records delivered while paused", n-atPause)
	}
	// The queue takes pages until it holds pluginQueueBytes, and one more page then blocks
	// the poller in Push.
	_, sizes := streamOrder(t, events, strings.TrimPrefix(o.URL(), "https://"))
	minPage := 0
	for i := 0; i+pageSize*2 <= len(sizes); i += pageSize {
		page := 0
		for _, s := range sizes[i : i+pageSize] {
			page += s
		}
		if minPage == 0 || page < minPage {
			minPage = page
		}
	}
	bound := pluginQueueBytes/minPage + 2
	if n := stalled - requestsAtPause; n > bound {
		t.Errorf("%d requests while paused, want at most %d (the queue's %d bytes)", n, bound,
			pluginQueueBytes)
	}
	if served := o.Stats().EventsServed; served >= len(events) {
		t.Errorf("the mock served all %d events while paused; the queue did not stop the poller",
			served)
	}

	run.send("resume okta.0")
	run.finish(want)
}

func TestTwoInstancesPauseOnlyTheirOwn(t *testing.T) {
	// A seed other than synthetic's gives org B its own event UUIDs.
	eventsA, eventsB := synthetic(200), mockokta.Synthesize(200, time.Now().Add(-2*time.Hour), 8)
	orgA := newOrg(t, eventsA[:100], nil)
	orgB := newOrg(t, eventsB[:100], nil)
	dir := t.TempDir()
	run := runHost(t, []hostInstance{
		{name: "okta.0", props: orgA.props("page_size=50", "tag=okta.a",
			"state_file="+filepath.Join(dir, "a.state"))},
		{name: "okta.1", props: orgB.props("page_size=50", "tag=okta.b",
			"state_file="+filepath.Join(dir, "b.state"))},
	})
	byTag := func(tag string) int {
		n := 0
		for _, r := range run.records() {
			if r.Tag == tag {
				n++
			}
		}
		return n
	}
	wantA0 := sum(expectedRecords(t, eventsA[:100]))
	wantB0 := sum(expectedRecords(t, eventsB[:100]))
	run.waitFor("the first records of both orgs", runTimeout, func() bool {
		return byTag("okta.a") == wantA0 && byTag("okta.b") == wantB0
	})

	// Fluent Bit 5.1.1 stops the collector of okta.1, the instance initialized last, on a
	// pause of okta.0; the plugin must still pause okta.0 and only it.
	run.send("pause okta.0")
	run.waitFor("the pause", runTimeout, func() bool {
		return run.stderrHas("[input:okta:okta.0] paused by Fluent Bit")
	})
	servedA := orgA.Stats().EventsServed
	orgA.Append(eventsA[100:150]...)
	orgB.Append(eventsB[100:150]...)
	run.waitFor("okta.0 to fetch the new events", runTimeout, func() bool {
		return orgA.Stats().EventsServed >= servedA+50
	})
	// Ten collect intervals, in which an unpaused instance would hand the records over.
	time.Sleep(time.Second)
	if n := byTag("okta.a"); n != wantA0 {
		t.Errorf("okta.0 delivered %d records while paused", n-wantA0)
	}
	if run.stderrHas("[input:okta:okta.1] paused by Fluent Bit") {
		t.Error("okta.1 was paused by a pause of okta.0")
	}
	run.send("resume okta.0")
	wantA1 := sum(expectedRecords(t, eventsA[:150]))
	wantB1 := sum(expectedRecords(t, eventsB[:150]))
	run.waitFor("the records held during the pause", runTimeout, func() bool {
		return byTag("okta.a") == wantA1 && byTag("okta.b") == wantB1
	})

	// Pausing okta.1 stops its own collector; okta.0 keeps delivering.
	run.send("pause okta.1")
	run.waitFor("the pause", runTimeout, func() bool {
		return run.stderrHas("[input:okta:okta.1] paused by Fluent Bit")
	})
	orgA.Append(eventsA[150:]...)
	orgB.Append(eventsB[150:]...)
	wantA2 := sum(expectedRecords(t, eventsA))
	run.waitFor("okta.0's records while okta.1 is paused", runTimeout, func() bool {
		return byTag("okta.a") == wantA2
	})
	if n := byTag("okta.b"); n != wantB1 {
		t.Errorf("okta.1 delivered %d records while paused", n-wantB1)
	}
	run.send("resume okta.1")

	want := expectedRecords(t, eventsA)
	for k, n := range expectedRecords(t, eventsB) {
		want[k] += n
	}
	recs := run.finish(want)
	hosts := map[string]string{
		"okta.a": strings.TrimPrefix(orgA.URL(), "https://"),
		"okta.b": strings.TrimPrefix(orgB.URL(), "https://"),
	}
	inA := uuidsOf(t, eventsA)
	for _, r := range recs {
		tag := "okta.b"
		if _, ok := inA[r.str("uuid")]; ok {
			tag = "okta.a"
		}
		if r.Tag != tag {
			t.Errorf("%s: tag %q, want %q", r.str("uuid"), r.Tag, tag)
		}
		if r.str("okta_org") != hosts[tag] {
			t.Errorf("%s: okta_org %q, want %q", r.str("uuid"), r.str("okta_org"), hosts[tag])
		}
	}
}

func TestSharedStateFileRejected(t *testing.T) {
	orgA := newOrg(t, nil, nil)
	orgB := newOrg(t, nil, nil)
	state := filepath.Join(t.TempDir(), "okta.state")
	run := runHost(t, []hostInstance{
		{name: "okta.0", props: orgA.props("state_file=" + state)},
		{name: "okta.1", props: orgB.props("state_file=" + state)},
	}, "--duration-ms", "3000")
	if code := run.wait(runTimeout); code != 1 {
		t.Fatalf("exit code %d, want 1 (init failed)", code)
	}
	if !run.stderrHas("[input:okta:okta.1]") || !run.stderrHas("in use by another input") {
		t.Errorf("stderr lacks okta.1's \"in use by another input\" error:\n%s",
			run.stderr.String())
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestMetricsEndpointLabels(t *testing.T) {
	events := synthetic(50)
	want := expectedRecords(t, events)
	o := newOrg(t, events, nil)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	run := runHost(t, []hostInstance{{name: "okta.0",
		props: o.props("page_size=20", "metrics_listen="+addr)}})
	run.waitRecords(sum(want))

	labels := fmt.Sprintf(`{instance="okta.0",org=%q}`, strings.TrimPrefix(o.URL(), "https://"))
	var body string
	run.waitFor("the metrics to count every record", runTimeout, func() bool {
		body = getMetrics(t, addr)
		return strings.Contains(body, fmt.Sprintf("okta_records_handed_total%s %d", labels,
			sum(want)))
	})
	for _, name := range []string{"okta_events_total", "okta_requests_total",
		"okta_token_renewals_total", "okta_checkpoint_failures_total", "okta_paused"} {
		if !regexp.MustCompile(`(?m)^` + name + regexp.QuoteMeta(labels) + ` \d`).
			MatchString(body) {
			t.Errorf("/metrics lacks %s%s:\n%s", name, labels, body)
		}
	}
	run.send("stop")
	if code := run.wait(stopTimeout); code != 0 {
		t.Fatalf("host exit code %d", code)
	}
	run.checkClean()
}

func getMetrics(t *testing.T, addr string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	return string(body)
}
