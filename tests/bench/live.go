package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/tests/mockokta"
)

// liveSpec is one live-tail run: events appended at a steady rate after a short backlog.
type liveSpec struct {
	Name         string
	Rate         float64       // events appended per second
	LateEvery    int           // every LateEvery-th event is appended with AppendLate
	LateBy       time.Duration // how far back a late event's published time lies
	Duration     time.Duration // how long events are appended
	PollInterval time.Duration
	RateLimit    int
	SampleEvery  time.Duration
}

// liveResult holds the figures of one live-tail run.
type liveResult struct {
	liveSpec
	Appended       int
	Late           int
	Delivered      int     // appended events out of the host
	Missing        int     // appended events never out of the host
	LagP50, LagP99 float64 // seconds from Append to the record on the host's stdout
	LagMax         float64
	LateP50        float64
	LateP99        float64
	Requests       int     // System Log requests while events were appended
	RequestsPerMin float64 // the same per minute
	EmptyPages     int     // pages without events while events were appended
	AllowedEmpty   int     // one per poll_interval of the append phase
	RateLimited    int
	Start, End     procSample // the host after the backlog and at the end of the run
	MaxRSSMiB      float64
	Middle         procSample // the sample half-way through the run
	MeanLoad       float64
	Lags           []lagPoint
	Series         []secondRow
	Samples        []procSample
	Error          string
}

// lagPoint is one event's lag, by the second since the host started at which it came out.
type lagPoint struct {
	T, Lag float64
	Late   bool
}

// backlog is the number of events the mock holds before the appends start.
const backlog = 500

func runLive(ctx context.Context, env *benchEnv, spec liveSpec) *liveResult {
	res := &liveResult{liveSpec: spec}
	if err := live(ctx, env, res); err != nil {
		res.Error = err.Error()
		env.logf("%s: %v", spec.Name, err)
	}
	return res
}

