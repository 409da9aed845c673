// Package config reads and validates the properties of one okta [INPUT] instance.
//
// Fluent Bit does not validate the properties of Go plugins, so every check happens here. The
// Options table is the single list of properties: it drives parsing, defaults, validation and
// the configuration reference in the README.
package config

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/internal/auth"
)

// MaxLookback is the System Log retention: Okta returns no event older than 90 days.
const MaxLookback = 90 * 24 * time.Hour

// MaxPageSize is the largest limit /api/v1/logs accepts.
const MaxPageSize = 1000

// Config is the validated configuration of one input instance.
type Config struct {
	OrgURL        *url.URL // scheme and host only, host in lower case
	ClientID      string
	KeyID         string
	ClientKey     crypto.Signer
	Scopes        []string
	DPoP          bool
	DPoPKey       crypto.Signer // nil: generate an EC P-256 key at start
	Lookback      time.Duration // used when StartTime is zero
	StartTime     time.Time     // set when initial_lookback is an RFC 3339 time
	PollInterval  time.Duration
	PageSize      int
	Filter        string
	Query         string
	StateFile     string
	RootCAs       *x509.CertPool // nil: system roots only
	CAFile        string
	Proxy         *url.URL // nil: HTTPS_PROXY and NO_PROXY from the environment
	HTTPTimeout   time.Duration
	OriginalData  bool
	SchemaMapFile string
	RateShare     float64 // fraction of the rate-limit bucket to use, in (0, 1]
	MetricsListen string  // host:port of the Prometheus endpoint, "" when off
	StatsInterval time.Duration
	// CheckpointDelay is how long after a hand-off the checkpoint may cover it.
	CheckpointDelay time.Duration

	privateKey, privateKeyFile string
}

// OrgHost returns the org's host (with the port when one was given), the value of the
// okta_org record field.
func (c *Config) OrgHost() string { return c.OrgURL.Host }

// Option describes one property: its key, default, description, and how to apply a value.
type Option struct {
	Key         string
	Default     string // "" means no default
	Description string
	Required    bool
	apply       func(c *Config, value string) error
}

