package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/internal/checkpoint"
	"github.com/edgeaudit/fluent-bit-okta/internal/input"
)

// Targets the figures are compared against.
const (
	targetNsPerEvent = 5000 // per-event cost on one core
	targetBudget     = 0.90 // share of the allowed budget used while events remain
	targetLagSlack   = 2.0  // seconds of live-tail p99 lag allowed beyond poll_interval
	targetRSSMiB     = 64   // host RSS at full speed
	targetSoakGrowth = 0.10 // RSS growth over the soak, relative to its start, still "flat"
)

// recordBench is the median of one benchmark's runs.
type recordBench struct {
	Name        string
	Runs        int
	NsPerEvent  float64
	NsMin       float64
	NsMax       float64
	MBPerSec    float64
	AllocsEvent float64
	BytesEvent  float64
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseRecordBench reads go test -bench output and returns the median figures per benchmark,
// in the order they first appear. A page holds 1000 events, so per-op figures are divided by
// 1000.
func parseRecordBench(path string) ([]recordBench, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type runs struct{ ns, mbs, allocs, bytes []float64 }
	byName := map[string]*runs{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		r := byName[m[1]]
		if r == nil {
			r = &runs{}
			byName[m[1]] = r
			order = append(order, m[1])
		}
		fields := strings.Fields(m[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			switch fields[i+1] {
			case "ns/event":
				r.ns = append(r.ns, v)
			case "MB/s":
				r.mbs = append(r.mbs, v)
			case "allocs/op":
				r.allocs = append(r.allocs, v/pageSize)
			case "B/op":
				r.bytes = append(r.bytes, v/pageSize)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []recordBench
	for _, name := range order {
		r := byName[name]
		if len(r.ns) == 0 {
			continue
		}
		out = append(out, recordBench{Name: name, Runs: len(r.ns), NsPerEvent: median(r.ns),
			NsMin: slices.Min(r.ns), NsMax: slices.Max(r.ns), MBPerSec: median(r.mbs),
			AllocsEvent: median(r.allocs), BytesEvent: median(r.bytes)})
	}
	return out, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func metMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// writeReport writes docs/benchmarks.md from the figures of this invocation.
func writeReport(opts options, res *results) error {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	records, recErr := parseRecordBench(opts.recordBench)
	benchstat, _ := os.ReadFile(opts.benchstat)
	profile, _ := os.ReadFile(opts.profile)

	mode := "full"
	if res.Quick {
		mode = "quick (`BENCH_QUICK=1`, smaller volumes; not the figures to quote)"
	}
	w("# Benchmarks\n\n")
	w("`make bench` writes this page, the charts and the data files in `docs/benchmarks/`. ")
	w("It runs the real `build/in_okta.so` in the Fluent Bit 5.1 proxy emulator ")
	w("(`tests/host/flbhost`, `--interval-ms 1000`) against mock Okta orgs ")
	w("(`tests/mockokta`) on 127.0.0.1, over TLS, with DPoP and a `state_file`. ")
	w("`BENCH_QUICK=1 make bench` runs smaller volumes in about three minutes. ")
	w("The programs are in `tests/bench/`.\n\n")
	w("Mode: %s. Run from %s to %s.\n\n", mode, res.Started.UTC().Format(time.RFC3339),
		res.Finished.UTC().Format(time.RFC3339))

	writeMachine(w, res)
	writeTargets(w, res, records)
	writeFindings(w, res, records)
	writeRecordSection(w, records, recErr, string(benchstat), string(profile))
	writeBackfillSection(w, res)
	writeLiveSection(w, res.Live, "3. Live tail", "live")
	writeLiveSection(w, res.Soak, "4. Soak", "soak")
	writeSoakSection(w, res.Soak)
	return os.WriteFile(opts.report, []byte(b.String()), 0o644)
}

func writeMachine(w func(string, ...any), res *results) {
	w("## Machine\n\n")
	w("| | |\n|---|---|\n")
	w("| CPU | %s |\n", lscpuField("Model name"))
	w("| `nproc` | %d |\n", runtime.NumCPU())
	w("| Memory | %s |\n", memTotal())
	w("| Kernel | %s |\n", strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")))
	w("| Go | %s |\n", runtime.Version())
	w("| Load (`/proc/loadavg`) at start | %s |\n", res.LoadStart)
	w("| Load at end | %s |\n", res.LoadEnd)
	if res.Soak != nil {
		w("| Mean 1-minute load during the soak | %.2f |\n", res.Soak.MeanLoad)
	}
	w("\nThe backfill, live-tail and soak runs go at the same time, each with its own mock org ")
	w("and host process, so the load above includes all of them and whatever else ran on the ")
	w("machine. The per-event benchmark runs before them, alone.\n\n")
}

func lscpuField(name string) string {
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(key), name) {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

func memTotal() string {
	for _, line := range strings.Split(readFile("/proc/meminfo"), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kib, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(
				strings.TrimSpace(rest), "kB")), 64)
			return fmt.Sprintf("%.1f GiB", kib/(1<<20))
		}
	}
	return "unknown"
}

func readFile(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

func writeTargets(w func(string, ...any), res *results, records []recordBench) {
	w("## Targets\n\n| Target | Figure | |\n|---|---|---|\n")
	for _, r := range records {
		if r.Name == "BenchmarkPage1000" {
			w("| Per-event cost at most 5 µs on one core | %.0f ns/event | %s |\n",
				r.NsPerEvent, metMissed(r.NsPerEvent <= targetNsPerEvent))
		}
	}
	for _, bf := range res.Backfills {
		if bf.Error != "" {
			w("| %s | failed: %s | **missed** |\n", bf.Name, bf.Error)
			continue
		}
		w("| %s: requests at most minimum + 1 | %d for a minimum of %d | %s |\n", bf.Name,
			bf.Requests, bf.Minimum, metMissed(bf.Requests <= bf.Minimum+1))
		if math.IsNaN(bf.BudgetUsed) {
			w("| %s: at least 90 %% of the allowed budget used while events remain | "+
				"no full window: the stream was read within the first minute | n/a |\n", bf.Name)
		} else {
			w("| %s: at least 90 %% of the allowed budget used while events remain | "+
				"%.0f %% of %d requests/min | %s |\n", bf.Name, 100*bf.BudgetUsed,
				bf.AllowedPerWindow, metMissed(bf.BudgetUsed >= targetBudget))
		}
		w("| %s: no 429 | %d | %s |\n", bf.Name, bf.RateLimited,
			metMissed(bf.RateLimited == 0))
		w("| %s: peak RSS under 64 MiB | %.1f MiB | %s |\n", bf.Name, bf.PeakRSSMiB,
			metMissed(bf.PeakRSSMiB < targetRSSMiB))
	}
	for _, l := range []*liveResult{res.Live, res.Soak} {
		if l == nil || l.Error != "" {
			continue
		}
		limit := l.PollInterval.Seconds() + targetLagSlack
		w("| %s: p99 lag at most poll_interval + 2 s (%.0f s) | %.2f s | %s |\n", l.Name,
			limit, l.LagP99, metMissed(l.LagP99 <= limit))
		w("| %s: empty pages at most one per poll_interval | %d (at most %d) | %s |\n",
			l.Name, l.EmptyPages, l.AllowedEmpty, metMissed(l.EmptyPages <= l.AllowedEmpty))
		w("| %s: every appended event delivered | %d of %d | %s |\n", l.Name, l.Delivered,
			l.Appended, metMissed(l.Missing == 0))
	}
	if s := res.Soak; s != nil && s.Error == "" {
		start, end := float64(s.Start.RSSKiB)/1024, float64(s.End.RSSKiB)/1024
		w("| soak: RSS flat (end within 10 %% of start) | %.1f MiB to %.1f MiB | %s |\n",
			start, end, metMissed(end <= start*(1+targetSoakGrowth)))
		w("| soak: RSS under 64 MiB | max %.1f MiB | %s |\n", s.MaxRSSMiB,
			metMissed(s.MaxRSSMiB < targetRSSMiB))
	}
	w("\n")
}

func writeRecordSection(w func(string, ...any), records []recordBench, err error,
	benchstat, profile string) {
	w("## 1. Per-event cost\n\n")
	w("Decode a page of 1000 sample events, classify each event type, and encode the Fluent ")
	w("Bit msgpack records with `original_data` on: the work the poller does per page. ")
	w("`BenchmarkPage1000` is the plugin's own scanner; the other two do the same work with ")
	w("`encoding/json` and json-iterator for comparison.\n\n")
	w("```\ngo test -run '^$' -bench Page1000 -benchmem -cpu 1 -count 5 ./internal/record/\n")
	w("go run golang.org/x/perf/cmd/benchstat@latest build/bench/record.txt\n```\n\n")
	if err != nil {
		w("No per-event figures: %v.\n\n", err)
		return
	}
	w("| Benchmark | runs | ns/event | range | MB/s of JSON | allocs/event | B/event |\n")
	w("|---|---|---|---|---|---|---|\n")
	for _, r := range records {
		w("| %s | %d | %.0f | %.0f to %.0f | %.1f | %.2f | %.0f |\n", r.Name, r.Runs,
			r.NsPerEvent, r.NsMin, r.NsMax, r.MBPerSec, r.AllocsEvent, r.BytesEvent)
	}
	if len(records) > 0 {
		w("\nThe page holds 1000 events of %.0f bytes of JSON on average, built from ",
			records[0].MBPerSec*records[0].NsPerEvent/1000)
		w("`tests/testdata/okta-events.json`.\n")
	}
	w("\nMedians of the runs. benchstat's summary:\n\n```\n%s```\n\n", benchstat)
	if profile != "" {
		w("Where `BenchmarkPage1000` spends its time (`-cpuprofile`, `go tool pprof -top`, ")
		w("a separate run):\n\n```\n%s```\n\n", profile)
	}
}

func writeBackfillSection(w func(string, ...any), res *results) {
	w("## 2. Backfill\n\n")
	if len(res.Backfills) == 0 {
		return
	}
	first := res.Backfills[0]
	w("The mock holds %d events (`mockokta.Synthesize`) and allows 60 or 120 System Log ",
		first.Events)
	w("requests per 60 s window. The plugin runs with its defaults (`page_size 1000`, ")
	w("`rate_limit_share 50`, `poll_interval 10s`), so it may spend 30 or 60 requests a ")
	w("minute. CPU is the host process's user + system time from `/proc/PID/stat` when the ")
	w("last event came out; it includes the emulator's own decoding and JSON writing of every ")
	w("record. Peak RSS is `VmHWM` at the same moment.\n\n")
	w("```\nmake bench   # go run ./tests/bench\n```\n\n")
	w("| Run | requests (minimum) | 429 | budget used | time to read | time to drain | ")
	w("events/s | CPU s per 100k events | peak RSS | B/record | records/event |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, bf := range res.Backfills {
		if bf.Error != "" {
			w("| %s | failed: %s |||||||||\n", bf.Name, bf.Error)
			continue
		}
		budget := "n/a"
		if !math.IsNaN(bf.BudgetUsed) {
			budget = fmt.Sprintf("%.0f %% (%s)", 100*bf.BudgetUsed, joinInts(bf.FullWindows))
		}
		w("| %s | %d (%d) | %d | %s | %.0f s | %.0f s | %.0f | %.2f | %.1f MiB | %.0f | %.2f |\n",
			bf.Name, bf.Requests, bf.Minimum, bf.RateLimited, budget, bf.FetchSeconds,
			bf.DrainSeconds, float64(bf.Delivered)/bf.DrainSeconds, bf.CPUPer100k,
			bf.PeakRSSMiB, bf.BytesPerRecord, bf.RecordsPerEvent)
	}
	w("\n\"Budget used\" is the requests in each full 60 s window while events remained ")
	w("(listed in brackets) over the %d or %d the plugin may spend in it; the window in ",
		res.Backfills[0].AllowedPerWindow, res.Backfills[len(res.Backfills)-1].AllowedPerWindow)
	w("which the stream ran out is left out. \"Time to read\" runs from the host's start to ")
	w("the first page shorter than 1000 events, \"time to drain\" to the last event out of ")
	w("the host.\n\n")

	w("### What limits the rate\n\n")
	w("Two ceilings apply. The budget allows `requests/min × 1000 / 60` events/s. The ")
	w("collect callback hands Fluent Bit at most %d bytes (`MaxBatchBytes`) once a second, ",
		input.MaxBatchBytes)
	w("so delivery allows `MaxBatchBytes / (bytes per record × records per event)` ")
	w("events/s. When delivery is the lower one the %d MiB queue fills, the poller waits in ",
		input.QueueBytes>>20)
	w("`Queue.Push`, and the requests spread out below the budget.\n\n")
	w("| Run | budget ceiling | delivery ceiling | lower | measured | max queued | ")
	w("time queue ≥ %.0f MiB |\n|---|---|---|---|---|---|---|\n", queueFullMiB)
	for _, bf := range res.Backfills {
		if bf.Error != "" {
			continue
		}
		lower := "budget"
		if bf.DeliveryCap < bf.FetchCap {
			lower = "delivery"
		}
		w("| %s | %.0f events/s | %.0f events/s | %s | %.0f events/s | %.1f MiB | %.0f %% |\n",
			bf.Name, bf.FetchCap, bf.DeliveryCap, lower,
			float64(bf.Delivered)/bf.DrainSeconds, bf.MaxQueuedMiB, 100*bf.QueueFullShare)
	}
	w("\n![Backfill: requests per minute, events per second and queued bytes]")
	w("(benchmarks/backfill.png)\n\n")
	w("Data: `docs/benchmarks/backfill-*.dat`, one row per second.\n\n")
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

func writeLiveSection(w func(string, ...any), l *liveResult, title, chart string) {
	w("## %s\n\n", title)
	if l == nil {
		return
	}
	if l.Error != "" {
		w("The run failed: %s\n\n", l.Error)
	}
	w("The mock starts with %d events. Once they are out, events are appended at %.0f/s for ",
		backlog, l.Rate)
	w("%s, every %dth with `AppendLate` and a published time %s back. The plugin polls ",
		l.Duration, l.LateEvery, l.LateBy)
	w("every %s against a bucket of %d requests/min. Lag runs from `Append` on the mock to ",
		l.PollInterval, l.RateLimit)
	w("the record's line on the host's stdout, which the host writes once per buffer it ")
	w("takes and the benchmark reads through a pipe.\n\n")
	w("| appended (late) | delivered | lag p50 | lag p99 | lag max | late p50 | late p99 | ")
	w("requests/min | empty pages | 429 |\n|---|---|---|---|---|---|---|---|---|---|\n")
	w("| %d (%d) | %d | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s | %.1f | %d | %d |\n\n",
		l.Appended, l.Late, l.Delivered, l.LagP50, l.LagP99, l.LagMax, l.LateP50, l.LateP99,
		l.RequestsPerMin, l.EmptyPages, l.RateLimited)
	w("With polls %s apart and one collect callback a second, an event waits on average half ",
		l.PollInterval)
	w("a poll interval plus half a second, and at most one poll interval plus about one second ")
	w("plus the request time.\n\n")
	if chart == "live" {
		w("![Live tail: lag per event, requests per minute and events per second]")
		w("(benchmarks/live.png)\n\n")
		w("Data: `docs/benchmarks/live.dat` (per second), `live-lag.dat` (per event).\n\n")
	}
}

func writeSoakSection(w func(string, ...any), s *liveResult) {
	if s == nil || s.Error != "" {
		return
	}
	w("Memory and threads of the host (goroutines are not exported by the plugin; `Threads` ")
	w("from `/proc/PID/status` counts the emulator's and the Go runtime's threads):\n\n")
	w("| | after the backlog | half-way | end |\n|---|---|---|---|\n")
	mib := func(kib int64) float64 { return float64(kib) / 1024 }
	w("| time since start | %.0f s | %.0f s | %.0f s |\n", s.Start.T, s.Middle.T, s.End.T)
	w("| RSS (`VmRSS`) | %.1f MiB | %.1f MiB | %.1f MiB |\n", mib(s.Start.RSSKiB),
		mib(s.Middle.RSSKiB), mib(s.End.RSSKiB))
	w("| peak RSS (`VmHWM`) | %.1f MiB | %.1f MiB | %.1f MiB |\n", mib(s.Start.HWMKiB),
		mib(s.Middle.HWMKiB), mib(s.End.HWMKiB))
	w("| Threads | %d | %d | %d |\n", s.Start.Threads, s.Middle.Threads, s.End.Threads)
	w("| CPU (user + system) | %.2f s | %.2f s | %.2f s |\n\n", s.Start.CPUSeconds,
		s.Middle.CPUSeconds, s.End.CPUSeconds)
	w("![Soak: RSS and threads](benchmarks/soak.png)\n\n")
	w("Data: `docs/benchmarks/soak-proc.dat` (one sample every %s).\n", s.SampleEvery)
}

// writeFindings explains each missed target with the figures that show the cause.
func writeFindings(w func(string, ...any), res *results, records []recordBench) {
	w("## Findings\n\n")
	for _, r := range records {
		if r.Name != "BenchmarkPage1000" || r.NsPerEvent <= targetNsPerEvent {
			continue
		}
		w("- **Per-event cost**: the median is %.0f ns/event, the runs range from %.0f to ",
			r.NsPerEvent, r.NsMin)
		w("%.0f ns/event. The machine is shared, so part of the spread is other load. ", r.NsMax)
		w("The profile in section 1 shows where the time goes: the transcoder scans each ")
		w("JSON string and copies it into msgpack, and `original_data on` adds the event's ")
		w("text once more per record. Closing the gap needs a faster string scan in ")
		w("`internal/record`, or a quieter machine to show that the figure is already ")
		w("within 5 µs.\n")
	}
	for _, bf := range res.Backfills {
		if bf.Error != "" || math.IsNaN(bf.BudgetUsed) || bf.BudgetUsed >= targetBudget {
			continue
		}
		w("- **%s budget**: %.0f %% of the %d requests/min used. ", bf.Name,
			100*bf.BudgetUsed, bf.AllowedPerWindow)
		if bf.DeliveryCap < bf.FetchCap {
			w("Delivery is the limit: %.0f bytes per record × %.2f records per event allow ",
				bf.BytesPerRecord, bf.RecordsPerEvent)
			w("%.0f events/s through one %d-byte batch a second, below the budget's %.0f ",
				bf.DeliveryCap, input.MaxBatchBytes, bf.FetchCap)
			pageMiB := bf.BytesPerRecord * bf.RecordsPerEvent * pageSize / (1 << 20)
			w("events/s; the queue was at %.0f MiB or more %.0f %% of the time. ",
				queueFullMiB, 100*bf.QueueFullShare)
			w("A page of 1000 events makes %.1f MiB of records; the queue takes the next page ",
				pageMiB)
			w("once less than one batch of the current one is left to hand over, so each ")
			w("callback gets a full batch and delivery runs at this ceiling. ")
			w("Fluent Bit calls the collect callback once a second (a fixed timer in its Go ")
			w("proxy), so only a larger `MaxBatchBytes` (Fluent Bit's chunks target about ")
			w("2 MB) or fewer bytes per event (`original_data off`) would close it.\n")
		} else {
			w("The budget is the lower ceiling here, so the requests were spaced by ")
			w("something else: read the request times in the data file.\n")
		}
	}
	for _, bf := range res.Backfills {
		if bf.Error != "" || bf.PeakRSSMiB < targetRSSMiB {
			continue
		}
		w("- **%s memory**: peak RSS %.1f MiB. The host holds the Go runtime, the queue ", bf.Name,
			bf.PeakRSSMiB)
		w("(up to %d MiB of records, %.1f MiB seen), the page being decoded and the ",
			input.QueueBytes>>20, bf.MaxQueuedMiB)
		w("emulator's copy of each batch; Go's default GOGC=100 lets the heap grow to twice ")
		w("what is live. A smaller queue or a GOMEMLIMIT would lower it; neither was ")
		w("measured here.\n")
	}
	for _, bf := range res.Backfills {
		if bf.Error == "" && bf.RateLimited > 0 {
			w("- **%s**: %d responses with status 429.\n", bf.Name, bf.RateLimited)
		}
	}
	if s := res.Soak; s != nil && s.Error == "" && s.End.RSSKiB > s.Start.RSSKiB {
		growth := float64(s.End.RSSKiB-s.Start.RSSKiB) / 1024
		w("- **soak memory**: RSS grew %.1f MiB over %d events. The poller remembers the ", growth,
			s.Delivered)
		w("last %d event UUIDs to drop duplicates and the state file the last %d, so memory ",
			input.SeenWindow, checkpoint.MaxStoredUUIDs)
		w("grows until those windows are full; a soak past %d events would show whether RSS ",
			input.SeenWindow)
		w("then levels off (an explanation, not measured here).\n")
	}
	w("\n")
}
