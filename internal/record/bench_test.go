package record

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/internal/schema"
)

const samplePath = "../../tests/testdata/okta-events.json"

// samplePage returns a compact page of n events built from the sample events, each with its
// own uuid, published time, IP address and request id.
func samplePage(tb testing.TB, n int) []byte {
	tb.Helper()
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		tb.Fatal(err)
	}
	templates, err := SplitPage(sample)
	if err != nil {
		tb.Fatal(err)
	}

	base := time.Date(2026, 5, 14, 8, 0, 0, 0, time.UTC)
	var page bytes.Buffer
	page.WriteByte('[')
	for i := range n {
		tmpl := templates[i%len(templates)]
		var compact bytes.Buffer
		if err := compactJSON(&compact, tmpl.Raw); err != nil {
			tb.Fatal(err)
		}
		text := compact.String()
		text = strings.ReplaceAll(text, tmpl.UUID, fmt.Sprintf(
			"%08x-8a41-11f0-9d2e-%012x", i, i*7919))
		published := base.Add(time.Duration(i) * 1234567 * time.Microsecond)
		text = strings.Replace(text, `"published":"`+
			tmpl.Published.Format("2006-01-02T15:04:05.000Z")+`"`,
			`"published":"`+published.Format("2006-01-02T15:04:05.000Z")+`"`, 1)
		text = strings.ReplaceAll(text, "203.0.113.57", fmt.Sprintf("203.0.113.%d", i%250))
		if i > 0 {
			page.WriteByte(',')
		}
		page.WriteString(text)
	}
	page.WriteByte(']')
	return page.Bytes()
}

// compactJSON removes insignificant whitespace without reordering keys.
func compactJSON(dst *bytes.Buffer, src []byte) error {
	inString, escaped := false, false
	for _, c := range src {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\n' || c == '\t' || c == '\r'):
			continue
		}
		dst.WriteByte(c)
	}
	return nil
}

func TestSampleEventsEncode(t *testing.T) {
	page := samplePage(t, 1000)
	events, records := encodePage(t, &testEncoder, string(page))
	if len(events) != 1000 {
		t.Fatalf("got %d events, want 1000", len(events))
	}
	for i, ev := range events {
		if ev.UUID == "" || ev.EventType == "" || ev.Published.IsZero() {
			t.Errorf("event %d: uuid %q, eventType %q, published %v", i, ev.UUID,
				ev.EventType, ev.Published)
		}
		want, err := expectedBody(ev.Raw)
		if err != nil {
			t.Fatal(err)
		}
		want[SchemaField] = "auth"
		if got := plainValue(records[i].Body); !reflect.DeepEqual(got, want) {
			t.Fatalf("event %d body differs from encoding/json:\n%v\n%v", i, got, want)
		}
	}
}

// pageDecoder is one way to turn a page into records, so the benchmarks compare them on the
// same pages.
type pageDecoder func(page []byte, m *schema.Map, enc *Encoder, dst []byte) ([]byte, int, error)

// decodeWithScanner is the package's own path: SplitPage, then AppendRecord per schema.
func decodeWithScanner(page []byte, m *schema.Map, enc *Encoder, dst []byte) ([]byte, int,
	error) {
	events, err := SplitPage(page)
	if err != nil {
		return dst, 0, err
	}
	for i := range events {
		for _, name := range m.Schemas(events[i].EventType) {
			dst, err = enc.AppendRecord(dst, &events[i], name, events[i].Published)
			if err != nil {
				return dst, 0, err
			}
		}
	}
	return dst, len(events), nil
}

func benchmarkPage(b *testing.B, decode pageDecoder) {
	page := samplePage(b, 1000)
	m := schema.Default()
	enc := Encoder{OrgHost: "example.okta.com", OriginalData: true}

	dst, n, err := decode(page, m, &enc, nil)
	if err != nil {
		b.Fatal(err)
	}
	if n != 1000 {
		b.Fatalf("decoded %d events, want 1000", n)
	}
	if _, err := decodeRecords(dst); err != nil {
		b.Fatal(err)
	}

	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst, _, err = decode(page, m, &enc, dst[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/event")
}

// BenchmarkPage1000 decodes, classifies with schema.Default and encodes a page of 1000 events.
func BenchmarkPage1000(b *testing.B) {
	benchmarkPage(b, decodeWithScanner)
}

// BenchmarkPage1000EncodingJSON does the same work with the encoding/json token stream.
func BenchmarkPage1000EncodingJSON(b *testing.B) {
	benchmarkPage(b, decodeWithEncodingJSON)
}

// BenchmarkPage1000Jsoniter does the same work with the json-iterator/go Iterator.
func BenchmarkPage1000Jsoniter(b *testing.B) {
	benchmarkPage(b, decodeWithJsoniter)
}
