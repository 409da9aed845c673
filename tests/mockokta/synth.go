package mockokta

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Placeholders in the synthetic event templates. Each sits inside a JSON string, so the
// values replacing them need no quoting.
const (
	phUUID      = "@UUID@"
	phPublished = "@PUBLISHED@"
	phTxID      = "@TXID@"
	phIP        = "@IP@"
	phUser      = "@USER@"
)

// templateSegment is a literal run of template bytes followed by the placeholder that comes
// after it ("" for the last segment).
type templateSegment struct {
	literal     []byte
	placeholder string
}

var (
	templatesOnce sync.Once
	templates     [][]templateSegment
	// maxTemplateSize bounds the length of a rendered event: the longest template plus
	// room for the placeholder values.
	maxTemplateSize int
)

// Synthesize returns n events cloned from realistic templates, with unique uuids and strictly
// increasing published times from start, 1 to 100 ms apart. The same seed gives the same
// events. Rendering appends precompiled byte segments into shared slabs, with no JSON encoding
// per event; BenchmarkSynthesize measures 200,000 events.
func Synthesize(n int, start time.Time, seed int64) [][]byte {
	templatesOnce.Do(compileTemplates)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6f6b7461))
	out := make([][]byte, n)
	published := start.UTC().Truncate(time.Millisecond)
	var slab []byte
	for i := range out {
		if i > 0 {
			published = published.Add(time.Duration(1+rng.IntN(100)) * time.Millisecond)
		}
		segments := templates[rng.IntN(len(templates))]
		var ids [64]byte
		uuid := appendUUID(ids[:0], rng)
		txID := appendToken(ids[len(uuid):len(uuid)], rng, 27)
		ip := append(ids[len(uuid)+len(txID):len(uuid)+len(txID)], "198.51.100."...)
		ip = strconv.AppendInt(ip, int64(1+rng.IntN(254)), 10)
		user := strconv.AppendInt(nil, int64(rng.IntN(500)), 10)

		// Events are cut from a shared slab, which saves one allocation per event.
		if cap(slab)-len(slab) < maxTemplateSize {
			slab = make([]byte, 0, 256*maxTemplateSize)
		}
		buf := slab[len(slab):len(slab)]
		for _, seg := range segments {
			buf = append(buf, seg.literal...)
			switch seg.placeholder {
			case phUUID:
				buf = append(buf, uuid...)
			case phPublished:
				buf = published.AppendFormat(buf, publishedLayout)
			case phTxID:
				buf = append(buf, txID...)
			case phIP:
				buf = append(buf, ip...)
			case phUser:
				buf = append(buf, "user"...)
				buf = append(buf, user...)
			}
		}
		out[i] = buf[:len(buf):len(buf)]
		if n := len(slab) + len(buf); n <= cap(slab) {
			slab = slab[:n]
		} else {
			slab = nil
		}
	}
	return out
}

func appendUUID(buf []byte, rng *rand.Rand) []byte {
	const hex = "0123456789abcdef"
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			buf = append(buf, '-')
		}
		buf = append(buf, hex[c>>4], hex[c&0x0f])
	}
	return buf
}

func appendToken(buf []byte, rng *rand.Rand, n int) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	for range n {
		buf = append(buf, alphabet[rng.IntN(len(alphabet))])
	}
	return buf
}

func compileTemplates() {
	for _, tmpl := range eventTemplates() {
		raw, err := json.Marshal(tmpl)
		if err != nil {
			panic("mockokta: event template: " + err.Error())
		}
		templates = append(templates, splitTemplate(raw))
		maxTemplateSize = max(maxTemplateSize, 2*len(raw))
	}
}

func splitTemplate(raw []byte) []templateSegment {
	var segments []templateSegment
	for len(raw) > 0 {
		first, placeholder := -1, ""
		for _, ph := range []string{phUUID, phPublished, phTxID, phIP, phUser} {
			if i := bytes.Index(raw, []byte(ph)); i >= 0 && (first < 0 || i < first) {
				first, placeholder = i, ph
			}
		}
		if first < 0 {
			segments = append(segments, templateSegment{literal: raw})
			break
		}
		segments = append(segments, templateSegment{literal: raw[:first], placeholder: placeholder})
		raw = raw[first+len(placeholder):]
	}
	return segments
}

