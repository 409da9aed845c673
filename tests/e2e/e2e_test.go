// Package e2e runs the real in_okta.so inside the Fluent Bit 5.1 proxy emulator (tests/host)
// against the mock Okta org (tests/mockokta) over TLS on loopback.
package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/internal/schema"
	"github.com/edgeaudit/fluent-bit-okta/tests/mockokta"
)

const runTimeout = 60 * time.Second

func TestSampleEventsDeliveredOnce(t *testing.T) {
	events := sampleEvents(t)
	o := newOrg(t, events, nil)
	want := map[string]int{}
	infos := map[string]eventInfo{}
	raws := map[string]string{}
	for _, raw := range events {
		info := infoOf(t, raw)
		infos[info.UUID] = info
		raws[info.UUID] = string(raw)
		for _, s := range schema.Default().Schemas(info.EventType) {
			want[info.UUID+"/"+s]++
		}
	}
	total := 0
	for _, n := range want {
		total += n
	}

	run := runHost(t, []hostInstance{{name: "okta.0", props: o.props("page_size=7")}},
		"--stop-after-records", fmt.Sprint(total))
	if code := run.wait(runTimeout); code != 0 {
		t.Fatalf("host exit code %d", code)
	}
	run.checkClean()
	recs := run.records()
	if got := countByKey(recs); !reflect.DeepEqual(got, want) {
		t.Fatalf("records by uuid/schema differ:\n got %v\nwant %v", got, want)
	}

	host := strings.TrimPrefix(o.URL(), "https://")
	for _, r := range recs {
		uuid := r.str("uuid")
		info := infos[uuid]
		if r.str("okta_org") != host {
			t.Errorf("%s: okta_org = %q, want %q", uuid, r.str("okta_org"), host)
		}
		if r.str("original_data") != raws[uuid] {
			t.Errorf("%s: original_data differs from the event Okta sent", uuid)
		}
		published, err := time.Parse(time.RFC3339Nano, info.Published)
		if err != nil {
			t.Fatal(err)
		}
		if r.Time.Sec != published.Unix() || r.Time.Nsec != int64(published.Nanosecond()) {
			t.Errorf("%s: record time %d.%09d, want published %s", uuid, r.Time.Sec,
				r.Time.Nsec, info.Published)
		}
		if r.Tag != "okta.0" {
			t.Errorf("%s: tag %q, want okta.0", uuid, r.Tag)
		}
		checkFieldsIntact(t, r, raws[uuid])
	}
	st := o.Stats()
	if st.NonceChallenges == 0 {
		t.Error("the plugin never met the DPoP nonce challenge the mock issues")
	}
	for reason, n := range st.Rejected {
		// The nonce challenge is the one rejection every DPoP client meets first.
		if reason != mockokta.ReasonNonce {
			t.Errorf("the mock rejected %d requests with %s", n, reason)
		}
	}
}

// checkFieldsIntact compares every field of the event as Okta sent it with the record body.
func checkFieldsIntact(t *testing.T, r hostRecord, raw string) {
	t.Helper()
	var event map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &event); err != nil {
		t.Fatal(err)
	}
	var body map[string]json.RawMessage
	var line struct {
		Record json.RawMessage `json:"record"`
	}
	if err := json.Unmarshal(r.raw, &line); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(line.Record, &body); err != nil {
		t.Fatal(err)
	}
	for k, v := range event {
		got, ok := body[k]
		if !ok {
			t.Errorf("%s: field %s missing from the record", r.str("uuid"), k)
			continue
		}
		if !jsonEqual(t, got, v) {
			t.Errorf("%s: field %s = %s, want %s", r.str("uuid"), k, got, v)
		}
	}
	for _, k := range []string{"schema", "okta_org", "original_data"} {
		if _, ok := body[k]; !ok {
			t.Errorf("%s: record lacks %s", r.str("uuid"), k)
		}
	}
	if len(body) != len(event)+3 {
		t.Errorf("%s: record has %d fields, want the event's %d plus 3", r.str("uuid"),
			len(body), len(event))
	}
}

// jsonEqual compares two JSON values, numbers by their decimal value.
func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

