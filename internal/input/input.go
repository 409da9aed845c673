// Package input runs one okta [INPUT] instance: it builds the Okta clients from the
// configuration, runs the poller in the background, and serves Fluent Bit's collect and
// cleanup callbacks from the queue, committing the checkpoint as records are handed over.
package input

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/internal/auth"
	"github.com/edgeaudit/fluent-bit-okta/internal/checkpoint"
	"github.com/edgeaudit/fluent-bit-okta/internal/config"
	"github.com/edgeaudit/fluent-bit-okta/internal/record"
	"github.com/edgeaudit/fluent-bit-okta/internal/schema"
	"github.com/edgeaudit/fluent-bit-okta/internal/systemlog"
)

// Version is the plugin version sent in the User-Agent header.
const Version = "0.1.0"

// MaxBatchBytes caps the records handed over in one collect callback. Fluent Bit's chunks
// target about 2 MB and one larger append makes an oversized chunk, so a batch stays well below.
const MaxBatchBytes = 1 << 20

// QueueBytes bounds the records held between the poller and Fluent Bit: when Fluent Bit is
// paused or slow the poller stops fetching once this much is waiting. A larger page is still
// accepted when the queue is empty, or when less than MaxBatchBytes of it is left to hand over
// (Queue.RefillBelow), so the collect callback always finds a full batch while a backlog
// lasts. More would only cost memory, because Fluent Bit takes at most MaxBatchBytes a second.
const QueueBytes = 2 << 20

// SeenWindow is how many recent event UUIDs the poller remembers to drop duplicates.
const SeenWindow = 20000

// stopTimeout bounds how long Stop waits for the poller to return.
const stopTimeout = 5 * time.Second

// Input is one running instance.
type Input struct {
	Name    string
	Config  *config.Config
	Logger  *slog.Logger
	Metrics *systemlog.Metrics

	store  *checkpoint.Store
	queue  *systemlog.Queue
	poller *systemlog.Poller
	tokens *auth.TokenSource
	start  string

	paused  atomic.Bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped atomic.Bool
	metrics *metricsServer

	handed             atomic.Int64 // records handed to Fluent Bit
	checkpointFailures atomic.Int64
	commitFailures     int
	pending            []pendingCommit // positions waiting for checkpoint_delay
	progress           progress
}

// New validates the configuration read through get and prepares the instance without starting
// any goroutine. The error is one line that names the property, the value and the fix.
func New(name string, get config.Lookup, logger *slog.Logger) (*Input, error) {
	now := time.Now()
	cfg, err := config.Parse(get, now)
	if err != nil {
		return nil, err
	}
	schemas := schema.Default()
	if cfg.SchemaMapFile != "" {
		if schemas, err = schema.Load(cfg.SchemaMapFile); err != nil {
			return nil, err
		}
	}
	store, err := checkpoint.Open(cfg.StateFile, cfg.OrgURL.String(), cfg.ClientID)
	if err != nil {
		return nil, err
	}
	in := &Input{Name: name, Config: cfg, Logger: logger, Metrics: &systemlog.Metrics{}, store: store}
	if err := in.build(schemas, now); err != nil {
		store.Close()
		return nil, err
	}
	if cfg.MetricsListen != "" {
		if err := in.listenMetrics(cfg.MetricsListen); err != nil {
			store.Close()
			return nil, err
		}
	}
	return in, nil
}

