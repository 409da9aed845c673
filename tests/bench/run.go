package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/tests/host/hostrun"
	"github.com/edgeaudit/fluent-bit-okta/tests/mockokta"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100 on x86-64 and
// arm64 Linux.
const clockTicks = 100

// org is a started mock Okta org and the files a plugin instance needs to read it.
type org struct {
	srv     *mockokta.Server
	dir     string
	keyFile string
	caFile  string
}

// startOrg starts a mock org that requires DPoP and allows rateLimit System Log requests per
// 60 s window (0: no limit), holding events.
func startOrg(dir string, rateLimit int, events [][]byte) (*org, error) {
	key, keyPEM, err := mockokta.GenerateClientKey()
	if err != nil {
		return nil, err
	}
	cfg := mockokta.NewConfig(mockokta.DefaultClientID, mockokta.DefaultKeyID, &key.PublicKey)
	cfg.RateLimit = rateLimit
	cfg.RateWindow = time.Minute
	cfg.Events = events
	srv := mockokta.New(cfg)
	if err := srv.Start(); err != nil {
		return nil, err
	}
	o := &org{srv: srv, dir: dir, keyFile: filepath.Join(dir, "client-key.pem"),
		caFile: filepath.Join(dir, "ca.pem")}
	if err := os.WriteFile(o.keyFile, keyPEM, 0o600); err != nil {
		srv.Close()
		return nil, err
	}
	if err := os.WriteFile(o.caFile, srv.CACertPEM(), 0o644); err != nil {
		srv.Close()
		return nil, err
	}
	return o, nil
}

// props returns the instance properties for this org followed by extra.
func (o *org) props(extra ...string) []string {
	return append([]string{
		"org_url=" + o.srv.URL(),
		"client_id=" + mockokta.DefaultClientID,
		"key_id=" + mockokta.DefaultKeyID,
		"private_key_file=" + o.keyFile,
		"ca_file=" + o.caFile,
		"state_file=" + filepath.Join(o.dir, "okta.state"),
	}, extra...)
}

// logRequests returns the /api/v1/logs requests of the mock's request log, oldest first.
func (o *org) logRequests() []mockokta.RequestRecord {
	var out []mockokta.RequestRecord
	for _, r := range o.srv.Requests() {
		if r.Path == "/api/v1/logs" {
			out = append(out, r)
		}
	}
	return out
}

// freeLoopbackAddr returns a loopback address that was free a moment ago, for metrics_listen.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// delivery is the first appearance of an event in the host's output.
type delivery struct {
	uuid string
	at   time.Time
}

// hostProc is a running flbhost whose stdout (the records) is read as it is written.
type hostProc struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stderr  *bytes.Buffer
	stderrM sync.Mutex
	metrics string // metrics_listen address

	mu        sync.Mutex
	records   int
	lastNew   time.Time // when the last event seen for the first time arrived
	perSecond []int     // events seen for the first time, by second since the start
	seen      map[string]struct{}
	onEvent   func(delivery) // called without mu for each event seen the first time
	readErr   error
	readDone  chan struct{}
	waitDone  chan struct{}
	waitErr   error
	startedAt time.Time
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// startHost runs flbhost with one okta instance. Records go to stdout, which a goroutine reads
// until the host exits. onEvent, when set, is called with each event UUID the first time a
// record of it arrives.
func startHost(ctx context.Context, hostPath, plugin string, props []string,
	onEvent func(delivery)) (*hostProc, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	props = append(props, "metrics_listen="+addr)
	args := hostrun.Args(hostrun.Options{
		Plugin:     plugin,
		Instances:  []hostrun.Instance{{Name: "okta.0", Props: props}},
		IntervalMS: 1000,
	})
	cmd := exec.CommandContext(ctx, hostPath, args...)
	h := &hostProc{cmd: cmd, stderr: &bytes.Buffer{}, metrics: addr, seen: map[string]struct{}{},
		onEvent: onEvent, readDone: make(chan struct{}), waitDone: make(chan struct{})}
	cmd.Stderr = lockedWriter{&h.stderrM, h.stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", hostPath, err)
	}
	h.startedAt = time.Now()
	go h.read(stdout)
	go func() {
		<-h.readDone
		h.waitErr = cmd.Wait()
		close(h.waitDone)
	}()
	return h, nil
}

