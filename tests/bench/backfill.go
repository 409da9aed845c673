package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/internal/input"
	"github.com/edgeaudit/fluent-bit-okta/tests/mockokta"
)

// pageSize is the plugin's default and Okta's maximum limit.
const pageSize = 1000

// rateShare is the plugin's default rate_limit_share in percent.
const rateShare = 50

// backfillSpec is one backfill run.
// queueFullMiB is the queue level counted as full: three quarters of the plugin's queue.
var queueFullMiB = 0.75 * float64(input.QueueBytes) / (1 << 20)

type backfillSpec struct {
	Name         string
	Events       int
	RateLimit    int // mock requests per 60 s window
	OriginalData bool
	Timeout      time.Duration
}

// backfillResult holds the figures of one backfill run.
type backfillResult struct {
	backfillSpec
	Minimum          int     // ceil(events / page size)
	Requests         int     // System Log requests up to the first page shorter than the limit
	RateLimited      int     // responses with status 429
	Failed           int     // responses with a status other than 200 and 429
	AllowedPerWindow int     // int(RateLimit * rate_limit_share)
	FullWindows      []int   // requests in each window that ended before the stream was read
	BudgetUsed       float64 // share of the allowed budget used over FullWindows; NaN if none
	FetchSeconds     float64 // host start to the first page shorter than the limit
	DrainSeconds     float64 // host start to the last event out of the host
	Delivered        int     // distinct events out of the host
	Records          int
	CPUSeconds       float64 // host CPU (user + system) at the end of the drain
	CPUPer100k       float64
	PeakRSSMiB       float64 // VmHWM at the end of the drain
	BytesPerRecord   float64 // msgpack bytes per record handed to the host
	RecordsPerEvent  float64
	MaxBufferBytes   uint64
	MaxQueuedMiB     float64 // largest okta_queued_bytes seen
	QueueFullShare   float64 // share of samples with the queue at least three quarters full
	DeliveryCap      float64 // events/s that MaxBatchBytes per 1 s callback allows
	FetchCap         float64 // events/s that the allowed budget allows
	Series           []secondRow
	Error            string
}

// secondRow is one second of a run.
type secondRow struct {
	T           int
	Events      int     // distinct events out of the host in this second
	Requests    int     // System Log responses recorded in this second
	RequestsMin int     // System Log responses recorded in the 60 s up to this second
	QueuedMiB   float64 // okta_queued_bytes
	RSSMiB      float64
	Lag         float64 // live tail: largest lag of the events out in this second, seconds
}

func runBackfill(ctx context.Context, env *benchEnv, spec backfillSpec) *backfillResult {
	res := &backfillResult{backfillSpec: spec,
		Minimum:          (spec.Events + pageSize - 1) / pageSize,
		AllowedPerWindow: max(1, spec.RateLimit*rateShare/100)}
	if err := backfill(ctx, env, res); err != nil {
		res.Error = err.Error()
		env.logf("%s: %v", spec.Name, err)
	}
	return res
}

