// Package lua runs conf/okta_xdr.lua under LuaJIT the way Fluent Bit's lua filter calls it
// and compares every output record with the hand-written golden records in golden/.
package lua

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const (
	scriptPath  = "../../conf/okta_xdr.lua"
	runnerPath  = "run.lua"
	samplesPath = "../testdata/okta-events.json"
	edgePath    = "edge-events.json"
	oktaOrg     = "example.okta.com"
)

// guideSchemas is the event type table of the Taegis Okta integration guide ("Events
// Received from Okta"), kept here independently of the plugin's own table.
var guideSchemas = map[string][]string{
	"auth": {
		"app.oauth2.as.authorize.code", "app.oauth2.as.token.grant.access_token",
		"app.oauth2.as.token.grant.id_token", "app.oauth2.as.token.grant.refresh_token",
		"inline_hook.response.processed", "policy.evaluate_sign_on",
		"policy.lifecycle.activate", "policy.lifecycle.create", "policy.lifecycle.deactivate",
		"policy.lifecycle.update", "policy.rule.add", "policy.rule.deactivate",
		"policy.rule.update", "user.account.privilege.grant", "user.account.reset_password",
		"user.account.update_password", "user.account.update_profile",
		"user.authentication.auth_via_mfa", "user.authentication.sso",
		"user.authentication.verify", "user.mfa.factor.activate", "user.mfa.factor.deactivate",
		"user.mfa.factor.reset_all", "user.session.clear", "user.session.end",
		"user.session.start", "system.sms.send_phone_verification_message",
		"system.voice.send_phone_verification_call",
	},
	"cloudaudit": {
		"system.api_token.create", "system.api_token.create.revoke",
		"application.user_membership.add", "application.user_membership.change_password",
		"application.user_membership.remove", "user.session.access_admin_app",
		"user.lifecycle.activate", "user.lifecycle.create", "user.lifecycle.deactivate",
	},
	"generic": {
		"application.provision.user.sync", "group.user_membership.add",
		"group.user_membership.remove", "policy.evaluate_sign_on", "system.import.complete",
		"system.import.start", "user.account.report_suspicious_activity_by_enduser",
		"user.account.update_password", "user.authentication.authenticate",
		"user.credential.enroll", "user.lifecycle.delete.initiated",
		"user.lifecycle.reactivate", "user.lifecycle.suspend", "user.lifecycle.unsuspend",
		"user.authentication.sso",
	},
}

// testCase is one call of an entry point: the event and the schema its record carries.
type testCase struct {
	UUID   string
	Schema string
}

// goldenEntry is one expected output record.
type goldenEntry struct {
	EventType string         `json:"eventType"`
	Record    map[string]any `json:"record"`
}

// runnerResult is one line printed by run.lua.
type runnerResult struct {
	UUID          string         `json:"uuid"`
	Schema        string         `json:"schema"`
	Code          json.Number    `json:"code"`
	TimestampKept bool           `json:"timestamp_kept"`
	Record        map[string]any `json:"record"`
}

func TestSampleEventsMatchGolden(t *testing.T) {
	luajit := findLuaJIT(t)
	events, raw := loadEvents(t, samplesPath)

	golden := map[string]map[string]goldenEntry{}
	for schema := range guideSchemas {
		golden[schema] = loadGolden(t, filepath.Join("golden", schema+".json"))
	}

	schemasOf := map[string][]string{}
	for schema, types := range guideSchemas {
		for _, eventType := range types {
			schemasOf[eventType] = append(schemasOf[eventType], schema)
		}
	}

	seenTypes := map[string]bool{}
	var cases []testCase
	for uuid, eventType := range events {
		seenTypes[eventType] = true
		for _, schema := range schemasOf[eventType] {
			if _, ok := golden[schema][uuid]; !ok {
				t.Errorf("golden/%s.json has no record for %s event %s", schema, eventType, uuid)
				continue
			}
			cases = append(cases, testCase{UUID: uuid, Schema: schema})
		}
	}
	for schema, types := range guideSchemas {
		for _, eventType := range types {
			if !seenTypes[eventType] {
				t.Errorf("%s has no %s event, so the %s mapping of that type is untested",
					samplesPath, eventType, schema)
			}
		}
		for uuid, entry := range golden[schema] {
			if events[uuid] != entry.EventType {
				t.Errorf("golden/%s.json: entry %s says event type %q, sample event has %q",
					schema, uuid, entry.EventType, events[uuid])
			}
		}
	}

	results := runCases(t, luajit, samplesPath, cases)
	checkResults(t, cases, results, func(c testCase) goldenEntry { return golden[c.Schema][c.UUID] }, raw)
}

