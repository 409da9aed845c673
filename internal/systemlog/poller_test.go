package systemlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/internal/auth"
	"github.com/edgeaudit/fluent-bit-okta/internal/record"
	"github.com/edgeaudit/fluent-bit-okta/internal/schema"
)

func event(uuid, eventType string) string {
	return fmt.Sprintf(`{"uuid":%q,"published":"2026-03-01T10:00:00.000Z","eventType":%q,`+
		`"displayMessage":"m"}`, uuid, eventType)
}

func eventPage(events ...string) string { return "[" + strings.Join(events, ",") + "]" }

// schemaOf returns the schema field of one encoded record, found by its msgpack key.
func schemaOf(rec []byte) string {
	key := []byte("\xa6schema")
	i := bytes.LastIndex(rec, key)
	if i < 0 || i+len(key) >= len(rec) {
		return ""
	}
	n := int(rec[i+len(key)] & 0x1f)
	start := i + len(key) + 1
	if start+n > len(rec) {
		return ""
	}
	return string(rec[start : start+n])
}

type sleepRecorder struct {
	waits  []time.Duration
	cancel context.CancelFunc
	stopAt func(waits []time.Duration) bool
}

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.waits = append(s.waits, d)
	if s.stopAt(s.waits) {
		s.cancel()
		return ctx.Err()
	}
	return nil
}

func newPoller(t *testing.T, f *fakeOrg, q *Queue) *Poller {
	t.Helper()
	c := newClient(t, f)
	return &Poller{
		Client:       c,
		Queue:        q,
		Encoder:      &record.Encoder{OrgHost: f.org.Host},
		Schemas:      schema.Default(),
		PageSize:     3,
		PollInterval: 10 * time.Second,
		Pacer:        Pacer{Share: 0.5},
		Seen:         NewWindow(100, nil),
		Logger:       testLogger(),
		Metrics:      &Metrics{},
		Clock:        c.Clock,
	}
}

