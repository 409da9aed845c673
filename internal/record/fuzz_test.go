package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzSplitPageAppendRecord checks that no input makes SplitPage or AppendRecord panic, that
// every accepted page is valid JSON, and that every record decodes to the values that
// encoding/json reads from the same event.
func FuzzSplitPageAppendRecord(f *testing.F) {
	for _, seed := range []string{
		`[]`, `[{}]`, `[{"uuid":"u","eventType":"user.session.start",` +
			`"published":"2026-05-14T08:12:45.118Z","n":[1,-2,3.5,1e400,null,true]}]`,
		`[{"a":{"b":{"c":[{"d":"\u00e9\ud83d\ude00"}]}},"a":1}]`,
		`[{"schema":1,"okta_org":2,"original_data":3}]`,
		`[{"x":18446744073709551616,"y":-9223372036854775809,"z":0.1}]`,
		`[{"a":"\ud800"}]`, `[{"a":"`, `{"a":1}`, `[1]`,
	} {
		f.Add([]byte(seed))
	}
	// Each sample event is a seed of its own, because a large seed slows every execution.
	if sample, err := os.ReadFile("../../tests/testdata/okta-events.json"); err == nil {
		events, err := SplitPage(sample)
		if err != nil {
			f.Fatalf("sample events: %v", err)
		}
		for _, ev := range events[:min(len(events), 8)] {
			f.Add(append(append([]byte("["), ev.Raw...), ']'))
		}
	}

	enc := Encoder{OrgHost: "example.okta.com", OriginalData: true}
	f.Fuzz(func(t *testing.T, page []byte) {
		events, err := SplitPage(page)
		if err != nil {
			if events != nil {
				t.Fatalf("SplitPage returned %d events with error %v", len(events), err)
			}
			return
		}
		if !json.Valid(page) {
			t.Fatalf("SplitPage accepted invalid JSON %q", page)
		}

		var buf []byte
		for i := range events {
			buf, err = enc.AppendRecord(buf, &events[i], "auth", time.Unix(1, 0))
			if err != nil {
				t.Fatalf("AppendRecord(event %d): %v", i, err)
			}
		}
		records, err := decodeRecords(buf)
		if err != nil {
			t.Fatalf("records of %q do not decode: %v", page, err)
		}
		if len(records) != len(events) {
			t.Fatalf("decoded %d records, want %d", len(records), len(events))
		}

		for i, rec := range records {
			want, err := expectedBody(events[i].Raw)
			if err != nil {
				t.Fatalf("encoding/json cannot read event %d %q: %v", i, events[i].Raw, err)
			}
			got := plainValue(rec.Body)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("event %q:\nrecord body %#v\nencoding/json %#v", events[i].Raw, got,
					want)
			}
		}
	})
}

// expectedBody decodes raw with encoding/json, applies the number rules of AppendRecord and
// adds the fields of the encoder used by the fuzz target.
func expectedBody(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var event map[string]any
	if err := dec.Decode(&event); err != nil {
		return nil, err
	}
	body := expectedValue(event).(map[string]any)
	body[SchemaField] = "auth"
	body[OrgField] = "example.okta.com"
	body[OriginalDataField] = string(raw)
	return body, nil
}

func expectedValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for key, value := range v {
			out[key] = expectedValue(value)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, value := range v {
			out[i] = expectedValue(value)
		}
		return out
	case json.Number:
		text := string(v)
		if !strings.ContainsAny(text, ".eE") {
			if n, err := strconv.ParseInt(text, 10, 64); err == nil {
				return n
			}
			if n, err := strconv.ParseUint(text, 10, 64); err == nil {
				return n
			}
		}
		f, _ := strconv.ParseFloat(text, 64)
		if math.IsInf(f, 0) {
			return text
		}
		if f == 0 {
			// Compare the sign of zero through its text, because DeepEqual treats 0 and -0
			// as equal.
			return fmt.Sprintf("zero(%v)", math.Signbit(f))
		}
		return f
	}
	return v
}

// plainValue converts a decoded record body to the types that expectedValue returns.
func plainValue(v any) any {
	switch v := v.(type) {
	case orderedMap:
		out := make(map[string]any, len(v))
		for _, p := range v {
			out[p.Key] = plainValue(p.Value)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, value := range v {
			out[i] = plainValue(value)
		}
		return out
	case float64:
		if v == 0 {
			return fmt.Sprintf("zero(%v)", math.Signbit(v))
		}
	}
	return v
}
