package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/tests/host/hostrun"
)

var (
	hostPath      string
	fakePlugin    string
	fakeNoCleanup string
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var err error
	hostPath, err = hostrun.Build(ctx)
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "flbhost-fake-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)

	fakePlugin = filepath.Join(dir, "fake.so")
	fakeNoCleanup = filepath.Join(dir, "fake_nocleanup.so")
	src := filepath.Join(hostrun.Dir(), "testdata", "fakeplugin")
	builds := [][]string{
		{"build", "-buildmode=c-shared", "-o", fakePlugin, "."},
		{"build", "-tags", "nocleanup", "-buildmode=c-shared", "-o", fakeNoCleanup, "."},
	}
	for _, args := range builds {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("go %v failed: %v\n%s", args, err, out)
		}
	}
	return m.Run(), nil
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fake returns an instance of the fixture whose records carry label name.
func fake(name string, props ...string) hostrun.Instance {
	return hostrun.Instance{Name: name, Props: append([]string{"label=" + name}, props...)}
}

func eventsFile(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.txt")
	return path, "FAKE_PLUGIN_EVENTS=" + path
}

func readEvents(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// indexOf returns the position of the first event equal to want at or after from.
func indexOf(events []string, want string, from int) int {
	for i := from; i < len(events); i++ {
		if events[i] == want {
			return i
		}
	}
	return -1
}

func run(t *testing.T, opts hostrun.Options) *hostrun.Result {
	t.Helper()
	if opts.Plugin == "" {
		opts.Plugin = fakePlugin
	}
	if opts.IntervalMS == 0 {
		opts.IntervalMS = 20
	}
	if opts.GraceMS == 0 {
		opts.GraceMS = 20
	}
	opts.Out = filepath.Join(t.TempDir(), "records.jsonl")
	res, err := hostrun.Run(testContext(t), hostPath, opts)
	if err != nil {
		t.Fatalf("run flbhost: %v", err)
	}
	return res
}

func start(t *testing.T, opts hostrun.Options) *hostrun.Host {
	t.Helper()
	if opts.Plugin == "" {
		opts.Plugin = fakePlugin
	}
	if opts.IntervalMS == 0 {
		opts.IntervalMS = 20
	}
	if opts.GraceMS == 0 {
		opts.GraceMS = 20
	}
	opts.Out = filepath.Join(t.TempDir(), "records.jsonl")
	h, err := hostrun.Start(testContext(t), hostPath, opts)
	if err != nil {
		t.Fatalf("start flbhost: %v", err)
	}
	return h
}

func countFor(recs []hostrun.Record, instance string) int {
	n := 0
	for _, r := range recs {
		if r.Instance == instance {
			n++
		}
	}
	return n
}

func TestRecordsV2Shape(t *testing.T) {
	res := run(t, hostrun.Options{
		Instances:        []hostrun.Instance{fake("fake.0", "records_per_collect=3", "total_records=6")},
		StopAfterRecords: 6,
	})
	if res.ExitCode != 0 {
		t.Fatalf("exit code = %d, want 0\n%s", res.ExitCode, res.Stderr)
	}
	if len(res.Records) != 6 {
		t.Fatalf("got %d records, want 6", len(res.Records))
	}
	for i, r := range res.Records {
		if got := r.Record["seq"]; got != json.Number(fmt.Sprint(i)) {
			t.Errorf("record %d seq = %v, want %d", i, got, i)
		}
		if r.Time.Sec != int64(1747210365+i) || r.Time.Nsec != 118000000 {
			t.Errorf("record %d time = %+v, want sec %d nsec 118000000", i, r.Time, 1747210365+i)
		}
		if r.Metadata == nil || len(r.Metadata) != 0 {
			t.Errorf("record %d metadata = %v, want {}", i, r.Metadata)
		}
		if r.Record["thread_ok"] != true {
			t.Errorf("record %d: collect ran on a thread other than its Init", i)
		}
	}
	if got, want := res.Records[0].Record["text"], "quote\" backslash\\ tab\t é ✓"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}

	if res.Summary.Records != 6 {
		t.Errorf("summary records = %d, want 6", res.Summary.Records)
	}
	if res.Summary.Buffers != 2 {
		t.Errorf("summary buffers = %d, want 2", res.Summary.Buffers)
	}
	if res.Summary.Bytes == 0 || res.Summary.MaxBufferBytes*2 < res.Summary.Bytes {
		t.Errorf("summary bytes = %d, max_buffer_bytes = %d: inconsistent",
			res.Summary.Bytes, res.Summary.MaxBufferBytes)
	}
	if res.Summary.LeakedBuffers != 0 || res.Summary.InvalidBuffers != 0 {
		t.Errorf("summary = %+v, want no leaks and no invalid buffers", res.Summary)
	}
}

