// Package auth obtains Okta access tokens for a service app: the OAuth 2.0 client credentials
// grant with a private_key_jwt client assertion (RFC 7523), optionally sender-constrained with
// DPoP (RFC 9449), against the org authorization server's /oauth2/v1/token endpoint.
package auth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jsoniter "github.com/json-iterator/go"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// assertionLifetime is exp - iat of a client assertion. Okta rejects an exp an hour or more
// ahead, and a clock slightly ahead of Okta's turns exactly one hour into a rejection.
const assertionLifetime = 5 * time.Minute

// renewBefore is how long before expiry a cached token is replaced.
const renewBefore = 5 * time.Minute

// maxNonceChallenges bounds the use_dpop_nonce round trips of one token request.
const maxNonceChallenges = 2

// Token is an access token with its type, expiry and granted scopes.
type Token struct {
	Value  string
	Type   string // "DPoP" or "Bearer", the Authorization scheme to use
	Expiry time.Time
	Scopes []string
}

// Config describes the service app and how to reach the token endpoint.
type Config struct {
	OrgURL    string // https://example.okta.com
	ClientID  string
	KeyID     string
	ClientKey crypto.Signer
	Scopes    []string
	Prover    *Prover // nil when DPoP is off
	Client    *http.Client
	Clock     *Clock
	Logger    *slog.Logger
	UserAgent string
}

// TokenSource returns a cached access token and renews it before it expires or when the
// caller reports it rejected. It is safe for concurrent use.
type TokenSource struct {
	cfg      Config
	tokenURL string

	mu       sync.Mutex
	token    *Token
	nonce    string // last dpop-nonce of the token endpoint
	renewals int
}

// NewTokenSource returns a TokenSource for cfg.
func NewTokenSource(cfg Config) *TokenSource {
	return &TokenSource{cfg: cfg, tokenURL: strings.TrimSuffix(cfg.OrgURL, "/") + "/oauth2/v1/token"}
}

// TokenURL returns the token endpoint, which is also the aud of every client assertion.
func (s *TokenSource) TokenURL() string { return s.tokenURL }

// Renewals returns how many tokens were obtained so far.
func (s *TokenSource) Renewals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renewals
}

// Token returns a valid access token, requesting a new one when none is cached or the cached
// one expires within renewBefore.
func (s *TokenSource) Token(ctx context.Context) (*Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != nil && s.cfg.Clock.Local().Add(renewBefore).Before(s.token.Expiry) {
		return s.token, nil
	}
	tok, err := s.request(ctx)
	if err != nil {
		return nil, err
	}
	s.token = tok
	s.renewals++
	return tok, nil
}

// Invalidate drops tok from the cache, so the next Token call requests a new one. Call it when
// Okta returns 401 for a request made with tok.
func (s *TokenSource) Invalidate(tok *Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == tok {
		s.token = nil
	}
}

func (s *TokenSource) request(ctx context.Context) (*Token, error) {
	clockRetried := false
	for challenge := 0; ; challenge++ {
		// attempt stores the nonce of the response in s.nonce, so keep the one this proof used.
		sent := s.nonce
		offset := s.cfg.Clock.Offset()
		tok, err := s.attempt(ctx)
		var oauthErr *OAuthError
		// A rejected assertion or proof signed before the response's Date header corrected a
		// clock that is off is worth one immediate retry with the corrected time.
		if errors.As(err, &oauthErr) && oauthErr.Status < 500 && !clockRetried &&
			clockMoved(offset, s.cfg.Clock.Offset()) &&
			(oauthErr.Code == "invalid_client" || oauthErr.Code == "invalid_dpop_proof") {
			clockRetried = true
			s.cfg.Logger.Warn("the local clock differs from Okta's; retrying with Okta's time",
				"offset", s.cfg.Clock.Offset().Round(time.Second).String())
			continue
		}
		if errors.As(err, &oauthErr) && oauthErr.Code == "use_dpop_nonce" && s.cfg.Prover != nil {
			if challenge >= maxNonceChallenges || oauthErr.nonce == "" || oauthErr.nonce == sent {
				return nil, fmt.Errorf("auth: token endpoint keeps asking for a new DPoP nonce "+
					"after %d tries: %w", challenge+1, err)
			}
			s.nonce = oauthErr.nonce
			s.cfg.Logger.Debug("token endpoint sent a DPoP nonce challenge; retrying with the nonce")
			continue
		}
		return tok, err
	}
}

