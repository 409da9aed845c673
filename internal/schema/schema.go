// Package schema maps Okta System Log event types to the Taegis XDR schemas that the plugin
// tags each record with.
//
// The default table is the list of event types that the Taegis XDR Okta integration guide
// ("Events Received from Okta") states are normalized to the auth, cloudaudit and generic
// schemas. An event type in several lists gets one record per schema, and an event type in no
// list gets the schema "unmapped". Load adds per-event-type overrides from a file.
package schema

import "slices"

// Schema names carried in the "schema" field of every record.
const (
	Auth       = "auth"
	CloudAudit = "cloudaudit"
	Generic    = "generic"
	Unmapped   = "unmapped"
)

// mappedSchemas is the order in which Schemas returns the schemas of one event type.
var mappedSchemas = []string{Auth, CloudAudit, Generic}

// unmappedOnly is the result for every event type outside the table.
var unmappedOnly = []string{Unmapped}

// authEventTypes, cloudAuditEventTypes and genericEventTypes are the three lists of the Taegis
// XDR Okta integration guide, copied with the guide's spelling.
//
// The guide lists "system.api_token.create.revoke", which Okta's event catalog does not
// contain: Okta names the event "system.api_token.revoke". The name is kept as the guide
// spells it. Users who want the catalog's event type routed to cloudaudit add
// "system.api_token.revoke: [cloudaudit]" to the override file that Load reads.
var (
	authEventTypes = []string{
		"app.oauth2.as.authorize.code",
		"app.oauth2.as.token.grant.access_token",
		"app.oauth2.as.token.grant.id_token",
		"app.oauth2.as.token.grant.refresh_token",
		"inline_hook.response.processed",
		"policy.evaluate_sign_on",
		"policy.lifecycle.activate",
		"policy.lifecycle.create",
		"policy.lifecycle.deactivate",
		"policy.lifecycle.update",
		"policy.rule.add",
		"policy.rule.deactivate",
		"policy.rule.update",
		"user.account.privilege.grant",
		"user.account.reset_password",
		"user.account.update_password",
		"user.account.update_profile",
		"user.authentication.auth_via_mfa",
		"user.authentication.sso",
		"user.authentication.verify",
		"user.mfa.factor.activate",
		"user.mfa.factor.deactivate",
		"user.mfa.factor.reset_all",
		"user.session.clear",
		"user.session.end",
		"user.session.start",
		"system.sms.send_phone_verification_message",
		"system.voice.send_phone_verification_call",
	}
	cloudAuditEventTypes = []string{
		"system.api_token.create",
		"system.api_token.create.revoke",
		"application.user_membership.add",
		"application.user_membership.change_password",
		"application.user_membership.remove",
		"user.session.access_admin_app",
		"user.lifecycle.activate",
		"user.lifecycle.create",
		"user.lifecycle.deactivate",
	}
	genericEventTypes = []string{
		"application.provision.user.sync",
		"group.user_membership.add",
		"group.user_membership.remove",
		"policy.evaluate_sign_on",
		"system.import.complete",
		"system.import.start",
		"user.account.report_suspicious_activity_by_enduser",
		"user.account.update_password",
		"user.authentication.authenticate",
		"user.credential.enroll",
		"user.lifecycle.delete.initiated",
		"user.lifecycle.reactivate",
		"user.lifecycle.suspend",
		"user.lifecycle.unsuspend",
		"user.authentication.sso",
	}
)

// Map is a table from event type to schemas. A Map is immutable after construction and safe
// for concurrent use.
type Map struct {
	schemas map[string][]string
}

// defaultMap is built once, because Default is called by every plugin instance.
var defaultMap = buildDefault()

// Default returns the table of the Taegis XDR Okta integration guide: 52 event types, of which
// policy.evaluate_sign_on, user.account.update_password and user.authentication.sso map to
// both auth and generic.
func Default() *Map {
	return defaultMap
}

func buildDefault() *Map {
	sets := make(map[string]map[string]bool)
	add := func(schema string, eventTypes []string) {
		for _, eventType := range eventTypes {
			if sets[eventType] == nil {
				sets[eventType] = make(map[string]bool)
			}
			sets[eventType][schema] = true
		}
	}
	add(Auth, authEventTypes)
	add(CloudAudit, cloudAuditEventTypes)
	add(Generic, genericEventTypes)

	m := &Map{schemas: make(map[string][]string, len(sets))}
	for eventType, set := range sets {
		m.schemas[eventType] = orderedSchemas(set)
	}
	return m
}

// orderedSchemas returns the members of set in the order auth, cloudaudit, generic, or
// [unmapped] when set is empty.
func orderedSchemas(set map[string]bool) []string {
	var out []string
	for _, name := range mappedSchemas {
		if set[name] {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return unmappedOnly
	}
	return slices.Clip(out)
}

// Schemas returns the schemas of eventType in the order auth, cloudaudit, generic. The result
// is never empty: an event type outside the table, the empty string included, returns
// [unmapped]. The returned slice is shared, so callers must not modify it.
func (m *Map) Schemas(eventType string) []string {
	if schemas, ok := m.schemas[eventType]; ok {
		return schemas
	}
	return unmappedOnly
}

// Len returns the number of event types in the table, including event types that an
// override maps to no schema.
func (m *Map) Len() int {
	return len(m.schemas)
}
