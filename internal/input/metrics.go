package input

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// metricsServer serves the instance's counters in the Prometheus text exposition format
// (version 0.0.4) at /metrics. The handful of counters does not warrant the client library
// inside a shared object loaded into Fluent Bit.
type metricsServer struct {
	listener net.Listener
	server   *http.Server
}

// listenMetrics binds addr at Init, so that an address in use fails the configuration.
func (in *Input) listenMetrics(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("invalid metrics_listen %q: %v; choose a free address", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", in.serveMetrics)
	in.metrics = &metricsServer{listener: ln, server: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
	}}
	return nil
}

// serve handles requests until close. Serve returns http.ErrServerClosed then.
func (m *metricsServer) serve() { _ = m.server.Serve(m.listener) }

func (m *metricsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = m.server.Shutdown(ctx)
}

// metric is one sample of the exposition.
type metric struct {
	name, help, kind string
	value            float64
}

func (in *Input) metricSamples() []metric {
	m := in.Metrics
	queued, queuedBytes := in.queue.Len()
	out := []metric{
		{"okta_events_total", "Events queued for Fluent Bit, after duplicates were dropped.", "counter", float64(m.Events.Load())},
		{"okta_records_total", "Records queued for Fluent Bit (one per event and schema).", "counter", float64(m.Records.Load())},
		{"okta_records_handed_total", "Records handed to Fluent Bit.", "counter", float64(in.handed.Load())},
		{"okta_requests_total", "System Log requests sent.", "counter", float64(m.Requests.Load())},
		{"okta_pages_total", "System Log pages decoded.", "counter", float64(m.Pages.Load())},
		{"okta_empty_pages_total", "System Log pages without events.", "counter", float64(m.EmptyPages.Load())},
		{"okta_duplicates_total", "Events dropped because their UUID was seen before.", "counter", float64(m.Duplicates.Load())},
		{"okta_rate_limited_total", "HTTP 429 answers from Okta.", "counter", float64(m.RateLimited.Load())},
		{"okta_retries_total", "Requests repeated after a failure.", "counter", float64(m.Retries.Load())},
		{"okta_token_renewals_total", "Access tokens obtained.", "counter", float64(in.tokens.Renewals())},
		{"okta_checkpoint_failures_total", "Failed writes of the state file.", "counter", float64(in.checkpointFailures.Load())},
		{"okta_queued_records", "Records waiting to be handed to Fluent Bit.", "gauge", float64(queued)},
		{"okta_queued_bytes", "Bytes of records waiting to be handed to Fluent Bit.", "gauge", float64(queuedBytes)},
		{"okta_paused", "1 while Fluent Bit has paused the instance.", "gauge", boolValue(in.paused.Load())},
	}
	if newest := m.NewestEvent.Load(); newest > 0 {
		lag := time.Since(time.Unix(0, newest)).Seconds()
		out = append(out, metric{"okta_lag_seconds", "Time between now and the published time of the newest event queued.", "gauge", lag})
	}
	return out
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (in *Input) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	labels := fmt.Sprintf(`{instance=%s,org=%s}`, strconv.Quote(in.Name),
		strconv.Quote(in.Config.OrgHost()))
	var b strings.Builder
	for _, s := range in.metricSamples() {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s%s %s\n", s.name, s.help, s.name, s.kind,
			s.name, labels, strconv.FormatFloat(s.value, 'g', -1, 64))
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