// Options lists every property the plugin reads, sorted by key.
var Options = []Option{
	{Key: "ca_file", Description: "Extra PEM CA bundle to trust in addition to the system " +
		"roots (TLS-inspecting proxies, tests).", apply: applyCAFile},
	{Key: "checkpoint_delay", Default: "2s", Description: "How long after Fluent Bit copied " +
		"records the checkpoint may cover them. Fluent Bit holds copied records in memory for " +
		"up to 250 ms before it stores them, so a crash in that time repeats the last records " +
		"instead of losing them; `0` checkpoints at once.",
		apply: func(c *Config, v string) (err error) { c.CheckpointDelay, err = ParseDuration(v); return }},
	{Key: "client_id", Required: true, Description: "Client ID of the Okta API Services app.",
		apply: func(c *Config, v string) error { c.ClientID = v; return nil }},
	{Key: "dpop", Default: "on", Description: "Send DPoP proofs (RFC 9449) and use " +
		"DPoP-bound access tokens; `off` for apps that do not require DPoP.",
		apply: func(c *Config, v string) (err error) { c.DPoP, err = ParseBool(v); return }},
	{Key: "dpop_key_file", Description: "PEM private key for DPoP proofs. By default a fresh EC " +
		"P-256 key is generated at start and held in memory, separate from the client key.",
		apply: applyDPoPKeyFile},
	{Key: "filter", Description: "Okta SCIM filter expression passed to /api/v1/logs as " +
		"`filter`.", apply: func(c *Config, v string) error { c.Filter = v; return nil }},
	{Key: "http_timeout", Default: "60s", Description: "Timeout of one HTTP request to Okta, " +
		"from connect to the end of the body.", apply: applyHTTPTimeout},
	{Key: "initial_lookback", Default: "24h", Description: "Where a run without a checkpoint " +
		"starts: a duration back from now (`30m`, `7d`) or an RFC 3339 time; at most 90 days.",
		apply: applyLookback},
	{Key: "key_id", Required: true, Description: "Key ID (`kid`) of the public key registered " +
		"on the app.", apply: func(c *Config, v string) error { c.KeyID = v; return nil }},
	{Key: "metrics_listen", Description: "Address (`host:port`) of a Prometheus text " +
		"endpoint at `/metrics` with this instance's counters; off when unset.",
		apply: applyMetricsListen},
	{Key: "org_url", Required: true, Description: "Okta org URL, such as " +
		"`https://example.okta.com`; https only, no path.", apply: applyOrgURL},
	{Key: "original_data", Default: "on", Description: "Add the event's exact JSON text as " +
		"`original_data`.",
		apply: func(c *Config, v string) (err error) { c.OriginalData, err = ParseBool(v); return }},
	{Key: "page_size", Default: "1000", Description: "Events per request (`limit`), 1 to 1000.",
		apply: func(c *Config, v string) (err error) {
			c.PageSize, err = ParseInt(v, 1, MaxPageSize)
			return
		}},
	{Key: "poll_interval", Default: "10s", Description: "Wait between polls once caught up.",
		apply: applyPollInterval},
	{Key: "private_key", Description: "The client private key PEM inline, usually from " +
		"`${ENV}`; give this or `private_key_file`.",
		apply: func(c *Config, v string) error { c.privateKey = v; return nil }},
	{Key: "private_key_file", Description: "Client private key in PEM: RSA (PKCS#1 or PKCS#8, " +
		"2048 bits or more) or EC P-256/P-384; give this or `private_key`.",
		apply: func(c *Config, v string) error { c.privateKeyFile = v; return nil }},
	{Key: "proxy", Description: "HTTP(S) proxy URL for every Okta request; by default " +
		"`HTTPS_PROXY` and `NO_PROXY` from the environment.", apply: applyProxy},
	{Key: "query", Description: "Okta keyword search passed to /api/v1/logs as `q`.",
		apply: func(c *Config, v string) error { c.Query = v; return nil }},
	{Key: "rate_limit_share", Default: "50", Description: "Percentage (1 to 100) of the " +
		"System Log rate-limit bucket this instance may use, as reported by " +
		"`X-Rate-Limit-Limit`; the rest is left to other API clients of the org.",
		apply: func(c *Config, v string) error {
			n, err := ParseInt(strings.TrimSuffix(v, "%"), 1, 100)
			c.RateShare = float64(n) / 100
			return err
		}},
	{Key: "schema_map_file", Description: "YAML or JSON file that adds or replaces event type " +
		"to schema mappings.", apply: applySchemaMapFile},
	{Key: "scopes", Default: "okta.logs.read", Description: "Space-separated OAuth scopes to " +
		"request.", apply: applyScopes},
	{Key: "state_file", Description: "Checkpoint file. Without it progress is kept in memory " +
		"only and a restart starts again from `initial_lookback`.",
		apply: func(c *Config, v string) error { c.StateFile = v; return nil }},
	{Key: "stats_interval", Default: "60s", Description: "Period of the info log line with " +
		"the instance's counters and, while catching up, its progress; `0` turns it off.",
		apply: func(c *Config, v string) (err error) { c.StatsInterval, err = ParseDuration(v); return }},
}

// Lookup returns the value of a property, or "" when it is not set.
type Lookup func(key string) string

// Parse reads every option through get, applies defaults and checks the result. now anchors
// checks of RFC 3339 start times. The error names the key, the value and the fix.
func Parse(get Lookup, now time.Time) (*Config, error) {
	c := &Config{}
	for _, opt := range Options {
		value := strings.TrimSpace(get(opt.Key))
		if value == "" {
			if opt.Required {
				return nil, fmt.Errorf("missing required property %s: %s", opt.Key,
					opt.Description)
			}
			value = opt.Default
		}
		if value == "" {
			continue
		}
		if err := opt.apply(c, value); err != nil {
			return nil, fmt.Errorf("invalid %s %q: %v", opt.Key, shown(opt.Key, value), err)
		}
	}
	if err := c.loadClientKey(); err != nil {
		return nil, err
	}
	if !c.StartTime.IsZero() && c.StartTime.After(now) {
		return nil, fmt.Errorf("invalid initial_lookback %q: the time is in the future; "+
			"give a past time or a duration such as 24h", c.StartTime.Format(time.RFC3339))
	}
	return c, nil
}

// shown hides the value of properties that carry secrets, and the password of a URL such as
// a proxy with credentials.
func shown(key, value string) string {
	if key == "private_key" {
		return "(hidden)"
	}
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return value
}

func (c *Config) loadClientKey() error {
	switch {
	case c.privateKey != "" && c.privateKeyFile != "":
		return errors.New("private_key and private_key_file are both set; keep one of them")
	case c.privateKey == "" && c.privateKeyFile == "":
		return errors.New("missing client key: set private_key_file to a PEM file, or " +
			"private_key to the PEM text (for example from an environment variable)")
	case c.privateKey != "":
		key, err := auth.ParsePrivateKeyPEM([]byte(c.privateKey))
		if err != nil {
			return fmt.Errorf("invalid private_key: %v", err)
		}
		c.ClientKey = key
	default:
		key, err := readKeyFile(c.privateKeyFile)
		if err != nil {
			return fmt.Errorf("invalid private_key_file %q: %v", c.privateKeyFile, err)
		}
		c.ClientKey = key
	}
	return nil
}