func TestRecordsLineKeyOrder(t *testing.T) {
	opts := hostrun.Options{
		Instances:        []hostrun.Instance{fake("fake.0", "total_records=1")},
		StopAfterRecords: 1,
	}
	res := run(t, opts)
	if res.ExitCode != 0 {
		t.Fatalf("exit code = %d\n%s", res.ExitCode, res.Stderr)
	}
	if len(res.Records) != 1 {
		t.Fatalf("got %d records, want 1", len(res.Records))
	}
	line := mustFirstLine(t, res)
	want := `{"instance":"fake.0","tag":"fake.0","time":{"sec":1747210365,"nsec":118000000},` +
		`"metadata":{},"record":{"label":"fake.0","seq":0,"thread_ok":true,` +
		`"text":"quote\" backslash\\ tab\t é ✓"}}`
	if line != want {
		t.Errorf("line =\n%s\nwant\n%s", line, want)
	}
}

// mustFirstLine re-reads the raw output because Record decoding loses key order.
func mustFirstLine(t *testing.T, res *hostrun.Result) string {
	t.Helper()
	data, err := os.ReadFile(res.Out)
	if err != nil {
		t.Fatalf("read output: %v", err)
	}
	return strings.SplitN(string(data), "\n", 2)[0]
}

func TestRecordsV1MetadataNull(t *testing.T) {
	res := run(t, hostrun.Options{
		Instances:        []hostrun.Instance{fake("fake.0", "format=v1", "total_records=2")},
		StopAfterRecords: 2,
	})
	if res.ExitCode != 0 {
		t.Fatalf("exit code = %d\n%s", res.ExitCode, res.Stderr)
	}
	if len(res.Records) != 2 {
		t.Fatalf("got %d records, want 2", len(res.Records))
	}
	if !strings.Contains(mustFirstLine(t, res), `"metadata":null,`) {
		t.Errorf("V1 record line lacks \"metadata\":null")
	}
}

func TestTagFromOptionAndProperty(t *testing.T) {
	a := fake("fake.0", "total_records=1")
	a.Tag = "custom.tag"
	b := fake("fake.1", "total_records=1", "tag=prop.tag")
	res := run(t, hostrun.Options{Instances: []hostrun.Instance{a, b}, StopAfterRecords: 2})
	if res.ExitCode != 0 {
		t.Fatalf("exit code = %d\n%s", res.ExitCode, res.Stderr)
	}
	tags := map[string]string{}
	for _, r := range res.Records {
		tags[r.Instance] = r.Tag
	}
	if tags["fake.0"] != "custom.tag" {
		t.Errorf("fake.0 tag = %q, want custom.tag", tags["fake.0"])
	}
	if tags["fake.1"] != "prop.tag" {
		t.Errorf("fake.1 tag = %q, want prop.tag", tags["fake.1"])
	}
}

