package checkpoint

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const org = "https://example.okta.com"

var when = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func statePath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "okta.state")
}

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, org, "0oaclient")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestCommitWritesAtomically(t *testing.T) {
	path := statePath(t)
	s := open(t, path)
	if err := s.Commit("https://example.okta.com/api/v1/logs?after=1_1", []string{"u1", "u2"},
		when); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"okta.state", "okta.state.lock"}; !reflect.DeepEqual(names, want) {
		t.Errorf("directory holds %q, want %q (no temporary file left)", names, want)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("state file is not valid JSON: %v\n%s", err, data)
	}
	want := State{Version: Version, Org: org, ClientID: "0oaclient",
		Cursor: "https://example.okta.com/api/v1/logs?after=1_1", UUIDs: []string{"u1", "u2"},
		Updated: when}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("state file = %+v, want %+v", st, want)
	}
}

func TestReopenLoadsState(t *testing.T) {
	path := statePath(t)
	s, err := Open(path, org, "0oaclient")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("cursor-1", []string{"a"}, when); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("cursor-2", []string{"b"}, when.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	again := open(t, path)
	st := again.State()
	if st.Cursor != "cursor-2" {
		t.Errorf("Cursor = %q, want cursor-2", st.Cursor)
	}
	if !reflect.DeepEqual(st.UUIDs, []string{"a", "b"}) {
		t.Errorf("UUIDs = %q, want [a b]", st.UUIDs)
	}
	if !st.Updated.Equal(when.Add(time.Minute)) {
		t.Errorf("Updated = %s", st.Updated)
	}
	if !again.Persistent() {
		t.Error("Persistent = false for a store with a path")
	}
}

func TestOpenOtherOrg(t *testing.T) {
	path := statePath(t)
	s := open(t, path)
	if err := s.Commit("c", nil, when); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(path, "https://other.okta.com", "0oaclient")
	if err == nil {
		t.Fatal("Open accepted a state file of another org")
	}
	for _, want := range []string{path, org, "https://other.okta.com", "own state_file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	// The failed Open must release the lock.
	open(t, path)
}

func TestOpenLockedInSameProcess(t *testing.T) {
	path := statePath(t)
	first := open(t, path)
	_, err := Open(path, org, "0oaclient")
	if err == nil {
		t.Fatal("a second Open of the same state file succeeded")
	}
	if !strings.Contains(err.Error(), "in use by another input") ||
		!strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not say the file is in use", err)
	}
	first.Close()
	open(t, path)
}

func TestOpenBadFiles(t *testing.T) {
	valid := fmt.Sprintf(`{"version":1,"org":%q,"client_id":"x","cursor":"c",`+
		`"recent_uuids":["a"],"updated":"2026-03-01T12:00:00Z"}`, org)
	cases := []struct {
		name    string
		content string
		want    []string
	}{
		{"not JSON", "hello", []string{"corrupt"}},
		{"truncated", valid[:len(valid)/2], []string{"corrupt", "unexpected EOF"}},
		{"empty", "", []string{"corrupt"}},
		{"wrong version", strings.Replace(valid, `"version":1`, `"version":7`, 1),
			[]string{"version 7", "reads version 1"}},
		{"no org", strings.Replace(valid, `"org":"`+org+`"`, `"org":""`, 1),
			[]string{"has no org"}},
		{"unknown field", strings.Replace(valid, `"cursor"`, `"extra":1,"cursor"`, 1),
			[]string{"corrupt", "extra"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := statePath(t)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, org, "x")
			if err == nil {
				t.Fatal("Open accepted the file")
			}
			want := append(tc.want, path, "move it away", "initial_lookback", "backup")
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "okta.state")
	_, err := Open(path, org, "x")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Open = %v, want a missing directory error", err)
	}
}

func TestCommitTrimsUUIDs(t *testing.T) {
	path := statePath(t)
	s := open(t, path)
	batch := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return out
	}
	if err := s.Commit("c1", batch("a", MaxStoredUUIDs-10), when); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("c2", batch("b", 25), when); err != nil {
		t.Fatal(err)
	}
	st := s.State()
	if len(st.UUIDs) != MaxStoredUUIDs {
		t.Fatalf("%d UUIDs kept, want %d", len(st.UUIDs), MaxStoredUUIDs)
	}
	if st.UUIDs[0] != "a15" {
		t.Errorf("oldest kept UUID = %s, want a15", st.UUIDs[0])
	}
	if last := st.UUIDs[len(st.UUIDs)-1]; last != "b24" {
		t.Errorf("newest UUID = %s, want b24", last)
	}
	s.Close()
	if got := len(open(t, path).State().UUIDs); got != MaxStoredUUIDs {
		t.Errorf("reloaded %d UUIDs, want %d", got, MaxStoredUUIDs)
	}
}

// TestWriteErrorKeptDirty forces the rename to fail by putting a directory in place of the
// state file. File permissions cannot force it, because the tests may run as root.
func TestWriteErrorKeptDirty(t *testing.T) {
	path := statePath(t)
	s := open(t, path)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := s.Commit("c1", []string{"u1"}, when)
	if err == nil {
		t.Fatal("Commit over a directory succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the state file", err)
	}
	if err := s.Flush(); err == nil {
		t.Fatal("Flush over a directory succeeded")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}

	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatalf("Flush after the directory was removed: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if st.Cursor != "c1" || !reflect.DeepEqual(st.UUIDs, []string{"u1"}) {
		t.Errorf("flushed state = %+v, want cursor c1 and UUID u1", st)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("Flush wrote a clean state again: %v", err)
	}
}

func TestCommitUnchangedSkipsWrite(t *testing.T) {
	path := statePath(t)
	s := open(t, path)
	if err := s.Commit("c1", nil, when); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("c1", nil, when.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("an unchanged Commit rewrote the file: %v", err)
	}
	if err := s.Commit("c1", []string{"u"}, when); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a Commit with new UUIDs wrote no file: %v", err)
	}
}

func TestMemoryStore(t *testing.T) {
	s, err := Open("", org, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Persistent() {
		t.Error("Persistent = true without a path")
	}
	if err := s.Commit("c1", []string{"u"}, when); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := s.State(); st.Cursor != "c1" || len(st.UUIDs) != 1 {
		t.Errorf("State = %+v", st)
	}
}

func TestStateReturnsCopy(t *testing.T) {
	s := open(t, statePath(t))
	if err := s.Commit("c", []string{"a"}, when); err != nil {
		t.Fatal(err)
	}
	st := s.State()
	st.UUIDs[0] = "changed"
	if got := s.State().UUIDs[0]; got != "a" {
		t.Errorf("State shares its UUID slice: got %q", got)
	}
}