// TestPollerStream follows next links across a full and a short page, retries a 429, a 500, a
// truncated transfer and a truncated JSON page from the same cursor, and drops a duplicate.
func TestPollerStream(t *testing.T) {
	f := newFakeOrg(t, "Bearer")
	answersAtC2 := 0
	f.logs = func(_ int, req logsRequest, w http.ResponseWriter) {
		link := func(after string) {
			w.Header().Add("Link", fmt.Sprintf(`<%s>; rel="self"`, f.logsURL("x=1")))
			w.Header().Add("Link", fmt.Sprintf(`<%s>; rel="next"`,
				f.logsURL("limit=3&after="+after)))
		}
		switch req.query.Get("after") {
		case "":
			link("c1")
			_, _ = io.WriteString(w, eventPage(event("e1", "user.session.start"),
				event("e2", "policy.evaluate_sign_on"), event("e3", "x.unknown")))
		case "c1":
			link("c2")
			_, _ = io.WriteString(w, eventPage(event("e3", "x.unknown"),
				event("e4", "system.import.start")))
		case "c2":
			answersAtC2++
			switch answersAtC2 {
			case 1:
				date := time.Now().UTC().Truncate(time.Second)
				w.Header().Set("Date", date.Format(http.TimeFormat))
				w.Header().Set("X-Rate-Limit-Limit", "120")
				w.Header().Set("X-Rate-Limit-Remaining", "0")
				w.Header().Set("X-Rate-Limit-Reset",
					strconv.FormatInt(date.Add(5*time.Second).Unix(), 10))
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, `{"errorCode":"E0000047"}`)
			case 2:
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, `{"errorCode":"E0000009"}`)
			case 3:
				w.Header().Set("Content-Length", "1000")
				_, _ = io.WriteString(w, `[{"uuid":"e5"`)
			case 4:
				_, _ = io.WriteString(w, `[{"uuid":"e5","eventType":"x"`)
			default:
				link("c2")
				_, _ = io.WriteString(w, "[]")
			}
		default:
			t.Errorf("unexpected cursor %q", req.query.Get("after"))
			w.WriteHeader(http.StatusBadRequest)
		}
	}
	q := NewQueue(1<<20, "")
	p := newPoller(t, f, q)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleeps := &sleepRecorder{cancel: cancel, stopAt: func(w []time.Duration) bool {
		polls := 0
		for _, d := range w {
			if d == p.PollInterval {
				polls++
			}
		}
		return polls == 2 || len(w) > 20
	}}
	p.Sleep = sleeps.Sleep

	start := StartURL(f.org, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), 3, "", "")
	if err := p.Run(ctx, start); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}

	var cursors []string
	for _, c := range f.Calls() {
		cursors = append(cursors, c.query.Get("after"))
	}
	wantCursors := []string{"", "c1", "c2", "c2", "c2", "c2", "c2"}
	if !reflect.DeepEqual(cursors, wantCursors) {
		t.Errorf("requests at cursors %q, want %q", cursors, wantCursors)
	}
	if first := f.Calls()[0].query; first.Get("since") != "2026-03-01T09:00:00.000Z" ||
		first.Get("sortOrder") != "ASCENDING" || first.Get("limit") != "3" ||
		first.Has("until") {
		t.Errorf("first request query = %v", first)
	}

	if len(sleeps.waits) != 6 {
		t.Fatalf("sleeps %v, want 6", sleeps.waits)
	}
	if sleeps.waits[0] != 10*time.Second {
		t.Errorf("sleep after the short page = %s, want poll_interval", sleeps.waits[0])
	}
	if w := sleeps.waits[1]; w < 5*time.Second || w > 6*time.Second {
		t.Errorf("sleep after 429 = %s, want reset - Date + 1s (5s to 6s)", w)
	}
	bounds := [][2]time.Duration{{time.Second / 2, time.Second}, {time.Second, 2 * time.Second},
		{2 * time.Second, 4 * time.Second}}
	for i, b := range bounds {
		if w := sleeps.waits[2+i]; w < b[0] || w > b[1] {
			t.Errorf("backoff %d = %s, want %s to %s", i, w, b[0], b[1])
		}
	}
	if sleeps.waits[5] != 10*time.Second {
		t.Errorf("sleep after the empty page = %s, want poll_interval", sleeps.waits[5])
	}

	type rec struct{ uuid, schema string }
	var got []rec
	var nexts []string
	for _, page := range q.pages {
		nexts = append(nexts, page.NextURL)
		start := 0
		for i, end := range page.Ends {
			got = append(got, rec{page.UUIDs[i], schemaOf(page.Data[start:end])})
			start = end
		}
	}
	want := []rec{{"e1", "auth"}, {"e2", "auth"}, {"e2", "generic"}, {"e3", "unmapped"},
		{"e4", "generic"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	wantNexts := []string{f.logsURL("limit=3&after=c1"), f.logsURL("limit=3&after=c2"),
		f.logsURL("limit=3&after=c2")}
	if !reflect.DeepEqual(nexts, wantNexts) {
		t.Errorf("page cursors %q, want %q", nexts, wantNexts)
	}

	m := p.Metrics
	counters := []struct {
		name      string
		got, want int64
	}{
		{"Requests", m.Requests.Load(), 7},
		{"Pages", m.Pages.Load(), 3},
		{"EmptyPages", m.EmptyPages.Load(), 1},
		{"Events", m.Events.Load(), 4},
		{"Records", m.Records.Load(), 5},
		{"Duplicates", m.Duplicates.Load(), 1},
		{"RateLimited", m.RateLimited.Load(), 1},
		{"Retries", m.Retries.Load(), 4},
	}
	for _, c := range counters {
		if c.got != c.want {
			t.Errorf("Metrics.%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// TestPollerWaitsWhileQueueFull checks backpressure: with room for one page the poller
// fetches a second page, and fetches a third only after Done freed the queue.
func TestPollerWaitsWhileQueueFull(t *testing.T) {
	f := newFakeOrg(t, "Bearer")
	var freed atomic.Bool
	requests := make(chan int, 10)
	f.logs = func(n int, _ logsRequest, w http.ResponseWriter) {
		if n == 3 && !freed.Load() {
			t.Error("third page fetched while the queue was full")
		}
		w.Header().Add("Link", fmt.Sprintf(`<%s>; rel="next"`,
			f.logsURL("after=c"+strconv.Itoa(n))))
		_, _ = io.WriteString(w, eventPage(event(fmt.Sprintf("u%d-1", n), "x"),
			event(fmt.Sprintf("u%d-2", n), "x"), event(fmt.Sprintf("u%d-3", n), "x")))
		requests <- n
	}
	q := NewQueue(1, "")
	p := newPoller(t, f, q)
	p.Sleep = func(context.Context, time.Duration) error {
		t.Error("the poller slept although every page was full and no rate limit was sent")
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, f.logsURL("since=x")) }()

	for want := 1; want <= 2; want++ {
		if n := <-requests; n != want {
			t.Fatalf("request %d arrived, want %d", n, want)
		}
	}
	b, _ := q.Take(1 << 20)
	if b == nil || b.Records != 3 {
		t.Fatalf("Take = %+v, want the 3 records of the first page", b)
	}
	freed.Store(true)
	c := q.Done()
	if c == nil || c.Cursor != f.logsURL("after=c1") {
		t.Errorf("Done = %+v, want the first page's next link", c)
	}
	if n := <-requests; n != 3 {
		t.Fatalf("request %d arrived, want 3", n)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
}

func TestStartAndResumeURL(t *testing.T) {
	org, _ := url.Parse("https://example.okta.com")
	start := StartURL(org, time.Date(2026, 3, 1, 9, 0, 0, 5e8, time.FixedZone("x", 3600)),
		1000, `eventType eq "user.session.start"`, "jane doe")
	u, err := url.Parse(start)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	want := map[string]string{"since": "2026-03-01T08:00:00.500Z", "limit": "1000",
		"sortOrder": "ASCENDING", "filter": `eventType eq "user.session.start"`, "q": "jane doe"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("start %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if u.Host != "example.okta.com" || u.Path != LogsPath {
		t.Errorf("start URL = %s", start)
	}

	cursor := "https://example.okta.com/api/v1/logs?after=1627500044869_1&filter=old&limit=10" +
		"&until=2026-01-01T00:00:00Z"
	resumed, changed, err := ResumeURL(cursor, 500, "", "new")
	if err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Error("ResumeURL reported no change")
	}
	r, _ := url.Parse(resumed)
	rq := r.Query()
	if rq.Get("after") != "1627500044869_1" || rq.Get("limit") != "500" || rq.Has("filter") ||
		rq.Has("until") || rq.Get("q") != "new" || rq.Get("sortOrder") != "ASCENDING" {
		t.Errorf("resumed URL = %s", resumed)
	}
	same, changed, err := ResumeURL(resumed, 500, "", "new")
	if err != nil || changed || same != resumed {
		t.Errorf("ResumeURL of its own output = %s, %v, %v; want unchanged", same, changed, err)
	}
	if _, _, err := ResumeURL("https://example.okta.com/%zz", 1, "", ""); err == nil {
		t.Error("ResumeURL accepted an invalid cursor")
	}
}

func TestDecodeKeepsEventWithOutOfRangeTime(t *testing.T) {
	// A published before 1970 does not fit Fluent Bit's EventTime. The event must still be
	// delivered (with the read time), and decoding the same page twice, as after a failed
	// push, must not drop the page's own events as duplicates.
	p := &Poller{
		Encoder: &record.Encoder{OrgHost: "example.okta.com"},
		Schemas: schema.Default(),
		Seen:    NewWindow(100, nil),
		Logger:  testLogger(),
		Metrics: &Metrics{},
		Clock:   auth.NewClock(nil),
	}
	body := "[" + event("a", "user.session.start") + "," +
		`{"uuid":"old","published":"1960-01-01T00:00:00.000Z","eventType":"user.session.start"}` +
		"," + event("a", "user.session.start") + "]"
	page, n, err := p.decode(&Response{URL: "https://example.okta.com/api/v1/logs", Body: []byte(body)})
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if n != 3 {
		t.Errorf("events in the page = %d, want 3", n)
	}
	if got := strings.Join(page.UUIDs, ","); got != "a,old" {
		t.Errorf("record UUIDs = %s, want a,old (the repeat of a inside the page dropped)", got)
	}
	if got := p.Metrics.NoPublished.Load(); got != 1 {
		t.Errorf("events without a valid published time = %d, want 1", got)
	}
	if got := p.Metrics.Duplicates.Load(); got != 1 {
		t.Errorf("duplicates = %d, want 1", got)
	}
}