// eventTemplates returns one event per kind the synthesizer produces: sign-in failure, SSO,
// OAuth token grant, sign-on policy deny, API token creation, group membership, user creation
// and an event type outside the Taegis mapping.
func eventTemplates() []map[string]any {
	email := phUser + "@example.com"
	actor := map[string]any{"id": "00u" + phUser, "type": "User", "alternateId": email,
		"displayName": "Test " + phUser, "detailEntry": nil}
	client := map[string]any{
		"userAgent": map[string]any{
			"rawUserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 " +
				"(KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36",
			"os": "Windows 10", "browser": "CHROME",
		},
		"zone": nil, "device": "Computer", "id": nil, "ipAddress": phIP,
		"geographicalContext": map[string]any{
			"city": "Portland", "state": "Oregon", "country": "United States",
			"postalCode": "97205", "geolocation": map[string]any{"lat": 45.5202, "lon": -122.6742},
		},
	}
	base := func(eventType, legacy, message, severity, result string, reason any,
		target []any) map[string]any {
		return map[string]any{
			"uuid": phUUID, "published": phPublished, "eventType": eventType, "version": "0",
			"severity": severity, "legacyEventType": legacy, "displayMessage": message,
			"actor": actor, "client": client,
			"outcome":     map[string]any{"result": result, "reason": reason},
			"target":      target,
			"transaction": map[string]any{"type": "WEB", "id": phTxID, "detail": map[string]any{}},
			"debugContext": map[string]any{"debugData": map[string]any{
				"requestId": phTxID, "requestUri": "/api/v1/authn", "url": "/api/v1/authn?",
			}},
			"authenticationContext": map[string]any{
				"authenticationProvider": nil, "credentialProvider": nil, "credentialType": nil,
				"issuer": nil, "externalSessionId": "idx" + phTxID, "interface": nil,
				"authenticationStep": 0, "rootSessionId": "idx" + phTxID,
			},
			"securityContext": map[string]any{"asNumber": 64501, "asOrg": "example corp",
				"isp": "example isp", "domain": "example.com", "isProxy": false},
			"request": map[string]any{"ipChain": []any{map[string]any{
				"ip": phIP, "version": "V4", "source": nil,
				"geographicalContext": client["geographicalContext"],
			}}},
		}
	}
	app := map[string]any{"id": "0oa5ex4mpl3App1d0h7", "type": "AppInstance",
		"alternateId": "Example Wiki", "displayName": "Example Wiki",
		"detailEntry": map[string]any{"signOnModeType": "SAML_2_0"}}
	user := map[string]any{"id": "00u" + phUser, "type": "User", "alternateId": email,
		"displayName": "Test " + phUser, "detailEntry": nil}

	failed := base("user.session.start", "core.user_auth.login_failed", "User login to Okta",
		"WARN", "FAILURE", "INVALID_CREDENTIALS", []any{map[string]any{
			"id": "pfd1a2b3c4D5e6F7g8h9", "type": "AuthenticatorEnrollment",
			"alternateId": "unknown", "displayName": "Password", "detailEntry": nil}})
	failed["authenticationContext"].(map[string]any)["externalSessionId"] = nil

	grant := base("app.oauth2.as.token.grant.access_token", "app.oauth2.as.token.grant",
		"OAuth2 access token is granted", "INFO", "SUCCESS", nil, []any{map[string]any{
			"id": "AT.ex4mpl3" + phTxID, "type": "access_token", "alternateId": "unknown",
			"displayName": "Access Token", "detailEntry": map[string]any{"expires": "3600"}}})
	grant["client"].(map[string]any)["id"] = "0oa5ex4mpl3App1d0h7"

	return []map[string]any{
		failed,
		base("user.authentication.sso", "app.auth.sso", "User single sign on to app", "INFO",
			"SUCCESS", nil, []any{app}),
		grant,
		base("policy.evaluate_sign_on", "", "Evaluation of sign-on policy", "WARN", "DENY",
			"Sign-on policy evaluation resulted in DENY", []any{map[string]any{
				"id": "rul1ex4mpl3", "type": "Rule", "alternateId": "unknown",
				"displayName": "Block outside corporate network", "detailEntry": nil}}),
		base("system.api_token.create", "api.token.create", "Create API token", "INFO",
			"SUCCESS", nil, []any{map[string]any{"id": "00T" + phTxID, "type": "Token",
				"alternateId": "unknown", "displayName": "siem-export", "detailEntry": nil}}),
		base("group.user_membership.add", "core.user_group_member.user_add",
			"Add user to group membership", "INFO", "SUCCESS", nil, []any{user,
				map[string]any{"id": "00g1ex4mpl3", "type": "UserGroup",
					"alternateId": "unknown", "displayName": "Engineering", "detailEntry": nil}}),
		base("user.lifecycle.create", "core.user.config.user_creation.success",
			"Create Okta user", "INFO", "SUCCESS", nil, []any{user}),
		base("system.org.rate_limit.warning", "", "Rate limit warning", "WARN", "SUCCESS", nil,
			[]any{map[string]any{"id": "/api/v1/logs", "type": "URL Pattern",
				"alternateId": "unknown", "displayName": "/api/v1/logs", "detailEntry": nil}}),
	}
}

// templateEventTypes returns the event types Synthesize draws from.
func templateEventTypes() []string {
	var out []string
	for _, tmpl := range eventTemplates() {
		out = append(out, tmpl["eventType"].(string))
	}
	return out
}
