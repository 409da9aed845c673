package mockokta

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Token-endpoint error descriptions. The texts Okta documents are reproduced exactly,
// including punctuation and backticks.
const (
	descNonce         = "Authorization server requires nonce in DPoP proof."
	descProofMissing  = "The DPoP proof JWT header is missing."
	descProofParse    = "DPoP proof JWT cannot be parsed."
	descNoCredentials = "No client credentials found"
	descClientID      = "Invalid value for the `client_id` parameter"
	descSignature     = "The client_assertion signature is invalid."
	descKID           = "The client_assertion JWT kid is invalid."
	descAudience      = "The audience claim for client_assertion must be the endpoint " +
		"invoked for the request."
	descExpTooFar     = "The client_assertion token has an expiration too far into the future"
	descReplay        = "The client_assertion token has already been used"
	descAssertionType = "The `client_assertion_type` is invalid."
	descNoScopes      = "No scopes were requested."
	descUnknownScopes = "One or more scopes are not configured for the authorization " +
		"server resource."
	descGrantType       = "The grant type in the request isn't supported."
	descMultipleCreds   = "Can't supply multiple client credentials."
	summaryRateLimit    = "API call exceeded rate limit due to too many requests."
	summaryInvalidToken = "Invalid token provided"
	summarySinceTooOld  = "Invalid parameter: The since parameter is over 180 days prior " +
		"to the current day."
	descInsufficientScope = "The access token provided does not contain the required scopes."
)

// NOTE: Okta documents no text for several rejections, so the mock uses its own wording.
// These are an unparseable or expired client assertion, an assertion iat in the future, DPoP
// proof claims other than htu, and a bad proof signature. The same holds for a wrong
// Authorization scheme, a bad after cursor, since with after, a bad limit or sortOrder, and
// unsupported filter or q expressions. Clients must branch on error codes, not on texts.
const (
	descAssertionParse = "The client_assertion token is invalid."
	descAssertionExp   = "The client_assertion token is expired."
	descAssertionIat   = "The client_assertion token was issued in the future."
	descProofSignature = "The DPoP proof JWT signature is invalid."
	descWrongScheme    = "The access token must be sent with the authorization scheme " +
		"of its token_type."
)

// proofClaimDescription returns Okta's wording for an invalid claim or header in a proof.
func proofClaimDescription(name string) string {
	return "'" + name + "' claim in the DPoP proof JWT is invalid."
}

// oktaErrorSummaries are the errorSummary texts of Okta error codes that faults may inject.
var oktaErrorSummaries = map[string]string{
	"E0000006": "You do not have permission to perform the requested action",
	"E0000009": "Internal Server Error",
	"E0000011": summaryInvalidToken,
	"E0000047": summaryRateLimit,
	"E0000053": "Invalid parameter",
}

func setNoCache(h http.Header) {
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Server", "nginx")
	h.Set("X-Okta-Request-Id", randomString(18))
}

// writeOAuthError sends an OAuthError body, {"error":...,"error_description":...}.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	h := w.Header()
	setNoCache(h)
	h.Set("Content-Type", "application/json")
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, description})
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeOktaError sends an Okta API error body with errorCode, errorSummary, errorLink,
// errorId and errorCauses.
func writeOktaError(w http.ResponseWriter, status int, code, summary string, causes ...string) {
	type cause struct {
		ErrorSummary string `json:"errorSummary"`
	}
	list := make([]cause, 0, len(causes))
	for _, c := range causes {
		list = append(list, cause{c})
	}
	body, _ := json.Marshal(struct {
		Code    string  `json:"errorCode"`
		Summary string  `json:"errorSummary"`
		Link    string  `json:"errorLink"`
		ID      string  `json:"errorId"`
		Causes  []cause `json:"errorCauses"`
	}{code, summary, code, "oae" + randomString(16), list})
	h := w.Header()
	setNoCache(h)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// challenge returns a resource-server WWW-Authenticate value in Okta's format. Okta writes
// http:// in realm and authorization_uri even for an https org.
func (s *Server) challenge(scheme, code, desc string) string {
	host := strings.TrimPrefix(s.url, "https://")
	var b strings.Builder
	b.WriteString(scheme)
	if scheme == "DPoP" {
		b.WriteString(` algs="RS256 RS384 RS512 ES256 ES384 ES512",`)
	}
	fmt.Fprintf(&b, ` authorization_uri="http://%s/oauth2/v1/authorize", realm="http://%s",`,
		host, host)
	fmt.Fprintf(&b, ` scope="%s", error="%s", error_description="%s", resource="%s"`,
		ScopeLogsRead, code, desc, logsPath)
	return b.String()
}

// writeChallenge sends a resource-server error in WWW-Authenticate with an empty body, as Okta
// does for DPoP proof and scope failures.
func (s *Server) writeChallenge(w http.ResponseWriter, status int, scheme, code, desc string) {
	h := w.Header()
	setNoCache(h)
	h.Set("WWW-Authenticate", s.challenge(scheme, code, desc))
	w.WriteHeader(status)
}