func (in *Input) build(schemas *schema.Map, now time.Time) error {
	cfg := in.Config
	clock := auth.NewClock(nil)
	httpClient := newHTTPClient(cfg)
	userAgent := "fluent-bit-okta/" + Version

	var prover *auth.Prover
	if cfg.DPoP {
		var err error
		if prover, err = auth.NewProver(cfg.DPoPKey, clock); err != nil {
			return err
		}
	}
	in.tokens = auth.NewTokenSource(auth.Config{
		OrgURL: cfg.OrgURL.String(), ClientID: cfg.ClientID, KeyID: cfg.KeyID,
		ClientKey: cfg.ClientKey, Scopes: cfg.Scopes, Prover: prover, Client: httpClient,
		Clock: clock, Logger: in.Logger, UserAgent: userAgent,
	})

	state := in.store.State()
	if state.Cursor != "" {
		start, changed, err := systemlog.ResumeURL(state.Cursor, cfg.PageSize, cfg.Filter, cfg.Query)
		if err != nil {
			return err
		}
		if changed {
			in.Logger.Info("page_size, filter or query differ from the checkpoint's; the new " +
				"values apply from the checkpoint on")
		}
		in.start = start
		in.Logger.Info("resuming from the checkpoint", "state_file", cfg.StateFile,
			"saved", state.Updated.Format(time.RFC3339))
		if !state.Updated.IsZero() && now.Sub(state.Updated) > config.MaxLookback {
			// Okta still accepts the cursor but returns nothing older than its retention.
			in.Logger.Warn("the checkpoint is older than Okta's 90-day retention; events "+
				"published between the checkpoint and 90 days ago are no longer available",
				"saved", state.Updated.Format(time.RFC3339))
		}
	} else {
		since := cfg.StartTime
		if since.IsZero() {
			since = now.Add(-cfg.Lookback)
		}
		if oldest := now.Add(-config.MaxLookback).Add(time.Minute); since.Before(oldest) {
			in.Logger.Warn("initial_lookback is older than Okta's 90-day retention; starting "+
				"at the oldest retained time instead", "initial_lookback", since.Format(time.RFC3339))
			since = oldest
		}
		in.start = systemlog.StartURL(cfg.OrgURL, since, cfg.PageSize, cfg.Filter, cfg.Query)
		in.Logger.Info("no checkpoint; starting from initial_lookback",
			"since", since.UTC().Format(systemlog.SinceLayout))
		// The first request is the first cursor. Saving it now makes a restart before the
		// first page is handed over start from the same since, not from a later now - lookback.
		if err := in.store.Commit(in.start, nil, now); err != nil {
			return err
		}
		state.Cursor = in.start
	}
	if !in.store.Persistent() {
		in.Logger.Warn("state_file is not set: progress is kept in memory only, so a restart " +
			"fetches events again from initial_lookback; set state_file to resume instead")
	}

	in.queue = systemlog.NewQueue(QueueBytes, state.Cursor)
	in.queue.RefillBelow = MaxBatchBytes
	in.poller = &systemlog.Poller{
		Client: &systemlog.Client{
			OrgURL: cfg.OrgURL, HTTP: httpClient, Tokens: in.tokens, Prover: prover,
			Clock: clock, UserAgent: userAgent, Logger: in.Logger,
		},
		Queue:        in.queue,
		Encoder:      &record.Encoder{OrgHost: cfg.OrgHost(), OriginalData: cfg.OriginalData},
		Schemas:      schemas,
		PageSize:     cfg.PageSize,
		PollInterval: cfg.PollInterval,
		Pacer:        systemlog.Pacer{Share: cfg.RateShare},
		Seen:         systemlog.NewWindow(SeenWindow, state.UUIDs),
		Logger:       in.Logger,
		Metrics:      in.Metrics,
		Clock:        clock,
	}
	return nil
}

func newHTTPClient(cfg *config.Config) *http.Client {
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: cfg.HTTPTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   2,
		ForceAttemptHTTP2:     true,
	}
	if cfg.Proxy != nil {
		transport.Proxy = http.ProxyURL(cfg.Proxy)
	}
	return &http.Client{
		Transport: transport,
		Timeout:   cfg.HTTPTimeout,
		// A redirect would carry the access token and proof to a URL they were not made for.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Start runs the poller and the periodic stats line in background goroutines.
func (in *Input) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	in.wg.Add(2)
	go func() {
		defer in.wg.Done()
		defer in.recoverPanic("poller")
		_ = in.poller.Run(ctx, in.start)
	}()
	go func() {
		defer in.wg.Done()
		in.reportStats(ctx)
	}()
	if in.metrics != nil {
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			in.metrics.serve()
		}()
		in.Logger.Info("serving Prometheus metrics", "address", in.metrics.listener.Addr().String())
	}
	in.Logger.Info("started", "org", in.Config.OrgURL.String(), "dpop", in.Config.DPoP,
		"page_size", in.Config.PageSize, "poll_interval", in.Config.PollInterval)
}

func (in *Input) recoverPanic(where string) {
	if r := recover(); r != nil {
		in.Logger.Error(fmt.Sprintf("internal error in the %s, it stopped: %v", where, r))
	}
}

// Take returns the bytes of the records to hand to Fluent Bit now, at most MaxBatchBytes (or
// one larger record), or nil when paused or nothing is waiting. After Fluent Bit copied them,
// call Handed.
func (in *Input) Take() *systemlog.Batch {
	if in.paused.Load() || in.stopped.Load() {
		return nil
	}
	batch, commit := in.queue.Take(MaxBatchBytes)
	if commit != nil {
		in.commit(commit)
	} else {
		in.writeCheckpoint(time.Now(), false)
	}
	return batch
}

// Handed records that Fluent Bit copied the batch from the last Take and saves the checkpoint.
func (in *Input) Handed(records int) {
	in.handed.Add(int64(records))
	if commit := in.queue.Done(); commit != nil {
		in.commit(commit)
	}
}

// commit queues a checkpoint position and writes the newest one that is older than
// checkpoint_delay. Fluent Bit keeps a copied buffer in the input's in-memory ring buffer until
// its engine thread stores it in a chunk, every 250 ms by default, and a crash loses what is
// there. A checkpoint written after that window makes a crash repeat those records instead.
func (in *Input) commit(c *systemlog.Commit) {
	now := time.Now()
	in.pending = append(in.pending, pendingCommit{at: now, commit: *c})
	in.writeCheckpoint(now, false)
}

// pendingCommit is a checkpoint position waiting for checkpoint_delay.
type pendingCommit struct {
	at     time.Time
	commit systemlog.Commit
}

