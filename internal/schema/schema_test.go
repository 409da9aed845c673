package schema

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDefaultCountsGuideLists(t *testing.T) {
	if got := len(authEventTypes); got != 28 {
		t.Errorf("auth list has %d event types, want 28", got)
	}
	if got := len(cloudAuditEventTypes); got != 9 {
		t.Errorf("cloudaudit list has %d event types, want 9", got)
	}
	if got := len(genericEventTypes); got != 15 {
		t.Errorf("generic list has %d event types, want 15", got)
	}

	// 28 + 9 + 15 = 52 entries, of which three event types are in two lists.
	if got := Default().Len(); got != 49 {
		t.Errorf("Default().Len() = %d, want 49 distinct event types", got)
	}

	pairs := 0
	for _, schemas := range Default().schemas {
		pairs += len(schemas)
	}
	if pairs != 52 {
		t.Errorf("Default() has %d (event type, schema) pairs, want 52", pairs)
	}
}

func TestDefaultSchemas(t *testing.T) {
	tests := []struct {
		eventType string
		want      []string
	}{
		{"user.session.start", []string{Auth}},
		{"system.sms.send_phone_verification_message", []string{Auth}},
		{"system.api_token.create", []string{CloudAudit}},
		{"system.api_token.create.revoke", []string{CloudAudit}},
		{"user.lifecycle.create", []string{CloudAudit}},
		{"group.user_membership.add", []string{Generic}},
		{"policy.evaluate_sign_on", []string{Auth, Generic}},
		{"user.account.update_password", []string{Auth, Generic}},
		{"user.authentication.sso", []string{Auth, Generic}},
		{"system.api_token.revoke", []string{Unmapped}},
		{"user.mfa.okta_verify.deny_push", []string{Unmapped}},
		{"USER.SESSION.START", []string{Unmapped}},
		{"", []string{Unmapped}},
	}
	m := Default()
	for _, tt := range tests {
		if got := m.Schemas(tt.eventType); !slices.Equal(got, tt.want) {
			t.Errorf("Schemas(%q) = %v, want %v", tt.eventType, got, tt.want)
		}
	}
}

