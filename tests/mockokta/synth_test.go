package mockokta

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"testing"
	"time"
)

func TestSynthesizeUniqueOrdered(t *testing.T) {
	start := time.Date(2026, 5, 14, 8, 0, 0, 0, time.UTC)
	events := Synthesize(5000, start, 7)
	if len(events) != 5000 {
		t.Fatalf("%d events, want 5000", len(events))
	}
	uuids := map[string]bool{}
	types := map[string]bool{}
	var last time.Time
	for i, raw := range events {
		var ev struct {
			UUID      string `json:"uuid"`
			Published string `json:"published"`
			EventType string `json:"eventType"`
			Actor     struct {
				AlternateID string `json:"alternateId"`
			} `json:"actor"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("event %d is not valid JSON: %v\n%s", i, err, raw)
		}
		if uuids[ev.UUID] {
			t.Fatalf("event %d repeats uuid %s", i, ev.UUID)
		}
		uuids[ev.UUID] = true
		types[ev.EventType] = true
		p, err := time.Parse(time.RFC3339Nano, ev.Published)
		if err != nil {
			t.Fatalf("event %d published %q: %v", i, ev.Published, err)
		}
		if i == 0 && !p.Equal(start) {
			t.Errorf("first published = %s, want %s", p, start)
		}
		if i > 0 && !p.After(last) {
			t.Fatalf("event %d published %s is not after %s", i, p, last)
		}
		last = p
		if ev.Actor.AlternateID == "" {
			t.Errorf("event %d has no actor.alternateId", i)
		}
	}
	for _, et := range templateEventTypes() {
		if !types[et] {
			t.Errorf("event type %s never synthesized", et)
		}
	}
}

func TestSynthesizeSeedDeterministic(t *testing.T) {
	start := time.Now()
	a := Synthesize(50, start, 1)
	b := Synthesize(50, start, 1)
	c := Synthesize(50, start, 2)
	if !slices.EqualFunc(a, b, func(x, y []byte) bool { return string(x) == string(y) }) {
		t.Error("same seed gave different events")
	}
	if string(a[0]) == string(c[0]) {
		t.Error("different seeds gave the same first event")
	}
}

func TestLogsServeSynthesizedVolume(t *testing.T) {
	const total = 20000
	srv, c := startServer(t, nil, func(cfg *Config) {
		cfg.Events = Synthesize(total, time.Now().Add(-24*time.Hour), 3)
	})
	c.login()
	next := srv.LogsURL() + "?limit=1000"
	seen := make(map[string]bool, total)
	for pages := 0; pages < total/1000+2; pages++ {
		resp := c.getLogs(next)
		events := eventsOf(t, resp)
		for _, ev := range events {
			seen[ev["uuid"].(string)] = true
		}
		next = links(t, resp.header)["next"]
		if len(events) < 1000 {
			break
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct events served, want %d", len(seen), total)
	}
}

func BenchmarkSynthesize(b *testing.B) {
	start := time.Now()
	for b.Loop() {
		_ = Synthesize(200000, start, 1)
	}
}

// BenchmarkServePage fetches 1000-event pages of a 200,000-event store over TLS, with a new
// DPoP proof per request, starting over at the end of the store.
func BenchmarkServePage(b *testing.B) {
	events := Synthesize(200000, time.Now().Add(-time.Hour), 1)
	srv, c := startServer(b, nil, func(cfg *Config) { cfg.Events = events })
	c.login()
	first := srv.LogsURL() + "?limit=1000"
	next := first
	var size int64
	for b.Loop() {
		resp := c.getLogs(next)
		size = int64(len(resp.body))
		next = links(b, resp.header)["next"]
		if size <= int64(len("[]")) {
			next = first
		}
	}
	b.SetBytes(size)
}

func TestSampleEventsFileServed(t *testing.T) {
	data, err := os.ReadFile("../testdata/okta-events.json")
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("tests/testdata/okta-events.json does not exist yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("sample file is not a JSON array: %v", err)
	}
	events := make([][]byte, len(raw))
	for i := range raw {
		events[i] = raw[i]
	}

	srv, c := startServer(t, nil, func(cfg *Config) { cfg.Events = events })
	if got := srv.Stats().InvalidEvents; got != 0 {
		t.Errorf("InvalidEvents = %d, want 0", got)
	}

	c.login()
	resp := c.getLogs(srv.LogsURL() + "?limit=1000")
	served := eventsOf(t, resp)
	if len(served) != len(raw) {
		t.Fatalf("served %d events, want %d", len(served), len(raw))
	}
	if bytes.ContainsAny(resp.body, "\n\t") {
		t.Error("page is not compact JSON, unlike Okta's")
	}
	for i, ev := range served {
		var want map[string]any
		_ = json.Unmarshal(raw[i], &want)
		if ev["uuid"] != want["uuid"] {
			t.Errorf("event %d uuid = %v, want %v (persistence order)", i, ev["uuid"], want["uuid"])
		}
	}
}
