package mockokta

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// signingAlgorithms are the JWS algorithms Okta accepts for client assertions and DPoP
// proofs (dpop_signing_alg_values_supported of the org authorization server).
var signingAlgorithms = map[string]jwa.SignatureAlgorithm{
	"RS256": jwa.RS256, "RS384": jwa.RS384, "RS512": jwa.RS512,
	"ES256": jwa.ES256, "ES384": jwa.ES384, "ES512": jwa.ES512,
}

// privateJWKMembers are the JWK members that only private or symmetric keys carry
// (RFC 7518 sections 6.2.2, 6.3.2 and 6.4.1). A DPoP proof must carry a public key only.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// rejection is a failed check: the Reason* constant and the error description to send.
type rejection struct {
	reason string
	desc   string
}

func reject(reason, desc string) *rejection { return &rejection{reason: reason, desc: desc} }

// proofRequest is what a DPoP proof must match: RFC 9449 section 4.3.
type proofRequest struct {
	method      string
	url         string // htu: scheme, host and path, no query or fragment
	accessToken string // when set, the proof must carry ath for it
}

// verifiedProof is a DPoP proof whose structure, signature and claims passed.
type verifiedProof struct {
	jti        string
	nonce      string
	thumbprint string // RFC 7638 JWK SHA-256 thumbprint, base64url
	iat        time.Time
}

// verifyProof checks the DPoP header values against want. It does not check jti replay or the
// nonce, which need the server state.
func verifyProof(values []string, want proofRequest, now time.Time,
	skew time.Duration) (*verifiedProof, *rejection) {
	if len(values) == 0 || values[0] == "" {
		return nil, reject(ReasonProofMissing, descProofMissing)
	}
	if len(values) > 1 {
		return nil, reject(ReasonProofParse, descProofParse)
	}
	compact := []byte(values[0])

	parts := bytes.Split(compact, []byte("."))
	if len(parts) != 3 {
		return nil, reject(ReasonProofParse, descProofParse)
	}
	header, err := decodeSegment(parts[0])
	if err != nil {
		return nil, reject(ReasonProofParse, descProofParse)
	}
	members, err := decodeObject(header)
	if err != nil {
		return nil, reject(ReasonProofParse, descProofParse)
	}

	var typ, algName string
	if json.Unmarshal(members["typ"], &typ) != nil || typ != "dpop+jwt" {
		return nil, reject(ReasonProofTyp, descProofParse)
	}
	if json.Unmarshal(members["alg"], &algName) != nil {
		return nil, reject(ReasonProofAlg, descProofParse)
	}
	alg, ok := signingAlgorithms[algName]
	if !ok {
		return nil, reject(ReasonProofAlg, descProofParse)
	}
	key, rej := publicProofKey(members["jwk"])
	if rej != nil {
		return nil, rej
	}

	payload, err := jws.Verify(compact, jws.WithKey(alg, key))
	if err != nil {
		return nil, reject(ReasonProofSig, descProofSignature)
	}
	claims, rej := decodeProofClaims(payload)
	if rej != nil {
		return nil, rej
	}

	if claims.HTM != want.method {
		return nil, reject(ReasonProofHTM, proofClaimDescription("htm"))
	}
	if claims.HTU != want.url {
		return nil, reject(ReasonProofHTU, proofClaimDescription("htu"))
	}
	iat, ok := unixTime(claims.IAT)
	if !ok || iat.Sub(now).Abs() > skew {
		return nil, reject(ReasonProofIat, proofClaimDescription("iat"))
	}
	if claims.JTI == "" {
		return nil, reject(ReasonProofJTI, proofClaimDescription("jti"))
	}
	if want.accessToken != "" {
		sum := sha256.Sum256([]byte(want.accessToken))
		if claims.ATH != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return nil, reject(ReasonProofATH, proofClaimDescription("ath"))
		}
	}

	thumb, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, reject(ReasonProofJWK, descProofParse)
	}
	return &verifiedProof{
		jti:        claims.JTI,
		nonce:      claims.Nonce,
		thumbprint: base64.RawURLEncoding.EncodeToString(thumb),
		iat:        iat,
	}, nil
}

// publicProofKey parses the jwk header member and rejects anything but a public RSA or EC key.
func publicProofKey(raw json.RawMessage) (jwk.Key, *rejection) {
	if len(raw) == 0 {
		return nil, reject(ReasonProofJWK, descProofParse)
	}
	members, err := decodeObject(raw)
	if err != nil {
		return nil, reject(ReasonProofJWK, descProofParse)
	}
	for _, name := range privateJWKMembers {
		if _, ok := members[name]; ok {
			return nil, reject(ReasonProofJWK, descProofParse)
		}
	}
	var kty string
	if json.Unmarshal(members["kty"], &kty) != nil || (kty != "RSA" && kty != "EC") {
		return nil, reject(ReasonProofJWK, descProofParse)
	}
	key, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, reject(ReasonProofJWK, descProofParse)
	}
	return key, nil
}

type proofClaims struct {
	HTM   string      `json:"htm"`
	HTU   string      `json:"htu"`
	IAT   json.Number `json:"iat"`
	JTI   string      `json:"jti"`
	Nonce string      `json:"nonce"`
	ATH   string      `json:"ath"`
}

func decodeProofClaims(payload []byte) (*proofClaims, *rejection) {
	if _, err := decodeObject(payload); err != nil {
		return nil, reject(ReasonProofParse, descProofParse)
	}
	var claims proofClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, reject(ReasonProofParse, descProofParse)
	}
	return &claims, nil
}

// decodeSegment decodes one base64url segment of a compact JWS (RFC 7515 section 7.1).
func decodeSegment(segment []byte) ([]byte, error) {
	out := make([]byte, base64.RawURLEncoding.DecodedLen(len(segment)))
	n, err := base64.RawURLEncoding.Decode(out, segment)
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

// decodeObject decodes a JSON object into its members and rejects duplicate member names,
// which RFC 7515 section 4 requires of a JOSE header.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return nil, errors.New("not a JSON object")
	}
	members := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		if _, dup := members[name]; dup {
			return nil, fmt.Errorf("duplicate member %q", name)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		members[name] = value
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return members, nil
}

// unixTime converts a NumericDate (RFC 7519 section 2) to a time.
func unixTime(n json.Number) (time.Time, bool) {
	if n == "" {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// thumbprintOf returns the base64url RFC 7638 SHA-256 thumbprint of a public key, or "" when
// the key is missing or of an unsupported type.
func thumbprintOf(key crypto.PublicKey) string {
	if key == nil {
		return ""
	}
	k, err := jwk.FromRaw(key)
	if err != nil {
		return ""
	}
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

// parseAuthorization splits an Authorization header into its scheme and credentials.
func parseAuthorization(value string) (scheme, credentials string) {
	scheme, credentials, _ = strings.Cut(strings.TrimSpace(value), " ")
	return scheme, strings.TrimSpace(credentials)
}
