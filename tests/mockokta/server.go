package mockokta

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

const (
	tokenPath = "/oauth2/v1/token"
	logsPath  = "/api/v1/logs"

	// ScopeLogsRead is the Okta API scope that GET /api/v1/logs requires.
	ScopeLogsRead = "okta.logs.read"

	// maxAssertionLifetime is Okta's bound on exp - now for a client assertion: one hour,
	// and exactly one hour is already rejected.
	maxAssertionLifetime = time.Hour

	// maxRequestRecords bounds the request log so a long-running demo does not grow forever.
	maxRequestRecords = 10000
)

// Config describes the mock org: the registered service app, what it is granted, and the
// limits the org enforces. Zero values get the defaults listed on each field.
type Config struct {
	// ClientID is the expected iss and sub of client assertions.
	ClientID string
	// KeyID is the kid of the registered client key.
	KeyID string
	// ClientKey is the registered public key (*rsa.PublicKey or *ecdsa.PublicKey).
	ClientKey crypto.PublicKey
	// RequireDPoP makes the token endpoint reject requests without a DPoP proof and issue
	// DPoP-bound tokens. When false, any DPoP header is ignored and Bearer tokens are issued.
	RequireDPoP bool
	// GrantedScopes are the Okta API scopes granted to the app (default okta.logs.read).
	GrantedScopes []string
	// TokenTTL is the access-token lifetime (default 3600s, Okta's fixed value).
	TokenTTL time.Duration
	// NonceLifetime is how often the token-endpoint DPoP nonce rotates (default 24h). The
	// previous nonce stays valid until the next rotation.
	NonceLifetime time.Duration
	// RateLimit is the number of /api/v1/logs requests allowed per window; 0 means no limit.
	// Rate-limit headers are sent either way.
	RateLimit int
	// RateWindow is the length of a rate-limit window (default 60s). A window starts with the
	// first request after the previous one ended, so windows are not aligned to the minute.
	RateWindow time.Duration
	// ConcurrencyLimit is the number of /api/v1/logs requests allowed in flight at once;
	// 0 means no limit. A request over it gets 429 with X-Rate-Limit-Limit 0.
	ConcurrencyLimit int
	// ClockSkew is how far the iat of a client assertion may lie in the future, and how far
	// the iat of a DPoP proof may lie in the past or future (default 30s).
	ClockSkew time.Duration
	// Events are the initial events (raw JSON objects) in persistence order. They are
	// persisted at the time New runs.
	Events [][]byte
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ListenAddr is the loopback address to listen on (default 127.0.0.1:0).
	ListenAddr string
	// Logf, when set, receives one line per rejected request with its method, path, status
	// and rejection reason. Lines never contain tokens, assertions, proofs or nonces.
	Logf func(format string, args ...any)
}

// NewConfig returns a Config for the given client with Okta's defaults filled in and DPoP
// required, as on a new API Services app.
func NewConfig(clientID, keyID string, clientKey crypto.PublicKey) Config {
	cfg := Config{
		ClientID:    clientID,
		KeyID:       keyID,
		ClientKey:   clientKey,
		RequireDPoP: true,
	}
	cfg.applyDefaults()
	return cfg
}

// Default identifiers of the service app that DefaultConfig registers.
const (
	DefaultClientID = "0oa1mockoktaclient0h7"
	DefaultKeyID    = "mockokta-key-1"
)

// Client is the service app's side of a registration: what a plugin configuration needs.
type Client struct {
	// ID is the client ID.
	ID string
	// KeyID is the kid of the registered key.
	KeyID string
	// Key is the private client key.
	Key *rsa.PrivateKey
	// KeyPEM is Key in PKCS #8 PEM.
	KeyPEM []byte
}

// DefaultConfig registers a new RSA client key under DefaultClientID and DefaultKeyID and
// returns the config, with DPoP required, and the client side of the registration.
func DefaultConfig() (Config, Client, error) {
	key, keyPEM, err := GenerateClientKey()
	if err != nil {
		return Config{}, Client{}, err
	}
	cfg := NewConfig(DefaultClientID, DefaultKeyID, &key.PublicKey)
	return cfg, Client{ID: DefaultClientID, KeyID: DefaultKeyID, Key: key, KeyPEM: keyPEM}, nil
}

// NewDefault returns a server for DefaultConfig, not yet started, and its client.
func NewDefault() (*Server, Client, error) {
	cfg, client, err := DefaultConfig()
	if err != nil {
		return nil, Client{}, err
	}
	return New(cfg), client, nil
}

