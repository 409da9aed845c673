package mockokta

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

func checkOAuthError(t *testing.T, resp response, status int, code, desc string) {
	t.Helper()
	if resp.status != status {
		t.Errorf("status = %d, want %d (body %s)", resp.status, status, resp.body)
	}
	body := resp.json(t)
	if body["error"] != code {
		t.Errorf("error = %v, want %q", body["error"], code)
	}
	if body["error_description"] != desc {
		t.Errorf("error_description = %q, want %q", body["error_description"], desc)
	}
	if got := resp.header.Get("Cache-Control"); got != "no-cache, no-store" {
		t.Errorf("Cache-Control = %q, want no-cache, no-store", got)
	}
}

func TestTokenNonceChallengeFlow(t *testing.T) {
	srv, c := startServer(t, nil, nil)
	htu := srv.TokenURL()
	form := c.tokenForm()

	resp := c.postToken(form, c.proof(c.proofClaims(http.MethodPost, htu)))
	checkOAuthError(t, resp, http.StatusBadRequest, "use_dpop_nonce",
		"Authorization server requires nonce in DPoP proof.")
	nonce := resp.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("challenge has no dpop-nonce header")
	}
	c.nonce = nonce

	// The challenge spent the assertion jti, so retrying the same form fails.
	resp = c.postToken(form, c.proof(c.proofClaims(http.MethodPost, htu)))
	checkOAuthError(t, resp, http.StatusUnauthorized, "invalid_client",
		"The client_assertion token has already been used")

	resp = c.postToken(c.tokenForm(), c.proof(c.proofClaims(http.MethodPost, htu)))
	if resp.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", resp.status, resp.body)
	}
	body := resp.json(t)
	if body["token_type"] != "DPoP" {
		t.Errorf("token_type = %v, want DPoP", body["token_type"])
	}
	if body["expires_in"] != float64(3600) {
		t.Errorf("expires_in = %v, want 3600", body["expires_in"])
	}
	if body["scope"] != ScopeLogsRead {
		t.Errorf("scope = %v, want %s", body["scope"], ScopeLogsRead)
	}
	if tok, _ := body["access_token"].(string); tok == "" {
		t.Error("access_token is empty")
	}

	st := srv.Stats()
	if st.TokenRequests != 3 {
		t.Errorf("TokenRequests = %d, want 3", st.TokenRequests)
	}
	if st.NonceChallenges != 1 {
		t.Errorf("NonceChallenges = %d, want 1", st.NonceChallenges)
	}
	if st.TokensIssued != 1 {
		t.Errorf("TokensIssued = %d, want 1", st.TokensIssued)
	}
	if st.AssertionJTIs != 2 {
		t.Errorf("AssertionJTIs = %d, want 2", st.AssertionJTIs)
	}
	if st.Rejected[ReasonAssertionReplay] != 1 {
		t.Errorf("Rejected[%s] = %d, want 1", ReasonAssertionReplay, st.Rejected[ReasonAssertionReplay])
	}
}