// writeCheckpoint writes the newest pending position old enough, or the newest of all when
// all is set, with the UUIDs of every position it covers.
func (in *Input) writeCheckpoint(now time.Time, all bool) {
	last := -1
	for i, p := range in.pending {
		if all || now.Sub(p.at) >= in.Config.CheckpointDelay {
			last = i
		}
	}
	if last < 0 {
		return
	}
	var uuids []string
	for _, p := range in.pending[:last+1] {
		uuids = append(uuids, p.commit.UUIDs...)
	}
	cursor := in.pending[last].commit.Cursor
	in.pending = append(in.pending[:0], in.pending[last+1:]...)
	in.save(cursor, uuids, now)
}

// save writes the checkpoint. A failed write stays in the store's memory and is written with
// the next one.
func (in *Input) save(cursor string, uuids []string, now time.Time) {
	err := in.store.Commit(cursor, uuids, now)
	if err != nil {
		in.checkpointFailures.Add(1)
		in.commitFailures++
		if in.commitFailures == 1 || in.commitFailures%60 == 0 {
			in.Logger.Error(fmt.Sprintf("%v; the checkpoint stays in memory and is written "+
				"again with the next batch", err), "failures", in.commitFailures)
		}
		return
	}
	if in.commitFailures > 0 {
		in.Logger.Info("the state file is written again", "failures", in.commitFailures)
		in.commitFailures = 0
	}
}

// Abort puts back the batch of the last Take when it could not be handed over.
func (in *Input) Abort() { in.queue.Abort() }

// Pause stops handing records to Fluent Bit; the poller stops once the queue is full.
func (in *Input) Pause() {
	if !in.paused.Swap(true) {
		in.Logger.Debug("paused by Fluent Bit")
	}
}

// Resume hands records over again.
func (in *Input) Resume() {
	if in.paused.Swap(false) {
		in.Logger.Debug("resumed by Fluent Bit")
	}
}

// Paused reports whether Fluent Bit paused the instance.
func (in *Input) Paused() bool { return in.paused.Load() }

// Stop cancels the background goroutines, waits for them at most stopTimeout, writes the
// checkpoint and releases the state file. It is safe to call more than once.
func (in *Input) Stop() {
	if in.stopped.Swap(true) {
		return
	}
	if in.cancel != nil {
		in.cancel()
	}
	if in.metrics != nil {
		in.metrics.close()
	}
	done := make(chan struct{})
	go func() {
		in.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		in.Logger.Warn("the poller did not stop within " + stopTimeout.String())
	}
	// The transport's keep-alive connections each hold two goroutines until IdleConnTimeout.
	in.poller.Client.HTTP.CloseIdleConnections()
	// Exit comes after Fluent Bit stored what the instance handed over, so everything counts.
	in.writeCheckpoint(time.Now(), true)
	if err := in.store.Flush(); err != nil {
		in.Logger.Error(err.Error())
	}
	in.store.Close()
	in.logStats("stopped")
}

func (in *Input) reportStats(ctx context.Context) {
	if in.Config.StatsInterval <= 0 {
		return
	}
	t := time.NewTicker(in.Config.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			in.logStats("stats")
		}
	}
}

func (in *Input) logStats(msg string) {
	m := in.Metrics
	attrs := []any{
		"events", m.Events.Load(), "records", m.Records.Load(), "handed", in.handed.Load(),
		"requests", m.Requests.Load(), "pages", m.Pages.Load(),
		"empty_pages", m.EmptyPages.Load(), "duplicates", m.Duplicates.Load(),
		"rate_limited", m.RateLimited.Load(), "retries", m.Retries.Load(),
		"token_renewals", in.tokens.Renewals(),
	}
	queued, _ := in.queue.Len()
	attrs = append(attrs, "queued", queued, "paused", in.paused.Load())
	if newest := m.NewestEvent.Load(); newest > 0 {
		attrs = append(attrs, in.progress.update(time.Now(), time.Unix(0, newest),
			in.Config.PollInterval)...)
	}
	in.Logger.Info(msg, attrs...)
}

// progress estimates how long a backlog takes to drain from how fast the newest published
// time moved between two stats lines.
type progress struct {
	lastAt, lastNewest time.Time
}

func (p *progress) update(now, newest time.Time, pollInterval time.Duration) []any {
	lag := now.Sub(newest)
	attrs := []any{"lag", lag.Round(time.Second).String()}
	defer func() { p.lastAt, p.lastNewest = now, newest }()
	// Within a few poll intervals the input is live; an estimate means nothing then.
	if lag < 3*pollInterval+10*time.Second || p.lastAt.IsZero() {
		return attrs
	}
	elapsed := now.Sub(p.lastAt)
	advanced := newest.Sub(p.lastNewest)
	if elapsed <= 0 {
		return attrs
	}
	// The backlog shrinks by advanced - elapsed per elapsed of wall time.
	gain := advanced - elapsed
	if gain <= 0 {
		return append(attrs, "catching_up", false)
	}
	eta := time.Duration(float64(lag) * float64(elapsed) / float64(gain))
	return append(attrs, "catching_up", true, "eta", eta.Round(time.Second).String())
}