func live(ctx context.Context, env *benchEnv, res *liveResult) error {
	dir, err := os.MkdirTemp(env.work, res.Name+"-")
	if err != nil {
		return err
	}
	start := time.Now().Add(-backlog * 100 * time.Millisecond)
	o, err := startOrg(dir, res.RateLimit, mockokta.Synthesize(backlog, start, 1))
	if err != nil {
		return err
	}
	defer o.srv.Close()

	ctx, cancel := context.WithTimeout(ctx, res.Duration+3*time.Minute)
	defer cancel()

	var mu sync.Mutex
	appended := map[string]time.Time{}
	late := map[string]bool{}
	var lags []lagPoint
	var h *hostProc
	onEvent := func(d delivery) {
		mu.Lock()
		defer mu.Unlock()
		if at, ok := appended[d.uuid]; ok {
			lags = append(lags, lagPoint{T: d.at.Sub(h.startedAt).Seconds(),
				Lag: d.at.Sub(at).Seconds(), Late: late[d.uuid]})
			delete(appended, d.uuid)
		}
	}
	mu.Lock()
	h, err = startHost(ctx, env.host, env.plugin, o.props("poll_interval="+
		durationProp(res.PollInterval), "initial_lookback=1h"), onEvent)
	mu.Unlock()
	if err != nil {
		return err
	}
	smp := startSampler(ctx, h, res.SampleEvery)
	env.logf("%s: started, %.0f events/s for %s", res.Name, res.Rate, res.Duration)

	if err := waitEvents(ctx, h, backlog); err != nil {
		_, _, _ = h.stop(10 * time.Second)
		return err
	}
	if res.Start, err = h.sample(ctx); err != nil {
		return err
	}
	tailStart := time.Now()
	if err := appendSteadily(ctx, o.srv, res, func(uuid string, isLate bool, at time.Time) {
		mu.Lock()
		appended[uuid] = at
		if isLate {
			late[uuid] = true
		}
		mu.Unlock()
	}); err != nil {
		return err
	}
	tailEnd := time.Now()
	// Give the last appends one poll interval and a few collect callbacks to come out.
	deadline := time.Now().Add(res.PollInterval + 5*time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		left := len(appended)
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if res.End, err = h.sample(ctx); err != nil {
		return err
	}
	_, _, stopErr := h.stop(30 * time.Second)
	<-smp.done

	mu.Lock()
	res.Missing = len(appended)
	res.Lags = lags
	mu.Unlock()
	res.Delivered = len(res.Lags)
	res.summarise(o.logRequests(), smp.all(), h.eventsPerSecond(), h.startedAt, tailStart,
		tailEnd)
	if err := os.WriteFile(dir+"/host.stderr", []byte(h.stderrText()), 0o644); err != nil {
		return err
	}
	return stopErr
}

func durationProp(d time.Duration) string {
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

// waitEvents waits until the host put out n distinct events.
func waitEvents(ctx context.Context, h *hostProc, n int) error {
	for {
		if _, events := h.counts(); events >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			_, events := h.counts()
			return fmt.Errorf("bench: %d of %d backlog events out: %w", events, n, ctx.Err())
		case <-h.waitDone:
			return fmt.Errorf("bench: host exited:\n%s", h.stderrText())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// appendSteadily appends synthetic events every 100 ms at res.Rate for res.Duration and calls
// noted with each event's UUID and append time.
func appendSteadily(ctx context.Context, srv *mockokta.Server, res *liveResult,
	noted func(uuid string, late bool, at time.Time)) error {
	const tick = 100 * time.Millisecond
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	end := time.Now().Add(res.Duration)
	owed := 0.0
	for seed := int64(2); ; seed++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-ticker.C:
			if now.After(end) {
				return nil
			}
			owed += res.Rate * tick.Seconds()
			n := int(owed)
			if n == 0 {
				continue
			}
			owed -= float64(n)
			// Published times are spaced up to 100 ms apart and end before now.
			events := mockokta.Synthesize(n, now.Add(-time.Duration(n)*100*time.Millisecond), seed)
			for _, ev := range events {
				var e struct {
					UUID string `json:"uuid"`
				}
				if err := json.Unmarshal(ev, &e); err != nil {
					return fmt.Errorf("bench: synthetic event: %w", err)
				}
				res.Appended++
				at := time.Now()
				if res.LateEvery > 0 && res.Appended%res.LateEvery == 0 {
					res.Late++
					noted(e.UUID, true, at)
					srv.AppendLate(at.Add(-res.LateBy), ev)
					continue
				}
				noted(e.UUID, false, at)
				srv.Append(ev)
			}
		}
	}
}

func (res *liveResult) summarise(reqs []mockokta.RequestRecord, samples []procSample,
	events []int, started, tailStart, tailEnd time.Time) {
	var all, lateLags []float64
	perSecond := map[int]float64{}
	for _, l := range res.Lags {
		all = append(all, l.Lag)
		if l.Late {
			lateLags = append(lateLags, l.Lag)
		}
		t := int(l.T)
		perSecond[t] = math.Max(perSecond[t], l.Lag)
	}
	res.LagP50, res.LagP99, res.LagMax = percentile(all, 0.5), percentile(all, 0.99),
		percentile(all, 1)
	res.LateP50, res.LateP99 = percentile(lateLags, 0.5), percentile(lateLags, 0.99)

	for _, r := range reqs {
		if r.Time.Before(tailStart) || r.Time.After(tailEnd) {
			continue
		}
		res.Requests++
		if r.Status == 429 {
			res.RateLimited++
		}
		if r.Status == 200 && r.Events == 0 {
			res.EmptyPages++
		}
	}
	minutes := tailEnd.Sub(tailStart).Minutes()
	res.RequestsPerMin = float64(res.Requests) / minutes
	res.AllowedEmpty = int(tailEnd.Sub(tailStart) / res.PollInterval)

	res.Samples = samples
	res.Series = secondRows(reqs, samples, events, started, perSecond)
	load := 0.0
	for _, s := range samples {
		res.MaxRSSMiB = math.Max(res.MaxRSSMiB, float64(s.RSSKiB)/1024)
		load += s.Load1
	}
	if len(samples) > 0 {
		res.MeanLoad = load / float64(len(samples))
		res.Middle = samples[len(samples)/2]
	}
}

// percentile returns the q-quantile of xs by the nearest-rank method, NaN for no values.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(rank, len(s)-1))]
}
