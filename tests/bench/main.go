// Command bench measures the okta input end to end: it runs the real in_okta.so inside the
// Fluent Bit proxy emulator (tests/host/flbhost) against mock Okta orgs on 127.0.0.1, for a
// rate-limited backfill, a live tail with late events and a soak. It writes the time series as
// gnuplot data files, draws the charts with gnuplot and writes docs/benchmarks.md, into which
// it copies the per-event benchmark figures that tests/bench/run.sh collected beforehand.
//
//	go run ./tests/bench -quick   # smaller volumes, about 3 minutes
//
// The runs are benchmarks, not tests: nothing here passes or fails on a figure.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/tests/host/hostrun"
)

// benchEnv is what every run needs: the binaries and a scratch directory.
type benchEnv struct {
	host   string
	plugin string
	work   string
	logMu  sync.Mutex
}

func (e *benchEnv) logf(format string, args ...any) {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	log.Printf(format, args...)
}

// options are the command-line flags.
type options struct {
	quick       bool
	plugin      string
	dataDir     string
	report      string
	recordBench string
	benchstat   string
	profile     string
}

// results is everything one invocation measured.
type results struct {
	Quick     bool
	Started   time.Time
	Finished  time.Time
	LoadStart string
	LoadEnd   string
	Backfills []*backfillResult
	Live      *liveResult
	Soak      *liveResult
}

func main() {
	log.SetFlags(log.Ltime)
	var opts options
	flag.BoolVar(&opts.quick, "quick", os.Getenv("BENCH_QUICK") == "1",
		"smaller volumes and shorter runs (default from BENCH_QUICK=1)")
	flag.StringVar(&opts.plugin, "plugin", "build/in_okta.so", "path of the plugin to run")
	flag.StringVar(&opts.dataDir, "data", "docs/benchmarks",
		"directory for the gnuplot data files and charts")
	flag.StringVar(&opts.report, "report", "docs/benchmarks.md", "report file to write")
	flag.StringVar(&opts.recordBench, "record-bench", "build/bench/record.txt",
		"go test -bench output of internal/record to summarise in the report")
	flag.StringVar(&opts.benchstat, "benchstat", "build/bench/benchstat.txt",
		"benchstat summary of -record-bench to copy into the report")
	flag.StringVar(&opts.profile, "profile", "build/bench/profile.txt",
		"go tool pprof -top output of the per-event benchmark to copy into the report")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, opts options) error {
	plugin, err := filepath.Abs(opts.plugin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(plugin); err != nil {
		return fmt.Errorf("bench: plugin %s not found; run make so first: %w", plugin, err)
	}
	host, err := hostrun.Build(ctx)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "okta-bench-")
	if err != nil {
		return err
	}
	env := &benchEnv{host: host, plugin: plugin, work: work}
	env.logf("bench: scratch directory %s (host logs are kept there)", work)

	res := &results{Quick: opts.quick, Started: time.Now(), LoadStart: loadavg()}
	backfills, liveSpec, soakSpec := specs(opts.quick)
	// The runs go in parallel: each has its own mock org and host, and what limits a backfill
	// is the rate limit and the 1 s collect cadence, not the CPU.
	var wg sync.WaitGroup
	res.Backfills = make([]*backfillResult, len(backfills))
	for i, spec := range backfills {
		wg.Go(func() { res.Backfills[i] = runBackfill(ctx, env, spec) })
	}
	wg.Go(func() { res.Live = runLive(ctx, env, liveSpec) })
	wg.Go(func() { res.Soak = runLive(ctx, env, soakSpec) })
	wg.Wait()
	res.Finished = time.Now()
	res.LoadEnd = loadavg()
	if err := ctx.Err(); err != nil {
		return err
	}

	if err := writeData(opts.dataDir, res); err != nil {
		return err
	}
	plot := exec.CommandContext(ctx, "gnuplot", "-e", fmt.Sprintf("dir='%s'", opts.dataDir),
		"tests/bench/plot.gp")
	if out, err := plot.CombinedOutput(); err != nil {
		return fmt.Errorf("bench: gnuplot failed (install the gnuplot-nox package): %v\n%s",
			err, out)
	}
	if err := writeReport(opts, res); err != nil {
		return err
	}
	env.logf("bench: wrote %s and the charts in %s", opts.report, opts.dataDir)
	return nil
}

// specs returns the runs of a full or a quick benchmark.
func specs(quick bool) ([]backfillSpec, liveSpec, liveSpec) {
	events, timeout := 200000, 25*time.Minute
	liveFor, soakFor := 3*time.Minute, 10*time.Minute
	if quick {
		events, timeout = 20000, 5*time.Minute
		liveFor, soakFor = time.Minute, 2*time.Minute
	}
	var backfills []backfillSpec
	for _, limit := range []int{60, 120} {
		for _, od := range []bool{true, false} {
			name := fmt.Sprintf("backfill-%d-%s", limit, onOff(od))
			backfills = append(backfills, backfillSpec{Name: name, Events: events,
				RateLimit: limit, OriginalData: od, Timeout: timeout})
		}
	}
	tail := liveSpec{Name: "live", Rate: 20, LateEvery: 20, LateBy: 2 * time.Minute,
		Duration: liveFor, PollInterval: 10 * time.Second, RateLimit: 120,
		SampleEvery: time.Second}
	soak := tail
	soak.Name, soak.Duration, soak.SampleEvery = "soak", soakFor, 5*time.Second
	return backfills, tail, soak
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return string(data[:len(data)-1])
}