func TestEdgeEventsMatchGolden(t *testing.T) {
	luajit := findLuaJIT(t)
	events, raw := loadEvents(t, edgePath)
	golden := loadGolden(t, filepath.Join("golden", "edge.json"))

	var cases []testCase
	for uuid, entry := range golden {
		schema, _ := entry.Record["schema"].(string)
		if schema == "" {
			t.Fatalf("golden/edge.json: entry %s has no schema", uuid)
		}
		if _, ok := events[uuid]; !ok {
			t.Fatalf("golden/edge.json: entry %s has no event in %s", uuid, edgePath)
		}
		cases = append(cases, testCase{UUID: uuid, Schema: schema})
	}

	results := runCases(t, luajit, edgePath, cases)
	checkResults(t, cases, results, func(c testCase) goldenEntry { return golden[c.UUID] }, raw)
}

// findLuaJIT returns the luajit path. Without it the tests fail on CI and skip elsewhere.
func findLuaJIT(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("luajit")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("luajit not found in PATH: install the Debian package luajit")
		}
		t.Skip("luajit not found in PATH: install the Debian package luajit to run this test")
	}
	return path
}

// loadEvents returns the event type of every event by uuid and every event's exact JSON text.
func loadEvents(t *testing.T, path string) (map[string]string, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	var spans []json.RawMessage
	if err := json.Unmarshal(data, &spans); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	types := map[string]string{}
	raw := map[string]string{}
	for i, span := range spans {
		var event struct {
			UUID      string `json:"uuid"`
			EventType string `json:"eventType"`
		}
		if err := json.Unmarshal(span, &event); err != nil {
			t.Fatalf("%s: event %d: %v", path, i, err)
		}
		if _, dup := types[event.UUID]; dup {
			t.Fatalf("%s: duplicate uuid %s", path, event.UUID)
		}
		types[event.UUID] = event.EventType
		raw[event.UUID] = string(span)
	}
	return types, raw
}

func loadGolden(t *testing.T, path string) map[string]goldenEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden: %v", err)
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	var entries map[string]goldenEntry
	if err := decoder.Decode(&entries); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return entries
}

// runCases runs run.lua on the cases and returns its results keyed by uuid and schema.
func runCases(t *testing.T, luajit, eventsPath string, cases []testCase) map[testCase]runnerResult {
	t.Helper()
	sort.Slice(cases, func(i, j int) bool {
		return cases[i].UUID+cases[i].Schema < cases[j].UUID+cases[j].Schema
	})
	var stdin strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&stdin, "%s %s\n", c.UUID, c.Schema)
	}

	cmd := exec.Command(luajit, runnerPath, scriptPath, eventsPath, oktaOrg)
	cmd.Stdin = strings.NewReader(stdin.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("luajit %s failed: %v\n%s", runnerPath, err, stderr.String())
	}

	results := map[testCase]runnerResult{}
	scanner := bufio.NewScanner(bytes.NewReader(out))
	scanner.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for scanner.Scan() {
		decoder := json.NewDecoder(bytes.NewReader(scanner.Bytes()))
		decoder.UseNumber()
		var result runnerResult
		if err := decoder.Decode(&result); err != nil {
			t.Fatalf("runner output line %q: %v", scanner.Text(), err)
		}
		results[testCase{UUID: result.UUID, Schema: result.Schema}] = result
	}
	if err := scanner.Err(); err != nil {
		t.Fatalf("read runner output: %v", err)
	}
	return results
}

// checkResults compares each output record with its golden record field by field. The
// golden files leave out original_data, which must equal the event's exact JSON text.
func checkResults(t *testing.T, cases []testCase, results map[testCase]runnerResult,
	expected func(testCase) goldenEntry, raw map[string]string) {
	t.Helper()
	for _, c := range cases {
		want := expected(c)
		name := fmt.Sprintf("%s %s (%s)", c.Schema, want.EventType, c.UUID)
		got, ok := results[c]
		if !ok {
			t.Errorf("%s: runner printed no result", name)
			continue
		}
		if got.Code.String() != "2" {
			t.Errorf("%s: return code = %s, want 2 (replace record, keep timestamp)",
				name, got.Code)
		}
		if !got.TimestampKept {
			t.Errorf("%s: returned timestamp differs from the input timestamp", name)
		}

		if got.Record["original_data"] != raw[c.UUID] {
			t.Errorf("%s: original_data is not the event's exact JSON text", name)
		}
		for field, value := range want.Record {
			gotValue, present := got.Record[field]
			if !present {
				t.Errorf("%s: field %s missing, want %v", name, field, value)
				continue
			}
			if !sameJSON(gotValue, value) {
				t.Errorf("%s: field %s = %#v, want %#v", name, field, gotValue, value)
			}
		}
		for field, value := range got.Record {
			if _, expected := want.Record[field]; !expected && field != "original_data" {
				t.Errorf("%s: unexpected field %s = %#v", name, field, value)
			}
		}
	}
}

// sameJSON compares decoded JSON values exactly. Numbers compare as their JSON text, so an
// integer that came back as a float (1.7e+15 for 1700000000000000) is a mismatch.
func sameJSON(a, b any) bool {
	na, aIsNumber := a.(json.Number)
	nb, bIsNumber := b.(json.Number)
	if aIsNumber || bIsNumber {
		return aIsNumber && bIsNumber && na.String() == nb.String()
	}
	return a == b
}
