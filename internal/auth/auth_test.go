package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

var (
	keyOnce   sync.Once
	clientRSA *rsa.PrivateKey
)

func clientKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if clientRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return clientRSA
}

// fakeTime is a settable clock shared by the token source and the test server.
type fakeTime struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeTime() *fakeTime {
	return &fakeTime{now: time.Now().UTC().Truncate(time.Second)}
}

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// tokenRequest is one request the test token endpoint received, with its verified JWTs.
type tokenRequest struct {
	form           map[string][]string
	assertion      jwt.Token
	assertionKID   string
	assertionAlg   jwa.SignatureAlgorithm
	proof          map[string]any // nil without a DPoP header
	proofHeader    jws.Headers
	proofJWKFields map[string]any
}

// tokenServer is an Okta token endpoint over real TLS that verifies every client assertion
// with the client's public key and every DPoP proof with the key in its header.
type tokenServer struct {
	t      *testing.T
	srv    *httptest.Server
	clock  *fakeTime
	offset time.Duration // server clock minus client clock, sent in Date
	public crypto.PublicKey

	mu       sync.Mutex
	requests []*tokenRequest
	reply    func(n int, req *tokenRequest, w http.ResponseWriter)
}

func newTokenServer(t *testing.T, clock *fakeTime) *tokenServer {
	t.Helper()
	ts := &tokenServer{t: t, clock: clock, public: clientKey(t).Public()}
	ts.srv = httptest.NewTLSServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.srv.Close)
	return ts
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", ts.clock.Now().Add(ts.offset).Format(http.TimeFormat))
	if r.Method != http.MethodPost || r.URL.Path != "/oauth2/v1/token" {
		http.Error(w, "unexpected request "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := ts.verify(r)
	if err != nil {
		ts.t.Errorf("token request: %v", err)
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"error": "invalid_client", "error_description": err.Error()})
		return
	}
	ts.mu.Lock()
	ts.requests = append(ts.requests, req)
	n := len(ts.requests)
	reply := ts.reply
	ts.mu.Unlock()
	reply(n, req, w)
}

func (ts *tokenServer) verify(r *http.Request) (*tokenRequest, error) {
	req := &tokenRequest{form: r.PostForm}
	if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		return nil, fmt.Errorf("Content-Type %q", got)
	}
	raw := r.PostForm.Get("client_assertion")
	msg, err := jws.Parse([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("client assertion: %v", err)
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	req.assertionKID, req.assertionAlg = hdr.KeyID(), hdr.Algorithm()
	serverNow := ts.clock.Now().Add(ts.offset)
	req.assertion, err = jwt.Parse([]byte(raw), jwt.WithKey(jwa.RS256, ts.public),
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return serverNow })),
		jwt.WithAcceptableSkew(time.Second))
	if err != nil {
		return nil, fmt.Errorf("client assertion: %v", err)
	}
	if proof := r.Header.Get("DPoP"); proof != "" {
		if err := req.verifyProof(proof); err != nil {
			return nil, fmt.Errorf("DPoP proof: %v", err)
		}
	}
	return req, nil
}

func (req *tokenRequest) verifyProof(proof string) error {
	msg, err := jws.Parse([]byte(proof))
	if err != nil {
		return err
	}
	req.proofHeader = msg.Signatures()[0].ProtectedHeaders()
	key := req.proofHeader.JWK()
	if key == nil {
		return errors.New("no jwk header")
	}
	payload, err := jws.Verify([]byte(proof), jws.WithKey(req.proofHeader.Algorithm(), key))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(payload, &req.proof); err != nil {
		return err
	}
	keyJSON, err := json.Marshal(key)
	if err != nil {
		return err
	}
	return json.Unmarshal(keyJSON, &req.proofJWKFields)
}

