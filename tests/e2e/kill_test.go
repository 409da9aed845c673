package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/internal/input"
	"github.com/edgeaudit/fluent-bit-okta/internal/record"
	"github.com/edgeaudit/fluent-bit-okta/internal/schema"
	"github.com/edgeaudit/fluent-bit-okta/tests/mockokta"
)

// streamOrder returns, for each record key, its position in the order the plugin emits
// records (events in persistence order, the schemas of one event in map order), and the
// msgpack size of each position's record.
func streamOrder(t *testing.T, events [][]byte, orgHost string) (map[string]int, []int) {
	t.Helper()
	page := append([]byte("["), bytes.Join(events, []byte(","))...)
	page = append(page, ']')
	split, err := record.SplitPage(page)
	if err != nil {
		t.Fatal(err)
	}
	enc := &record.Encoder{OrgHost: orgHost, OriginalData: true}
	pos := map[string]int{}
	var sizes []int
	for i := range split {
		ev := &split[i]
		for _, name := range schema.Default().Schemas(ev.EventType) {
			data, err := enc.AppendRecord(nil, ev, name, ev.Published)
			if err != nil {
				t.Fatal(err)
			}
			pos[ev.UUID+"/"+name] = len(sizes)
			sizes = append(sizes, len(data))
		}
	}
	return pos, sizes
}

// TestKilledHostRepeatsOnlyLastBuffer kills the host with SIGKILL at random times and checks
// that the runs together deliver every record, and repeat only what the design allows.
//
// The host writes a buffer to its output before it calls the cleanup callback, and the
// plugin writes the checkpoint in that callback. A SIGKILL between the two leaves a buffer
// delivered but not in the checkpoint, so the next run delivers it again. With
// checkpoint_delay 0 the plugin checkpoints each buffer at once and hands over one buffer at a
// time, so only the last buffer of a killed run can repeat. The next run therefore starts at
// most MaxBatchBytes (plus the rest of one event's records) before the point the killed run
// reached, and never after it. Delivery across a SIGKILL is at-least-once, and only a stop
// gives exactly once.
func TestKilledHostRepeatsOnlyLastBuffer(t *testing.T) {
	// E2E_KILLS raises the number of kills to measure how often a kill repeats records.
	kills := 15
	if v, err := strconv.Atoi(os.Getenv("E2E_KILLS")); err == nil && v > 0 {
		kills = v
	}
	runKills(t, kills, 200, 50, 1500, []string{"checkpoint_delay=0"},
		func(maxEvent int) int { return input.MaxBatchBytes + maxEvent })
}

// TestKilledHostLosesNothingWithDelay kills the host with the default checkpoint_delay (2s),
// which real Fluent Bit needs because a copied buffer waits in its ring buffer before it is
// stored. The checkpoint then lags the hand-off, so a kill repeats the records handed over in
// the last two seconds, but nothing is lost and nothing repeats beyond that.
func TestKilledHostLosesNothingWithDelay(t *testing.T) {
	// The emulator's collect interval is 100 ms, so two seconds are at most 20 buffers. Two
	// more cover the callbacks at the edges of the window.
	runKills(t, 6, 600, 2500, 4000, nil,
		func(maxEvent int) int { return 22 * (input.MaxBatchBytes + maxEvent) })
}