func TestTokenAssertionRejections(t *testing.T) {
	srv, c := startServer(t, nil, nil)
	c.nonce = srv.CurrentNonce()
	otherKey, _, err := GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}

	withClaims := func(change func(map[string]any)) url.Values {
		form := c.tokenForm()
		claims := c.assertionClaims()
		change(claims)
		form.Set("client_assertion", c.assertion(claims))
		return form
	}
	withHeader := func(kid any, key any) url.Values {
		form := c.tokenForm()
		hdr := jws.NewHeaders()
		if kid != nil {
			_ = hdr.Set(jws.KeyIDKey, kid)
		}
		form.Set("client_assertion", c.sign(c.assertionClaims(), jwa.RS256, key, hdr))
		return form
	}
	now := time.Now()

	cases := []struct {
		name   string
		form   url.Values
		basic  bool
		status int
		code   string
		desc   string
		reason string
	}{
		{"no assertion", func() url.Values { f := c.tokenForm(); f.Del("client_assertion"); return f }(),
			false, 401, "invalid_client", "No client credentials found", ReasonNoCredentials},
		{"wrong assertion type", func() url.Values {
			f := c.tokenForm()
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
			return f
		}(), false, 400, "invalid_request", "The `client_assertion_type` is invalid.",
			ReasonAssertionType},
		{"wrong grant type", func() url.Values {
			f := c.tokenForm()
			f.Set("grant_type", "password")
			return f
		}(),
			false, 400, "unsupported_grant_type", "The grant type in the request isn't supported.",
			ReasonGrantType},
		{"basic auth too", c.tokenForm(), true, 400, "invalid_request",
			"Can't supply multiple client credentials.", ReasonMultipleCreds},
		{"missing kid", withHeader(nil, c.clientKey), false, 401, "invalid_client",
			"The client_assertion JWT kid is invalid.", ReasonAssertionKID},
		{"unknown kid", withHeader("other", c.clientKey), false, 401, "invalid_client",
			"The client_assertion JWT kid is invalid.", ReasonAssertionKID},
		{"wrong key", withHeader(testKeyID, otherKey), false, 401, "invalid_client",
			"The client_assertion signature is invalid.", ReasonAssertionSig},
		{"wrong iss", withClaims(func(m map[string]any) { m["iss"] = "0oaother" }), false, 401,
			"invalid_client", "Invalid value for the `client_id` parameter", ReasonAssertionClient},
		{"wrong sub", withClaims(func(m map[string]any) { m["sub"] = "0oaother" }), false, 401,
			"invalid_client", "Invalid value for the `client_id` parameter", ReasonAssertionClient},
		{"aud is issuer", withClaims(func(m map[string]any) { m["aud"] = srv.URL() }), false, 401,
			"invalid_client",
			"The audience claim for client_assertion must be the endpoint invoked for the request.",
			ReasonAssertionAud},
		{"aud custom server", withClaims(func(m map[string]any) {
			m["aud"] = srv.URL() + "/oauth2/default/v1/token"
		}), false, 401, "invalid_client",
			"The audience claim for client_assertion must be the endpoint invoked for the request.",
			ReasonAssertionAud},
		{"exp one hour", withClaims(func(m map[string]any) { m["exp"] = now.Add(time.Hour).Unix() }),
			false, 401, "invalid_client",
			"The client_assertion token has an expiration too far into the future",
			ReasonAssertionExpLong},
		{"exp passed", withClaims(func(m map[string]any) { m["exp"] = now.Add(-time.Minute).Unix() }),
			false, 401, "invalid_client", descAssertionExp, ReasonAssertionExp},
		{"exp missing", withClaims(func(m map[string]any) { delete(m, "exp") }),
			false, 401, "invalid_client", descAssertionExp, ReasonAssertionExp},
		{"iat future", withClaims(func(m map[string]any) { m["iat"] = now.Add(2 * time.Minute).Unix() }),
			false, 401, "invalid_client", descAssertionIat, ReasonAssertionIat},
		{"no scope", func() url.Values { f := c.tokenForm(); f.Del("scope"); return f }(),
			false, 400, "invalid_scope", "No scopes were requested.", ReasonNoScope},
		{"unknown scope", func() url.Values { f := c.tokenForm(); f.Set("scope", "openid"); return f }(),
			false, 400, "invalid_scope",
			"One or more scopes are not configured for the authorization server resource.",
			ReasonUnknownScope},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.TokenURL(), strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("DPoP", c.tokenProof())
			if tc.basic {
				req.SetBasicAuth(testClientID, "secret")
			}
			before := srv.Stats().Rejected[tc.reason]
			checkOAuthError(t, c.do(req), tc.status, tc.code, tc.desc)
			if got := srv.Stats().Rejected[tc.reason]; got != before+1 {
				t.Errorf("Rejected[%s] = %d, want %d", tc.reason, got, before+1)
			}
		})
	}
}

