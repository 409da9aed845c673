package mockokta

import (
	"crypto/rand"
	"encoding/base64"
	"time"
)

// jtiCache remembers jti values until they expire, so a replay inside their validity is
// rejected. Expired entries are swept every sweepEvery insertions.
type jtiCache struct {
	seen     map[string]time.Time
	distinct int
	inserts  int
}

const sweepEvery = 1024

func newJTICache() *jtiCache {
	return &jtiCache{seen: make(map[string]time.Time)}
}

// use records jti as used until expires and reports whether it was unused.
func (c *jtiCache) use(jti string, now, expires time.Time) bool {
	if until, ok := c.seen[jti]; ok && now.Before(until) {
		return false
	}
	c.seen[jti] = expires
	c.distinct++
	c.inserts++
	if c.inserts%sweepEvery == 0 {
		for k, until := range c.seen {
			if !now.Before(until) {
				delete(c.seen, k)
			}
		}
	}
	return true
}

// nonceState holds the current and previous token-endpoint DPoP nonce.
type nonceState struct {
	current  string
	previous string
	rotated  time.Time
}

func (n *nonceState) rotate(now time.Time) {
	n.previous = n.current
	n.current = randomString(24)
	n.rotated = now
}

// valid reports whether nonce is the current or the previous value, rotating first when the
// current value is older than lifetime.
func (n *nonceState) valid(nonce string, now time.Time, lifetime time.Duration) bool {
	n.maybeRotate(now, lifetime)
	return nonce != "" && (nonce == n.current || nonce == n.previous)
}

func (n *nonceState) maybeRotate(now time.Time, lifetime time.Duration) {
	if now.Sub(n.rotated) >= lifetime {
		n.rotate(now)
	}
}

// randomString returns n random bytes, base64url-encoded without padding.
func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("mockokta: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