func readKeyFile(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("file not found; give the path of the PEM private key")
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, errors.New("permission denied; make the file readable by the " +
				"user Fluent Bit runs as")
		}
		return nil, err
	}
	return auth.ParsePrivateKeyPEM(data)
}

func applyOrgURL(c *Config, v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return errors.New("not a URL; use the form https://example.okta.com")
	}
	if u.Scheme != "https" {
		return fmt.Errorf("scheme %s is not allowed; Okta is reached over https only, "+
			"use https://%s", u.Scheme, u.Host)
	}
	if u.User != nil {
		return errors.New("the URL contains user information; remove it")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("the URL has a path, query or fragment; use the org URL alone, "+
			"https://%s", u.Host)
	}
	host := strings.ToLower(u.Host)
	if name, _, ok := strings.Cut(host, "."); ok && strings.HasSuffix(name, "-admin") {
		return fmt.Errorf("this is the Admin Console URL; use the org URL https://%s%s",
			strings.TrimSuffix(name, "-admin"), host[len(name):])
	}
	if u.Port() == "443" {
		host = strings.ToLower(u.Hostname())
	}
	c.OrgURL = &url.URL{Scheme: "https", Host: host}
	return nil
}

func applyScopes(c *Config, v string) error {
	c.Scopes = strings.Fields(v)
	for _, s := range c.Scopes {
		if strings.ContainsAny(s, `",\`) {
			return fmt.Errorf("scope %q is not valid; separate scopes with spaces", s)
		}
	}
	return nil
}

func applyLookback(c *Config, v string) error {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		c.StartTime = t.UTC()
		return nil
	}
	d, err := ParseDuration(v)
	if err != nil {
		return errors.New("expected a duration such as 30m, 24h or 7d, or an RFC 3339 time " +
			"such as 2026-01-02T15:04:05Z")
	}
	if d > MaxLookback {
		return errors.New("Okta keeps System Log events for 90 days; use 90d or less")
	}
	c.Lookback = d
	return nil
}

func applyPollInterval(c *Config, v string) error {
	d, err := ParseDuration(v)
	if err != nil {
		return err
	}
	if d < time.Second {
		return errors.New("use at least 1s")
	}
	c.PollInterval = d
	return nil
}

func applyHTTPTimeout(c *Config, v string) error {
	d, err := ParseDuration(v)
	if err != nil {
		return err
	}
	// Okta cancels a System Log query after 30 s, so a shorter client timeout gives up on
	// requests that would still succeed.
	if d < 5*time.Second {
		return errors.New("use at least 5s; Okta may take up to 30s to respond to a query")
	}
	c.HTTPTimeout = d
	return nil
}

func applyCAFile(c *Config, v string) error {
	data, err := os.ReadFile(v)
	if err != nil {
		return fmt.Errorf("cannot read the file: %v", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return errors.New("no PEM certificate found in the file")
	}
	c.RootCAs, c.CAFile = pool, v
	return nil
}

func applyDPoPKeyFile(c *Config, v string) error {
	key, err := readKeyFile(v)
	if err != nil {
		return err
	}
	c.DPoPKey = key
	return nil
}

func applyMetricsListen(c *Config, v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil || port == "" {
		return errors.New("expected host:port, such as 127.0.0.1:2021 or :2021")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("invalid port %q", port)
	}
	c.MetricsListen = v
	return nil
}

func applyProxy(c *Config, v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("expected a proxy URL such as http://proxy.example.com:3128")
	}
	c.Proxy = u
	return nil
}

func applySchemaMapFile(c *Config, v string) error {
	if _, err := os.Stat(v); err != nil {
		return fmt.Errorf("cannot read the file: %v", err)
	}
	c.SchemaMapFile = v
	return nil
}

// Keys returns the property keys, sorted.
func Keys() []string {
	keys := make([]string, len(Options))
	for i, o := range Options {
		keys[i] = o.Key
	}
	sort.Strings(keys)
	return keys
}

// MarkdownTable returns the configuration reference as a Markdown table, `Key | Description |
// Default`, sorted by key, in the form Fluent Bit's documentation uses. The README carries it.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Key | Description | Default |\n|---|---|---|\n")
	for _, key := range Keys() {
		for _, o := range Options {
			if o.Key != key {
				continue
			}
			def := "_none_"
			switch {
			case o.Required:
				def = "_required_"
			case o.Default != "":
				def = "`" + o.Default + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", o.Key, o.Description, def)
		}
	}
	return b.String()
}