func (ts *tokenServer) Requests() []*tokenRequest {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]*tokenRequest(nil), ts.requests...)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func grant(tokenType, value, scope string) func(int, *tokenRequest, http.ResponseWriter) {
	return func(_ int, _ *tokenRequest, w http.ResponseWriter) {
		writeJSON(w, http.StatusOK, map[string]any{"token_type": tokenType,
			"access_token": value, "expires_in": 3600, "scope": scope})
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newSource returns a TokenSource for ts, with DPoP when dpop is true.
func newSource(t *testing.T, ts *tokenServer, clock *Clock, dpop bool) *TokenSource {
	t.Helper()
	var prover *Prover
	if dpop {
		var err error
		if prover, err = NewProver(nil, clock); err != nil {
			t.Fatal(err)
		}
	}
	return NewTokenSource(Config{
		OrgURL: ts.srv.URL, ClientID: "0oaclient", KeyID: "kid-7", ClientKey: clientKey(t),
		Scopes: []string{"okta.logs.read"}, Prover: prover, Client: ts.srv.Client(),
		Clock: clock, Logger: discardLogger(), UserAgent: "test/1",
	})
}

func TestClientAssertion(t *testing.T) {
	ft := newFakeTime()
	ts := newTokenServer(t, ft)
	ts.reply = grant("Bearer", "tok-1", "okta.logs.read")
	src := newSource(t, ts, NewClock(ft.Now), false)

	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value != "tok-1" || tok.Type != "Bearer" {
		t.Errorf("token = %+v", tok)
	}
	reqs := ts.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d token requests, want 1", len(reqs))
	}
	req := reqs[0]
	tokenURL := ts.srv.URL + "/oauth2/v1/token"
	if src.TokenURL() != tokenURL {
		t.Errorf("TokenURL = %q, want %q", src.TokenURL(), tokenURL)
	}
	formChecks := map[string]string{
		"grant_type":            "client_credentials",
		"scope":                 "okta.logs.read",
		"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
	}
	for k, want := range formChecks {
		if got := req.form[k]; len(got) != 1 || got[0] != want {
			t.Errorf("form %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := req.form["client_id"]; ok {
		t.Error("form has client_id besides the assertion")
	}
	if req.assertionKID != "kid-7" {
		t.Errorf("kid = %q, want kid-7", req.assertionKID)
	}
	if req.assertionAlg != jwa.RS256 {
		t.Errorf("alg = %q, want RS256", req.assertionAlg)
	}
	a := req.assertion
	if a.Issuer() != "0oaclient" {
		t.Errorf("iss = %q", a.Issuer())
	}
	if a.Subject() != "0oaclient" {
		t.Errorf("sub = %q", a.Subject())
	}
	if aud := a.Audience(); len(aud) != 1 || aud[0] != tokenURL {
		t.Errorf("aud = %q, want [%s]", aud, tokenURL)
	}
	if life := a.Expiration().Sub(a.IssuedAt()); life <= 0 || life > 5*time.Minute {
		t.Errorf("exp - iat = %s, want at most 5m", life)
	}
	if !a.IssuedAt().Before(ft.Now()) {
		t.Errorf("iat %s is not before the request time %s", a.IssuedAt(), ft.Now())
	}
	if a.JwtID() == "" {
		t.Error("no jti")
	}
	if req.proof != nil {
		t.Error("a DPoP proof was sent with DPoP off")
	}
}

func TestClientAssertionECKey(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	src := NewTokenSource(Config{OrgURL: "https://example.okta.com", ClientID: "0oaclient",
		KeyID: "kid-ec", ClientKey: key, Clock: NewClock(nil)})
	assertion, err := src.clientAssertion()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := jws.Parse([]byte(assertion))
	if err != nil {
		t.Fatal(err)
	}
	if alg := msg.Signatures()[0].ProtectedHeaders().Algorithm(); alg != jwa.ES384 {
		t.Errorf("alg = %s, want ES384", alg)
	}
	if _, err := jwt.Parse([]byte(assertion), jwt.WithKey(jwa.ES384, key.Public())); err != nil {
		t.Errorf("ES384 assertion does not verify: %v", err)
	}
}

func TestDPoPTokenRequest(t *testing.T) {
	ft := newFakeTime()
	ts := newTokenServer(t, ft)
	ts.reply = func(_ int, req *tokenRequest, w http.ResponseWriter) {
		if req.proof["nonce"] != "nonce-1" {
			w.Header().Set("DPoP-Nonce", "nonce-1")
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "use_dpop_nonce",
				"error_description": "Authorization server requires nonce in DPoP proof."})
			return
		}
		grant("DPoP", "dpop-token", "okta.logs.read")(0, req, w)
	}
	src := newSource(t, ts, NewClock(ft.Now), true)

	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Type != "DPoP" || tok.Value != "dpop-token" {
		t.Errorf("token = %+v", tok)
	}
	reqs := ts.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d token requests, want 2 (challenge, retry)", len(reqs))
	}
	if _, ok := reqs[0].proof["nonce"]; ok {
		t.Error("first proof has a nonce before any was sent")
	}
	if reqs[1].proof["nonce"] != "nonce-1" {
		t.Errorf("retry proof nonce = %v, want nonce-1", reqs[1].proof["nonce"])
	}
	if reqs[0].assertion.JwtID() == reqs[1].assertion.JwtID() {
		t.Error("the retry reused the client assertion jti")
	}
	if reqs[0].proof["jti"] == reqs[1].proof["jti"] {
		t.Error("the retry reused the DPoP proof jti")
	}
	for i, req := range reqs {
		checkTokenProof(t, i, req, ts.srv.URL+"/oauth2/v1/token", ft.Now())
	}
	thumb, err := src.cfg.Prover.Thumbprint()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := reqs[1].proofHeader.JWK().Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(sum); got != thumb {
		t.Errorf("Thumbprint = %s, proof key thumbprint %s", thumb, got)
	}
}

