package mockokta

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFaultFailLogRequests(t *testing.T) {
	srv, c := startServer(t, nil, nil)
	c.login()
	srv.SetFault(Fault{FailLogRequests: 2, FailStatus: http.StatusForbidden, FailCode: "E0000006"})
	for i := range 2 {
		body := checkOktaError(t, c.getLogs(srv.LogsURL()), http.StatusForbidden, "E0000006")
		if body["errorSummary"] != "You do not have permission to perform the requested action" {
			t.Errorf("request %d: errorSummary = %q", i+1, body["errorSummary"])
		}
	}
	if resp := c.getLogs(srv.LogsURL()); resp.status != http.StatusOK {
		t.Errorf("third request: status %d, want 200", resp.status)
	}
	srv.SetFault(Fault{FailLogRequests: 1})
	checkOktaError(t, c.getLogs(srv.LogsURL()), http.StatusInternalServerError, "E0000009")
	if got := srv.Stats().Rejected[ReasonFault]; got != 3 {
		t.Errorf("Rejected[%s] = %d, want 3", ReasonFault, got)
	}
}

func TestFaultRateLimitBurst(t *testing.T) {
	srv, c := startServer(t, nil, func(cfg *Config) { cfg.RateLimit = 100 })
	c.login()
	srv.SetFault(Fault{RateLimitBurst: 1})
	resp := c.getLogs(srv.LogsURL())
	checkOktaError(t, resp, http.StatusTooManyRequests, "E0000047")
	if got := resp.header.Get("X-Rate-Limit-Remaining"); got != "0" {
		t.Errorf("remaining = %s, want 0", got)
	}
	if got := resp.header.Get("X-Rate-Limit-Limit"); got != "100" {
		t.Errorf("limit = %s, want 100", got)
	}
	if resp := c.getLogs(srv.LogsURL()); resp.status != http.StatusOK {
		t.Errorf("after the burst: status %d", resp.status)
	}
}

func TestFaultConcurrencyBurst(t *testing.T) {
	srv, c := startServer(t, nil, nil)
	c.login()
	srv.SetFault(Fault{ConcurrencyBurst: 1})
	resp := c.getLogs(srv.LogsURL())
	checkOktaError(t, resp, http.StatusTooManyRequests, "E0000047")
	for _, h := range []string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining"} {
		if got := resp.header.Get(h); got != "0" {
			t.Errorf("%s = %s, want 0", h, got)
		}
	}
	if resp.header.Get("X-Rate-Limit-Reset") == "" {
		t.Error("no X-Rate-Limit-Reset")
	}
	if got := srv.Stats().Rejected[ReasonConcurrency]; got != 1 {
		t.Errorf("Rejected[%s] = %d, want 1", ReasonConcurrency, got)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	srv, c := startServer(t, nil, func(cfg *Config) { cfg.ConcurrencyLimit = 1 })
	c.login()
	srv.SetFault(Fault{SlowLogRequests: 1, SlowDelay: 30 * time.Second})

	slow := make(chan error, 1)
	req, err := http.NewRequest(http.MethodGet, srv.LogsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "DPoP "+c.token)
	req.Header.Set("DPoP", c.proofForURL(srv.LogsURL()))
	slowClient := &http.Client{Transport: c.http.Transport, Timeout: 30 * time.Second}
	ctxReq, cancel := contextRequest(req)
	defer cancel()
	go func() {
		resp, err := slowClient.Do(ctxReq)
		if err == nil {
			resp.Body.Close()
		}
		slow <- err
	}()
	waitFor(t, func() bool { return srv.Stats().LogRequests == 1 })

	resp := c.getLogs(srv.LogsURL())
	checkOktaError(t, resp, http.StatusTooManyRequests, "E0000047")
	if got := resp.header.Get("X-Rate-Limit-Limit"); got != "0" {
		t.Errorf("limit = %s, want 0", got)
	}
	cancel()
	if err := <-slow; err == nil {
		t.Error("slow request finished although it was cancelled")
	}
}

