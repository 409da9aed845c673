package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Prover signs DPoP proofs (RFC 9449 section 4.2) with one key pair. An access token is bound
// to the key's thumbprint, so the key must stay the same for the life of the token.
type Prover struct {
	key    crypto.Signer
	public jwk.Key
	clock  *Clock
}

// NewProver returns a Prover for key, or for a fresh EC P-256 key when key is nil.
func NewProver(key crypto.Signer, clock *Clock) (*Prover, error) {
	if key == nil {
		generated, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("auth: generate DPoP key: %w", err)
		}
		key = generated
	}
	if _, err := SigningAlgorithm(key); err != nil {
		return nil, err
	}
	public, err := jwk.FromRaw(key.Public())
	if err != nil {
		return nil, fmt.Errorf("auth: DPoP public key: %w", err)
	}
	return &Prover{key: key, public: public, clock: clock}, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the public key, base64url encoded: the
// value Okta puts in the token's cnf.jkt claim.
func (p *Prover) Thumbprint() (string, error) {
	sum, err := p.public.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// Proof returns a DPoP proof for one HTTP request. htu is reduced to scheme, host and path as
// RFC 9449 section 4.2 requires. nonce and accessToken are added when not empty; the access
// token becomes the ath claim (base64url SHA-256 of the token).
func (p *Prover) Proof(method, target, nonce, accessToken string) (string, error) {
	htu, err := HTU(target)
	if err != nil {
		return "", err
	}
	claims := map[string]any{
		"jti": newJTI(),
		"htm": method,
		"htu": htu,
		"iat": p.clock.Now().Unix(),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	headers := jws.NewHeaders()
	if err := headers.Set(jws.TypeKey, "dpop+jwt"); err != nil {
		return "", err
	}
	if err := headers.Set(jws.JWKKey, p.public); err != nil {
		return "", err
	}
	proof, err := signJSON(claims, p.key, headers)
	if err != nil {
		return "", fmt.Errorf("auth: DPoP proof: %w", err)
	}
	return proof, nil
}

// HTU returns the htu claim for a request URL: scheme and host in lower case, the default
// port dropped, the path kept, query and fragment removed.
func HTU(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("auth: invalid request URL: %w", err)
	}
	host := strings.ToLower(u.Host)
	if u.Port() == "443" && u.Scheme == "https" {
		host = strings.ToLower(u.Hostname())
	}
	out := url.URL{Scheme: u.Scheme, Host: host, Path: u.Path, RawPath: u.RawPath}
	return out.String(), nil
}

// newJTI returns 128 random bits, base64url encoded, for the jti claim.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Clock is the local clock corrected by the offset seen in the Date header of Okta's
// responses, so that iat and exp stay acceptable to Okta when the local clock is off by a few
// minutes.
type Clock struct {
	mu     sync.Mutex
	now    func() time.Time
	offset time.Duration
}

// NewClock returns a Clock over now, or over time.Now when now is nil.
func NewClock(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// Now returns the corrected time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now().Add(c.offset)
}

// Local returns the uncorrected local time.
func (c *Clock) Local() time.Time { return c.now() }

// Observe records the server time of a response. The Date header has one-second resolution, so
// offsets under two seconds are ignored.
func (c *Clock) Observe(server time.Time) {
	if server.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	offset := server.Sub(c.now())
	if offset > -2*time.Second && offset < 2*time.Second {
		offset = 0
	}
	c.offset = offset
}

// Offset returns the current correction.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}