func checkTokenProof(t *testing.T, i int, req *tokenRequest, htu string, now time.Time) {
	t.Helper()
	if req.proof == nil {
		t.Fatalf("request %d has no DPoP proof", i)
	}
	if typ := req.proofHeader.Type(); typ != "dpop+jwt" {
		t.Errorf("request %d: typ = %q, want dpop+jwt", i, typ)
	}
	if alg := req.proofHeader.Algorithm(); alg != jwa.ES256 {
		t.Errorf("request %d: alg = %q, want ES256", i, alg)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := req.proofJWKFields[private]; ok {
			t.Errorf("request %d: proof jwk has private member %q", i, private)
		}
	}
	if req.proofJWKFields["kty"] != "EC" || req.proofJWKFields["crv"] != "P-256" {
		t.Errorf("request %d: proof jwk = %v", i, req.proofJWKFields)
	}
	if req.proof["htm"] != "POST" {
		t.Errorf("request %d: htm = %v", i, req.proof["htm"])
	}
	if req.proof["htu"] != htu {
		t.Errorf("request %d: htu = %v, want %s", i, req.proof["htu"], htu)
	}
	if iat, ok := req.proof["iat"].(float64); !ok || int64(iat) != now.Unix() {
		t.Errorf("request %d: iat = %v, want %d", i, req.proof["iat"], now.Unix())
	}
	if jti, ok := req.proof["jti"].(string); !ok || len(jti) < 16 {
		t.Errorf("request %d: jti = %v", i, req.proof["jti"])
	}
	if _, ok := req.proof["ath"]; ok {
		t.Errorf("request %d: token request proof has ath", i)
	}
}

func TestDPoPNonceRepeatedStops(t *testing.T) {
	ft := newFakeTime()
	ts := newTokenServer(t, ft)
	ts.reply = func(_ int, _ *tokenRequest, w http.ResponseWriter) {
		w.Header().Set("DPoP-Nonce", "same-nonce")
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "use_dpop_nonce",
			"error_description": "Authorization server requires nonce in DPoP proof."})
	}
	src := newSource(t, ts, NewClock(ft.Now), true)

	_, err := src.Token(context.Background())
	if err == nil {
		t.Fatal("Token succeeded although every answer is a nonce challenge")
	}
	if !strings.Contains(err.Error(), "use_dpop_nonce") {
		t.Errorf("error %q does not name use_dpop_nonce", err)
	}
	if strings.Contains(err.Error(), "same-nonce") {
		t.Errorf("error %q contains the nonce", err)
	}
	if n := len(ts.Requests()); n != 2 {
		t.Errorf("%d token requests, want 2 (one retry with the nonce, then stop)", n)
	}
}

func TestDPoPNonceChangingIsBounded(t *testing.T) {
	ft := newFakeTime()
	ts := newTokenServer(t, ft)
	ts.reply = func(n int, _ *tokenRequest, w http.ResponseWriter) {
		w.Header().Set("DPoP-Nonce", fmt.Sprintf("nonce-%d", n))
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "use_dpop_nonce"})
	}
	src := newSource(t, ts, NewClock(ft.Now), true)

	if _, err := src.Token(context.Background()); err == nil {
		t.Fatal("Token succeeded although every answer is a nonce challenge")
	}
	if n := len(ts.Requests()); n != maxNonceChallenges+1 {
		t.Errorf("%d token requests, want %d", n, maxNonceChallenges+1)
	}
}

