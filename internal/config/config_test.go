package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// The test keys are generated once, because RSA key generation dominates the test time.
var (
	keyOnce sync.Once
	rsa2048 *rsa.PrivateKey
	rsa1024 *rsa.PrivateKey
	ecP256  *ecdsa.PrivateKey
	ecP521  *ecdsa.PrivateKey
)

func testKeys(t *testing.T) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if rsa2048, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsa1024, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
			panic(err)
		}
		if ecP256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ecP521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

func pemText(blockType string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}))
}

func pkcs8(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemText("PRIVATE KEY", der)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func selfSignedCert(t *testing.T) string {
	t.Helper()
	testKeys(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecP256.PublicKey, ecP256)
	if err != nil {
		t.Fatal(err)
	}
	return pemText("CERTIFICATE", der)
}

// baseProps returns a valid set of properties with an RSA key file.
func baseProps(t *testing.T) map[string]string {
	t.Helper()
	testKeys(t)
	return map[string]string{
		"org_url":          "https://example.okta.com",
		"client_id":        "0oa1clientid",
		"key_id":           "kid-1",
		"private_key_file": writeFile(t, "client.pem", pkcs8(t, rsa2048)),
	}
}

func parseProps(props map[string]string) (*Config, error) {
	return Parse(func(key string) string { return props[key] }, testNow)
}

func TestParseDefaults(t *testing.T) {
	c, err := parseProps(baseProps(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.OrgURL.String(); got != "https://example.okta.com" {
		t.Errorf("OrgURL = %q", got)
	}
	if !c.DPoP {
		t.Error("DPoP is off by default, want on")
	}
	if !c.OriginalData {
		t.Error("OriginalData is off by default, want on")
	}
	if c.PageSize != 1000 {
		t.Errorf("PageSize = %d, want 1000", c.PageSize)
	}
	if c.PollInterval != 10*time.Second {
		t.Errorf("PollInterval = %s, want 10s", c.PollInterval)
	}
	if c.HTTPTimeout != 60*time.Second {
		t.Errorf("HTTPTimeout = %s, want 60s", c.HTTPTimeout)
	}
	if c.Lookback != 24*time.Hour || !c.StartTime.IsZero() {
		t.Errorf("Lookback = %s, StartTime = %s; want 24h and zero", c.Lookback, c.StartTime)
	}
	if len(c.Scopes) != 1 || c.Scopes[0] != "okta.logs.read" {
		t.Errorf("Scopes = %q", c.Scopes)
	}
	if c.RootCAs != nil || c.Proxy != nil || c.DPoPKey != nil || c.StateFile != "" {
		t.Errorf("unexpected optional values: %+v", c)
	}
	if _, ok := c.ClientKey.(*rsa.PrivateKey); !ok {
		t.Errorf("ClientKey is %T, want *rsa.PrivateKey", c.ClientKey)
	}
}

func TestParseValues(t *testing.T) {
	testKeys(t)
	state := filepath.Join(t.TempDir(), "okta.state")
	schemaFile := writeFile(t, "schemas.yaml", "user.session.start: [auth]\n")
	caFile := writeFile(t, "ca.pem", selfSignedCert(t))
	dpopKey := writeFile(t, "dpop.pem", pkcs8(t, ecP256))
	props := baseProps(t)
	for k, v := range map[string]string{
		"org_url":          "https://Example.OKTA.com:443/",
		"ca_file":          caFile,
		"dpop":             "Off",
		"dpop_key_file":    dpopKey,
		"filter":           `eventType eq "user.session.start"`,
		"http_timeout":     "2m",
		"initial_lookback": "7d",
		"original_data":    "no",
		"page_size":        "250",
		"poll_interval":    "30",
		"proxy":            "http://proxy.example.com:3128",
		"query":            "login",
		"schema_map_file":  schemaFile,
		"scopes":           "okta.logs.read  okta.users.read",
		"state_file":       state,
	} {
		props[k] = v
	}
	c, err := parseProps(props)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"OrgURL", c.OrgURL.String(), "https://example.okta.com"},
		{"OrgHost", c.OrgHost(), "example.okta.com"},
		{"ClientID", c.ClientID, "0oa1clientid"},
		{"KeyID", c.KeyID, "kid-1"},
		{"DPoP", c.DPoP, false},
		{"OriginalData", c.OriginalData, false},
		{"Filter", c.Filter, `eventType eq "user.session.start"`},
		{"HTTPTimeout", c.HTTPTimeout, 2 * time.Minute},
		{"Lookback", c.Lookback, 7 * 24 * time.Hour},
		{"PageSize", c.PageSize, 250},
		{"PollInterval", c.PollInterval, 30 * time.Second},
		{"Proxy", c.Proxy.String(), "http://proxy.example.com:3128"},
		{"Query", c.Query, "login"},
		{"SchemaMapFile", c.SchemaMapFile, schemaFile},
		{"Scopes", strings.Join(c.Scopes, ","), "okta.logs.read,okta.users.read"},
		{"StateFile", c.StateFile, state},
		{"CAFile", c.CAFile, caFile},
		{"RootCAs set", c.RootCAs != nil, true},
		{"DPoPKey set", c.DPoPKey != nil, true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestParseOrgURLKeepsPort(t *testing.T) {
	props := baseProps(t)
	props["org_url"] = "https://127.0.0.1:8443"
	c, err := parseProps(props)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.OrgHost(); got != "127.0.0.1:8443" {
		t.Errorf("OrgHost = %q, want 127.0.0.1:8443", got)
	}
}

// TestParseErrors checks that every error names the property and, unless it is a secret, the
// value, and states the fix.
func TestParseErrors(t *testing.T) {
	testKeys(t)
	rsaPKCS1 := pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa2048))
	small := pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024))
	p521 := pkcs8(t, ecP521)
	pubDER, err := x509.MarshalPKIXPublicKey(&rsa2048.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	// Legacy PEM encryption (a DEK-Info header) is what "openssl rsa -aes256" writes.
	encBlock, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY",
		x509.MarshalPKCS1PrivateKey(rsa2048), []byte("secret"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	encrypted := string(pem.EncodeToMemory(encBlock))
	emptyCA := writeFile(t, "empty-ca.pem", "not a certificate\n")
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")

	cases := []struct {
		name  string
		set   map[string]string
		unset []string
		want  []string // substrings of the error
	}{
		{"missing org_url", nil, []string{"org_url"}, []string{"missing required", "org_url"}},
		{"missing client_id", nil, []string{"client_id"}, []string{"missing", "client_id"}},
		{"missing key_id", nil, []string{"key_id"}, []string{"missing", "key_id"}},
		{"http org_url", map[string]string{"org_url": "http://example.okta.com"}, nil,
			[]string{"org_url", `"http://example.okta.com"`, "https://example.okta.com"}},
		{"org_url with path", map[string]string{"org_url": "https://example.okta.com/oauth2"},
			nil, []string{"org_url", `"https://example.okta.com/oauth2"`, "path"}},
		{"org_url with query", map[string]string{"org_url": "https://example.okta.com?x=1"},
			nil, []string{"org_url", "query"}},
		{"org_url user info", map[string]string{"org_url": "https://u:p@example.okta.com"},
			nil, []string{"org_url", "user information"}},
		{"org_url not a URL", map[string]string{"org_url": "example.okta.com"}, nil,
			[]string{"org_url", `"example.okta.com"`, "https://example.okta.com"}},
		{"admin URL", map[string]string{"org_url": "https://acme-admin.okta.com"}, nil,
			[]string{"org_url", "acme-admin.okta.com", "Admin Console", "https://acme.okta.com"}},
		{"key file missing", map[string]string{"private_key_file": missing}, nil,
			[]string{"private_key_file", missing, "not found"}},
		{"key file is a directory", map[string]string{"private_key_file": dir}, nil,
			[]string{"private_key_file", dir}},
		{"key file encrypted", map[string]string{
			"private_key_file": writeFile(t, "enc.pem", encrypted)}, nil,
			[]string{"private_key_file", "enc.pem", "encrypted", "openssl pkey"}},
		{"key file PKCS#8 encrypted", map[string]string{"private_key_file": writeFile(t,
			"enc8.pem", pemText("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}))}, nil,
			[]string{"private_key_file", "encrypted"}},
		{"key file public key", map[string]string{
			"private_key_file": writeFile(t, "pub.pem", pemText("PUBLIC KEY", pubDER))}, nil,
			[]string{"private_key_file", "pub.pem", "PUBLIC KEY", "not a private key"}},
		{"key file certificate", map[string]string{
			"private_key_file": writeFile(t, "cert.pem", selfSignedCert(t))}, nil,
			[]string{"private_key_file", "CERTIFICATE", "not a private key"}},
		{"key file RSA 1024", map[string]string{
			"private_key_file": writeFile(t, "small.pem", small)}, nil,
			[]string{"private_key_file", "1024 bits", "2048"}},
		{"key file P-521", map[string]string{
			"private_key_file": writeFile(t, "p521.pem", p521)}, nil,
			[]string{"private_key_file", "P-521", "P-256 or P-384"}},
		{"key file not PEM", map[string]string{
			"private_key_file": writeFile(t, "junk.pem", "hello\n")}, nil,
			[]string{"private_key_file", "no PEM private key"}},
		{"key file empty", map[string]string{
			"private_key_file": writeFile(t, "empty.pem", "")}, nil,
			[]string{"private_key_file", "empty"}},
		{"both key properties", map[string]string{"private_key": rsaPKCS1}, nil,
			[]string{"private_key and private_key_file", "keep one"}},
		{"no key property", nil, []string{"private_key_file"},
			[]string{"missing client key", "private_key_file", "private_key"}},
		{"inline key invalid", map[string]string{"private_key": "-----BEGIN junk"},
			[]string{"private_key_file"}, []string{"invalid private_key", "no PEM"}},
		{"page_size 0", map[string]string{"page_size": "0"}, nil,
			[]string{"page_size", `"0"`, "1 to 1000"}},
		{"page_size 5000", map[string]string{"page_size": "5000"}, nil,
			[]string{"page_size", `"5000"`, "1 to 1000"}},
		{"page_size word", map[string]string{"page_size": "many"}, nil,
			[]string{"page_size", `"many"`, "whole number"}},
		{"lookback fraction", map[string]string{"initial_lookback": "1.5h"}, nil,
			[]string{"initial_lookback", `"1.5h"`, "duration"}},
		{"lookback milliseconds", map[string]string{"initial_lookback": "10ms"}, nil,
			[]string{"initial_lookback", `"10ms"`, "RFC 3339"}},
		{"lookback over 90d", map[string]string{"initial_lookback": "91d"}, nil,
			[]string{"initial_lookback", `"91d"`, "90d or less"}},
		{"lookback in the future", map[string]string{
			"initial_lookback": "2026-03-02T00:00:00Z"}, nil,
			[]string{"initial_lookback", "2026-03-02T00:00:00Z", "future"}},
		{"poll_interval milliseconds", map[string]string{"poll_interval": "10ms"}, nil,
			[]string{"poll_interval", `"10ms"`, "30s"}},
		{"poll_interval zero", map[string]string{"poll_interval": "0"}, nil,
			[]string{"poll_interval", `"0"`, "at least 1s"}},
		{"http_timeout short", map[string]string{"http_timeout": "2s"}, nil,
			[]string{"http_timeout", `"2s"`, "at least 5s"}},
		{"dpop invalid", map[string]string{"dpop": "maybe"}, nil,
			[]string{"dpop", `"maybe"`, "on, off"}},
		{"original_data invalid", map[string]string{"original_data": "1"}, nil,
			[]string{"original_data", `"1"`, "on, off"}},
		{"ca_file without certs", map[string]string{"ca_file": emptyCA}, nil,
			[]string{"ca_file", emptyCA, "no PEM certificate"}},
		{"ca_file missing", map[string]string{"ca_file": missing}, nil,
			[]string{"ca_file", missing, "cannot read"}},
		{"proxy without scheme", map[string]string{"proxy": "proxy.example.com:3128"}, nil,
			[]string{"proxy", `"proxy.example.com:3128"`, "http://proxy.example.com:3128"}},
		{"proxy socks", map[string]string{"proxy": "socks5://proxy:1080"}, nil,
			[]string{"proxy", `"socks5://proxy:1080"`}},
		{"scopes with commas", map[string]string{"scopes": "okta.logs.read,okta.users.read"},
			nil, []string{"scopes", "okta.logs.read,okta.users.read", "spaces"}},
		{"schema_map_file missing", map[string]string{"schema_map_file": missing}, nil,
			[]string{"schema_map_file", missing}},
		{"dpop_key_file public key", map[string]string{
			"dpop_key_file": writeFile(t, "dpub.pem", pemText("PUBLIC KEY", pubDER))}, nil,
			[]string{"dpop_key_file", "dpub.pem", "not a private key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			props := baseProps(t)
			for k, v := range tc.set {
				props[k] = v
			}
			for _, k := range tc.unset {
				delete(props, k)
			}
			c, err := parseProps(props)
			if err == nil {
				t.Fatalf("Parse returned no error, config %+v", c)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestParseHidesInlineKey(t *testing.T) {
	props := baseProps(t)
	delete(props, "private_key_file")
	secret := "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"
	props["private_key"] = secret
	_, err := parseProps(props)
	if err == nil {
		t.Fatal("Parse accepted an invalid inline key")
	}
	if strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("error %q contains the key material", err)
	}
	if !strings.Contains(err.Error(), "private_key") {
		t.Errorf("error %q does not name private_key", err)
	}
}

func TestParseKeyFormats(t *testing.T) {
	testKeys(t)
	ecDER, err := x509.MarshalECPrivateKey(ecP256)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa2048))
	sec1 := pemText("EC PRIVATE KEY", ecDER)
	// openssl ecparam -genkey writes an EC PARAMETERS block before the key.
	withParams := pemText("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
		0x3d, 0x03, 0x01, 0x07}) + sec1
	oneLine := strings.ReplaceAll(strings.TrimSpace(pkcs1), "\n", `\n`)

	cases := []struct {
		name     string
		property string
		value    string
		wantRSA  bool
	}{
		{"PKCS#1 file", "private_key_file", writeFile(t, "pkcs1.pem", pkcs1), true},
		{"PKCS#8 RSA file", "private_key_file", writeFile(t, "p8.pem", pkcs8(t, rsa2048)), true},
		{"PKCS#8 EC file", "private_key_file", writeFile(t, "p8ec.pem", pkcs8(t, ecP256)), false},
		{"SEC 1 EC file", "private_key_file", writeFile(t, "sec1.pem", sec1), false},
		{"EC parameters first", "private_key_file", writeFile(t, "par.pem", withParams), false},
		{"inline PEM", "private_key", pkcs1, true},
		{"inline literal newlines", "private_key", oneLine, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			props := baseProps(t)
			delete(props, "private_key_file")
			props[tc.property] = tc.value
			c, err := parseProps(props)
			if err != nil {
				t.Fatal(err)
			}
			var got any = c.ClientKey
			if _, isRSA := got.(*rsa.PrivateKey); isRSA != tc.wantRSA {
				t.Errorf("ClientKey is %T, want RSA %v", got, tc.wantRSA)
			}
		})
	}
}

func TestParseKeyFileUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: file permissions do not stop reads")
	}
	props := baseProps(t)
	if err := os.Chmod(props["private_key_file"], 0); err != nil {
		t.Fatal(err)
	}
	_, err := parseProps(props)
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("error = %v, want permission denied", err)
	}
}

func TestParseLookback(t *testing.T) {
	cases := []struct {
		value    string
		lookback time.Duration
		start    time.Time
	}{
		{"30m", 30 * time.Minute, time.Time{}},
		{"7d", 7 * 24 * time.Hour, time.Time{}},
		{"90d", 90 * 24 * time.Hour, time.Time{}},
		{"3600", time.Hour, time.Time{}},
		{"2026-02-01T00:00:00Z", 0, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-02-01T01:00:00.5+01:00", 0, time.Date(2026, 2, 1, 0, 0, 0, 5e8, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			props := baseProps(t)
			props["initial_lookback"] = tc.value
			c, err := parseProps(props)
			if err != nil {
				t.Fatal(err)
			}
			if c.Lookback != tc.lookback {
				t.Errorf("Lookback = %s, want %s", c.Lookback, tc.lookback)
			}
			if !c.StartTime.Equal(tc.start) {
				t.Errorf("StartTime = %s, want %s", c.StartTime, tc.start)
			}
		})
	}
}

func TestParseBool(t *testing.T) {
	cases := []struct {
		in   string
		want bool
		ok   bool
	}{
		{"on", true, true}, {"off", false, true}, {"yes", true, true}, {"no", false, true},
		{"true", true, true}, {"false", false, true}, {"ON", true, true}, {" No ", false, true},
		{"invalid", false, false}, {"1", false, false}, {"", false, false},
	}
	for _, tc := range cases {
		got, err := ParseBool(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseBool(%q) error = %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseBool(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30m", 30 * time.Minute, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"10s", 10 * time.Second, true},
		{"10", 10 * time.Second, true},
		{"2H", 2 * time.Hour, true},
		{"0", 0, true},
		{"1.5h", 0, false},
		{"10ms", 0, false},
		{"-5s", 0, false},
		{"s", 0, false},
		{"", 0, false},
		{"1w", 0, false},
	}
	for _, tc := range cases {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseDuration(%q) error = %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseDuration(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseInt(t *testing.T) {
	cases := []struct {
		in   string
		want int
		ok   bool
	}{
		{"1", 1, true}, {"1000", 1000, true}, {" 42 ", 42, true},
		{"0", 0, false}, {"1001", 0, false}, {"x", 0, false}, {"1e3", 0, false},
	}
	for _, tc := range cases {
		got, err := ParseInt(tc.in, 1, 1000)
		if (err == nil) != tc.ok {
			t.Errorf("ParseInt(%q) error = %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseInt(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestOptionsSortedAndDocumented(t *testing.T) {
	for i, o := range Options {
		if o.Description == "" {
			t.Errorf("option %s has no description", o.Key)
		}
		if i > 0 && Options[i-1].Key >= o.Key {
			t.Errorf("option %s is not sorted after %s", o.Key, Options[i-1].Key)
		}
	}
	keys := Keys()
	if len(keys) != len(Options) {
		t.Fatalf("Keys returned %d keys, want %d", len(keys), len(Options))
	}
}

func TestErrorHidesURLPassword(t *testing.T) {
	props := baseProps(t)
	props["proxy"] = "socks5://svc:s3cr3t@proxy.example.com:1080"
	_, err := parseProps(props)
	if err == nil {
		t.Fatal("a socks5 proxy was accepted")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("the error shows the proxy password: %v", err)
	}
	if !strings.Contains(err.Error(), "invalid proxy") || !strings.Contains(err.Error(), "svc") {
		t.Errorf("the error does not name the key and the value: %v", err)
	}
}