// attempt makes one token request with a fresh client assertion and a fresh proof, because
// Okta accepts an assertion jti and a proof jti only once.
func (s *TokenSource) attempt(ctx context.Context) (*Token, error) {
	assertion, err := s.clientAssertion()
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {strings.Join(s.cfg.Scopes, " ")},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.tokenURL,
		strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if s.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", s.cfg.UserAgent)
	}
	if s.cfg.Prover != nil {
		proof, err := s.cfg.Prover.Proof(http.MethodPost, s.tokenURL, s.nonce, "")
		if err != nil {
			return nil, err
		}
		req.Header.Set("DPoP", proof)
	}

	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: token request to %s failed: %w", s.tokenURL, err)
	}
	defer resp.Body.Close()
	if date, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		s.cfg.Clock.Observe(date)
	}
	if nonce := resp.Header.Get("DPoP-Nonce"); nonce != "" && s.cfg.Prover != nil {
		s.nonce = nonce
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("auth: reading the token response failed: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, newOAuthError(resp, body)
	}
	return s.parseToken(body)
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

func (s *TokenSource) parseToken(body []byte) (*Token, error) {
	var tr tokenResponse
	if err := jsoniter.ConfigCompatibleWithStandardLibrary.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("auth: the token response is not valid JSON: %v", err)
	}
	if tr.AccessToken == "" || tr.ExpiresIn <= 0 {
		return nil, errors.New("auth: the token response has no access_token or expires_in")
	}
	wantType := "Bearer"
	if s.cfg.Prover != nil {
		wantType = "DPoP"
	}
	if !strings.EqualFold(tr.TokenType, wantType) {
		if wantType == "DPoP" {
			return nil, &SetupError{fmt.Sprintf("auth: Okta issued a %s token although a "+
				"DPoP proof was sent; set dpop off for this app, or enable \"Require "+
				"Demonstrating Proof of Possession (DPoP) header in token requests\" on it",
				tr.TokenType)}
		}
		return nil, &SetupError{fmt.Sprintf("auth: Okta issued a %s token; the app requires "+
			"DPoP, set dpop on", tr.TokenType)}
	}
	// RFC 6749 section 5.1: scope may be omitted when it is identical to the requested scope.
	granted := strings.Fields(tr.Scope)
	if tr.Scope == "" {
		granted = append([]string(nil), s.cfg.Scopes...)
	}
	for _, want := range s.cfg.Scopes {
		if !contains(granted, want) {
			return nil, fmt.Errorf("auth: the access token lacks scope %s (granted: %q); grant "+
				"it on the app's Okta API Scopes tab", want, tr.Scope)
		}
	}
	return &Token{
		Value:  tr.AccessToken,
		Type:   wantType,
		Expiry: s.cfg.Clock.Local().Add(time.Duration(tr.ExpiresIn) * time.Second),
		Scopes: granted,
	}, nil
}

// clockMoved reports whether the clock correction changed by more than the few seconds that
// iat backdating absorbs.
func clockMoved(before, after time.Duration) bool {
	d := after - before
	return d > 3*time.Second || d < -3*time.Second
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// clientAssertion signs the private_key_jwt assertion of RFC 7523 section 2.2 as Okta
// requires it: iss = sub = client ID, aud = the token URL (a single string), a short exp and a
// unique jti. iat is a few seconds in the past because Okta rejects an iat after its own clock.
func (s *TokenSource) clientAssertion() (string, error) {
	issued := s.cfg.Clock.Now().Unix() - 5
	claims := map[string]any{
		"iss": s.cfg.ClientID,
		"sub": s.cfg.ClientID,
		"aud": s.tokenURL,
		"iat": issued,
		"exp": issued + int64(assertionLifetime/time.Second),
		"jti": newJTI(),
	}
	headers := jws.NewHeaders()
	if err := headers.Set(jws.KeyIDKey, s.cfg.KeyID); err != nil {
		return "", err
	}
	if err := headers.Set(jws.TypeKey, "JWT"); err != nil {
		return "", err
	}
	return signJSON(claims, s.cfg.ClientKey, headers)
}

// signJSON signs claims as a compact JWS with key and the given protected headers.
func signJSON(claims map[string]any, key crypto.Signer, headers jws.Headers) (string, error) {
	alg, err := SigningAlgorithm(key)
	if err != nil {
		return "", err
	}
	payload, err := jsoniter.ConfigCompatibleWithStandardLibrary.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("auth: encode claims: %w", err)
	}
	signed, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(alg), key,
		jws.WithProtectedHeaders(headers)))
	if err != nil {
		return "", fmt.Errorf("auth: sign JWT: %w", err)
	}
	return string(signed), nil
}
