// Command mockokta runs the mock Okta org of package mockokta on loopback for demos and
// manual tests. It writes a client key, the CA certificate and an env file that configures a
// client, then serves until interrupted or until -duration passes.
//
//	go run ./tests/cmd/mockokta -dir /tmp/okta-demo -synthesize 5000 -live 20
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/tests/mockokta"
)

const defaultEventsFile = "tests/testdata/okta-events.json"

// maxLiveEvents bounds how many events -live appends, so a forgotten demo stops growing.
const maxLiveEvents = 5000000

type options struct {
	dir        string
	eventsFile string
	synthesize int
	listen     string
	rateLimit  int
	dpop       bool
	live       float64
	clientID   string
	keyID      string
	duration   time.Duration
}

func main() {
	log.SetFlags(0)
	var opts options
	flag.StringVar(&opts.dir, "dir", "", "directory for client-key.pem, ca.pem and env (required)")
	flag.StringVar(&opts.eventsFile, "events", defaultEventsFile,
		"JSON array of events to load; the default file is skipped when it does not exist")
	flag.IntVar(&opts.synthesize, "synthesize", 0, "number of synthetic events to add")
	flag.StringVar(&opts.listen, "listen", "127.0.0.1:0", "loopback address to listen on")
	flag.IntVar(&opts.rateLimit, "rate-limit", 0,
		"/api/v1/logs requests allowed per 60s window (0: no limit)")
	flag.BoolVar(&opts.dpop, "dpop", true, "require DPoP proofs at the token endpoint")
	flag.Float64Var(&opts.live, "live", 0, "synthetic events appended per second (0: none)")
	flag.StringVar(&opts.clientID, "client-id", mockokta.DefaultClientID, "service app client ID")
	flag.StringVar(&opts.keyID, "key-id", mockokta.DefaultKeyID, "kid of the registered client key")
	flag.DurationVar(&opts.duration, "duration", 0, "stop after this long (0: until SIGINT)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, opts options) error {
	if opts.dir == "" {
		return errors.New("mockokta: -dir is required; " +
			"name a directory for the key, CA and env files")
	}
	if opts.synthesize < 0 || opts.live < 0 || opts.rateLimit < 0 {
		return errors.New("mockokta: -synthesize, -live and -rate-limit must not be negative")
	}
	events, err := loadEvents(opts.eventsFile, opts.eventsFile != defaultEventsFile)
	if err != nil {
		return err
	}
	if opts.synthesize > 0 {
		start := time.Now().Add(-time.Duration(opts.synthesize) * 100 * time.Millisecond)
		events = append(events, mockokta.Synthesize(opts.synthesize, start, 1)...)
	}

	key, keyPEM, err := mockokta.GenerateClientKey()
	if err != nil {
		return err
	}
	cfg := mockokta.NewConfig(opts.clientID, opts.keyID, &key.PublicKey)
	cfg.RequireDPoP = opts.dpop
	cfg.RateLimit = opts.rateLimit
	cfg.ListenAddr = opts.listen
	cfg.Events = events
	cfg.Logf = log.Printf
	srv := mockokta.New(cfg)
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Close()
	if err := writeFiles(opts, srv, keyPEM); err != nil {
		return err
	}
	log.Printf("mockokta: serving %d events, DPoP required: %t, env file %s", srv.EventCount(),
		opts.dpop, filepath.Join(opts.dir, "env"))
	fmt.Printf("mockokta: listening on %s\n", srv.URL())

	if opts.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.duration)
		defer cancel()
	}
	if opts.live > 0 {
		appendLive(ctx, srv, opts.live)
	}
	<-ctx.Done()
	st := srv.Stats()
	log.Printf("mockokta: stopping: %d token requests, %d log requests, %d events served",
		st.TokenRequests, st.LogRequests, st.EventsServed)
	return nil
}

// loadEvents reads a JSON array of events. A missing file is an error only when required.
func loadEvents(path string, required bool) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		log.Printf("mockokta: no events file at %s; starting without sample events", path)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mockokta: read -events file: %w", err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("mockokta: -events file %s is not a JSON array of events: %w",
			path, err)
	}
	events := make([][]byte, len(raw))
	for i, ev := range raw {
		events[i] = ev
	}
	return events, nil
}

// writeFiles writes the client key, the CA certificate and the env file into opts.dir.
func writeFiles(opts options, srv *mockokta.Server, keyPEM []byte) error {
	dir, err := filepath.Abs(opts.dir)
	if err != nil {
		return fmt.Errorf("mockokta: -dir %q: %w", opts.dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mockokta: create -dir %q: %w", dir, err)
	}
	keyFile := filepath.Join(dir, "client-key.pem")
	caFile := filepath.Join(dir, "ca.pem")
	env := fmt.Sprintf("ORG_URL=%s\nCLIENT_ID=%s\nKEY_ID=%s\nPRIVATE_KEY_FILE=%s\nCA_FILE=%s\n",
		srv.URL(), opts.clientID, opts.keyID, keyFile, caFile)
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{keyFile, keyPEM, 0o600},
		{caFile, srv.CACertPEM(), 0o644},
		{filepath.Join(dir, "env"), []byte(env), 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return fmt.Errorf("mockokta: write %s: %w", f.path, err)
		}
	}
	return nil
}

// appendLive appends synthetic events at rate per second until ctx ends or maxLiveEvents
// were added. It runs in a goroutine that returns when ctx ends.
func appendLive(ctx context.Context, srv *mockokta.Server, rate float64) {
	go func() {
		const tick = 100 * time.Millisecond
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		owed, added := 0.0, 0
		for seed := int64(2); added < maxLiveEvents; seed++ {
			select {
			case <-ctx.Done():
				return
			case now := <-ticker.C:
				owed += rate * tick.Seconds()
				n := min(int(owed), maxLiveEvents-added)
				if n == 0 {
					continue
				}
				owed -= float64(n)
				// Published times are spaced up to 100 ms apart; start early enough that
				// none lies after the persistence time.
				start := now.Add(-time.Duration(n) * 100 * time.Millisecond)
				srv.Append(mockokta.Synthesize(n, start, seed)...)
				added += n
			}
		}
		log.Printf("mockokta: -live stopped after %d events", added)
	}()
}