func TestPropertyLookupRules(t *testing.T) {
	in := fake("fake.0", "total_records=1",
		"echo_keys=LABEL,empty,host,net.keepalive,oauth2.token_url,tls.verify,tag,dup,lab,env",
		"empty=", "host=example.invalid", "net.keepalive=on", "oauth2.token_url=u",
		"tls.verify=off", "tag=", "Dup=first", "dup=second", "env=${FLBHOST_TEST_VAR}-x")
	res := run(t, hostrun.Options{
		Instances:        []hostrun.Instance{in},
		StopAfterRecords: 1,
		Env:              []string{"FLBHOST_TEST_VAR=expanded"},
	})
	if res.ExitCode != 0 || len(res.Records) != 1 {
		t.Fatalf("exit code = %d, records = %d\n%s", res.ExitCode, len(res.Records), res.Stderr)
	}
	rec := res.Records[0].Record
	want := map[string]any{
		"echo_LABEL":            "fake.0",
		"echo_empty":            nil,
		"echo_host":             nil,
		"echo_net.keepalive":    nil,
		"echo_oauth2.token_url": nil,
		"echo_tls.verify":       nil,
		"echo_tag":              nil,
		"echo_dup":              "first",
		"echo_lab":              nil,
		"echo_env":              "expanded-x",
	}
	for k, v := range want {
		got, ok := rec[k]
		if !ok {
			t.Errorf("record has no %s", k)
			continue
		}
		if got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	if res.Records[0].Tag != "fake.0" {
		t.Errorf("empty tag property changed the tag to %q", res.Records[0].Tag)
	}
}

var logLine = regexp.MustCompile(
	`^\[\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\] \[(error| warn| info|debug|trace)\] `)

func TestLogLevelsAndFormat(t *testing.T) {
	cases := []struct {
		level string
		shown []string
		muted []string
	}{
		{"warn", []string{"error", "warn"}, []string{"info", "debug", "trace"}},
		{"trace", []string{"error", "warn", "info", "debug", "trace"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.level, func(t *testing.T) {
			in := fake("fake.0", "total_records=1", "log_all=true")
			in.Level = tc.level
			res := run(t, hostrun.Options{Instances: []hostrun.Instance{in}, StopAfterRecords: 1})
			if res.ExitCode != 0 {
				t.Fatalf("exit code = %d\n%s", res.ExitCode, res.Stderr)
			}
			lines := strings.Split(res.Stderr, "\n")
			for _, lvl := range tc.shown {
				found := false
				for _, l := range lines {
					if strings.HasSuffix(l, "[input:fake:fake.0] message at "+lvl) {
						found = true
						if !logLine.MatchString(l) {
							t.Errorf("line %q does not have Fluent Bit's shape", l)
						}
						if !strings.Contains(l, fmt.Sprintf("[%5s]", lvl)) {
							t.Errorf("line %q lacks level [%5s]", l, lvl)
						}
					}
				}
				if !found {
					t.Errorf("no %s line at log level %s", lvl, tc.level)
				}
			}
			for _, lvl := range tc.muted {
				if strings.Contains(res.Stderr, "message at "+lvl) {
					t.Errorf("%s line printed at log level %s", lvl, tc.level)
				}
			}
		})
	}
}

func TestLogPrintKeepsPercentLiteral(t *testing.T) {
	res := run(t, hostrun.Options{
		Instances:        []hostrun.Instance{fake("fake.0", "total_records=1", "log_all=true")},
		StopAfterRecords: 1,
	})
	if !strings.Contains(res.Stderr, "] percent %s %d stays literal\n") {
		t.Errorf("message with %% verbs was altered:\n%s", res.Stderr)
	}
}

func TestMalformedBufferRejected(t *testing.T) {
	for _, kind := range []string{"ext-1", "truncated", "bin"} {
		t.Run(kind, func(t *testing.T) {
			res := run(t, hostrun.Options{
				Instances: []hostrun.Instance{fake("fake.0", "records_per_collect=1",
					"total_records=3", "malformed_at=2", "malformed="+kind)},
				StopAfterRecords: 3,
			})
			if res.ExitCode != 3 {
				t.Errorf("exit code = %d, want 3\n%s", res.ExitCode, res.Stderr)
			}
			if res.Summary.InvalidBuffers != 1 {
				t.Errorf("invalid_buffers = %d, want 1", res.Summary.InvalidBuffers)
			}
			if len(res.Records) != 3 {
				t.Errorf("got %d records, want the 3 valid ones", len(res.Records))
			}
			if !strings.Contains(res.Stderr, "[flbhost] invalid buffer of ") {
				t.Errorf("stderr does not report the invalid buffer:\n%s", res.Stderr)
			}
		})
	}
}

func TestLeakedBufferCounted(t *testing.T) {
	res := run(t, hostrun.Options{
		Instances: []hostrun.Instance{fake("fake.0", "records_per_collect=1", "total_records=3",
			"leak_at=2")},
		StopAfterRecords: 3,
	})
	if res.ExitCode != 4 {
		t.Errorf("exit code = %d, want 4\n%s", res.ExitCode, res.Stderr)
	}
	if res.Summary.LeakedBuffers != 1 {
		t.Errorf("leaked_buffers = %d, want 1", res.Summary.LeakedBuffers)
	}
	if res.Summary.Records != 3 {
		t.Errorf("records = %d, want 3", res.Summary.Records)
	}
}

func TestNoCleanupHostFrees(t *testing.T) {
	res := run(t, hostrun.Options{
		Plugin: fakeNoCleanup,
		Instances: []hostrun.Instance{fake("fake.0", "records_per_collect=1", "total_records=3",
			"leak_at=2")},
		StopAfterRecords: 3,
	})
	if res.ExitCode != 0 {
		t.Errorf("exit code = %d, want 0\n%s", res.ExitCode, res.Stderr)
	}
	if res.Summary.Buffers != 3 || res.Summary.LeakedBuffers != 0 {
		t.Errorf("summary = %+v, want 3 buffers and none leaked", res.Summary)
	}
}

func TestInitFailureStopsStartup(t *testing.T) {
	events, env := eventsFile(t)
	res := run(t, hostrun.Options{
		Instances: []hostrun.Instance{fake("fake.0"), fake("fake.1", "fail_init=true"),
			fake("fake.2")},
		Env: []string{env},
	})
	if res.ExitCode != 1 {
		t.Errorf("exit code = %d, want 1\n%s", res.ExitCode, res.Stderr)
	}
	if res.Summary.InitFailed != 1 {
		t.Errorf("init_failed = %d, want 1", res.Summary.InitFailed)
	}
	for _, msg := range []string{
		"] [error] [go proxy]: plugin 'fake' failed to initialize\n",
		"] [error] [engine] input initialization failed\n",
	} {
		if !strings.Contains(res.Stderr, msg) {
			t.Errorf("stderr lacks %q:\n%s", msg, res.Stderr)
		}
	}
	ev := readEvents(t, events)
	if indexOf(ev, "init fake.1 fake", 0) < 0 {
		t.Errorf("fake.1 Init never ran: %v", ev)
	}
	if indexOf(ev, "init fake.2 fake", 0) >= 0 {
		t.Errorf("fake.2 was initialized after fake.1 failed: %v", ev)
	}
	for _, e := range ev {
		if strings.HasPrefix(e, "exit ") || strings.HasPrefix(e, "pre_exit ") ||
			strings.HasPrefix(e, "pre_run ") {
			t.Errorf("unexpected %q after an Init failure: %v", e, ev)
		}
	}
	if indexOf(ev, "unregister - -", 0) < 0 {
		t.Errorf("Unregister not called: %v", ev)
	}
}

func TestShutdownSequenceOrder(t *testing.T) {
	events, env := eventsFile(t)
	h := start(t, hostrun.Options{
		Instances: []hostrun.Instance{fake("fake.0", "total_records=1000000"),
			fake("fake.1", "total_records=1000000")},
		Env: []string{env},
	})
	ctx := testContext(t)
	if _, err := h.WaitFor(ctx, func(r []hostrun.Record) bool { return len(r) >= 2 }); err != nil {
		t.Fatal(err)
	}
	if err := h.Send("stop"); err != nil {
		t.Fatal(err)
	}
	res, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Errorf("exit code = %d, want 0\n%s", res.ExitCode, res.Stderr)
	}
	ev := readEvents(t, events)
	// Each thread handles its pause message on its own, so the two pauses may
	// come in either order, but both come before the first PreExit.
	firstExit := indexOf(ev, "pre_exit fake.1 0", 0)
	for _, p := range []string{"pause fake.0 -", "pause fake.1 -"} {
		if i := indexOf(ev, p, 0); i < 0 || i > firstExit {
			t.Errorf("%q missing or after the first PreExit: %v", p, ev)
		}
	}
	want := []string{
		"pre_register - 0", "register - -", "init fake.0 fake", "init fake.1 fake",
		"pre_exit fake.1 0", "exit fake.1 -", "pre_exit fake.0 0", "exit fake.0 -",
		"unregister - -",
	}
	pos := 0
	for _, w := range want {
		i := indexOf(ev, w, pos)
		if i < 0 {
			t.Fatalf("event %q missing or out of order in %v", w, ev)
		}
		pos = i + 1
	}
	if i := indexOf(ev, "pre_run fake.0 0", 0); i < indexOf(ev, "init fake.1 fake", 0) {
		t.Errorf("PreRun ran before every Init finished: %v", ev)
	}
}

func TestSigtermShutsDown(t *testing.T) {
	events, env := eventsFile(t)
	h := start(t, hostrun.Options{
		Instances: []hostrun.Instance{fake("fake.0", "total_records=1000000")},
		Env:       []string{env},
	})
	ctx := testContext(t)
	if _, err := h.WaitFor(ctx, func(r []hostrun.Record) bool { return len(r) >= 1 }); err != nil {
		t.Fatal(err)
	}
	if err := h.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	res, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Errorf("exit code = %d, want 0\n%s", res.ExitCode, res.Stderr)
	}
	if indexOf(readEvents(t, events), "exit fake.0 -", 0) < 0 {
		t.Errorf("Exit not called after SIGTERM")
	}
}