func TestTokenProofRejections(t *testing.T) {
	srv, c := startServer(t, nil, nil)
	c.nonce = srv.CurrentNonce()
	htu := srv.TokenURL()
	valid := func() map[string]any { return c.proofClaims(http.MethodPost, htu) }
	changed := func(change func(map[string]any)) string {
		claims := valid()
		change(claims)
		return c.proof(claims)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwkJSON := c.publicJWKJSON()
	privateJWK := strings.TrimSuffix(jwkJSON, "}") + `,"d":"AAAA"}`
	signedByOther := func() string {
		saved := c.dpopKey
		c.dpopKey = other
		defer func() { c.dpopKey = saved }()
		return c.rawProof(`{"typ":"dpop+jwt","alg":"ES256","jwk":`+jwkJSON+`}`, valid())
	}()
	replayed := c.proof(valid())
	first := c.postToken(c.tokenForm(), replayed)
	if first.status != http.StatusOK {
		t.Fatalf("first use of the proof: status %d, body %s", first.status, first.body)
	}

	cases := []struct {
		name   string
		proof  string
		desc   string
		reason string
	}{
		{"missing", "", "The DPoP proof JWT header is missing.", ReasonProofMissing},
		{"garbage", "not-a-jwt", "DPoP proof JWT cannot be parsed.", ReasonProofParse},
		{"typ JWT", c.rawProof(`{"typ":"JWT","alg":"ES256","jwk":`+jwkJSON+`}`, valid()),
			"DPoP proof JWT cannot be parsed.", ReasonProofTyp},
		{"duplicate typ", c.rawProof(`{"typ":"dpop+jwt","typ":"dpop+jwt","alg":"ES256","jwk":`+
			jwkJSON+`}`, valid()), "DPoP proof JWT cannot be parsed.", ReasonProofParse},
		{"alg none", c.rawProof(`{"typ":"dpop+jwt","alg":"none","jwk":`+jwkJSON+`}`, valid()),
			"DPoP proof JWT cannot be parsed.", ReasonProofAlg},
		{"alg HS256", c.rawProof(`{"typ":"dpop+jwt","alg":"HS256","jwk":`+jwkJSON+`}`, valid()),
			"DPoP proof JWT cannot be parsed.", ReasonProofAlg},
		{"no jwk", c.rawProof(`{"typ":"dpop+jwt","alg":"ES256"}`, valid()),
			"DPoP proof JWT cannot be parsed.", ReasonProofJWK},
		{"private jwk", c.rawProof(`{"typ":"dpop+jwt","alg":"ES256","jwk":`+privateJWK+`}`, valid()),
			"DPoP proof JWT cannot be parsed.", ReasonProofJWK},
		{"signed by other key", signedByOther, descProofSignature, ReasonProofSig},
		{"htm GET", changed(func(m map[string]any) { m["htm"] = "GET" }),
			"'htm' claim in the DPoP proof JWT is invalid.", ReasonProofHTM},
		{"htu with query", changed(func(m map[string]any) { m["htu"] = htu + "?a=b" }),
			"'htu' claim in the DPoP proof JWT is invalid.", ReasonProofHTU},
		{"htu custom server", changed(func(m map[string]any) {
			m["htu"] = srv.URL() + "/oauth2/default/v1/token"
		}), "'htu' claim in the DPoP proof JWT is invalid.", ReasonProofHTU},
		{"iat stale", changed(func(m map[string]any) {
			m["iat"] = time.Now().Add(-5 * time.Minute).Unix()
		}),
			"'iat' claim in the DPoP proof JWT is invalid.", ReasonProofIat},
		{"iat missing", changed(func(m map[string]any) { delete(m, "iat") }),
			"'iat' claim in the DPoP proof JWT is invalid.", ReasonProofIat},
		{"jti missing", changed(func(m map[string]any) { delete(m, "jti") }),
			"'jti' claim in the DPoP proof JWT is invalid.", ReasonProofJTI},
		{"jti replayed", replayed, "'jti' claim in the DPoP proof JWT is invalid.", ReasonProofReplay},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Stats().Rejected[tc.reason]
			resp := c.postToken(c.tokenForm(), tc.proof)
			checkOAuthError(t, resp, http.StatusBadRequest, "invalid_dpop_proof", tc.desc)
			if got := srv.Stats().Rejected[tc.reason]; got != before+1 {
				t.Errorf("Rejected[%s] = %d, want %d", tc.reason, got, before+1)
			}
		})
	}
}

func TestTokenWrongNonce(t *testing.T) {
	srv, c := startServer(t, nil, nil)
	c.nonce = "made-up-nonce"
	resp := c.postToken(c.tokenForm(), c.tokenProof())
	checkOAuthError(t, resp, http.StatusBadRequest, "use_dpop_nonce",
		"Authorization server requires nonce in DPoP proof.")
	if got, want := resp.header.Get("DPoP-Nonce"), srv.CurrentNonce(); got != want {
		t.Errorf("dpop-nonce = %q, want the current nonce %q", got, want)
	}
}

func TestNonceRotationKeepsPrevious(t *testing.T) {
	clock := newFakeClock()
	srv, c := startServer(t, clock, func(cfg *Config) { cfg.NonceLifetime = time.Hour })
	first := srv.CurrentNonce()

	clock.Advance(time.Hour)
	second := srv.CurrentNonce()
	if second == first {
		t.Fatal("nonce did not rotate after NonceLifetime")
	}
	c.nonce = first
	resp := c.postToken(c.tokenForm(), c.tokenProof())
	if resp.status != http.StatusOK {
		t.Errorf("previous nonce: status %d, body %s", resp.status, resp.body)
	}

	srv.SetFault(Fault{RotateNonce: true})
	if srv.CurrentNonce() == second {
		t.Fatal("RotateNonce fault did not rotate")
	}
	resp = c.postToken(c.tokenForm(), c.tokenProof())
	checkOAuthError(t, resp, http.StatusBadRequest, "use_dpop_nonce",
		"Authorization server requires nonce in DPoP proof.")
	if resp.header.Get("DPoP-Nonce") != srv.CurrentNonce() {
		t.Error("challenge does not carry the current nonce")
	}
}

