package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/tests/host/hostrun"
	"github.com/edgeaudit/fluent-bit-okta/tests/mockokta"
)

// Paths of the artifacts TestMain builds: the plugin and the Fluent Bit proxy emulator.
var (
	pluginPath string
	hostPath   string
	repoRoot   string
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return 0, err
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "okta-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)

	// The plugin is built fresh from this tree so the tests never run a stale .so.
	pluginPath = filepath.Join(dir, "in_okta.so")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-o", pluginPath, "./plugin")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building the plugin: %v\n%s", err, out)
	}
	// hostrun.Build holds a lock, because go test builds packages that use the host in parallel.
	hostPath, err = hostrun.Build(context.Background())
	if err != nil {
		return 0, fmt.Errorf("building tests/host: %v", err)
	}
	return m.Run(), nil
}

// org is a mock Okta org with a registered service app and the key files the plugin reads.
type org struct {
	*mockokta.Server
	clientID, keyID string
	keyFile, caFile string
}

// newOrg starts a mock org that requires DPoP, with events in persistence order. adjust may
// change the mock's configuration before it starts.
func newOrg(t *testing.T, events [][]byte, adjust func(*mockokta.Config)) *org {
	t.Helper()
	key, pemBytes, err := mockokta.GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := mockokta.NewConfig("0oa1e2etest0client7", "e2e-key-1", &key.PublicKey)
	cfg.Events = events
	if adjust != nil {
		adjust(&cfg)
	}
	srv := mockokta.New(cfg)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	o := &org{Server: srv, clientID: cfg.ClientID, keyID: cfg.KeyID,
		keyFile: filepath.Join(dir, "client-key.pem"), caFile: filepath.Join(dir, "ca.pem")}
	writeFile(t, o.keyFile, pemBytes)
	writeFile(t, o.caFile, srv.CACertPEM())
	return o
}

// props returns the properties of an instance reading this org, overridden by extra. Fluent
// Bit returns the first of repeated keys, so a key in extra replaces the base entry.
func (o *org) props(extra ...string) []string {
	base := []string{
		"org_url=" + o.URL(),
		"client_id=" + o.clientID,
		"key_id=" + o.keyID,
		"private_key_file=" + o.keyFile,
		"ca_file=" + o.caFile,
		"poll_interval=1s",
	}
	out := append([]string(nil), extra...)
	for _, b := range base {
		key, _, _ := strings.Cut(b, "=")
		replaced := false
		for _, e := range extra {
			if strings.HasPrefix(e, key+"=") {
				replaced = true
			}
		}
		if !replaced {
			out = append(out, b)
		}
	}
	return out
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// hostInstance is one -i block of the emulator's command line.
type hostInstance struct {
	name  string
	props []string
	level string
}

// hostRun is a running emulator process.
type hostRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    string // records file
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// runHost starts the emulator with the plugin and the given instances. args go before the
// plugin path (such as --stop-after-records).
func runHost(t *testing.T, instances []hostInstance, args ...string) *hostRun {
	t.Helper()
	out := filepath.Join(t.TempDir(), "records.jsonl")
	cmdArgs := []string{"--interval-ms", "100", "--out", out}
	cmdArgs = append(cmdArgs, args...)
	for _, in := range instances {
		cmdArgs = append(cmdArgs, "-i", in.name)
		level := in.level
		if level == "" {
			level = "debug"
		}
		cmdArgs = append(cmdArgs, "-l", level)
		for _, p := range in.props {
			cmdArgs = append(cmdArgs, "-p", p)
		}
	}
	cmdArgs = append(cmdArgs, pluginPath)
	cmd := exec.Command(hostPath, cmdArgs...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &hostRun{t: t, cmd: cmd, stdin: stdin, out: out, stderr: &syncBuffer{},
		done: make(chan struct{})}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("host stderr:\n%s", r.stderr.String())
		}
	})
	return r
}

// send writes one control command (pause NAME, resume NAME, reload, stop).
func (r *hostRun) send(command string) {
	r.t.Helper()
	if _, err := io.WriteString(r.stdin, command+"\n"); err != nil {
		r.t.Fatalf("sending %q to the host: %v", command, err)
	}
}

// wait waits for the host to exit and returns its exit code.
func (r *hostRun) wait(timeout time.Duration) int {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		_ = r.cmd.Process.Kill()
		<-r.done
		r.t.Fatalf("host did not exit within %s; stderr:\n%s", timeout, r.stderr.String())
	}
	if r.cmd.ProcessState == nil {
		return -1
	}
	return r.cmd.ProcessState.ExitCode()
}

