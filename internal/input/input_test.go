package input

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/edgeaudit/fluent-bit-okta/internal/checkpoint"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func keyPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func props(t *testing.T, dir string) map[string]string {
	t.Helper()
	return map[string]string{
		"org_url":          "https://example.okta.com",
		"client_id":        "0oaclient",
		"key_id":           "kid",
		"private_key_file": writeFile(t, dir, "client.pem", keyPEM(t)),
		"state_file":       filepath.Join(dir, "okta.state"),
	}
}

func lookup(p map[string]string) func(string) string {
	return func(k string) string { return p[k] }
}

func TestNewRejectsBadProperty(t *testing.T) {
	cases := []struct {
		key, value string
		want       []string
	}{
		{"page_size", "5000", []string{"page_size", "5000"}},
		{"org_url", "http://example.okta.com", []string{"org_url", "http://example.okta.com"}},
		{"dpop", "sometimes", []string{"dpop", "sometimes"}},
		{"schema_map_file", "/nonexistent/map.yaml", []string{"schema_map_file"}},
	}
	for _, tc := range cases {
		p := props(t, t.TempDir())
		p[tc.key] = tc.value
		in, err := New("okta.0", lookup(p), testLogger())
		if err == nil {
			in.Stop()
			t.Errorf("New with %s=%q succeeded", tc.key, tc.value)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	}
}

func TestNewRejectsStateOfOtherOrg(t *testing.T) {
	dir := t.TempDir()
	p := props(t, dir)
	other, err := checkpoint.Open(p["state_file"], "https://other.okta.com", "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Commit("https://other.okta.com/api/v1/logs?after=1", nil,
		time.Now()); err != nil {
		t.Fatal(err)
	}
	other.Close()

	_, err = New("okta.0", lookup(p), testLogger())
	if err == nil {
		t.Fatal("New accepted the state file of another org")
	}
	if !strings.Contains(err.Error(), "https://other.okta.com") {
		t.Errorf("error %q does not name the file's org", err)
	}
	// New released the state file lock on failure.
	st, err := checkpoint.Open(p["state_file"], "https://other.okta.com", "x")
	if err != nil {
		t.Fatalf("state file still locked after the failed New: %v", err)
	}
	st.Close()
}

func TestNewRejectsLockedStateFile(t *testing.T) {
	dir := t.TempDir()
	p := props(t, dir)
	first, err := New("okta.0", lookup(p), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Stop()
	if _, err := New("okta.1", lookup(p), testLogger()); err == nil ||
		!strings.Contains(err.Error(), "in use") {
		t.Errorf("second New on the same state_file = %v, want in use", err)
	}
}

// fakeOrg serves a DPoP token and one System Log page over TLS.
type fakeOrg struct {
	srv  *httptest.Server
	mu   sync.Mutex
	auth []string
}

func newFakeOrg(t *testing.T) *fakeOrg {
	f := &fakeOrg{}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/oauth2/v1/token":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"token_type":"DPoP","access_token":"tok","expires_in":3600,`+
				`"scope":"okta.logs.read"}`)
		case "/api/v1/logs":
			f.mu.Lock()
			f.auth = append(f.auth, r.Header.Get("Authorization"))
			f.mu.Unlock()
			if r.Header.Get("DPoP") == "" {
				t.Error("System Log request without a DPoP proof")
			}
			if r.URL.Query().Get("after") != "" {
				w.Header().Add("Link", fmt.Sprintf(`<%s/api/v1/logs?after=c1>; rel="next"`,
					f.srv.URL))
				_, _ = io.WriteString(w, "[]")
				return
			}
			w.Header().Add("Link", fmt.Sprintf(`<%s/api/v1/logs?after=c1>; rel="next"`,
				f.srv.URL))
			_, _ = io.WriteString(w, `[{"uuid":"u1","published":"2026-03-01T10:00:00Z",`+
				`"eventType":"policy.evaluate_sign_on"}]`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func TestInputRunCommitsCheckpoint(t *testing.T) {
	f := newFakeOrg(t)
	dir := t.TempDir()
	p := props(t, dir)
	p["org_url"] = f.srv.URL
	p["ca_file"] = writeFile(t, dir, "ca.pem", pem.EncodeToMemory(&pem.Block{
		Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}))
	in, err := New("okta.0", lookup(p), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	in.Start()
	defer in.Stop()

	// Wait, bounded, for the poller to queue the first page.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	batch := in.Take()
	for batch == nil && ctx.Err() == nil {
		runtime.Gosched()
		batch = in.Take()
	}
	if batch == nil {
		t.Fatal("no records within 30s")
	}
	if batch.Records != 2 {
		t.Errorf("batch has %d records, want 2 (auth and generic)", batch.Records)
	}
	in.Handed(0)
	in.Stop()
	// Stop closes the keep-alive connections, so only the test server's goroutines remain.
	goleak.VerifyNone(t, goleak.IgnoreTopFunction("net/http.(*conn).serve"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))

	data, err := os.ReadFile(p["state_file"])
	if err != nil {
		t.Fatal(err)
	}
	var st checkpoint.State
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if st.Org != f.srv.URL {
		t.Errorf("state org = %q, want %q", st.Org, f.srv.URL)
	}
	if want := f.srv.URL + "/api/v1/logs?after=c1"; st.Cursor != want {
		t.Errorf("state cursor = %q, want %q", st.Cursor, want)
	}
	// The event has two schemas, so two records, but its UUID is stored once.
	if len(st.UUIDs) != 1 || st.UUIDs[0] != "u1" {
		t.Errorf("state UUIDs = %q, want u1 once", st.UUIDs)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.auth) == 0 || f.auth[0] != "DPoP tok" {
		t.Errorf("Authorization headers %q, want DPoP tok", f.auth)
	}
}

func TestPauseStopsTake(t *testing.T) {
	in, err := New("okta.0", lookup(props(t, t.TempDir())), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Stop()
	in.Pause()
	if !in.Paused() {
		t.Error("Paused = false after Pause")
	}
	if b := in.Take(); b != nil {
		t.Errorf("Take while paused = %+v", b)
	}
	in.Resume()
	if in.Paused() {
		t.Error("Paused = true after Resume")
	}
}

func TestNewSavesFirstCursor(t *testing.T) {
	// A restart before the first page is handed over must reuse the first since, not a since
	// computed again from a later now.
	dir := t.TempDir()
	p := props(t, dir)
	p["initial_lookback"] = "2h"
	in, err := New("okta.0", lookup(p), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	first := in.start
	in.Stop()

	st, err := checkpoint.Open(p["state_file"], "https://example.okta.com", "0oaclient")
	if err != nil {
		t.Fatal(err)
	}
	cursor := st.State().Cursor
	st.Close()
	if cursor != first {
		t.Fatalf("saved cursor %q, want the first request %q", cursor, first)
	}
	if !strings.Contains(cursor, "since=") {
		t.Errorf("saved cursor %q has no since", cursor)
	}

	again, err := New("okta.0", lookup(p), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	if again.start != first {
		t.Errorf("restart starts at %q, want %q", again.start, first)
	}
}