func TestSchemaRecordsForKnownTypes(t *testing.T) {
	// The schema column of the vendor's table, for types the sample file contains.
	cases := map[string][]string{
		"user.session.start":        {"auth"},
		"policy.evaluate_sign_on":   {"auth", "generic"},
		"user.authentication.sso":   {"auth", "generic"},
		"system.api_token.create":   {"cloudaudit"},
		"group.user_membership.add": {"generic"},
		"user.account.lock":         {"unmapped"},
	}
	var events [][]byte
	for _, raw := range sampleEvents(t) {
		if _, ok := cases[infoOf(t, raw).EventType]; ok {
			events = append(events, raw)
		}
	}
	if len(events) < len(cases) {
		t.Fatalf("the sample file lacks some of %v", cases)
	}
	total := 0
	for _, raw := range events {
		total += len(cases[infoOf(t, raw).EventType])
	}
	o := newOrg(t, events, nil)
	run := runHost(t, []hostInstance{{name: "okta.0", props: o.props()}},
		"--stop-after-records", fmt.Sprint(total))
	if code := run.wait(runTimeout); code != 0 {
		t.Fatalf("host exit code %d", code)
	}
	got := map[string][]string{}
	for _, r := range run.records() {
		got[r.str("eventType")] = append(got[r.str("eventType")], r.str("schema"))
	}
	for typ, want := range cases {
		sort.Strings(got[typ])
		// Each sample type may occur more than once; compare the set of schemas.
		if !reflect.DeepEqual(uniq(got[typ]), want) {
			t.Errorf("%s: schemas %v, want %v", typ, got[typ], want)
		}
	}
}

func uniq(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || s[i-1] != v {
			out = append(out, v)
		}
	}
	return out
}

// synthetic returns n generated events.
func synthetic(n int) [][]byte {
	return mockokta.Synthesize(n, time.Now().Add(-2*time.Hour), 7)
}

func uuidsOf(t *testing.T, events [][]byte) map[string]string {
	out := map[string]string{}
	for _, raw := range events {
		info := infoOf(t, raw)
		out[info.UUID] = info.EventType
	}
	return out
}