// read consumes the host's JSON lines and notes the first record of every event.
func (h *hostProc) read(r io.Reader) {
	defer close(h.readDone)
	br := bufio.NewReaderSize(r, 1<<20)
	var line struct {
		Record struct {
			UUID string `json:"uuid"`
		} `json:"record"`
	}
	for {
		data, err := br.ReadBytes('\n')
		if len(data) > 1 {
			at := time.Now()
			line.Record.UUID = ""
			if jerr := json.Unmarshal(data, &line); jerr != nil {
				h.mu.Lock()
				h.readErr = fmt.Errorf("bench: invalid record line %.200q: %w", data, jerr)
				h.mu.Unlock()
			}
			h.mu.Lock()
			h.records++
			_, dup := h.seen[line.Record.UUID]
			if !dup {
				h.seen[line.Record.UUID] = struct{}{}
				h.lastNew = at
				t := int(at.Sub(h.startedAt).Seconds())
				for len(h.perSecond) <= t {
					h.perSecond = append(h.perSecond, 0)
				}
				h.perSecond[t]++
			}
			h.mu.Unlock()
			if !dup && h.onEvent != nil {
				h.onEvent(delivery{uuid: line.Record.UUID, at: at})
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				h.mu.Lock()
				h.readErr = err
				h.mu.Unlock()
			}
			return
		}
	}
}

// counts returns the records and distinct events read so far.
func (h *hostProc) counts() (records, events int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.records, len(h.seen)
}

// eventsPerSecond returns how many events came out for the first time in each second.
func (h *hostProc) eventsPerSecond() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.perSecond...)
}

// stop asks the host to shut down and waits for it, killing it after timeout.
func (h *hostProc) stop(timeout time.Duration) (*hostrun.Summary, *syscall.Rusage, error) {
	_, _ = io.WriteString(h.stdin, "stop\n")
	select {
	case <-h.waitDone:
	case <-time.After(timeout):
		_ = h.cmd.Process.Kill()
		<-h.waitDone
		return nil, nil, fmt.Errorf("bench: host did not stop within %s", timeout)
	}
	var ru *syscall.Rusage
	if h.cmd.ProcessState != nil {
		ru, _ = h.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	}
	sum, err := hostrun.ParseSummary(h.stderrText())
	if err != nil {
		return nil, ru, err
	}
	h.mu.Lock()
	readErr := h.readErr
	h.mu.Unlock()
	if readErr != nil {
		return &sum, ru, readErr
	}
	if code := h.cmd.ProcessState.ExitCode(); code != 0 {
		return &sum, ru, fmt.Errorf("bench: host exited with status %d", code)
	}
	return &sum, ru, nil
}

func (h *hostProc) stderrText() string {
	h.stderrM.Lock()
	defer h.stderrM.Unlock()
	return h.stderr.String()
}

// procSample is one reading of the host process and the plugin's counters.
type procSample struct {
	T          float64 // seconds since the host started
	CPUSeconds float64 // utime + stime
	RSSKiB     int64   // VmRSS
	HWMKiB     int64   // VmHWM, the peak RSS so far
	Threads    int
	Load1      float64 // 1-minute load average of the machine
	Records    int     // records read from the host
	Events     int     // distinct events read from the host
	Metrics    map[string]float64
}

// sample reads /proc/PID/stat, /proc/PID/status, /proc/loadavg and the metrics endpoint.
func (h *hostProc) sample(ctx context.Context) (procSample, error) {
	pid := h.cmd.Process.Pid
	s := procSample{T: time.Since(h.startedAt).Seconds()}
	s.Records, s.Events = h.counts()

	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may contain spaces; the fields after its closing parenthesis do not.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return s, fmt.Errorf("bench: short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	s.CPUSeconds = float64(utime+stime) / clockTicks

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB"))
		switch key {
		case "VmRSS":
			s.RSSKiB, _ = strconv.ParseInt(value, 10, 64)
		case "VmHWM":
			s.HWMKiB, _ = strconv.ParseInt(value, 10, 64)
		case "Threads":
			s.Threads, _ = strconv.Atoi(value)
		}
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(load)); len(f) > 0 {
			s.Load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	s.Metrics, _ = scrapeMetrics(ctx, h.metrics)
	return s, nil
}

// scrapeMetrics reads the plugin's Prometheus text endpoint into name -> value.
func scrapeMetrics(ctx context.Context, addr string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		_, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out, nil
}

// sampler reads the host every interval until ctx ends or the host exits.
type sampler struct {
	mu      sync.Mutex
	samples []procSample
	done    chan struct{}
}

func startSampler(ctx context.Context, h *hostProc, interval time.Duration) *sampler {
	s := &sampler{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-h.waitDone:
				return
			case <-ticker.C:
				if sm, err := h.sample(ctx); err == nil {
					s.mu.Lock()
					s.samples = append(s.samples, sm)
					s.mu.Unlock()
				}
			}
		}
	}()
	return s
}

// all returns the samples taken so far.
func (s *sampler) all() []procSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]procSample(nil), s.samples...)
}