func TestFaultSlowResponseTimesOut(t *testing.T) {
	srv, c := startServer(t, nil, nil)
	c.login()
	srv.SetFault(Fault{SlowLogRequests: 1, SlowDelay: 30 * time.Second})
	c.http.Timeout = 200 * time.Millisecond
	req, _ := http.NewRequest(http.MethodGet, srv.LogsURL(), nil)
	req.Header.Set("Authorization", "DPoP "+c.token)
	req.Header.Set("DPoP", c.proofForURL(srv.LogsURL()))
	_, err := c.http.Do(req)
	var timeout interface{ Timeout() bool }
	if !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Fatalf("err = %v, want a client timeout", err)
	}
	c.http.Timeout = 10 * time.Second
	if resp := c.getLogs(srv.LogsURL()); resp.status != http.StatusOK {
		t.Errorf("after the slow request: status %d", resp.status)
	}
}

func TestFaultTruncatedBody(t *testing.T) {
	srv, c := startServer(t, nil, func(cfg *Config) { cfg.Events = makeEvents(50, time.Now()) })
	c.login()
	srv.SetFault(Fault{TruncateLogRequests: 1})
	req, _ := http.NewRequest(http.MethodGet, srv.LogsURL(), nil)
	req.Header.Set("Authorization", "DPoP "+c.token)
	req.Header.Set("DPoP", c.proofForURL(srv.LogsURL()))
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("headers of the truncated page: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read err = %v, want unexpected EOF", err)
	}
	if int64(len(body)) >= resp.ContentLength {
		t.Errorf("read %d bytes of %d, want fewer", len(body), resp.ContentLength)
	}
}

func TestFaultConnectionReset(t *testing.T) {
	srv, c := startServer(t, nil, nil)
	c.login()
	srv.SetFault(Fault{ResetLogRequests: 1})
	req, _ := http.NewRequest(http.MethodGet, srv.LogsURL(), nil)
	req.Header.Set("Authorization", "DPoP "+c.token)
	req.Header.Set("DPoP", c.proofForURL(srv.LogsURL()))
	// A new connection: net/http silently retries a GET that fails on a reused one.
	transport := c.http.Transport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	_, err := (&http.Client{Transport: transport}).Do(req)
	if err == nil {
		t.Fatal("request succeeded, want a connection error")
	}
	if !strings.Contains(err.Error(), "reset") && !errors.Is(err, io.EOF) &&
		!strings.Contains(err.Error(), "EOF") {
		t.Errorf("err = %v, want a reset or EOF", err)
	}
	if resp := c.getLogs(srv.LogsURL()); resp.status != http.StatusOK {
		t.Errorf("after the reset: status %d", resp.status)
	}
}

func TestStartRejectsNonLoopback(t *testing.T) {
	key, _, err := GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0", "192.0.2.1:0", "localhost:0"} {
		cfg := NewConfig(testClientID, testKeyID, &key.PublicKey)
		cfg.ListenAddr = addr
		srv := New(cfg)
		err := srv.Start()
		if err == nil {
			srv.Close()
			t.Errorf("Start on %s succeeded, want an error", addr)
			continue
		}
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("error %q does not name %s", err, addr)
		}
	}
}

func TestLogfRejectedRequest(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	srv, c := startServer(t, nil, func(cfg *Config) {
		cfg.Logf = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, fmt.Sprintf(format, args...))
		}
	})
	c.login()
	resp := c.getLogsWith(srv.LogsURL(), "Bearer", "")
	if resp.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.status)
	}
	mu.Lock()
	defer mu.Unlock()
	last := lines[len(lines)-1]
	if !strings.Contains(last, "GET /api/v1/logs") || !strings.Contains(last, ReasonWrongScheme) {
		t.Errorf("log line %q lacks the request or the reason", last)
	}
	for _, line := range lines {
		if strings.Contains(line, c.token) || strings.Contains(line, srv.CurrentNonce()) {
			t.Errorf("log line %q contains the access token or the nonce", line)
		}
	}
	if len(lines) != 2 {
		t.Errorf("%d log lines, want 2 (nonce challenge and wrong scheme)", len(lines))
	}
}
