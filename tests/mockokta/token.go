package mockokta

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jws"
)

// clientAssertionType is the only client_assertion_type Okta accepts (RFC 7523 section 2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// accessToken is an issued access token. Its value is opaque, as Okta's org authorization
// server tokens are to clients.
type accessToken struct {
	tokenType  string // "DPoP" or "Bearer"
	scopes     []string
	expires    time.Time
	thumbprint string // cnf.jkt of a DPoP-bound token
}

type assertionClaims struct {
	jti string
	exp time.Time
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Now()
	s.mu.Lock()
	s.stats.TokenRequests++
	injected := s.takeTokenFault()
	s.mu.Unlock()

	buf := newResponseBuffer()
	var status int
	var reason string
	if injected != nil {
		status, reason = injected(buf)
	} else {
		status, reason = s.serveToken(buf, r, now)
	}
	s.record(r, status, reason, 0)
	buf.flushTo(w)
}

// serveToken runs the token request checks in Okta's order and writes the response. The
// assertion jti is spent before the DPoP checks, so a nonce challenge needs a new assertion.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, now time.Time) (int, string) {
	if r.Method != http.MethodPost {
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request",
			"The token endpoint accepts POST only.")
		return http.StatusMethodNotAllowed, ReasonMethod
	}
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body is invalid.")
		return http.StatusBadRequest, ReasonGrantType
	}
	form := r.PostForm
	assertion := form.Get("client_assertion")

	if assertion != "" && (r.Header.Get("Authorization") != "" || form.Has("client_secret")) {
		return s.oauthError(w, http.StatusBadRequest, "invalid_request",
			reject(ReasonMultipleCreds, descMultipleCreds))
	}
	if assertion == "" {
		return s.oauthError(w, http.StatusUnauthorized, "invalid_client",
			reject(ReasonNoCredentials, descNoCredentials))
	}
	if form.Get("client_assertion_type") != clientAssertionType {
		return s.oauthError(w, http.StatusBadRequest, "invalid_request",
			reject(ReasonAssertionType, descAssertionType))
	}
	if form.Get("grant_type") != "client_credentials" {
		return s.oauthError(w, http.StatusBadRequest, "unsupported_grant_type",
			reject(ReasonGrantType, descGrantType))
	}
	if id := form.Get("client_id"); id != "" && id != s.cfg.ClientID {
		return s.oauthError(w, http.StatusUnauthorized, "invalid_client",
			reject(ReasonAssertionClient, descClientID))
	}

	claims, rej := s.verifyAssertion(assertion, now)
	if rej != nil {
		return s.oauthError(w, http.StatusUnauthorized, "invalid_client", rej)
	}
	if rej := s.spendAssertion(claims, now); rej != nil {
		return s.oauthError(w, http.StatusUnauthorized, "invalid_client", rej)
	}

	scopes, rej := s.grantScopes(form.Get("scope"))
	if rej != nil {
		return s.oauthError(w, http.StatusBadRequest, "invalid_scope", rej)
	}

	token := &accessToken{tokenType: "Bearer", scopes: scopes, expires: now.Add(s.cfg.TokenTTL)}
	if s.cfg.RequireDPoP {
		proof, rej := verifyProof(r.Header.Values("DPoP"),
			proofRequest{method: http.MethodPost, url: s.TokenURL()}, now, s.cfg.ClockSkew)
		if rej != nil {
			return s.oauthError(w, http.StatusBadRequest, "invalid_dpop_proof", rej)
		}
		// NOTE: whether Okta rejects a proof signed with the client-assertion key is not
		// documented. Okta's DPoP guide requires a separate key, so the mock enforces that.
		if proof.thumbprint == s.clientThumbprint {
			return s.oauthError(w, http.StatusBadRequest, "invalid_dpop_proof",
				reject(ReasonProofClientKey, descProofParse))
		}
		if status, reason, done := s.checkTokenProofState(w, proof, now); done {
			return status, reason
		}
		token.tokenType = "DPoP"
		token.thumbprint = proof.thumbprint
	}

	value := s.issue(token, now)
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "application/json")
	body, _ := json.Marshal(struct {
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}{token.tokenType, int64(s.cfg.TokenTTL / time.Second), value, strings.Join(scopes, " ")})
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return http.StatusOK, reasonOK
}

func (s *Server) oauthError(w http.ResponseWriter, status int, code string,
	rej *rejection) (int, string) {
	writeOAuthError(w, status, code, rej.desc)
	return status, rej.reason
}

// checkTokenProofState rejects a replayed proof jti and sends the nonce challenge. It reports
// done when it wrote a response.
func (s *Server) checkTokenProofState(w http.ResponseWriter, proof *verifiedProof,
	now time.Time) (int, string, bool) {
	s.mu.Lock()
	fresh := s.proofs.use(proof.jti, now, now.Add(2*s.cfg.ClockSkew))
	nonceOK := s.nonces.valid(proof.nonce, now, s.cfg.NonceLifetime)
	current := s.nonces.current
	if fresh && !nonceOK {
		s.stats.NonceChallenges++
	}
	s.mu.Unlock()

	if !fresh {
		status, reason := s.oauthError(w, http.StatusBadRequest, "invalid_dpop_proof",
			reject(ReasonProofReplay, proofClaimDescription("jti")))
		return status, reason, true
	}
	if !nonceOK {
		w.Header().Set("DPoP-Nonce", current)
		status, reason := s.oauthError(w, http.StatusBadRequest, "use_dpop_nonce",
			reject(ReasonNonce, descNonce))
		return status, reason, true
	}
	return 0, "", false
}