func TestDPoPNonceCachedAcrossRequests(t *testing.T) {
	ft := newFakeTime()
	ts := newTokenServer(t, ft)
	ts.reply = func(n int, req *tokenRequest, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("DPoP-Nonce", "n-1")
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "use_dpop_nonce"})
			return
		}
		grant("DPoP", fmt.Sprintf("tok-%d", n), "okta.logs.read")(n, req, w)
	}
	src := newSource(t, ts, NewClock(ft.Now), true)
	first, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	src.Invalidate(first)
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := ts.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d token requests, want 3", len(reqs))
	}
	if reqs[2].proof["nonce"] != "n-1" {
		t.Errorf("renewal proof nonce = %v, want the cached n-1", reqs[2].proof["nonce"])
	}
}

func TestTokenCaching(t *testing.T) {
	ft := newFakeTime()
	ts := newTokenServer(t, ft)
	ts.reply = func(n int, req *tokenRequest, w http.ResponseWriter) {
		grant("Bearer", fmt.Sprintf("tok-%d", n), "okta.logs.read")(n, req, w)
	}
	src := newSource(t, ts, NewClock(ft.Now), false)
	ctx := context.Background()

	steps := []struct {
		name    string
		advance time.Duration
		invalid bool
		want    string
	}{
		{"first request", 0, false, "tok-1"},
		{"cached", 30 * time.Minute, false, "tok-1"},
		{"cached until 5m before expiry", 24*time.Minute + 59*time.Second, false, "tok-1"},
		{"renewed 5m before expiry", time.Second, false, "tok-2"},
		{"renewal cached", time.Minute, false, "tok-2"},
		{"invalidated", 0, true, "tok-3"},
	}
	var last *Token
	for _, st := range steps {
		ft.Advance(st.advance)
		if st.invalid {
			src.Invalidate(last)
		}
		tok, err := src.Token(ctx)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if tok.Value != st.want {
			t.Errorf("%s: token %s, want %s", st.name, tok.Value, st.want)
		}
		last = tok
	}
	if got := src.Renewals(); got != 3 {
		t.Errorf("Renewals = %d, want 3", got)
	}
	stale := &Token{Value: "old"}
	src.Invalidate(stale)
	if tok, _ := src.Token(ctx); tok.Value != "tok-3" {
		t.Errorf("Invalidate of another token dropped the cache: got %s", tok.Value)
	}
}

func TestTokenResponseErrors(t *testing.T) {
	cases := []struct {
		name  string
		dpop  bool
		reply func(int, *tokenRequest, http.ResponseWriter)
		want  []string
	}{
		{"Bearer when DPoP requested", true, grant("Bearer", "t", "okta.logs.read"),
			[]string{"Bearer token although a DPoP proof was sent", "dpop off"}},
		{"DPoP when Bearer requested", false, grant("DPoP", "t", "okta.logs.read"),
			[]string{"DPoP token", "set dpop on"}},
		{"scope missing from the list", false, grant("Bearer", "t", "okta.users.read"),
			[]string{"lacks scope okta.logs.read", `"okta.users.read"`, "Okta API Scopes"}},
		{"no access_token", false, grant("Bearer", "", "okta.logs.read"),
			[]string{"no access_token"}},
		{"not JSON", false, func(_ int, _ *tokenRequest, w http.ResponseWriter) {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "<html>")
		}, []string{"not valid JSON"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ft := newFakeTime()
			ts := newTokenServer(t, ft)
			ts.reply = tc.reply
			src := newSource(t, ts, NewClock(ft.Now), tc.dpop)
			_, err := src.Token(context.Background())
			if err == nil {
				t.Fatal("Token succeeded")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), `"t"`) {
				t.Errorf("error %q contains the access token", err)
			}
		})
	}
}

// TestTokenScopeOmitted follows RFC 6749 section 5.1: the scope member may be left out when
// the granted scope equals the requested one.
func TestTokenScopeOmitted(t *testing.T) {
	ft := newFakeTime()
	ts := newTokenServer(t, ft)
	ts.reply = func(_ int, _ *tokenRequest, w http.ResponseWriter) {
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer",
			"access_token": "t", "expires_in": 3600})
	}
	src := newSource(t, ts, NewClock(ft.Now), false)
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tok.Scopes, " ") != "okta.logs.read" {
		t.Errorf("Scopes = %q, want the requested okta.logs.read", tok.Scopes)
	}
}

