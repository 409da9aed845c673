package auth

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	jsoniter "github.com/json-iterator/go"
)

// OAuthError is an error response of the token endpoint (RFC 6749 section 5.2).
type OAuthError struct {
	Status      int
	Code        string // the error member, such as invalid_client
	Description string // the error_description member
	nonce       string // dpop-nonce header of a use_dpop_nonce response; never logged
}

// Error returns the error in plain words with a hint for the usual causes.
func (e *OAuthError) Error() string {
	msg := fmt.Sprintf("auth: token request rejected with HTTP %d", e.Status)
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if hint := e.hint(); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

// Permanent reports whether retrying the same request cannot succeed until the configuration
// in Okta or in Fluent Bit changes.
func (e *OAuthError) Permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests &&
		e.Code != "use_dpop_nonce"
}

func (e *OAuthError) hint() string {
	desc := strings.ToLower(e.Description)
	switch {
	case e.Code == "invalid_client" && strings.Contains(desc, "kid"):
		return "key_id does not match a public key registered on the app"
	case e.Code == "invalid_client" && strings.Contains(desc, "signature"):
		return "the private key does not match the public key registered under key_id"
	case e.Code == "invalid_client" && strings.Contains(desc, "client_id"):
		return "check client_id; it must be the client ID of an API Services app in this org"
	case e.Code == "invalid_client" && strings.Contains(desc, "private_key_jwt"):
		return "set the app's client authentication to Public key / Private key"
	case e.Code == "invalid_client" && strings.Contains(desc, "expiration"):
		return "the local clock may be far off; synchronise it with NTP"
	case e.Code == "invalid_client":
		return "check client_id, key_id and the private key"
	case e.Code == "invalid_dpop_proof" && strings.Contains(desc, "missing"):
		return "the app requires DPoP; set dpop on"
	case e.Code == "invalid_dpop_proof":
		return "Okta rejected the DPoP proof; check the local clock and any proxy that rewrites URLs"
	case e.Code == "invalid_scope":
		return "grant the requested scopes on the app's Okta API Scopes tab, or fix scopes"
	case e.Code == "access_denied" && strings.Contains(desc, "network zone"):
		return "allow this host's IP address in the app's network zone settings"
	case e.Code == "unauthorized_client":
		return "enable the Client Credentials grant on the app"
	case e.Status == http.StatusTooManyRequests:
		return "the token endpoint rate limit is exhausted; retrying later"
	}
	return ""
}

// SetupError is a successful token response that cannot be used as configured, such as a token
// type that does not match the dpop setting. Like a permanent OAuthError, it needs a change in
// Okta or in the configuration.
type SetupError struct{ msg string }

func (e *SetupError) Error() string { return e.msg }

// Permanent reports true, because repeating the request returns the same response.
func (e *SetupError) Permanent() bool { return true }

type oauthBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCode        string `json:"errorCode"`
	ErrorSummary     string `json:"errorSummary"`
}

func newOAuthError(resp *http.Response, body []byte) *OAuthError {
	e := &OAuthError{Status: resp.StatusCode, nonce: resp.Header.Get("DPoP-Nonce")}
	var b oauthBody
	if jsoniter.ConfigCompatibleWithStandardLibrary.Unmarshal(body, &b) == nil {
		e.Code, e.Description = b.Error, b.ErrorDescription
		if e.Code == "" && b.ErrorCode != "" {
			e.Code, e.Description = b.ErrorCode, b.ErrorSummary
		}
	}
	if e.Code == "" && e.Description == "" {
		e.Description = BodySnippet(body)
	}
	return e
}

// BodySnippet returns the start of a non-JSON response body for an error message, on one
// line, cut at 200 bytes without splitting a UTF-8 character.
func BodySnippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) <= 200 {
		return s
	}
	end := 200
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "..."
}