// runKills runs the host kills times with extra properties over a stream of eventsPerKill
// events a kill. Each run gets a SIGKILL between minAfter and maxAfter ms after its start. The
// union of the outputs must match the stream with no gap and no loss, and no run may repeat
// more bytes than maxRepeat allows.
func runKills(t *testing.T, kills, eventsPerKill, minAfter, maxAfter int, extra []string,
	maxRepeat func(maxEvent int) int) {
	t.Helper()
	seed := uint64(20261204)
	rng := rand.New(rand.NewPCG(seed, 1))
	events := synthetic(eventsPerKill * kills)
	want := expectedRecords(t, events)
	// A small rate limit spreads the backlog over all the runs, so every kill lands while
	// records are flowing. rate_limit_share=50 leaves half of each window to the next run,
	// which cannot know what the killed run used.
	o := newOrg(t, events, func(c *mockokta.Config) {
		c.RateLimit = 20
		c.RateWindow = time.Second
	})
	pos, sizes := streamOrder(t, events, strings.TrimPrefix(o.URL(), "https://"))
	maxEvent := 0
	for _, s := range sizes {
		maxEvent = max(maxEvent, 2*s)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "okta.state")
	props := o.props(append([]string{"page_size=20", "state_file=" + state,
		"rate_limit_share=50"}, extra...)...)

	end := 0 // one past the furthest position delivered so far
	repeatedKills, repeatedRecords, delivered, deliveringKills := 0, 0, 0, 0
	check := func(label string, recs []hostRecord) {
		t.Helper()
		if len(recs) == 0 {
			return
		}
		start := -1
		for i, r := range recs {
			p, ok := pos[recordKey(r)]
			if !ok {
				t.Fatalf("%s: record %s was never served", label, recordKey(r))
			}
			if i == 0 {
				start = p
			} else if p != start+i {
				t.Fatalf("%s: record %d is stream position %d, want %d (a gap or reorder)",
					label, i, p, start+i)
			}
		}
		if start > end {
			t.Fatalf("%s: starts at position %d, but only %d were delivered: records lost",
				label, start, end)
		}
		repeat := 0
		bytes := 0
		for p := start; p < min(end, start+len(recs)); p++ {
			repeat++
			bytes += sizes[p]
		}
		if bytes > maxRepeat(maxEvent) {
			t.Errorf("%s: repeats %d records (%d bytes), more than the %d the design allows",
				label, repeat, bytes, maxRepeat(maxEvent))
		}
		if repeat > 0 {
			repeatedKills++
			repeatedRecords += repeat
			t.Logf("%s: repeats %d records", label, repeat)
		}
		delivered += len(recs)
		end = max(end, start+len(recs))
	}

	for k := range kills {
		after := minAfter + rng.IntN(maxAfter-minAfter+1)
		run := runHost(t, []hostInstance{{name: "okta.0", props: props, level: "info"}})
		time.Sleep(time.Duration(after) * time.Millisecond)
		if err := run.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-run.done
		recs := run.records()
		if len(recs) > 0 {
			deliveringKills++
		}
		if v := os.Getenv("E2E_KILLS"); v != "" {
			t.Logf("run %d: killed after %d ms with %d records", k, after, len(recs))
		}
		check(fmt.Sprintf("run %d (killed after %d ms, %d records)", k, after, len(recs)), recs)
	}
	if end >= len(sizes) {
		t.Fatalf("the killed runs delivered the whole backlog; the kills missed the stream")
	}

	// A kill during a checkpoint write leaves its temporary file, which the next Init removes.
	// The one written here stands for a kill that missed that moment.
	leftovers, _ := filepath.Glob(state + ".tmp-*")
	writeFile(t, state+".tmp-1234567", []byte(`{"version": 1, "org": "`))
	last := runHost(t, []hostInstance{{name: "okta.0", props: props, level: "info"}})
	last.waitFor("the rest of the records", time.Duration(kills)*runTimeout/5, func() bool {
		// The run may start with records the killed run delivered, so wait for the last
		// position of the stream rather than for a count.
		recs := last.records()
		return len(recs) > 0 && pos[recordKey(recs[len(recs)-1])] == len(sizes)-1
	})
	last.send("stop")
	if code := last.wait(stopTimeout); code != 0 {
		t.Fatalf("host exit code %d", code)
	}
	last.checkClean()
	check("final run", last.records())
	if end != len(sizes) || len(pos) != sum(want) {
		t.Errorf("delivered up to position %d of %d", end, len(sizes))
	}

	if left, _ := filepath.Glob(state + ".tmp-*"); len(left) != 0 {
		t.Errorf("temporary state files left after a clean run: %v", left)
	}
	t.Logf("seed %d: %d of %d kills (%d after records flowed) repeated records; %d repeated "+
		"of %d delivered (%.2f%%); %d temporary state files left by the kills", seed, repeatedKills, kills,
		deliveringKills, repeatedRecords, delivered,
		100*float64(repeatedRecords)/float64(delivered), len(leftovers))
	if _, err := os.Stat(state); err != nil {
		t.Errorf("state file: %v", err)
	}
}

// threadCount returns the Threads line of /proc/PID/status.
func threadCount(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no Threads line in /proc/%d/status", pid)
	return 0
}

func TestHotReloadMidStream(t *testing.T) {
	events := synthetic(1500)
	want := expectedRecords(t, events)
	o := newOrg(t, events, func(c *mockokta.Config) {
		c.RateLimit = 10
		c.RateWindow = time.Second
	})
	state := filepath.Join(t.TempDir(), "okta.state")
	props := o.props("page_size=20", "state_file="+state, "rate_limit_share=100")
	run := runHost(t, []hostInstance{{name: "okta.0", props: props}}, "--hot-reload")
	pid := run.cmd.Process.Pid

	var threads []int
	for i := range 3 {
		run.waitRecords(300 * (i + 1))
		threads = append(threads, threadCount(t, pid))
		run.send("reload")
		run.waitFor("the reloaded instance", runTimeout, func() bool {
			return run.countLines("thread instance initialized") == i+2
		})
	}
	run.waitRecords(300 * 4)
	threads = append(threads, threadCount(t, pid))
	run.finish(want)

	t.Logf("threads before each reload and after the last: %v", threads)
	// The first reload may start runtime threads that stay; later reloads must add none.
	if threads[3] > threads[1] {
		t.Errorf("threads grew from %d after the first reload to %d after the third",
			threads[1], threads[3])
	}
	if n := run.countLines("resuming from the checkpoint"); n != 3 {
		t.Errorf("%d instances resumed from the checkpoint, want 3", n)
	}
}