func TestOAuthErrorMessages(t *testing.T) {
	cases := []struct {
		status    int
		body      string
		want      []string
		permanent bool
	}{
		{401, `{"error":"invalid_client","error_description":"The client_assertion JWT kid is invalid."}`,
			[]string{"HTTP 401", "invalid_client", "kid is invalid", "key_id does not match"}, true},
		{401, `{"error":"invalid_client","error_description":"The client_assertion signature is invalid."}`,
			[]string{"private key does not match"}, true},
		{401, "{\"error\":\"invalid_client\",\"error_description\":\"Invalid value for the `client_id` parameter\"}",
			[]string{"check client_id"}, true},
		{401, `{"error":"invalid_client","error_description":"Client Credentials requests to the Org Authorization Server must use the private_key_jwt token_endpoint_auth_method."}`,
			[]string{"Public key / Private key"}, true},
		{401, `{"error":"invalid_client","error_description":"The client_assertion token has an expiration too far into the future"}`,
			[]string{"NTP"}, true},
		{400, `{"error":"invalid_dpop_proof","error_description":"The DPoP proof JWT header is missing."}`,
			[]string{"invalid_dpop_proof", "set dpop on"}, true},
		{400, `{"error":"invalid_dpop_proof","error_description":"'htu' claim in the DPoP proof JWT is invalid."}`,
			[]string{"rejected the DPoP proof"}, true},
		{400, `{"error":"invalid_scope","error_description":"One or more scopes are not configured for the authorization server resource."}`,
			[]string{"invalid_scope", "Okta API Scopes"}, true},
		{403, `{"error":"access_denied","error_description":"The request is made from outside the client's permitted network zones."}`,
			[]string{"network zone"}, true},
		{400, `{"error":"unauthorized_client","error_description":"x"}`,
			[]string{"Client Credentials grant"}, true},
		{429, `{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests.","errorCauses":[]}`,
			[]string{"HTTP 429", "E0000047", "exceeded rate limit", "retrying later"}, false},
		{400, `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof."}`,
			[]string{"use_dpop_nonce"}, false},
		{502, "<html>\n<body>Bad   gateway</body></html>",
			[]string{"HTTP 502", "<html> <body>Bad gateway</body></html>"}, false},
	}
	for _, tc := range cases {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
		e := newOAuthError(resp, []byte(tc.body))
		for _, want := range tc.want {
			if !strings.Contains(e.Error(), want) {
				t.Errorf("HTTP %d %s: error %q does not contain %q", tc.status, e.Code, e, want)
			}
		}
		if e.Permanent() != tc.permanent {
			t.Errorf("HTTP %d %s: Permanent = %v, want %v", tc.status, e.Code, e.Permanent(),
				tc.permanent)
		}
	}
}

func TestOAuthErrorLongBody(t *testing.T) {
	body := strings.Repeat("x", 500)
	e := newOAuthError(&http.Response{StatusCode: 500, Header: http.Header{}}, []byte(body))
	if len(e.Description) != 203 || !strings.HasSuffix(e.Description, "...") {
		t.Errorf("Description has %d bytes: %q", len(e.Description), e.Description)
	}
}

func TestClockOffset(t *testing.T) {
	ft := newFakeTime()
	clock := NewClock(ft.Now)
	cases := []struct {
		server time.Duration
		want   time.Duration
	}{
		{90 * time.Second, 90 * time.Second},
		{time.Second, 0},
		{-1500 * time.Millisecond, 0},
		{-3 * time.Minute, -3 * time.Minute},
	}
	for _, tc := range cases {
		clock.Observe(ft.Now().Add(tc.server))
		if got := clock.Offset(); got != tc.want {
			t.Errorf("Observe(now%+v): Offset = %s, want %s", tc.server, got, tc.want)
		}
		if got := clock.Now().Sub(ft.Now()); got != tc.want {
			t.Errorf("Observe(now%+v): Now - local = %s, want %s", tc.server, got, tc.want)
		}
		if !clock.Local().Equal(ft.Now()) {
			t.Errorf("Local = %s, want the uncorrected %s", clock.Local(), ft.Now())
		}
	}
	clock.Observe(time.Time{})
	if got := clock.Offset(); got != -3*time.Minute {
		t.Errorf("a zero Date changed the offset to %s", got)
	}
}