func (c *Config) applyDefaults() {
	if c.GrantedScopes == nil {
		c.GrantedScopes = []string{ScopeLogsRead}
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = 3600 * time.Second
	}
	if c.NonceLifetime == 0 {
		c.NonceLifetime = 24 * time.Hour
	}
	if c.RateWindow == 0 {
		c.RateWindow = 60 * time.Second
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ListenAddr == "" {
		c.ListenAddr = "127.0.0.1:0"
	}
}

// Server is a mock Okta org. Create it with New, then call Start.
type Server struct {
	cfg Config

	mu       sync.Mutex
	store    *eventStore
	replay   *jtiCache // client-assertion jtis
	proofs   *jtiCache // DPoP proof jtis
	tokens   map[string]*accessToken
	cursors  map[cursorKey]cursorPosition
	nonces   nonceState
	limiter  rateLimiter
	inFlight int
	fault    Fault
	stats    Stats
	records  []RequestRecord

	// clientThumbprint is the RFC 7638 thumbprint of the registered client key, which a
	// DPoP proof must not use.
	clientThumbprint string

	caPEM    []byte
	tlsCert  tls.Certificate
	listener net.Listener
	http     *http.Server
	url      string
	done     chan struct{}
}

// New returns a Server for cfg, not yet started. Events in cfg.Events that are not valid JSON
// objects are skipped and counted in Stats.InvalidEvents.
func New(cfg Config) *Server {
	cfg.applyDefaults()
	s := &Server{
		cfg:     cfg,
		store:   newEventStore(),
		replay:  newJTICache(),
		proofs:  newJTICache(),
		tokens:  make(map[string]*accessToken),
		cursors: make(map[cursorKey]cursorPosition),
	}
	s.clientThumbprint = thumbprintOf(cfg.ClientKey)
	now := cfg.Now()
	s.nonces.rotate(now)
	s.stats.Rejected = make(map[string]int)
	s.stats.InvalidEvents = s.store.append(now, time.Time{}, cfg.Events)
	return s
}

// Start listens on the configured loopback address and serves HTTPS until Close.
func (s *Server) Start() error {
	if s.listener != nil {
		return errors.New("mockokta: server already started")
	}
	if err := checkLoopback(s.cfg.ListenAddr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("mockokta: listen on %q: %w", s.cfg.ListenAddr, err)
	}
	addr := ln.Addr().(*net.TCPAddr)

	caPEM, cert, err := newServerCertificate(addr.IP)
	if err != nil {
		ln.Close()
		return err
	}
	s.caPEM = caPEM
	s.tlsCert = cert
	s.url = "https://" + net.JoinHostPort(addr.IP.String(), strconv.Itoa(addr.Port))

	mux := http.NewServeMux()
	mux.HandleFunc(tokenPath, s.handleToken)
	mux.HandleFunc(logsPath, s.handleLogs)
	mux.HandleFunc("/", s.handleNotFound)

	// HTTP/1.1 only: the connection-reset and truncated-body faults hijack the connection.
	tlsConfig := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
	s.http = &http.Server{
		Handler:           s.withDate(mux),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
	}
	s.listener = tls.NewListener(ln, tlsConfig)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.http.Serve(s.listener)
	}()
	return nil
}

// URL returns the org URL, https://127.0.0.1:PORT, without a trailing slash.
func (s *Server) URL() string { return s.url }

// TokenURL returns the token endpoint URL, the required aud of client assertions.
func (s *Server) TokenURL() string { return s.url + tokenPath }

// LogsURL returns the System Log endpoint URL without a query, the htu of its DPoP proofs.
func (s *Server) LogsURL() string { return s.url + logsPath }

// CACertPEM returns the PEM-encoded CA certificate that signed the server certificate.
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// Close stops the server and waits for its handlers to return.
func (s *Server) Close() {
	if s.http == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
	}
	<-s.done
}

// Append persists events now, in the given order, keeping their published timestamps. An
// event without a published field gets the current time. It returns the number of events
// skipped because they are not JSON objects.
func (s *Server) Append(events ...[]byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	invalid := s.store.append(s.cfg.Now(), time.Time{}, events)
	s.stats.InvalidEvents += invalid
	return invalid
}

// AppendLate persists events now with their published field set to published, which may lie
// before events already served: a late arrival in Okta's System Log.
func (s *Server) AppendLate(published time.Time, events ...[]byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	invalid := s.store.append(s.cfg.Now(), published, events)
	s.stats.InvalidEvents += invalid
	return invalid
}

// EventCount returns the number of events in the store.
func (s *Server) EventCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.store.events)
}

// withDate sets the Date header from Config.Now, as a server whose clock differs from the
// client's would; net/http would otherwise send its own clock.
func (s *Server) withDate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", s.cfg.Now().UTC().Format(http.TimeFormat))
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.record(r, http.StatusNotFound, "not_found", 0)
	writeOktaError(w, http.StatusNotFound, "E0000007",
		"Not found: Resource not found: "+r.URL.Path+" (Path)")
}

func (s *Server) record(r *http.Request, status int, reason string, events int) {
	rejected := reason != "" && reason != reasonOK
	s.mu.Lock()
	if rejected {
		s.stats.Rejected[reason]++
	}
	if len(s.records) >= maxRequestRecords {
		copy(s.records, s.records[1:])
		s.records = s.records[:len(s.records)-1]
	}
	s.records = append(s.records, RequestRecord{
		Time:   s.cfg.Now(),
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.RawQuery,
		Status: status,
		Reason: reason,
		Events: events,
	})
	s.mu.Unlock()

	if rejected && s.cfg.Logf != nil {
		s.cfg.Logf("mockokta: %s %s rejected with %d: %s", r.Method, r.URL.Path, status, reason)
	}
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("mockokta: invalid listen address %q: %w (use 127.0.0.1:PORT)", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("mockokta: listen address %q is not a loopback IP address; "+
			"use 127.0.0.1:PORT or [::1]:PORT", addr)
	}
	return nil
}
