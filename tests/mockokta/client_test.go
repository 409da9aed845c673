package mockokta

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

const (
	testClientID = "0oa1testclient0h7"
	testKeyID    = "test-key-1"
)

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testClient is a minimal Okta service-app client: client assertions signed with the
// registered RSA key, DPoP proofs signed with a separate P-256 key.
type testClient struct {
	t         testing.TB
	srv       *Server
	http      *http.Client
	clientKey *rsa.PrivateKey
	dpopKey   *ecdsa.PrivateKey
	dpopJWK   jwk.Key
	clock     func() time.Time
	nonce     string
	token     string
	tokenType string
}

// startServer starts a server for a new client key and returns both. mutate may change the
// config before the server is created.
func startServer(t testing.TB, clock *fakeClock, mutate func(*Config)) (*Server, *testClient) {
	t.Helper()
	key, _, err := GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig(testClientID, testKeyID, &key.PublicKey)
	if clock != nil {
		cfg.Now = clock.Now
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv := New(cfg)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CACertPEM()) {
		t.Fatal("CA PEM not accepted")
	}
	dpopKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.FromRaw(&dpopKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(transport.CloseIdleConnections)
	c := &testClient{
		t:         t,
		srv:       srv,
		http:      &http.Client{Transport: transport, Timeout: 10 * time.Second},
		clientKey: key,
		dpopKey:   dpopKey,
		dpopJWK:   pub,
		clock:     cfg.Now,
	}
	return srv, c
}

// assertionClaims returns valid client-assertion claims for now.
func (c *testClient) assertionClaims() map[string]any {
	now := c.clock()
	return map[string]any{
		"iss": testClientID,
		"sub": testClientID,
		"aud": c.srv.TokenURL(),
		"iat": now.Add(-5 * time.Second).Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
		"jti": randomString(16),
	}
}

// assertion signs claims with the client key under the registered kid.
func (c *testClient) assertion(claims map[string]any) string {
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, testKeyID)
	return c.sign(claims, jwa.RS256, c.clientKey, hdr)
}

func (c *testClient) sign(claims map[string]any, alg jwa.SignatureAlgorithm, key any,
	hdr jws.Headers) string {
	c.t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		c.t.Fatal(err)
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		c.t.Fatal(err)
	}
	return string(out)
}

// proofClaims returns valid DPoP proof claims for a request to htu.
func (c *testClient) proofClaims(method, htu string) map[string]any {
	claims := map[string]any{
		"htm": method,
		"htu": htu,
		"iat": c.clock().Unix(),
		"jti": randomString(16),
	}
	if c.nonce != "" && htu == c.srv.TokenURL() {
		claims["nonce"] = c.nonce
	}
	if c.token != "" && htu != c.srv.TokenURL() {
		sum := sha256.Sum256([]byte(c.token))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return claims
}

// proof signs claims with the DPoP key, typ dpop+jwt and the public JWK in the header.
func (c *testClient) proof(claims map[string]any) string {
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "dpop+jwt")
	_ = hdr.Set(jws.JWKKey, c.dpopJWK)
	return c.sign(claims, jwa.ES256, c.dpopKey, hdr)
}

// rawProof signs the given header and claims JSON exactly as written.
func (c *testClient) rawProof(header string, claims map[string]any) string {
	c.t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		c.t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." +
		base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, c.dpopKey, sum[:])
	if err != nil {
		c.t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// publicJWKJSON returns the DPoP public key as JWK JSON.
func (c *testClient) publicJWKJSON() string {
	b, err := json.Marshal(c.dpopJWK)
	if err != nil {
		c.t.Fatal(err)
	}
	return string(b)
}

// tokenForm returns a valid token request form with a fresh assertion.
func (c *testClient) tokenForm() url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {ScopeLogsRead},
		"client_assertion_type": {clientAssertionType},
		"client_assertion":      {c.assertion(c.assertionClaims())},
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (c *testClient) do(req *http.Request) response {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// postToken sends a token request with the given form and DPoP header ("" for none).
func (c *testClient) postToken(form url.Values, proof string) response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.srv.TokenURL(),
		strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return c.do(req)
}

// login runs the full token flow: nonce challenge, then a token request with the nonce.
func (c *testClient) login() {
	c.t.Helper()
	htu := c.srv.TokenURL()
	resp := c.postToken(c.tokenForm(), c.proof(c.proofClaims(http.MethodPost, htu)))
	if resp.status == http.StatusBadRequest {
		c.nonce = resp.header.Get("DPoP-Nonce")
		resp = c.postToken(c.tokenForm(), c.proof(c.proofClaims(http.MethodPost, htu)))
	}
	if resp.status != http.StatusOK {
		c.t.Fatalf("token request: status %d, body %s", resp.status, resp.body)
	}
	body := resp.json(c.t)
	c.token, _ = body["access_token"].(string)
	c.tokenType, _ = body["token_type"].(string)
}

// tokenProof returns a valid proof for the token endpoint.
func (c *testClient) tokenProof() string {
	return c.proof(c.proofClaims(http.MethodPost, c.srv.TokenURL()))
}

// getLogs sends GET to rawURL with the access token and a fresh proof.
func (c *testClient) getLogs(rawURL string) response {
	c.t.Helper()
	return c.getLogsWith(rawURL, c.tokenType, c.proofForURL(rawURL))
}

func (c *testClient) proofForURL(rawURL string) string {
	htu, _, _ := strings.Cut(rawURL, "?")
	return c.proof(c.proofClaims(http.MethodGet, htu))
}

func (c *testClient) getLogsWith(rawURL, scheme, proof string) response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", scheme+" "+c.token)
	}
	if proof != "" && scheme == "DPoP" {
		req.Header.Set("DPoP", proof)
	}
	return c.do(req)
}

// links returns the Link header values by rel.
func links(t testing.TB, h http.Header) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, v := range h.Values("Link") {
		target, params, ok := strings.Cut(v, ">; rel=")
		if !ok || !strings.HasPrefix(target, "<") {
			t.Fatalf("malformed Link header %q", v)
		}
		out[strings.Trim(params, `"`)] = target[1:]
	}
	return out
}

func eventsOf(t testing.TB, r response) []map[string]any {
	t.Helper()
	var events []map[string]any
	if err := json.Unmarshal(r.body, &events); err != nil {
		t.Fatalf("body %.200q is not a JSON array: %v", r.body, err)
	}
	return events
}

// testEvent returns a minimal event with the given uuid, event type and published time.
func testEvent(uuid, eventType string, published time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"uuid":        uuid,
		"published":   published.UTC().Format(publishedLayout),
		"eventType":   eventType,
		"severity":    "INFO",
		"displayName": "Jane Roe",
		"actor": map[string]any{"id": "00u1", "type": "User",
			"alternateId": "jane.roe@example.com"},
		"target": []any{map[string]any{"id": "0oa1", "type": "AppInstance"}},
	})
	return b
}

// contextRequest returns req with a cancellable context.
func contextRequest(req *http.Request) (*http.Request, context.CancelFunc) {
	ctx, cancel := context.WithCancel(req.Context())
	return req.WithContext(ctx), cancel
}

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met within 10s")
}