func TestTokenScopeNotGrantedDropped(t *testing.T) {
	srv, c := startServer(t, nil, func(cfg *Config) {
		cfg.GrantedScopes = []string{ScopeLogsRead, "okta.users.read"}
	})
	c.nonce = srv.CurrentNonce()
	form := c.tokenForm()
	form.Set("scope", "okta.apps.read okta.logs.read okta.users.read")
	resp := c.postToken(form, c.tokenProof())
	if resp.status != http.StatusOK {
		t.Fatalf("status %d, body %s", resp.status, resp.body)
	}
	if got := resp.json(t)["scope"]; got != "okta.logs.read okta.users.read" {
		t.Errorf("scope = %q, want the granted scopes only", got)
	}
}

func TestTokenBearerWhenDPoPOff(t *testing.T) {
	srv, c := startServer(t, nil, func(cfg *Config) { cfg.RequireDPoP = false })
	resp := c.postToken(c.tokenForm(), "")
	if resp.status != http.StatusOK {
		t.Fatalf("status %d, body %s", resp.status, resp.body)
	}
	if got := resp.json(t)["token_type"]; got != "Bearer" {
		t.Errorf("token_type = %v, want Bearer", got)
	}
	if srv.Stats().NonceChallenges != 0 {
		t.Error("nonce challenge sent although DPoP is off")
	}
}

func TestTokenECClientKey(t *testing.T) {
	key, _, err := GenerateECClientKey()
	if err != nil {
		t.Fatal(err)
	}
	srv, c := startServer(t, nil, func(cfg *Config) { cfg.ClientKey = &key.PublicKey })
	c.nonce = srv.CurrentNonce()
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, testKeyID)
	form := c.tokenForm()
	form.Set("client_assertion", c.sign(c.assertionClaims(), jwa.ES256, key, hdr))
	resp := c.postToken(form, c.tokenProof())
	if resp.status != http.StatusOK {
		t.Errorf("ES256 assertion: status %d, body %s", resp.status, resp.body)
	}
	form = c.tokenForm()
	form.Set("client_assertion", c.assertion(c.assertionClaims()))
	resp = c.postToken(form, c.tokenProof())
	checkOAuthError(t, resp, http.StatusUnauthorized, "invalid_client",
		"The client_assertion signature is invalid.")
}

func TestTokenFaultRateLimited(t *testing.T) {
	srv, c := startServer(t, nil, nil)
	c.nonce = srv.CurrentNonce()
	srv.SetFault(Fault{FailTokenRequests: 1, TokenFailStatus: http.StatusTooManyRequests})
	resp := c.postToken(c.tokenForm(), c.tokenProof())
	if resp.status != http.StatusTooManyRequests {
		t.Fatalf("status = %d, want 429", resp.status)
	}
	if got := resp.json(t)["errorCode"]; got != "E0000047" {
		t.Errorf("errorCode = %v, want E0000047", got)
	}
	resp = c.postToken(c.tokenForm(), c.tokenProof())
	if resp.status != http.StatusOK {
		t.Errorf("after the fault: status %d, body %s", resp.status, resp.body)
	}
}

func TestTokenProofWithClientKey(t *testing.T) {
	srv, c := startServer(t, nil, nil)
	c.nonce = srv.CurrentNonce()
	pub, err := jwk.FromRaw(&c.clientKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "dpop+jwt")
	_ = hdr.Set(jws.JWKKey, pub)
	proof := c.sign(c.proofClaims(http.MethodPost, srv.TokenURL()), jwa.RS256, c.clientKey, hdr)
	resp := c.postToken(c.tokenForm(), proof)
	checkOAuthError(t, resp, http.StatusBadRequest, "invalid_dpop_proof",
		"DPoP proof JWT cannot be parsed.")
	if got := srv.Stats().Rejected[ReasonProofClientKey]; got != 1 {
		t.Errorf("Rejected[%s] = %d, want 1", ReasonProofClientKey, got)
	}
}

func TestNewDefaultClientMatches(t *testing.T) {
	srv, client, err := NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if client.ID != DefaultClientID || client.KeyID != DefaultKeyID {
		t.Errorf("client = %s/%s, want the defaults", client.ID, client.KeyID)
	}
	if !strings.Contains(string(client.KeyPEM), "BEGIN PRIVATE KEY") {
		t.Error("KeyPEM is not PKCS #8 PEM")
	}
	if srv.clientThumbprint == "" {
		t.Error("registered key has no thumbprint")
	}
	if got, want := srv.clientThumbprint, thumbprintOf(&client.Key.PublicKey); got != want {
		t.Errorf("registered key thumbprint %s, want the client key's %s", got, want)
	}
	if !srv.cfg.RequireDPoP {
		t.Error("NewDefault does not require DPoP")
	}
}
