// Package mockokta implements a mock Okta org for tests. It serves the org authorization
// server's token endpoint, with OAuth 2.0 client credentials, a private_key_jwt client
// assertion (RFC 7523) and DPoP (RFC 9449). It also serves the System Log API,
// GET /api/v1/logs, with Okta's polling semantics, Link headers and rate-limit headers.
// It listens on a loopback address only, over HTTPS with a certificate signed by a CA that it
// generates at Start.
//
// Where Okta's behaviour is not documented, the mock picks the stricter choice, so a client
// that passes here does not fail against Okta for that reason:
//
//   - A client assertion must have a kid, a single-string aud equal to the token URL, and an
//     exp less than one hour minus ClockSkew ahead. Its jti is spent before the DPoP checks.
//   - A DPoP proof must have typ dpop+jwt, an RS or ES algorithm, and a public RSA or EC jwk
//     that differs from the client key. Its iat must lie within ClockSkew (default 30s) of
//     the server clock, its jti must be new, and its htu must equal the endpoint URL without
//     a query.
//   - Requested Okta API scopes that are not granted are dropped from the token, as Okta's
//     org authorization server does. When none is granted the request gets invalid_scope.
//   - limit outside 0 to 1000, a since together with after, an after value the server did
//     not mint, and filter or q expressions outside the supported subset get a 400 with an
//     Okta error body. Okta's texts are reproduced exactly where documented. The other texts
//     are the mock's own, so clients must branch on error codes only.
//   - A since between 90 and 180 days back is moved forward to 90 days back, Okta's
//     retention, and an older since is rejected with E0000053.
//
// A polling request (no until, sortOrder ASCENDING) returns events in persistence order and
// always has a next link. A bounded request (until given, or sortOrder DESCENDING) returns
// events with since <= published < until in published order, and its last page has no next
// link. Next links drop since, because Okta rejects since together with after.
package mockokta
