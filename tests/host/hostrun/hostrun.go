// Package hostrun builds and drives flbhost, the Fluent Bit 5.1 Go-proxy
// emulator in tests/host, from Go tests. Every wait it offers is bounded by
// a context.
package hostrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Instance is one [INPUT] instance of the plugin: flbhost's -i block.
type Instance struct {
	Name  string   // instance name, for example "okta.0"
	Tag   string   // -t; empty means the instance name
	Level string   // -l; empty means info
	Props []string // -p KEY=VALUE entries, in order
}

// Options describes one flbhost run.
type Options struct {
	Plugin           string // path of the c-shared plugin
	Instances        []Instance
	IntervalMS       int    // --interval-ms; 0 keeps flbhost's 1000
	StopAfterRecords int    // --stop-after-records; 0 = no limit
	DurationMS       int    // --duration-ms; 0 = no limit
	GraceMS          int    // --grace-ms; 0 keeps flbhost's 200
	HotReload        bool   // --hot-reload
	Out              string // --out; empty: a new temporary directory the caller removes
	Env              []string
}

// Summary is the counters flbhost prints on its last stderr line.
type Summary struct {
	Records              uint64 `json:"records"`
	Buffers              uint64 `json:"buffers"`
	Bytes                uint64 `json:"bytes"`
	MaxBufferBytes       uint64 `json:"max_buffer_bytes"`
	InvalidBuffers       uint64 `json:"invalid_buffers"`
	DroppedPausedRecords uint64 `json:"dropped_paused_records"`
	LeakedBuffers        uint64 `json:"leaked_buffers"`
	InitFailed           int    `json:"init_failed"`
}

// Time is a record timestamp split as Fluent Bit's struct flb_time.
type Time struct {
	Sec  int64 `json:"sec"`
	Nsec int64 `json:"nsec"`
}

// Record is one JSON line of flbhost's output. Metadata is nil for records
// in the legacy [time, body] shape.
type Record struct {
	Instance string         `json:"instance"`
	Tag      string         `json:"tag"`
	Time     Time           `json:"time"`
	Metadata map[string]any `json:"metadata"`
	Record   map[string]any `json:"record"`
}

// Result is what a finished run produced.
type Result struct {
	ExitCode int
	Stderr   string
	Out      string // file that holds the records as JSON lines
	Summary  Summary
	Records  []Record
}