// TestClockOffsetInAssertion runs the token request against a server whose clock is three
// minutes ahead, so the second assertion must carry the server's time.
func TestClockOffsetInAssertion(t *testing.T) {
	ft := newFakeTime()
	ts := newTokenServer(t, ft)
	ts.offset = 3 * time.Minute
	ts.reply = func(n int, req *tokenRequest, w http.ResponseWriter) {
		grant("Bearer", fmt.Sprintf("tok-%d", n), "okta.logs.read")(n, req, w)
	}
	clock := NewClock(ft.Now)
	src := newSource(t, ts, clock, false)
	// The first assertion uses the local clock, which the server accepts within exp.
	first, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := clock.Offset(); got != 3*time.Minute {
		t.Fatalf("Offset = %s, want 3m from the Date header", got)
	}
	src.Invalidate(first)
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := ts.Requests()
	iat := reqs[1].assertion.IssuedAt()
	serverNow := ft.Now().Add(ts.offset)
	if d := serverNow.Sub(iat); d < 0 || d > 10*time.Second {
		t.Errorf("iat %s is %s before the server time %s, want a few seconds", iat, d, serverNow)
	}
}

func TestProofForResource(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ft := newFakeTime()
	prover, err := NewProver(key, NewClock(ft.Now))
	if err != nil {
		t.Fatal(err)
	}
	target := "https://Example.OKTA.com:443/api/v1/logs?after=1627500044869_1&limit=1000#x"
	proof, err := prover.Proof(http.MethodGet, target, "rs-nonce", "access-token-value")
	if err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify([]byte(proof), jws.WithKey(jwa.ES256, key.Public()))
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("access-token-value"))
	want := map[string]any{
		"htm":   "GET",
		"htu":   "https://example.okta.com/api/v1/logs",
		"nonce": "rs-nonce",
		"ath":   base64.RawURLEncoding.EncodeToString(sum[:]),
		"iat":   float64(ft.Now().Unix()),
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	other, err := prover.Proof(http.MethodGet, target, "", "access-token-value")
	if err != nil {
		t.Fatal(err)
	}
	var otherClaims map[string]any
	otherPayload, _ := jws.Verify([]byte(other), jws.WithKey(jwa.ES256, key.Public()))
	if err := json.Unmarshal(otherPayload, &otherClaims); err != nil {
		t.Fatal(err)
	}
	if otherClaims["jti"] == claims["jti"] {
		t.Error("two proofs share a jti")
	}
	if _, ok := otherClaims["nonce"]; ok {
		t.Error("proof without a nonce argument has a nonce claim")
	}
}

func TestHTU(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://example.okta.com/api/v1/logs?since=x", "https://example.okta.com/api/v1/logs"},
		{"https://example.okta.com:443/oauth2/v1/token", "https://example.okta.com/oauth2/v1/token"},
		{"https://127.0.0.1:8443/api/v1/logs#frag", "https://127.0.0.1:8443/api/v1/logs"},
		{"HTTPS://EXAMPLE.okta.com/api/v1/logs", "https://example.okta.com/api/v1/logs"},
	}
	for _, tc := range cases {
		got, err := HTU(tc.in)
		if err != nil {
			t.Errorf("HTU(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("HTU(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNewProverRejectsP521(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewProver(key, NewClock(nil)); err == nil {
		t.Error("NewProver accepted a P-521 key, which SigningAlgorithm cannot sign with")
	}
}

func TestBodySnippetCutsAtCharacter(t *testing.T) {
	body := []byte(strings.Repeat("a", 199) + "é and more text after the limit")
	got := BodySnippet(body)
	if !utf8.ValidString(got) {
		t.Errorf("snippet %q is not valid UTF-8", got)
	}
	if want := strings.Repeat("a", 199) + "..."; got != want {
		t.Errorf("snippet = %q, want %q", got, want)
	}
	if got := BodySnippet([]byte("  short\n body ")); got != "short body" {
		t.Errorf("snippet = %q, want the body on one line", got)
	}
}
