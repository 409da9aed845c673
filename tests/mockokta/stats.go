package mockokta

import "time"

// Rejection reasons recorded in Stats.Rejected and RequestRecord.Reason. Each names the check
// that failed, so a test can assert on the exact cause.
const (
	reasonOK = "ok"

	ReasonMethod            = "method_not_allowed"
	ReasonGrantType         = "unsupported_grant_type"
	ReasonMultipleCreds     = "multiple_client_credentials"
	ReasonNoCredentials     = "no_client_credentials"
	ReasonAssertionType     = "invalid_client_assertion_type"
	ReasonAssertionParse    = "client_assertion_unparseable"
	ReasonAssertionKID      = "client_assertion_kid"
	ReasonAssertionAlg      = "client_assertion_alg"
	ReasonAssertionSig      = "client_assertion_signature"
	ReasonAssertionClient   = "client_assertion_client_id"
	ReasonAssertionAud      = "client_assertion_aud"
	ReasonAssertionExp      = "client_assertion_exp"
	ReasonAssertionExpLong  = "client_assertion_exp_too_far"
	ReasonAssertionIat      = "client_assertion_iat"
	ReasonAssertionReplay   = "client_assertion_replay"
	ReasonNoScope           = "no_scope"
	ReasonUnknownScope      = "unknown_scope"
	ReasonProofMissing      = "dpop_proof_missing"
	ReasonProofParse        = "dpop_proof_unparseable"
	ReasonProofTyp          = "dpop_proof_typ"
	ReasonProofAlg          = "dpop_proof_alg"
	ReasonProofJWK          = "dpop_proof_jwk"
	ReasonProofClientKey    = "dpop_proof_uses_client_key"
	ReasonProofSig          = "dpop_proof_signature"
	ReasonProofHTM          = "dpop_proof_htm"
	ReasonProofHTU          = "dpop_proof_htu"
	ReasonProofIat          = "dpop_proof_iat"
	ReasonProofJTI          = "dpop_proof_jti"
	ReasonProofReplay       = "dpop_proof_replay"
	ReasonProofATH          = "dpop_proof_ath"
	ReasonProofJKT          = "dpop_proof_key_mismatch"
	ReasonNonce             = "use_dpop_nonce"
	ReasonNoToken           = "no_access_token"
	ReasonWrongScheme       = "wrong_authorization_scheme"
	ReasonInvalidToken      = "invalid_access_token"
	ReasonExpiredToken      = "expired_access_token"
	ReasonInsufficientScope = "insufficient_scope"
	ReasonRateLimit         = "rate_limit"
	ReasonConcurrency       = "concurrency_limit"
	ReasonSinceAndAfter     = "since_and_after"
	ReasonBadDate           = "invalid_date"
	ReasonSinceTooOld       = "since_over_180_days"
	ReasonBadCursor         = "invalid_after_cursor"
	ReasonBadLimit          = "invalid_limit"
	ReasonBadSortOrder      = "invalid_sort_order"
	ReasonBadFilter         = "invalid_filter"
	ReasonBadQuery          = "invalid_q"
	ReasonFault             = "injected_fault"
)

// Stats are counters of what the server received and how it responded.
type Stats struct {
	// TokenRequests counts requests to /oauth2/v1/token.
	TokenRequests int
	// TokensIssued counts access tokens issued.
	TokensIssued int
	// NonceChallenges counts 400 use_dpop_nonce responses.
	NonceChallenges int
	// LogRequests counts requests to /api/v1/logs.
	LogRequests int
	// LogPages counts 200 responses from /api/v1/logs.
	LogPages int
	// EmptyPages counts 200 responses from /api/v1/logs with no events.
	EmptyPages int
	// EventsServed counts events sent in 200 responses, repeats included.
	EventsServed int
	// RateLimited counts 429 responses from either endpoint.
	RateLimited int
	// MaxInFlight is the highest number of /api/v1/logs requests seen in flight at once.
	MaxInFlight int
	// Rejected counts rejected requests by reason (the Reason* constants).
	Rejected map[string]int
	// AssertionJTIs counts distinct client-assertion jti values accepted.
	AssertionJTIs int
	// AssertionsWithoutJTI counts accepted client assertions that had no jti, which Okta
	// accepts but then cannot protect against replay.
	AssertionsWithoutJTI int
	// ProofJTIs counts distinct DPoP proof jti values seen with a valid signature.
	ProofJTIs int
	// InvalidEvents counts events skipped by the store because they were not JSON objects.
	InvalidEvents int
}

// RequestRecord describes one request the server responded to.
type RequestRecord struct {
	// Time is when the response was recorded, by the server's clock.
	Time time.Time
	// Method is the HTTP method.
	Method string
	// Path is the URL path.
	Path string
	// Query is the raw URL query.
	Query string
	// Status is the HTTP status sent.
	Status int
	// Reason is "ok" or the Reason* constant of the check that failed.
	Reason string
	// Events is the number of events in a /api/v1/logs page.
	Events int
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Rejected = make(map[string]int, len(s.stats.Rejected))
	for k, v := range s.stats.Rejected {
		st.Rejected[k] = v
	}
	st.AssertionJTIs = s.replay.distinct
	st.ProofJTIs = s.proofs.distinct
	return st
}

// Requests returns a copy of the request log, oldest first. It keeps the last 10000 requests.
func (s *Server) Requests() []RequestRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RequestRecord(nil), s.records...)
}