// expectedRecords counts the records events produce.
func expectedRecords(t *testing.T, events [][]byte) map[string]int {
	want := map[string]int{}
	for _, raw := range events {
		info := infoOf(t, raw)
		for _, s := range schema.Default().Schemas(info.EventType) {
			want[info.UUID+"/"+s]++
		}
	}
	return want
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func TestRestartResumesWithoutLossOrRepeat(t *testing.T) {
	events := synthetic(2300)
	want := expectedRecords(t, events)
	o := newOrg(t, events, nil)
	state := filepath.Join(t.TempDir(), "okta.state")
	props := o.props("page_size=300", "state_file="+state)

	var all []hostRecord
	// Stop three times part-way (the stop points fall inside pages), then run to the end.
	for _, stopAt := range []int{450, 700, 1000} {
		run := runHost(t, []hostInstance{{name: "okta.0", props: props}},
			"--stop-after-records", fmt.Sprint(stopAt))
		if code := run.wait(runTimeout); code != 0 {
			t.Fatalf("host exit code %d", code)
		}
		run.checkClean()
		got := run.records()
		if len(got) == 0 {
			t.Fatalf("run stopping at %d records delivered nothing", stopAt)
		}
		all = append(all, got...)
	}
	rest := sum(want) - len(all)
	if rest <= 0 {
		t.Fatalf("the partial runs delivered %d records, more than the %d expected", len(all),
			sum(want))
	}
	run := runHost(t, []hostInstance{{name: "okta.0", props: props}})
	run.waitFor(fmt.Sprintf("the last %d records", rest), runTimeout, func() bool {
		return len(run.records()) >= rest
	})
	run.send("stop")
	if code := run.wait(runTimeout); code != 0 {
		t.Fatalf("host exit code %d", code)
	}
	run.checkClean()
	all = append(all, run.records()...)
	got := countByKey(all)
	for k, n := range want {
		if got[k] != n {
			t.Errorf("record %s delivered %d times, want %d", k, got[k], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d distinct records, want %d", len(got), len(want))
	}
	if _, err := os.Stat(state); err != nil {
		t.Errorf("state file: %v", err)
	}
}

func TestBadConfigRejectedAtInit(t *testing.T) {
	o := newOrg(t, nil, nil)
	dir := t.TempDir()
	encrypted := filepath.Join(dir, "encrypted.pem")
	writeFile(t, encrypted, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	cases := []struct {
		name  string
		props []string
		want  string
	}{
		{"http org", []string{"org_url=http://example.okta.com"}, `invalid org_url "http://example.okta.com"`},
		{"org with path", []string{"org_url=https://example.okta.com/oauth2/default"}, "path"},
		{"page size", []string{"page_size=5000"}, `invalid page_size "5000"`},
		{"missing key file", []string{"private_key_file=" + filepath.Join(dir, "none.pem")}, "file not found"},
		{"encrypted key", []string{"private_key_file=" + encrypted}, "encrypted"},
		{"bad duration", []string{"poll_interval=1.5m"}, `invalid poll_interval "1.5m"`},
		{"bad lookback", []string{"initial_lookback=200d"}, "90 days"},
		{"bad bool", []string{"dpop=maybe"}, `invalid dpop "maybe"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := runHost(t, []hostInstance{{name: "okta.0", props: o.props(tc.props...)}},
				"--duration-ms", "3000")
			if code := run.wait(runTimeout); code != 1 {
				t.Fatalf("exit code %d, want 1 (init failed)", code)
			}
			if !run.stderrHas(tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, run.stderr.String())
			}
			if !run.stderrHas("[input:okta:okta.0]") {
				t.Errorf("the error line lacks the instance prefix:\n%s", run.stderr.String())
			}
		})
	}
}

func TestMissingRequiredProperty(t *testing.T) {
	run := runHost(t, []hostInstance{{name: "okta.0", props: []string{"org_url=https://example.okta.com"}}},
		"--duration-ms", "3000")
	if code := run.wait(runTimeout); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if !run.stderrHas("missing required property client_id") {
		t.Errorf("stderr:\n%s", run.stderr.String())
	}
}

func TestBearerTokensWhenDPoPOff(t *testing.T) {
	events := synthetic(40)
	o := newOrg(t, events, func(c *mockokta.Config) { c.RequireDPoP = false })
	want := expectedRecords(t, events)
	run := runHost(t, []hostInstance{{name: "okta.0", props: o.props("dpop=off")}},
		"--stop-after-records", fmt.Sprint(sum(want)))
	if code := run.wait(runTimeout); code != 0 {
		t.Fatalf("host exit code %d", code)
	}
	if got := countByKey(run.records()); !reflect.DeepEqual(got, want) {
		t.Errorf("records differ: got %d distinct, want %d", len(got), len(want))
	}
	if n := o.Stats().NonceChallenges; n != 0 {
		t.Errorf("%d nonce challenges without DPoP, want 0", n)
	}
}

func TestDPoPOnAgainstBearerApp(t *testing.T) {
	// An app that does not require DPoP issues Bearer tokens even when a proof is sent; the
	// plugin must name the setting to change rather than use the token wrongly.
	o := newOrg(t, synthetic(5), func(c *mockokta.Config) { c.RequireDPoP = false })
	run := runHost(t, []hostInstance{{name: "okta.0", props: o.props()}}, "--duration-ms", "2500")
	if code := run.wait(runTimeout); code != 0 {
		t.Fatalf("host exit code %d", code)
	}
	if !run.stderrHas("set dpop off for this app") {
		t.Errorf("stderr lacks the dpop hint:\n%s", run.stderr.String())
	}
	if n := len(run.records()); n != 0 {
		t.Errorf("%d records delivered with a mismatched token type, want 0", n)
	}
}

func TestSchemaMapFileOverrides(t *testing.T) {
	var events [][]byte
	for _, raw := range sampleEvents(t) {
		switch infoOf(t, raw).EventType {
		case "system.api_token.revoke", "user.session.start":
			events = append(events, raw)
		}
	}
	if len(events) < 2 {
		t.Fatal("the sample file lacks system.api_token.revoke or user.session.start")
	}
	mapFile := filepath.Join(t.TempDir(), "schemas.yaml")
	writeFile(t, mapFile, []byte("event_types:\n"+
		"  system.api_token.revoke: [cloudaudit]\n"+
		"  user.session.start: [auth, generic]\n"))
	want := map[string][]string{
		"system.api_token.revoke": {"cloudaudit"},
		"user.session.start":      {"auth", "generic"},
	}
	total := 0
	for _, raw := range events {
		total += len(want[infoOf(t, raw).EventType])
	}
	o := newOrg(t, events, nil)
	run := runHost(t, []hostInstance{{name: "okta.0",
		props: o.props("schema_map_file=" + mapFile)}}, "--stop-after-records", fmt.Sprint(total))
	if code := run.wait(runTimeout); code != 0 {
		t.Fatalf("host exit code %d", code)
	}
	got := map[string][]string{}
	for _, r := range run.records() {
		got[r.str("eventType")] = append(got[r.str("eventType")], r.str("schema"))
	}
	for typ, schemas := range want {
		g := uniq(sorted(got[typ]))
		if !reflect.DeepEqual(g, schemas) {
			t.Errorf("%s: schemas %v, want %v", typ, g, schemas)
		}
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func TestSchemaMapFileInvalidRejected(t *testing.T) {
	o := newOrg(t, nil, nil)
	mapFile := filepath.Join(t.TempDir(), "schemas.yaml")
	writeFile(t, mapFile, []byte("event_types:\n  user.session.start: [authentication]\n"))
	run := runHost(t, []hostInstance{{name: "okta.0",
		props: o.props("schema_map_file=" + mapFile)}}, "--duration-ms", "3000")
	if code := run.wait(runTimeout); code != 1 {
		t.Fatalf("exit code %d, want 1 (init failed)", code)
	}
	if !run.stderrHas("authentication") {
		t.Errorf("the error does not name the bad schema:\n%s", run.stderr.String())
	}
}

func TestBuffersStayUnderChunkSize(t *testing.T) {
	// 3000 events with original_data are several MB; each buffer handed to Fluent Bit must stay
	// near 1 MiB so Fluent Bit's 2 MB chunks are not overrun.
	events := synthetic(3000)
	want := expectedRecords(t, events)
	o := newOrg(t, events, nil)
	run := runHost(t, []hostInstance{{name: "okta.0", props: o.props()}},
		"--stop-after-records", fmt.Sprint(sum(want)))
	if code := run.wait(runTimeout); code != 0 {
		t.Fatalf("host exit code %d", code)
	}
	run.checkClean()
	s := run.summary()
	if s.Buffers < 2 {
		t.Errorf("%d buffers for %d bytes, want the records split", s.Buffers, s.Bytes)
	}
	const limit = 1<<20 + 16<<10 // MaxBatchBytes plus the records of one event
	if s.MaxBufferBytes > limit {
		t.Errorf("largest buffer %d bytes, want at most %d", s.MaxBufferBytes, limit)
	}
	if got := countByKey(run.records()); !reflect.DeepEqual(got, want) {
		t.Errorf("records differ: got %d distinct, want %d", len(got), len(want))
	}
}

func TestStateFileOfOtherOrgRejected(t *testing.T) {
	first := newOrg(t, synthetic(3), nil)
	state := filepath.Join(t.TempDir(), "okta.state")
	run := runHost(t, []hostInstance{{name: "okta.0", props: first.props("state_file=" + state)}},
		"--stop-after-records", "3")
	if code := run.wait(runTimeout); code != 0 {
		t.Fatalf("first run exit code %d", code)
	}
	second := newOrg(t, nil, nil)
	run = runHost(t, []hostInstance{{name: "okta.0", props: second.props("state_file=" + state)}},
		"--duration-ms", "3000")
	if code := run.wait(runTimeout); code != 1 {
		t.Fatalf("exit code %d, want 1 (init failed)", code)
	}
	if !run.stderrHas("belongs to org " + first.URL()) {
		t.Errorf("stderr lacks the org mismatch:\n%s", run.stderr.String())
	}
}
