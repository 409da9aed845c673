package record

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testEncoder = Encoder{OrgHost: "example.okta.com", OriginalData: true}

// encodePage splits page and encodes every event with schema "auth" at its published time
// (or 2026-01-01 when it has none), then decodes the result.
func encodePage(t *testing.T, enc *Encoder, page string) ([]Event, []decodedRecord) {
	t.Helper()
	events, err := SplitPage([]byte(page))
	if err != nil {
		t.Fatalf("SplitPage(%s): %v", page, err)
	}
	var buf []byte
	for i := range events {
		ts := events[i].Published
		if ts.IsZero() {
			ts = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		buf, err = enc.AppendRecord(buf, &events[i], "auth", ts)
		if err != nil {
			t.Fatalf("AppendRecord(event %d): %v", i, err)
		}
	}
	records, err := decodeRecords(buf)
	if err != nil {
		t.Fatalf("decode records of %s: %v", page, err)
	}
	if len(records) != len(events) {
		t.Fatalf("decoded %d records, want %d", len(records), len(events))
	}
	return events, records
}

// encodeBody returns the decoded body of the single event object eventJSON.
func encodeBody(t *testing.T, eventJSON string) orderedMap {
	t.Helper()
	_, records := encodePage(t, &Encoder{OrgHost: "example.okta.com"}, "["+eventJSON+"]")
	return records[0].Body
}

func field(t *testing.T, m orderedMap, key string) any {
	t.Helper()
	v, ok := m.get(key)
	if !ok {
		t.Fatalf("key %q missing from %v", key, m)
	}
	return v
}

func TestSplitPageFindsEvents(t *testing.T) {
	page := ` [ {"uuid":"u1","eventType":"user.session.start",` +
		`"published":"2026-05-14T08:12:45.118Z","x":1} ,
		{"uuid":"u2"}, {} ] `
	events, err := SplitPage([]byte(page))
	if err != nil {
		t.Fatalf("SplitPage: %v", err)
	}
	if len(events) != 3 {
		t.Fatalf("got %d events, want 3", len(events))
	}

	wantRaw := []string{
		`{"uuid":"u1","eventType":"user.session.start","published":"2026-05-14T08:12:45.118Z","x":1}`,
		`{"uuid":"u2"}`,
		`{}`,
	}
	for i, want := range wantRaw {
		if string(events[i].Raw) != want {
			t.Errorf("event %d Raw = %s, want %s", i, events[i].Raw, want)
		}
	}

	if events[0].UUID != "u1" {
		t.Errorf("UUID = %q, want u1", events[0].UUID)
	}
	if events[0].EventType != "user.session.start" {
		t.Errorf("EventType = %q, want user.session.start", events[0].EventType)
	}
	wantTime := time.Date(2026, 5, 14, 8, 12, 45, 118_000_000, time.UTC)
	if !events[0].Published.Equal(wantTime) {
		t.Errorf("Published = %v, want %v", events[0].Published, wantTime)
	}
	if events[1].UUID != "u2" || events[1].EventType != "" || !events[1].Published.IsZero() {
		t.Errorf("event 1 = %+v, want UUID u2 and no event type or published", events[1])
	}
	if events[2].UUID != "" {
		t.Errorf("event 2 UUID = %q, want empty", events[2].UUID)
	}
}

func TestSplitPageEmptyArray(t *testing.T) {
	for _, page := range []string{"[]", " [ \n ] \n"} {
		events, err := SplitPage([]byte(page))
		if err != nil {
			t.Errorf("SplitPage(%q): %v", page, err)
		}
		if events == nil || len(events) != 0 {
			t.Errorf("SplitPage(%q) = %v, want an empty non-nil slice", page, events)
		}
	}
}

func TestSplitPageIdentifiersUnescaped(t *testing.T) {
	events, err := SplitPage([]byte(`[{"uuid":"a\u002Db","eventType":"user.session\u002estart",` +
		`"published":123}]`))
	if err != nil {
		t.Fatal(err)
	}
	if events[0].UUID != "a-b" {
		t.Errorf("UUID = %q, want a-b", events[0].UUID)
	}
	if events[0].EventType != "user.session.start" {
		t.Errorf("EventType = %q, want user.session.start", events[0].EventType)
	}
	if !events[0].Published.IsZero() {
		t.Errorf("Published = %v for a number, want zero", events[0].Published)
	}
}

func TestSplitPageRejectsInvalid(t *testing.T) {
	tests := []struct {
		name   string
		page   string
		offset int
		msg    string
	}{
		{"empty", "", 0, "empty page"},
		{"spaces only", "  ", 2, "empty page"},
		{"object page", `{"uuid":"x"}`, 0, "expected '['"},
		{"errorCode page", `{"errorCode":"E0000011"}`, 0, "expected '['"},
		{"number event", `[1]`, 1, "event 0 is a number"},
		{"string event", `[{}, "x"]`, 5, "event 1 is a string"},
		{"array event", `[[]]`, 1, "event 0 is an array"},
		{"null event", `[null]`, 1, "event 0 is null"},
		{"truncated array", `[{"a":1}`, 8, "unexpected end of page after event 0"},
		{"truncated after comma", `[{"a":1},`, 9, "unexpected end of page, expected event 1"},
		{"truncated object", `[{"a":1`, 7, "unexpected end of input in object"},
		{"truncated key", `[{"a`, 2, "unterminated string"},
		{"truncated string", `[{"a":"Zür`, 6, "unterminated string"},
		{"truncated literal", `[{"a":tru`, 6, `expected "true"`},
		{"truncated number", `[{"a":-`, 7, "expected a digit"},
		{"truncated escape", `[{"a":"\`, 7, "unterminated escape"},
		{"truncated unicode", `[{"a":"\u00`, 7, "four hex digits"},
		{"trailing comma in array", `[{},]`, 4, "event 1 is the invalid character ']'"},
		{"trailing comma in object", `[{"a":1,}]`, 8, "expected a string key"},
		{"missing colon", `[{"a" 1}]`, 6, "expected ':'"},
		{"unquoted key", `[{a:1}]`, 2, "expected a string key"},
		{"single quotes", `[{'a':1}]`, 2, "expected a string key"},
		{"trailing data", `[{}] x`, 5, "after the end of the page array"},
		{"two arrays", `[][]`, 2, "after the end of the page array"},
		{"leading zero", `[{"a":01}]`, 7, "expected ',' or '}'"},
		{"plus sign", `[{"a":+1}]`, 6, "expected a value"},
		{"bare decimal point", `[{"a":1.}]`, 8, "after decimal point"},
		{"empty exponent", `[{"a":1e}]`, 8, "in exponent"},
		{"NaN", `[{"a":NaN}]`, 6, "expected a value"},
		{"invalid escape", `[{"a":"\x"}]`, 7, `invalid escape "\\x"`},
		{"raw newline", "[{\"a\":\"x\ny\"}]", 8, "control character 0x0a"},
		{"raw tab after escape", "[{\"a\":\"\\n\t\"}]", 9, "control character 0x09"},
		{"invalid utf8", "[{\"a\":\"ab\xffc\"}]", 9, "invalid UTF-8 byte 0xff"},
		{"invalid utf8 after escape", "[{\"a\":\"\\n\xc3\"}]", 9, "invalid UTF-8 byte 0xc3"},
		{"nested value missing", `[{"a":{"b":}}]`, 11, "expected a value"},
		{"array missing comma", `[{"a":[1 2]}]`, 9, "expected ',' or ']'"},
		{"comment", `[{} /* c */]`, 4, "expected ',' or ']'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := SplitPage([]byte(tt.page))
			if err == nil {
				t.Fatalf("SplitPage(%q) = %d events, want an error", tt.page, len(events))
			}
			if events != nil {
				t.Errorf("SplitPage(%q) returned %d events with the error", tt.page, len(events))
			}
			var syntaxErr *SyntaxError
			if !errors.As(err, &syntaxErr) {
				t.Fatalf("error %v is %T, want *SyntaxError", err, err)
			}
			if syntaxErr.Offset != tt.offset {
				t.Errorf("offset = %d, want %d (%v)", syntaxErr.Offset, tt.offset, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "record: ") {
				t.Errorf("error %q has no package prefix", err)
			}
		})
	}
}

func TestSplitPageDepthLimit(t *testing.T) {
	nested := func(levels int) string {
		// The event object is level 1, so levels-1 arrays go inside it.
		return `[{"a":` + strings.Repeat("[", levels-1) + strings.Repeat("]", levels-1) + `}]`
	}
	if _, err := SplitPage([]byte(nested(MaxDepth))); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
	_, err := SplitPage([]byte(nested(MaxDepth + 1)))
	if err == nil || !strings.Contains(err.Error(), "nesting deeper than 64 levels") {
		t.Errorf("depth %d: err = %v, want a nesting error", MaxDepth+1, err)
	}

	// Deep nesting of objects must not exhaust the stack before the limit applies.
	deep := `[` + strings.Repeat(`{"a":`, 100000) + `1` + strings.Repeat(`}`, 100000) + `]`
	if _, err := SplitPage([]byte(deep)); err == nil {
		t.Error("100000 nested objects: no error")
	}
}

func TestRecordShapeAndFields(t *testing.T) {
	page := `[{"uuid":"u1","published":"2026-05-14T08:12:45.118Z","eventType":"user.session.start",` +
		`"severity":"WARN"}]`
	events, records := encodePage(t, &testEncoder, page)
	rec := records[0]

	if len(rec.Metadata) != 0 {
		t.Errorf("metadata = %v, want an empty map", rec.Metadata)
	}
	wantKeys := []string{"uuid", "published", "eventType", "severity", "schema", "okta_org",
		"original_data"}
	if got := rec.Body.keys(); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("body keys = %v, want %v", got, wantKeys)
	}
	if got := field(t, rec.Body, "schema"); got != "auth" {
		t.Errorf("schema = %v, want auth", got)
	}
	if got := field(t, rec.Body, "okta_org"); got != "example.okta.com" {
		t.Errorf("okta_org = %v, want example.okta.com", got)
	}
	if got := field(t, rec.Body, "original_data"); got != string(events[0].Raw) {
		t.Errorf("original_data = %v, want %s", got, events[0].Raw)
	}
}

func TestRecordWithoutOriginalData(t *testing.T) {
	body := encodeBody(t, `{"a":1}`)
	if got := body.keys(); !reflect.DeepEqual(got, []string{"a", "schema", "okta_org"}) {
		t.Errorf("body keys = %v, want [a schema okta_org]", got)
	}
}

func TestRecordTypes(t *testing.T) {
	body := encodeBody(t, `{"s":"x","t":true,"f":false,"n":null,"i":7,"neg":-5,`+
		`"f1":1.0,"f2":0.1,"e":1e3,"ea":[],"eo":{},"arr":[1,"a",null,[true],{"k":"v"}],`+
		`"obj":{"z":1,"y":{"x":[]}}}`)

	want := orderedMap{
		{"s", "x"}, {"t", true}, {"f", false}, {"n", nil}, {"i", int64(7)},
		{"neg", int64(-5)}, {"f1", 1.0}, {"f2", 0.1}, {"e", 1000.0}, {"ea", []any{}},
		{"eo", orderedMap{}},
		{"arr", []any{int64(1), "a", nil, []any{true}, orderedMap{{"k", "v"}}}},
		{"obj", orderedMap{{"z", int64(1)}, {"y", orderedMap{{"x", []any{}}}}}},
		{"schema", "auth"}, {"okta_org", "example.okta.com"},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body =\n%#v\nwant\n%#v", body, want)
	}
}

func TestRecordNumbers(t *testing.T) {
	tests := []struct {
		json string
		want any
	}{
		{"0", int64(0)},
		{"-0", int64(0)},
		{"127", int64(127)},
		{"128", int64(128)},
		{"255", int64(255)},
		{"65536", int64(65536)},
		{"-32", int64(-32)},
		{"-33", int64(-33)},
		{"-129", int64(-129)},
		{"-40000", int64(-40000)},
		{"-3000000000", int64(-3000000000)},
		{"9223372036854775807", int64(math.MaxInt64)},
		{"-9223372036854775808", int64(math.MinInt64)},
		{"9223372036854775808", uint64(1 << 63)},
		{"18446744073709551615", uint64(math.MaxUint64)},
		{"18446744073709551616", 18446744073709551616.0},
		{"-9223372036854775809", -9223372036854775809.0},
		{"123456789012345678901234567890", 123456789012345678901234567890.0},
		{"1.0", 1.0},
		{"0.1", 0.1},
		{"-0.0", math.Copysign(0, -1)},
		{"47.3769", 47.3769},
		{"-122.6742", -122.6742},
		{"1E2", 100.0},
		{"1e-2", 0.01},
		{"2.5e+3", 2500.0},
		{"1e-400", 0.0},
		{"1.7976931348623157e308", math.MaxFloat64},
		{"1e400", "1e400"},
		{"-1e400", "-1e400"},
	}
	for _, tt := range tests {
		body := encodeBody(t, `{"v":`+tt.json+`}`)
		got := field(t, body, "v")
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s encoded as %T %v, want %T %v", tt.json, got, got, tt.want, tt.want)
		}
		if f, ok := got.(float64); ok && math.Signbit(f) != math.Signbit(tt.want.(float64)) {
			t.Errorf("%s encoded with the wrong sign: %v", tt.json, f)
		}
	}
}

func TestRecordStrings(t *testing.T) {
	tests := []struct {
		json string
		want string
	}{
		{`"Zürich"`, "Zürich"},
		{`"Z\u00fcrich"`, "Zürich"},
		{`"caf\u00e9"`, "café"},
		{`"😀 smile"`, "😀 smile"},
		{`"\ud83d\ude00"`, "😀"},
		{`"\uD83D\uDE00x"`, "😀x"},
		{`"\ud83d"`, "\uFFFD"},
		{`"\ud83dx"`, "\uFFFDx"},
		{`"\ude00\ud83d"`, "\uFFFD\uFFFD"},
		{`"\ud83d\u0041"`, "\uFFFDA"},
		{`"a\"b\\c\/d"`, `a"b\c/d`},
		{`"\b\f\n\r\t"`, "\b\f\n\r\t"},
		{`"\u0000"`, "\x00"},
		{`""`, ""},
		{`"` + strings.Repeat("x", 31) + `"`, strings.Repeat("x", 31)},
		{`"` + strings.Repeat("x", 32) + `"`, strings.Repeat("x", 32)},
		{`"` + strings.Repeat("é", 200) + `"`, strings.Repeat("é", 200)},
		{`"` + strings.Repeat("x", 70000) + `"`, strings.Repeat("x", 70000)},
		{`"{New Geo-Location=POSITIVE, New Device=NEGATIVE}"`,
			"{New Geo-Location=POSITIVE, New Device=NEGATIVE}"},
	}
	for _, tt := range tests {
		body := encodeBody(t, `{"v":`+tt.json+`}`)
		if got := field(t, body, "v"); got != tt.want {
			t.Errorf("%.40s encoded as %q, want %q", tt.json, got, tt.want)
		}

		// encoding/json decodes the same text to the same string.
		var std string
		if err := json.Unmarshal([]byte(tt.json), &std); err != nil {
			t.Fatalf("encoding/json rejects %.40s: %v", tt.json, err)
		}
		if std != tt.want {
			t.Errorf("encoding/json decodes %.40s as %q, want %q", tt.json, std, tt.want)
		}
	}
}

func TestRecordUnicodeKeys(t *testing.T) {
	body := encodeBody(t, `{"Zürich":1,"\u00e9":2,"😀":3}`)
	if got := body.keys()[:3]; !reflect.DeepEqual(got, []string{"Zürich", "é", "😀"}) {
		t.Errorf("keys = %q", got)
	}
}

func TestRecordDuplicateKeysKeepLast(t *testing.T) {
	body := encodeBody(t, `{"a":1,"b":{"x":1,"y":2,"x":{"deep":[1,2,3]}},"a":"last","c":3}`)
	want := orderedMap{
		{"b", orderedMap{{"y", int64(2)}, {"x", orderedMap{{"deep", []any{
			int64(1), int64(2), int64(3)}}}}}},
		{"a", "last"}, {"c", int64(3)},
		{"schema", "auth"}, {"okta_org", "example.okta.com"},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body =\n%#v\nwant\n%#v", body, want)
	}
}

func TestRecordDuplicateKeysLargeObject(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 100 {
		sb.WriteString(`"k` + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + `":` +
			strings.Repeat("1", 1+i%3) + ",")
	}
	sb.WriteString(`"ka":"again","kb":"again"}`)
	body := encodeBody(t, `{"big":`+sb.String()+`}`)

	big := field(t, body, "big").(orderedMap)
	if len(big) != 100 {
		t.Errorf("object has %d members, want 100", len(big))
	}
	if got := field(t, big, "ka"); got != "again" {
		t.Errorf("ka = %v, want the last value", got)
	}
	if got := big[len(big)-1].Key; got != "kb" {
		t.Errorf("last key = %q, want kb", got)
	}
}

func TestRecordDuplicateEventIdentifiersKeepLast(t *testing.T) {
	events, err := SplitPage([]byte(`[{"uuid":"first","eventType":"a.b","uuid":"second",` +
		`"eventType":7}]`))
	if err != nil {
		t.Fatal(err)
	}
	if events[0].UUID != "second" {
		t.Errorf("UUID = %q, want second", events[0].UUID)
	}
	if events[0].EventType != "" {
		t.Errorf("EventType = %q, want empty because the last value is a number",
			events[0].EventType)
	}
}

func TestRecordReservedKeysDropped(t *testing.T) {
	page := `[{"schema":"fake","a":1,"okta_org":"evil.example","original_data":"x",` +
		`"nested":{"schema":"kept"}}]`
	events, records := encodePage(t, &testEncoder, page)
	body := records[0].Body

	wantKeys := []string{"a", "nested", "schema", "okta_org", "original_data"}
	if got := body.keys(); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("body keys = %v, want %v", got, wantKeys)
	}
	if got := field(t, body, "schema"); got != "auth" {
		t.Errorf("schema = %v, want the encoder's value", got)
	}
	if got := field(t, body, "okta_org"); got != "example.okta.com" {
		t.Errorf("okta_org = %v, want the encoder's value", got)
	}
	if got := field(t, body, "original_data"); got != string(events[0].Raw) {
		t.Errorf("original_data = %v, want the event text", got)
	}
	nested := field(t, body, "nested").(orderedMap)
	if got := field(t, nested, "schema"); got != "kept" {
		t.Errorf("nested schema = %v, want kept", got)
	}
}

func TestRecordLargeContainers(t *testing.T) {
	for _, n := range []int{15, 16, 65535, 65536} {
		items := make([]string, n)
		members := make([]string, n)
		for i := range n {
			items[i] = "1"
			members[i] = `"k` + strings.Repeat("x", i%7) + string(rune('0'+i%10)) +
				"_" + itoa(i) + `":null`
		}
		body := encodeBody(t, `{"arr":[`+strings.Join(items, ",")+`],"obj":{`+
			strings.Join(members, ",")+`},"after":"ok"}`)
		if got := len(field(t, body, "arr").([]any)); got != n {
			t.Errorf("array of %d encoded with %d elements", n, got)
		}
		if got := len(field(t, body, "obj").(orderedMap)); got != n {
			t.Errorf("object of %d encoded with %d members", n, got)
		}
		if got := field(t, body, "after"); got != "ok" {
			t.Errorf("after %d elements: after = %v", n, got)
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestRecordManyTopLevelFields(t *testing.T) {
	members := make([]string, 70000)
	for i := range members {
		members[i] = `"f` + itoa(i) + `":` + itoa(i)
	}
	body := encodeBody(t, "{"+strings.Join(members, ",")+"}")
	if len(body) != 70002 {
		t.Fatalf("body has %d members, want 70002", len(body))
	}
	if got := field(t, body, "f69999"); got != int64(69999) {
		t.Errorf("f69999 = %v", got)
	}
}

func TestEventTime(t *testing.T) {
	tests := []struct {
		published string
		seconds   uint32
		nanos     uint32
	}{
		{"2026-05-14T08:12:45.118Z", 1778746365, 118_000_000},
		{"2026-05-14T08:12:45.118123456Z", 1778746365, 118_123_456},
		{"2026-05-14T08:12:45Z", 1778746365, 0},
		{"2026-05-14T10:12:45.5+02:00", 1778746365, 500_000_000},
	}
	for _, tt := range tests {
		_, records := encodePage(t, &testEncoder, `[{"published":"`+tt.published+`"}]`)
		got := records[0].Time
		if got.Seconds != tt.seconds || got.Nanos != tt.nanos {
			t.Errorf("published %s: EventTime = %d.%09d, want %d.%09d", tt.published,
				got.Seconds, got.Nanos, tt.seconds, tt.nanos)
		}
	}
}

func TestEventTimeBytes(t *testing.T) {
	ev := Event{Raw: []byte(`{}`)}
	ts := time.Date(2026, 5, 14, 8, 12, 45, 118_000_000, time.UTC)
	buf, err := testEncoder.AppendRecord(nil, &ev, "generic", ts)
	if err != nil {
		t.Fatal(err)
	}

	// fixarray 2, fixarray 2, fixext8 type 0, seconds 0x6a0583fd (1778746365),
	// nanoseconds 0x07088980 (118000000), empty metadata map.
	want := []byte{0x92, 0x92, 0xd7, 0x00, 0x6a, 0x05, 0x83, 0xfd, 0x07, 0x08, 0x89, 0x80, 0x80}
	if got := buf[:len(want)]; !reflect.DeepEqual(got, want) {
		t.Errorf("record header = % x, want % x", got, want)
	}
}

func TestPublishedMissingOrInvalid(t *testing.T) {
	for _, published := range []string{``, `"published":null,`, `"published":"",`,
		`"published":"yesterday",`, `"published":"2026-05-14 08:12:45Z",`,
		`"published":"2026-13-14T08:12:45Z",`, `"published":1778746365,`} {
		events, err := SplitPage([]byte(`[{` + published + `"uuid":"u"}]`))
		if err != nil {
			t.Fatalf("%s: %v", published, err)
		}
		if !events[0].Published.IsZero() {
			t.Errorf("%s: Published = %v, want zero", published, events[0].Published)
		}
	}
}

func TestAppendRecordRejectsTimestamp(t *testing.T) {
	ev := Event{Raw: []byte(`{}`), UUID: "u-1"}
	for _, ts := range []time.Time{
		{},
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Unix(math.MaxUint32-1, 0),
		time.Unix(math.MaxUint32, 0),
	} {
		dst := []byte("keep")
		out, err := testEncoder.AppendRecord(dst, &ev, "auth", ts)
		if err == nil {
			t.Errorf("timestamp %v: no error", ts)
			continue
		}
		if !strings.Contains(err.Error(), "EventTime range") || !strings.Contains(err.Error(),
			`"u-1"`) {
			t.Errorf("timestamp %v: error %q does not name the range and the event", ts, err)
		}
		if string(out) != "keep" {
			t.Errorf("timestamp %v: dst changed to %q", ts, out)
		}
	}

	last := time.Unix(math.MaxUint32-2, 999_999_999)
	if _, err := testEncoder.AppendRecord(nil, &ev, "auth", last); err != nil {
		t.Errorf("last valid second: %v", err)
	}
}

func TestAppendRecordRawEvent(t *testing.T) {
	ev := Event{Raw: []byte(" {\"a\":[1,{\"b\":\"Zürich\"}],\"schema\":1} \n")}
	buf, err := testEncoder.AppendRecord(nil, &ev, "cloudaudit", time.Unix(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	records, err := decodeRecords(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := orderedMap{
		{"a", []any{int64(1), orderedMap{{"b", "Zürich"}}}},
		{"schema", "cloudaudit"}, {"okta_org", "example.okta.com"},
		{"original_data", string(ev.Raw)},
	}
	if !reflect.DeepEqual(records[0].Body, want) {
		t.Errorf("body = %#v, want %#v", records[0].Body, want)
	}
	if records[0].Time != (eventTime{1, 2}) {
		t.Errorf("time = %v, want 1.000000002", records[0].Time)
	}
}

func TestAppendRecordRejectsInvalidRaw(t *testing.T) {
	for _, raw := range []string{``, `[]`, `{"a":}`, `{} {}`, `{"a":"b"`} {
		ev := Event{Raw: []byte(raw)}
		dst := []byte("keep")
		out, err := testEncoder.AppendRecord(dst, &ev, "auth", time.Unix(1, 0))
		var syntaxErr *SyntaxError
		if !errors.As(err, &syntaxErr) {
			t.Errorf("Raw %q: err = %v, want a *SyntaxError", raw, err)
		}
		if string(out) != "keep" {
			t.Errorf("Raw %q: dst changed to %q", raw, out)
		}
	}
}

func TestAppendRecordRejectsArguments(t *testing.T) {
	if _, err := testEncoder.AppendRecord(nil, nil, "auth", time.Unix(1, 0)); err == nil {
		t.Error("nil event: no error")
	}
	ev := Event{Raw: []byte(`{}`)}
	if _, err := testEncoder.AppendRecord(nil, &ev, "", time.Unix(1, 0)); err == nil {
		t.Error("empty schema: no error")
	}
}

func TestRecordsAppendToExistingBuffer(t *testing.T) {
	events, err := SplitPage([]byte(`[{"n":1},{"n":2}]`))
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	for i := range events {
		for _, schema := range []string{"auth", "generic"} {
			buf, err = testEncoder.AppendRecord(buf, &events[i], schema, time.Unix(5, 0))
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	records, err := decodeRecords(buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 4 {
		t.Fatalf("got %d records, want 4", len(records))
	}
	wantN := []int64{1, 1, 2, 2}
	wantSchema := []string{"auth", "generic", "auth", "generic"}
	for i, rec := range records {
		if got := field(t, rec.Body, "n"); got != wantN[i] {
			t.Errorf("record %d n = %v, want %d", i, got, wantN[i])
		}
		if got := field(t, rec.Body, "schema"); got != wantSchema[i] {
			t.Errorf("record %d schema = %v, want %s", i, got, wantSchema[i])
		}
	}
}

func TestRecordStringSpecialBytePositions(t *testing.T) {
	// The scanner tests eight bytes at a time, so put each kind of special byte at every
	// offset of a word and across word boundaries.
	specials := []struct {
		json string
		want string
	}{
		{`\"`, `"`}, {`\\`, `\`}, {`\n`, "\n"}, {`é`, "é"}, {`😀`, "😀"}, {`\u00e9`, "é"},
		{"\x7f", "\x7f"}, {"!", "!"}, {"#", "#"}, {"[", "["}, {"]", "]"}, {" ", " "},
	}
	for _, sp := range specials {
		for offset := range 20 {
			prefix := strings.Repeat("a", offset)
			text := `"` + prefix + sp.json + "tail-text" + `"`
			body := encodeBody(t, `{"v":`+text+`}`)
			if got, want := field(t, body, "v"), prefix+sp.want+"tail-text"; got != want {
				t.Errorf("%s encoded as %q, want %q", text, got, want)
			}
		}
	}

	for offset := range 20 {
		page := `[{"v":"` + strings.Repeat("a", offset) + "\x01" + `"}]`
		if _, err := SplitPage([]byte(page)); err == nil {
			t.Errorf("control character at offset %d: no error", offset)
		}
		page = `[{"v":"` + strings.Repeat("a", offset) + "\xff" + `"}]`
		if _, err := SplitPage([]byte(page)); err == nil {
			t.Errorf("invalid UTF-8 at offset %d: no error", offset)
		}
	}
}