// Host is a running flbhost process.
type Host struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *lockedBuffer
	out    string
	done   chan struct{}
	err    error
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Dir returns the tests/host directory that holds flbhost's sources.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Build runs make in tests/host and returns the path of the flbhost binary.
// An flock on tests/host/.build.lock serializes builds, because go test runs
// the test binaries of several packages at once and each may call Build.
func Build(ctx context.Context) (string, error) {
	lock, err := os.OpenFile(filepath.Join(Dir(), ".build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("hostrun: open build lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("hostrun: lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	cmd := exec.CommandContext(ctx, "make", "-s", "-C", Dir())
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("hostrun: make -C %s failed: %v\n%s", Dir(), err, out)
	}
	return filepath.Join(Dir(), "flbhost"), nil
}

// Args returns the flbhost command line for opts, without the binary.
func Args(opts Options) []string {
	var args []string
	for _, in := range opts.Instances {
		args = append(args, "-i", in.Name)
		if in.Tag != "" {
			args = append(args, "-t", in.Tag)
		}
		if in.Level != "" {
			args = append(args, "-l", in.Level)
		}
		for _, p := range in.Props {
			args = append(args, "-p", p)
		}
	}
	if opts.IntervalMS > 0 {
		args = append(args, "--interval-ms", strconv.Itoa(opts.IntervalMS))
	}
	if opts.StopAfterRecords > 0 {
		args = append(args, "--stop-after-records", strconv.Itoa(opts.StopAfterRecords))
	}
	if opts.DurationMS > 0 {
		args = append(args, "--duration-ms", strconv.Itoa(opts.DurationMS))
	}
	if opts.GraceMS > 0 {
		args = append(args, "--grace-ms", strconv.Itoa(opts.GraceMS))
	}
	if opts.HotReload {
		args = append(args, "--hot-reload")
	}
	if opts.Out != "" {
		args = append(args, "--out", opts.Out)
	}
	return append(args, opts.Plugin)
}

// Start launches flbhost at hostPath. The process is killed when ctx ends.
func Start(ctx context.Context, hostPath string, opts Options) (*Host, error) {
	if opts.Out == "" {
		dir, err := os.MkdirTemp("", "flbhost-out-")
		if err != nil {
			return nil, fmt.Errorf("hostrun: create output directory: %w", err)
		}
		opts.Out = filepath.Join(dir, "records.jsonl")
	}
	cmd := exec.CommandContext(ctx, hostPath, Args(opts)...)
	cmd.Env = append(os.Environ(), opts.Env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("hostrun: stdin pipe: %w", err)
	}
	h := &Host{cmd: cmd, stdin: stdin, stderr: &lockedBuffer{}, out: opts.Out,
		done: make(chan struct{})}
	cmd.Stderr = h.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("hostrun: start %s: %w", hostPath, err)
	}
	go func() {
		h.err = cmd.Wait()
		close(h.done)
	}()
	return h, nil
}

// OutPath returns the file the host appends records to.
func (h *Host) OutPath() string { return h.out }

// Stderr returns what the host has written to stderr so far.
func (h *Host) Stderr() string { return h.stderr.String() }

// Send writes one control command (pause NAME, resume NAME, reload, stop).
func (h *Host) Send(command string) error {
	if _, err := io.WriteString(h.stdin, command+"\n"); err != nil {
		return fmt.Errorf("hostrun: send %q: %w", command, err)
	}
	return nil
}

// CloseStdin closes the command channel; flbhost keeps running after EOF.
func (h *Host) CloseStdin() error { return h.stdin.Close() }

// Pid returns the host's process id.
func (h *Host) Pid() int { return h.cmd.Process.Pid }

// Signal sends sig to the host process.
func (h *Host) Signal(sig syscall.Signal) error {
	return h.cmd.Process.Signal(sig)
}

// Records reads the records written so far.
func (h *Host) Records() ([]Record, error) {
	return ReadRecords(h.out)
}

// WaitFor polls the output until match returns true for the records so far,
// the host exits, or ctx ends.
func (h *Host) WaitFor(ctx context.Context, match func([]Record) bool) ([]Record, error) {
	for {
		recs, err := h.Records()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if match(recs) {
			return recs, nil
		}
		select {
		case <-ctx.Done():
			return recs, fmt.Errorf("hostrun: condition not met with %d records: %w",
				len(recs), ctx.Err())
		case <-h.done:
			recs, err = h.Records()
			if err == nil && match(recs) {
				return recs, nil
			}
			return recs, fmt.Errorf("hostrun: host exited before the condition held "+
				"(%d records)\n%s", len(recs), h.Stderr())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Wait waits for the host to exit and collects its results.
func (h *Host) Wait(ctx context.Context) (*Result, error) {
	select {
	case <-h.done:
	case <-ctx.Done():
		_ = h.cmd.Process.Kill()
		<-h.done
		return nil, fmt.Errorf("hostrun: host did not exit: %w\n%s", ctx.Err(), h.Stderr())
	}
	res := &Result{Stderr: h.Stderr(), ExitCode: h.cmd.ProcessState.ExitCode(), Out: h.out}
	var exitErr *exec.ExitError
	if h.err != nil && !errors.As(h.err, &exitErr) {
		return res, fmt.Errorf("hostrun: wait: %w", h.err)
	}
	sum, err := ParseSummary(res.Stderr)
	if err != nil {
		return res, err
	}
	res.Summary = sum
	recs, err := ReadRecords(h.out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, err
	}
	res.Records = recs
	return res, nil
}

// Run starts the host, closes its stdin and waits for it to exit.
func Run(ctx context.Context, hostPath string, opts Options) (*Result, error) {
	h, err := Start(ctx, hostPath, opts)
	if err != nil {
		return nil, err
	}
	if err := h.CloseStdin(); err != nil {
		return nil, fmt.Errorf("hostrun: close stdin: %w", err)
	}
	return h.Wait(ctx)
}

const summaryPrefix = "[flbhost] summary "

// ParseSummary finds and decodes the summary line in flbhost's stderr.
func ParseSummary(stderr string) (Summary, error) {
	var sum Summary
	for _, line := range strings.Split(stderr, "\n") {
		if rest, ok := strings.CutPrefix(line, summaryPrefix); ok {
			if err := json.Unmarshal([]byte(rest), &sum); err != nil {
				return sum, fmt.Errorf("hostrun: invalid summary line %q: %w", line, err)
			}
			return sum, nil
		}
	}
	return sum, fmt.Errorf("hostrun: no summary line in stderr:\n%s", stderr)
}

// ReadRecords decodes the complete JSON lines in path; numbers decode as
// json.Number. A last line without its newline is still being written and is
// skipped.
func ReadRecords(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var recs []Record
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			break
		}
		line := data[:nl]
		data = data[nl+1:]
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var r Record
		if err := dec.Decode(&r); err != nil {
			return recs, fmt.Errorf("hostrun: invalid record line %q: %w", line, err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}