func backfill(ctx context.Context, env *benchEnv, res *backfillResult) error {
	dir, err := os.MkdirTemp(env.work, res.Name+"-")
	if err != nil {
		return err
	}
	// Published times are 1 to 100 ms apart; starting this far back keeps them all in the past.
	start := time.Now().Add(-time.Duration(res.Events) * 100 * time.Millisecond)
	o, err := startOrg(dir, res.RateLimit, mockokta.Synthesize(res.Events, start, 1))
	if err != nil {
		return err
	}
	defer o.srv.Close()

	od := "off"
	if res.OriginalData {
		od = "on"
	}
	ctx, cancel := context.WithTimeout(ctx, res.Timeout)
	defer cancel()
	h, err := startHost(ctx, env.host, env.plugin,
		o.props("original_data="+od, "initial_lookback=24h"), nil)
	if err != nil {
		return err
	}
	smp := startSampler(ctx, h, time.Second)
	env.logf("%s: started, %d events, %d requests/min, original_data %s", res.Name,
		res.Events, res.RateLimit, od)

	var drained procSample
	for {
		if _, events := h.counts(); events >= res.Events {
			if drained, err = h.sample(ctx); err != nil {
				return err
			}
			break
		}
		select {
		case <-ctx.Done():
			_, events := h.counts()
			_, _, _ = h.stop(10 * time.Second)
			return fmt.Errorf("bench: %d of %d events out after %s: %w", events, res.Events,
				res.Timeout, ctx.Err())
		case <-h.waitDone:
			return fmt.Errorf("bench: host exited during the backfill:\n%s", h.stderrText())
		case <-time.After(200 * time.Millisecond):
		}
	}
	h.mu.Lock()
	res.DrainSeconds = h.lastNew.Sub(h.startedAt).Seconds()
	h.mu.Unlock()
	res.Records, res.Delivered = drained.Records, drained.Events
	res.CPUSeconds = drained.CPUSeconds
	res.CPUPer100k = drained.CPUSeconds / float64(drained.Events) * 1e5
	res.PeakRSSMiB = float64(drained.HWMKiB) / 1024

	sum, _, stopErr := h.stop(30 * time.Second)
	<-smp.done
	if sum != nil && sum.Records > 0 {
		res.BytesPerRecord = float64(sum.Bytes) / float64(sum.Records)
		res.MaxBufferBytes = sum.MaxBufferBytes
	}
	res.RecordsPerEvent = float64(res.Records) / float64(res.Delivered)
	bytesPerEvent := res.BytesPerRecord * res.RecordsPerEvent
	res.DeliveryCap = float64(input.MaxBatchBytes) / bytesPerEvent
	res.FetchCap = float64(res.AllowedPerWindow) * pageSize / 60
	res.analyseRequests(o.logRequests(), h.startedAt)
	samples := smp.all()
	res.Series = secondRows(o.logRequests(), samples, h.eventsPerSecond(), h.startedAt, nil)
	full, during := 0, 0
	for _, s := range samples {
		queued := s.Metrics["okta_queued_bytes"] / (1 << 20)
		res.MaxQueuedMiB = max(res.MaxQueuedMiB, queued)
		if s.Events >= res.Events {
			continue
		}
		during++
		if queued >= queueFullMiB {
			full++
		}
	}
	if during > 0 {
		res.QueueFullShare = float64(full) / float64(during)
	}
	if err := os.WriteFile(dir+"/host.stderr", []byte(h.stderrText()), 0o644); err != nil {
		return err
	}
	return stopErr
}

// analyseRequests counts the requests that read the stream and the budget they used. Windows
// are rebuilt as the mock opens them: a window starts with the first request after the
// previous one ended.
func (res *backfillResult) analyseRequests(reqs []mockokta.RequestRecord, started time.Time) {
	var end time.Time
	for _, r := range reqs {
		res.Requests++
		switch r.Status {
		case 200:
		case 429:
			res.RateLimited++
		default:
			res.Failed++
		}
		if r.Status == 200 && r.Events < pageSize {
			end = r.Time
			break
		}
	}
	res.FetchSeconds = end.Sub(started).Seconds()

	var windowStart time.Time
	count := 0
	for _, r := range reqs {
		if !r.Time.Before(end) && !end.IsZero() {
			break
		}
		if windowStart.IsZero() || r.Time.Sub(windowStart) >= time.Minute {
			if !windowStart.IsZero() {
				res.FullWindows = append(res.FullWindows, count)
			}
			windowStart, count = r.Time, 0
		}
		count++
	}
	// The window in which the stream ended is not full: events ran out in it.
	used, allowed := 0, 0
	for _, c := range res.FullWindows {
		used += c
		allowed += res.AllowedPerWindow
	}
	res.BudgetUsed = math.NaN()
	if allowed > 0 {
		res.BudgetUsed = float64(used) / float64(allowed)
	}
}

// secondRows bins requests, samples and deliveries by second since started. events gives
// the events out in each second, and lags, when set, the largest lag among them.
func secondRows(reqs []mockokta.RequestRecord, samples []procSample, events []int,
	started time.Time, lags map[int]float64) []secondRow {
	last := len(events) - 1
	for _, s := range samples {
		last = max(last, int(s.T))
	}
	rows := make([]secondRow, last+1)
	for i := range rows {
		rows[i].T = i
		rows[i].Lag = math.NaN()
	}
	for _, r := range reqs {
		t := int(r.Time.Sub(started).Seconds())
		if t >= 0 && t < len(rows) {
			rows[t].Requests++
		}
	}
	for t, n := range events {
		rows[t].Events = n
	}
	for _, s := range samples {
		t := int(s.T)
		rows[t].QueuedMiB = s.Metrics["okta_queued_bytes"] / (1 << 20)
		rows[t].RSSMiB = float64(s.RSSKiB) / 1024
	}
	for t, lag := range lags {
		if t >= 0 && t < len(rows) {
			rows[t].Lag = lag
		}
	}
	window := 0
	for i := range rows {
		window += rows[i].Requests
		if i >= 60 {
			window -= rows[i-60].Requests
		}
		rows[i].RequestsMin = window
	}
	return rows
}