// verifyAssertion checks a private_key_jwt client assertion: the kid and signature against
// the registered key, then iss, sub, aud, exp and iat (Okta service-app guide and RFC 7523
// section 3).
func (s *Server) verifyAssertion(assertion string, now time.Time) (*assertionClaims, *rejection) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return nil, reject(ReasonAssertionParse, descAssertionParse)
	}
	header, err := decodeSegment([]byte(parts[0]))
	if err != nil {
		return nil, reject(ReasonAssertionParse, descAssertionParse)
	}
	members, err := decodeObject(header)
	if err != nil {
		return nil, reject(ReasonAssertionParse, descAssertionParse)
	}

	var kid, algName string
	if json.Unmarshal(members["kid"], &kid) != nil || kid == "" || kid != s.cfg.KeyID {
		return nil, reject(ReasonAssertionKID, descKID)
	}
	_ = json.Unmarshal(members["alg"], &algName)
	alg, ok := signingAlgorithms[algName]
	if !ok {
		return nil, reject(ReasonAssertionAlg, descSignature)
	}
	if s.cfg.ClientKey == nil {
		return nil, reject(ReasonAssertionSig, descSignature)
	}
	payload, err := jws.Verify([]byte(assertion), jws.WithKey(alg, s.cfg.ClientKey))
	if err != nil {
		return nil, reject(ReasonAssertionSig, descSignature)
	}

	if _, err := decodeObject(payload); err != nil {
		return nil, reject(ReasonAssertionParse, descAssertionParse)
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
		Iat json.Number     `json:"iat"`
		JTI string          `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, reject(ReasonAssertionParse, descAssertionParse)
	}
	if claims.Iss != s.cfg.ClientID || claims.Sub != s.cfg.ClientID {
		return nil, reject(ReasonAssertionClient, descClientID)
	}
	// NOTE: RFC 7523 allows aud to be an array that contains the token URL. Whether Okta
	// accepts an array is not documented, so the mock requires a single string.
	var aud string
	if json.Unmarshal(claims.Aud, &aud) != nil || aud != s.TokenURL() {
		return nil, reject(ReasonAssertionAud, descAudience)
	}
	exp, ok := unixTime(claims.Exp)
	if !ok || !exp.After(now) {
		return nil, reject(ReasonAssertionExp, descAssertionExp)
	}
	// Okta rejects exp one hour ahead already when the client clock runs slightly ahead, so
	// the mock keeps ClockSkew of margin: an assertion that passes here passes there too.
	if exp.Sub(now) >= maxAssertionLifetime-s.cfg.ClockSkew {
		return nil, reject(ReasonAssertionExpLong, descExpTooFar)
	}
	if claims.Iat != "" {
		iat, ok := unixTime(claims.Iat)
		if !ok || iat.Sub(now) > s.cfg.ClockSkew {
			return nil, reject(ReasonAssertionIat, descAssertionIat)
		}
	}
	return &assertionClaims{jti: claims.JTI, exp: exp}, nil
}

// spendAssertion marks the assertion jti as used until the assertion expires. Okta accepts an
// assertion without jti, and then cannot detect its replay.
func (s *Server) spendAssertion(claims *assertionClaims, now time.Time) *rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	if claims.jti == "" {
		s.stats.AssertionsWithoutJTI++
		return nil
	}
	if !s.replay.use(claims.jti, now, claims.exp) {
		return reject(ReasonAssertionReplay, descReplay)
	}
	return nil
}

// grantScopes returns the requested scopes that the app is granted, in request order.
// Following Okta's org authorization server, an Okta API scope that is not granted is dropped
// from the token silently, so the token's scope may lack okta.logs.read. A scope that is not
// an Okta API scope is rejected.
//
// NOTE: when no requested scope is granted, Okta's response is not documented, so the mock
// rejects the request with invalid_scope.
func (s *Server) grantScopes(requested string) ([]string, *rejection) {
	names := strings.Fields(requested)
	if len(names) == 0 {
		return nil, reject(ReasonNoScope, descNoScopes)
	}
	var granted []string
	for _, name := range names {
		if !strings.HasPrefix(name, "okta.") {
			return nil, reject(ReasonUnknownScope, descUnknownScopes)
		}
		if slices.Contains(s.cfg.GrantedScopes, name) && !slices.Contains(granted, name) {
			granted = append(granted, name)
		}
	}
	if len(granted) == 0 {
		return nil, reject(ReasonUnknownScope, descUnknownScopes)
	}
	return granted, nil
}

// issue stores token under a new opaque value and returns the value. It first drops tokens
// that expired more than an hour ago. A request with a token expired more recently gets the
// expired-token error rather than the unknown-token one.
func (s *Server) issue(token *accessToken, now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for value, t := range s.tokens {
		if now.Sub(t.expires) > time.Hour {
			delete(s.tokens, value)
		}
	}
	value := "mockat." + randomString(32)
	s.tokens[value] = token
	s.stats.TokensIssued++
	return value
}