func TestDefaultEveryListedTypeIsMapped(t *testing.T) {
	m := Default()
	for schema, list := range map[string][]string{
		Auth: authEventTypes, CloudAudit: cloudAuditEventTypes, Generic: genericEventTypes,
	} {
		for _, eventType := range list {
			if !slices.Contains(m.Schemas(eventType), schema) {
				t.Errorf("Schemas(%q) = %v, missing %s", eventType, m.Schemas(eventType), schema)
			}
			if !eventTypePattern.MatchString(eventType) {
				t.Errorf("default event type %q does not match the override pattern", eventType)
			}
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadYAMLOverrides(t *testing.T) {
	path := writeFile(t, "map.yaml", `# overrides
event_types:
  system.api_token.revoke: [cloudaudit]
  user.mfa.okta_verify.deny_push:
    - auth
  user.session.start: [generic, auth]
  policy.evaluate_sign_on: []
`)
	m, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	tests := []struct {
		eventType string
		want      []string
	}{
		{"system.api_token.revoke", []string{CloudAudit}},
		{"user.mfa.okta_verify.deny_push", []string{Auth}},
		{"user.session.start", []string{Auth, Generic}},
		{"policy.evaluate_sign_on", []string{Unmapped}},
		{"user.authentication.sso", []string{Auth, Generic}},
		{"system.api_token.create.revoke", []string{CloudAudit}},
		{"app.generic.unknown", []string{Unmapped}},
	}
	for _, tt := range tests {
		if got := m.Schemas(tt.eventType); !slices.Equal(got, tt.want) {
			t.Errorf("Schemas(%q) = %v, want %v", tt.eventType, got, tt.want)
		}
	}

	if got := Default().Schemas("user.session.start"); !slices.Equal(got, []string{Auth}) {
		t.Errorf("Load changed the default map: Schemas(user.session.start) = %v", got)
	}
}

func TestLoadJSONOverrides(t *testing.T) {
	path := writeFile(t, "map.json", `{"event_types": {
  "system.api_token.revoke": ["cloudaudit"],
  "user.session.start": []
}}`)
	m, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := m.Schemas("system.api_token.revoke"); !slices.Equal(got, []string{CloudAudit}) {
		t.Errorf("Schemas(system.api_token.revoke) = %v, want [cloudaudit]", got)
	}
	if got := m.Schemas("user.session.start"); !slices.Equal(got, []string{Unmapped}) {
		t.Errorf("Schemas(user.session.start) = %v, want [unmapped]", got)
	}
}

func TestLoadEmptyMappingKeepsDefault(t *testing.T) {
	m, err := Load(writeFile(t, "map.yml", "event_types: {}\n"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := m.Len(); got != Default().Len() {
		t.Errorf("Len() = %d, want %d", got, Default().Len())
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		content string
		want    []string // substrings of the error message
	}{
		{"empty file", "a.yaml", "  \n", []string{"is empty", "event_types:"}},
		{"comment only", "a.yaml", "# nothing\n", []string{"contains no document"}},
		{"malformed yaml", "a.yaml", "event_types: [\n",
			[]string{"not valid YAML", "YAML parser", "line"}},
		{"malformed json", "a.json", `{"event_types": {"user.session.start": [}`,
			[]string{"not valid JSON", "YAML parser"}},
		{"top level list", "a.yaml", "- auth\n", []string{"line 1", "a list", "mapping"}},
		{"unknown top-level key", "a.yaml", "event_types: {}\nevents: {}\n",
			[]string{"line 2", `unknown key "events"`, `"event_types"`}},
		{"missing event_types", "a.yaml", "{}\n", []string{`missing key "event_types"`}},
		{"event_types not mapping", "a.yaml", "event_types: [auth]\n",
			[]string{"line 1", "a list", "mapping of event type"}},
		{"event_types null", "a.yaml", "event_types:\n", []string{"a null value"}},
		{"unknown schema", "a.yaml", "event_types:\n  user.session.start: [auht]\n",
			[]string{"line 2", `unknown schema "auht"`, "auth, cloudaudit, generic"}},
		{"unmapped is not listable", "a.yaml",
			"event_types:\n  user.session.start: [unmapped]\n",
			[]string{`unknown schema "unmapped"`, "[] maps"}},
		{"schema listed twice", "a.yaml",
			"event_types:\n  user.session.start: [auth, auth]\n",
			[]string{"line 2", `lists schema "auth" twice`}},
		{"duplicate event type", "a.yaml",
			"event_types:\n  user.session.start: [auth]\n  user.session.start: [generic]\n",
			[]string{"line 3", `duplicate event type "user.session.start"`, "first at line 2"}},
		{"duplicate event type json", "a.json",
			`{"event_types": {"a.b": [], "a.b": ["auth"]}}`,
			[]string{`duplicate event type "a.b"`}},
		{"uppercase event type", "a.yaml", "event_types:\n  User.Session.Start: [auth]\n",
			[]string{"line 2", `invalid event type "User.Session.Start"`, "lowercase"}},
		{"single word event type", "a.yaml", "event_types:\n  session: [auth]\n",
			[]string{`invalid event type "session"`}},
		{"event type with space", "a.yaml", "event_types:\n  \"user.session start\": []\n",
			[]string{`invalid event type "user.session start"`}},
		{"scalar value", "a.yaml", "event_types:\n  user.session.start: auth\n",
			[]string{"line 2", `the scalar "auth"`, "list of schemas"}},
		{"null value", "a.yaml", "event_types:\n  user.session.start:\n",
			[]string{"a null value", "[] for none"}},
		{"nested list", "a.yaml", "event_types:\n  user.session.start: [[auth]]\n",
			[]string{"unknown schema"}},
		{"wrong extension", "a.toml", "event_types = {}\n", []string{`".toml"`, ".json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file, tt.content)
			m, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%q) = %v, nil; want an error", tt.content, m)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "schema: ") {
				t.Errorf("error %q has no package prefix", msg)
			}
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file %s", msg, path)
			}
			for _, want := range tt.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load of a missing file returned no error")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %q does not wrap a not-exist error", err)
	}
}

func TestLoadTooLarge(t *testing.T) {
	content := "event_types:\n" + strings.Repeat("# padding line\n", maxOverrideFileSize/15+1)
	_, err := Load(writeFile(t, "big.yaml", content))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Load of a %d-byte file: err = %v, want a size error", len(content), err)
	}
}