// waitFor polls cond until it holds or the timeout passes. It bounds how long a test waits for
// the plugin; it asserts nothing about speed.
func (r *hostRun) waitFor(what string, timeout time.Duration, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case <-r.done:
			if cond() {
				return
			}
			r.t.Fatalf("host exited while waiting for %s; stderr:\n%s", what, r.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out after %s waiting for %s; stderr:\n%s", timeout, what,
				r.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// summary is the emulator's closing counters.
type summary struct {
	Records              int `json:"records"`
	Buffers              int `json:"buffers"`
	Bytes                int `json:"bytes"`
	MaxBufferBytes       int `json:"max_buffer_bytes"`
	InvalidBuffers       int `json:"invalid_buffers"`
	DroppedPausedRecords int `json:"dropped_paused_records"`
	LeakedBuffers        int `json:"leaked_buffers"`
	InitFailed           int `json:"init_failed"`
}

var summaryLine = regexp.MustCompile(`\[flbhost\] summary (\{.*\})`)

func (r *hostRun) summary() summary {
	r.t.Helper()
	m := summaryLine.FindStringSubmatch(r.stderr.String())
	if m == nil {
		r.t.Fatalf("no summary line in the host's stderr:\n%s", r.stderr.String())
	}
	var s summary
	if err := json.Unmarshal([]byte(m[1]), &s); err != nil {
		r.t.Fatal(err)
	}
	return s
}

// checkClean fails the test when the host saw invalid, leaked or dropped buffers.
func (r *hostRun) checkClean() {
	r.t.Helper()
	s := r.summary()
	if s.InvalidBuffers != 0 {
		r.t.Errorf("invalid_buffers = %d, want 0", s.InvalidBuffers)
	}
	if s.LeakedBuffers != 0 {
		r.t.Errorf("leaked_buffers = %d, want 0", s.LeakedBuffers)
	}
	if s.DroppedPausedRecords != 0 {
		r.t.Errorf("dropped_paused_records = %d, want 0", s.DroppedPausedRecords)
	}
}

// hostRecord is one line of the emulator's output.
type hostRecord struct {
	Instance string `json:"instance"`
	Tag      string `json:"tag"`
	Time     struct {
		Sec  int64 `json:"sec"`
		Nsec int64 `json:"nsec"`
	} `json:"time"`
	Metadata map[string]any `json:"metadata"`
	Record   map[string]any `json:"record"`
	raw      json.RawMessage
}

func (h hostRecord) str(key string) string {
	s, _ := h.Record[key].(string)
	return s
}

// records reads the records written so far.
func (r *hostRun) records() []hostRecord {
	r.t.Helper()
	return readRecords(r.t, r.out)
}

func readRecords(t *testing.T, path string) []hostRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []hostRecord
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		// A line being written while we read is incomplete; stop at it.
		if !json.Valid(line) {
			break
		}
		var rec hostRecord
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("record line %q: %v", line, err)
		}
		rec.raw = append(json.RawMessage(nil), line...)
		out = append(out, rec)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of exec and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sampleEvents loads the hand-written sample events.
func sampleEvents(t *testing.T) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "tests", "testdata", "okta-events.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(raw))
	for i, r := range raw {
		var compact bytes.Buffer
		if err := json.Compact(&compact, r); err != nil {
			t.Fatal(err)
		}
		out[i] = compact.Bytes()
	}
	return out
}

// eventInfo is what the tests need of an event.
type eventInfo struct {
	UUID, EventType, Published string
}

func infoOf(t *testing.T, raw []byte) eventInfo {
	t.Helper()
	var e struct {
		UUID      string `json:"uuid"`
		EventType string `json:"eventType"`
		Published string `json:"published"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	return eventInfo{e.UUID, e.EventType, e.Published}
}

// recordKey identifies a record: one per event and schema.
func recordKey(r hostRecord) string { return r.str("uuid") + "/" + r.str("schema") }

// countByKey counts records by event UUID and schema.
func countByKey(recs []hostRecord) map[string]int {
	out := make(map[string]int, len(recs))
	for _, r := range recs {
		out[recordKey(r)]++
	}
	return out
}

// stderrHas reports whether the host's stderr contains s.
func (r *hostRun) stderrHas(s string) bool { return strings.Contains(r.stderr.String(), s) }