// Fluent Bit 5.1.1 pauses the collector of the last initialized instance
// with the paused instance's collector id, so pausing fake.0 stops fake.1's
// timer while fake.0 keeps being called and its appends are refused.
func TestPauseStopsWrongCollector(t *testing.T) {
	events, env := eventsFile(t)
	a := fake("fake.0", "records_per_collect=1", "total_records=1000000")
	a.Level = "debug"
	b := fake("fake.1", "records_per_collect=1", "total_records=1000000")
	h := start(t, hostrun.Options{Instances: []hostrun.Instance{a, b}, Env: []string{env}})
	ctx := testContext(t)

	both := func(n int) func([]hostrun.Record) bool {
		return func(r []hostrun.Record) bool {
			return countFor(r, "fake.0") >= n && countFor(r, "fake.1") >= n
		}
	}
	if _, err := h.WaitFor(ctx, both(2)); err != nil {
		t.Fatal(err)
	}
	if err := h.Send("pause fake.0"); err != nil {
		t.Fatal(err)
	}
	waitStderr(t, ctx, h, "is paused, cannot append records", 1)
	recs, _ := h.Records()
	aBefore, bBefore := countFor(recs, "fake.0"), countFor(recs, "fake.1")

	// Eight refused appends from fake.0 take eight of its timer periods.
	waitStderr(t, ctx, h, "is paused, cannot append records", 9)
	recs, _ = h.Records()
	if got := countFor(recs, "fake.0"); got != aBefore {
		t.Errorf("fake.0 stored %d records while paused", got-aBefore)
	}
	if got := countFor(recs, "fake.1"); got > bBefore+1 {
		t.Errorf("fake.1 stored %d records after fake.0's pause; its collector should stop",
			got-bBefore)
	}

	if err := h.Send("resume fake.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WaitFor(ctx, func(r []hostrun.Record) bool {
		return countFor(r, "fake.0") > aBefore+1 && countFor(r, "fake.1") > bBefore+2
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.Send("stop"); err != nil {
		t.Fatal(err)
	}
	res, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 5 {
		t.Errorf("exit code = %d, want 5 (records dropped while paused)\n%s",
			res.ExitCode, res.Stderr)
	}
	if res.Summary.DroppedPausedRecords < 9 {
		t.Errorf("dropped_paused_records = %d, want at least 9", res.Summary.DroppedPausedRecords)
	}
	ev := readEvents(t, events)
	if indexOf(ev, "pause fake.0 -", 0) < 0 || indexOf(ev, "resume fake.0 -", 0) < 0 {
		t.Errorf("Pause/Resume did not run on fake.0's thread: %v", ev)
	}
}

func TestPauseLastInstanceStopsItself(t *testing.T) {
	a := fake("fake.0", "records_per_collect=1", "total_records=1000000")
	b := fake("fake.1", "records_per_collect=1", "total_records=1000000")
	b.Level = "debug"
	h := start(t, hostrun.Options{Instances: []hostrun.Instance{a, b}})
	ctx := testContext(t)
	if _, err := h.WaitFor(ctx, func(r []hostrun.Record) bool {
		return countFor(r, "fake.0") >= 2 && countFor(r, "fake.1") >= 2
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.Send("pause fake.1"); err != nil {
		t.Fatal(err)
	}
	recs, _ := h.Records()
	aBefore := countFor(recs, "fake.0")
	// fake.0 keeps running; wait for 10 more of its records.
	if _, err := h.WaitFor(ctx, func(r []hostrun.Record) bool {
		return countFor(r, "fake.0") >= aBefore+10
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.Send("stop"); err != nil {
		t.Fatal(err)
	}
	res, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// At most one collect of fake.1 can race with its own pause.
	if res.Summary.DroppedPausedRecords > 1 {
		t.Errorf("dropped_paused_records = %d; fake.1's own collector should have stopped",
			res.Summary.DroppedPausedRecords)
	}
}

func waitStderr(t *testing.T, ctx context.Context, h *hostrun.Host, text string, n int) {
	t.Helper()
	for strings.Count(h.Stderr(), text) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("stderr has %d of %d %q lines:\n%s", strings.Count(h.Stderr(), text), n,
				text, h.Stderr())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestHotReloadSequence(t *testing.T) {
	events, env := eventsFile(t)
	h := start(t, hostrun.Options{
		Instances: []hostrun.Instance{fake("fake.0", "records_per_collect=1",
			"total_records=1000000")},
		HotReload: true,
		Env:       []string{env},
	})
	ctx := testContext(t)
	if _, err := h.WaitFor(ctx, func(r []hostrun.Record) bool { return len(r) >= 2 }); err != nil {
		t.Fatal(err)
	}
	if err := h.Send("reload"); err != nil {
		t.Fatal(err)
	}
	// The reloaded instance starts over at seq 0, so seq 0 appears twice.
	if _, err := h.WaitFor(ctx, func(r []hostrun.Record) bool {
		zeros := 0
		for _, rec := range r {
			if rec.Record["seq"] == json.Number("0") {
				zeros++
			}
		}
		return zeros == 2
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.Send("stop"); err != nil {
		t.Fatal(err)
	}
	res, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Errorf("exit code = %d, want 0\n%s", res.ExitCode, res.Stderr)
	}
	want := []string{
		"pre_register - 0", "register - -", "init fake.0 fake", "pre_run fake.0 1",
		"pre_register - 1", "register - -",
		"pause fake.0 -", "pre_exit fake.0 1", "exit fake.0 -", "unregister - -",
		"init fake.0 fake", "pre_run fake.0 1",
		"pause fake.0 -", "pre_exit fake.0 0", "exit fake.0 -", "unregister - -",
	}
	ev := readEvents(t, events)
	pos := 0
	for _, w := range want {
		i := indexOf(ev, w, pos)
		if i < 0 {
			t.Fatalf("event %q missing or out of order after position %d in %v", w, pos, ev)
		}
		pos = i + 1
	}
}

func TestReloadNeedsHotReload(t *testing.T) {
	events, env := eventsFile(t)
	h := start(t, hostrun.Options{
		Instances: []hostrun.Instance{fake("fake.0", "total_records=1000000")},
		Env:       []string{env},
	})
	ctx := testContext(t)
	if err := h.Send("reload"); err != nil {
		t.Fatal(err)
	}
	waitStderr(t, ctx, h, "[reload] hot reloading is not enabled", 1)
	if err := h.Send("stop"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(readEvents(t, events), "\n"), "register - -"); n != 2 {
		t.Errorf("register/unregister events = %d, want 2 (no second load)", n)
	}
}

func TestUsageErrors(t *testing.T) {
	cases := map[string][]string{
		"no plugin":          {"-i", "fake.0"},
		"no instance":        {fakePlugin},
		"property before -i": {"-p", "a=b", "-i", "fake.0", fakePlugin},
		"bad level":          {"-i", "fake.0", "-l", "loud", fakePlugin},
		"bad interval":       {"-i", "fake.0", "--interval-ms", "soon", fakePlugin},
		"threaded off":       {"-i", "fake.0", "-p", "threaded=off", fakePlugin},
		"unknown option":     {"--bogus", "-i", "fake.0", fakePlugin},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			cmd := exec.CommandContext(testContext(t), hostPath, args...)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 2 {
				t.Errorf("exit code = %d, want 2\n%s", code, out)
			}
			if !strings.HasPrefix(string(out), "[flbhost] ") {
				t.Errorf("error is not a [flbhost] diagnostic: %s", out)
			}
		})
	}
}

func TestMissingPluginFile(t *testing.T) {
	res := run(t, hostrun.Options{
		Plugin:    filepath.Join(t.TempDir(), "absent.so"),
		Instances: []hostrun.Instance{fake("fake.0")},
	})
	if res.ExitCode != 1 {
		t.Errorf("exit code = %d, want 1", res.ExitCode)
	}
	if !strings.Contains(res.Stderr, "[proxy] error opening plugin ") {
		t.Errorf("stderr lacks the dlopen error:\n%s", res.Stderr)
	}
}

func TestDurationLimit(t *testing.T) {
	res := run(t, hostrun.Options{
		Instances:  []hostrun.Instance{fake("fake.0", "total_records=1000000")},
		DurationMS: 300,
	})
	if res.ExitCode != 0 {
		t.Errorf("exit code = %d, want 0\n%s", res.ExitCode, res.Stderr)
	}
	if res.Summary.Records == 0 {
		t.Errorf("no records within the duration")
	}
}

func TestThreadNamedLikeFluentBit(t *testing.T) {
	h := start(t, hostrun.Options{
		Instances: []hostrun.Instance{fake("fake.0", "total_records=1000000")},
	})
	ctx := testContext(t)
	if _, err := h.WaitFor(ctx, func(r []hostrun.Record) bool { return len(r) >= 1 }); err != nil {
		t.Fatal(err)
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/comm", h.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, task := range tasks {
		if data, err := os.ReadFile(task); err == nil {
			names = append(names, strings.TrimSpace(string(data)))
		}
	}
	// "flb-in-fake.0-w0" cut to the kernel's 15-byte thread name limit.
	found := false
	for _, n := range names {
		if n == "flb-in-fake.0-w" {
			found = true
		}
	}
	if !found {
		t.Errorf("no thread named flb-in-fake.0-w among %v", names)
	}
	if err := h.Send("stop"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStdinEOFKeepsRunning(t *testing.T) {
	h := start(t, hostrun.Options{
		Instances: []hostrun.Instance{fake("fake.0", "records_per_collect=1",
			"total_records=1000000")},
	})
	ctx := testContext(t)
	if err := h.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	// WaitFor fails if the host exits before ten records arrive.
	if _, err := h.WaitFor(ctx, func(r []hostrun.Record) bool { return len(r) >= 10 }); err != nil {
		t.Fatal(err)
	}
	if err := h.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	res, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Errorf("exit code = %d, want 0\n%s", res.ExitCode, res.Stderr)
	}
}

func TestSighupReloads(t *testing.T) {
	events, env := eventsFile(t)
	h := start(t, hostrun.Options{
		Instances: []hostrun.Instance{fake("fake.0", "total_records=1000000")},
		HotReload: true,
		Env:       []string{env},
	})
	ctx := testContext(t)
	if _, err := h.WaitFor(ctx, func(r []hostrun.Record) bool { return len(r) >= 1 }); err != nil {
		t.Fatal(err)
	}
	if err := h.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitStderr(t, ctx, h, "[reload] successful reload done.", 1)
	if err := h.Send("stop"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	ev := readEvents(t, events)
	if i := indexOf(ev, "pre_register - 1", 0); i < 0 {
		t.Errorf("no PreRegister(1) after SIGHUP: %v", ev)
	}
}

func TestRegisterFailure(t *testing.T) {
	events, env := eventsFile(t)
	res := run(t, hostrun.Options{
		Instances: []hostrun.Instance{fake("fake.0")},
		Env:       []string{env, "FAKE_PLUGIN_REGISTER_FAIL=1"},
	})
	if res.ExitCode != 1 {
		t.Errorf("exit code = %d, want 1\n%s", res.ExitCode, res.Stderr)
	}
	want := "[error] [config] section 'fake' tried to instance a plugin name that doesn't exist"
	if !strings.Contains(res.Stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res.Stderr)
	}
	ev := readEvents(t, events)
	if indexOf(ev, "unregister - -", 0) >= 0 || indexOf(ev, "init fake.0 fake", 0) >= 0 {
		t.Errorf("Init or Unregister ran after a failed Register: %v", ev)
	}
}

// A collect that returns -1 gets no append and no cleanup, so its buffer leaks.
func TestCollectErrorSkipsCleanup(t *testing.T) {
	res := run(t, hostrun.Options{
		Instances: []hostrun.Instance{fake("fake.0", "records_per_collect=1", "total_records=3",
			"fail_collect_at=2")},
		StopAfterRecords: 2,
	})
	if res.ExitCode != 4 {
		t.Errorf("exit code = %d, want 4\n%s", res.ExitCode, res.Stderr)
	}
	if res.Summary.LeakedBuffers != 1 {
		t.Errorf("leaked_buffers = %d, want 1", res.Summary.LeakedBuffers)
	}
	if res.Summary.Buffers != 2 {
		t.Errorf("buffers = %d, want 2 (the failed collect is not appended)", res.Summary.Buffers)
	}
	for _, r := range res.Records {
		if r.Record["seq"] == json.Number("1") {
			t.Errorf("record seq 1 from the failed collect was stored")
		}
	}
	if !strings.Contains(res.Stderr, "[error] [/src/fluent-bit/src/flb_plugin_proxy.c:93 errno=") {
		t.Errorf("stderr lacks the flb_errno line:\n%s", res.Stderr)
	}
}
