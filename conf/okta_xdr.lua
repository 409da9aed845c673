-- Maps Okta System Log records to Taegis XDR field names, one entry point per schema.
--
-- Fluent Bit's lua filter calls okta_auth, okta_cloudaudit or okta_generic as
-- cb(tag, timestamp, record) and uses the returned (code, timestamp, record). Each entry
-- point returns code 2: Fluent Bit replaces the record and keeps the original timestamp,
-- which the input plugin set from `published` with full precision.
--
-- The output record holds only XDR fields plus `schema`. The Okta event travels unchanged
-- in `original_data`, a string, so no Okta number passes through a Lua double on its way
-- out. A field whose source is absent, null or empty is left out, never guessed.

local SENSOR_TYPE = "OKTA"

-- NOTE: Taegis documents neither the value its own Okta integration uses for sensor_type
-- nor the allowed values of auth action, logon_type and auth_system. The constants here
-- are this project's choice.
local AUTH_SYSTEM = "Okta"

local function nonempty_string(value)
    if type(value) == "string" and value ~= "" then
        return value
    end
    return nil
end

-- Returns record[k1][k2]... or nil when any step is not a table.
local function lookup(value, ...)
    for i = 1, select("#", ...) do
        if type(value) ~= "table" then
            return nil
        end
        value = value[select(i, ...)]
    end
    return value
end

local function starts_with(s, prefix)
    return s:sub(1, #prefix) == prefix
end

-- Days between 1970-01-01 and the given proleptic Gregorian date (Howard Hinnant's
-- days_from_civil). Every operand is an integer far below 2^53, so the double arithmetic
-- of LuaJIT is exact here.
local function days_from_civil(year, month, day)
    if month <= 2 then
        year = year - 1
    end
    local era = math.floor(year / 400)
    local year_of_era = year - era * 400
    local month_index = (month + 9) % 12
    local day_of_year = math.floor((153 * month_index + 2) / 5) + day - 1
    local day_of_era = year_of_era * 365 + math.floor(year_of_era / 4)
        - math.floor(year_of_era / 100) + day_of_year
    return era * 146097 + day_of_era - 719468
end

local function days_in_month(year, month)
    local lengths = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
    local leap = (year % 4 == 0 and year % 100 ~= 0) or year % 400 == 0
    if month == 2 and leap then
        return 29
    end
    return lengths[month]
end

-- Largest microsecond count that a double holds exactly (2^53), reached in the year 2255.
local MAX_EXACT_USEC = 9007199254740992

-- Converts an RFC 3339 date-time such as "2026-05-14T08:12:45.118Z" to microseconds since
-- the Unix epoch, computed from the digits in integer arithmetic and never through a
-- fractional double. Returns nil for text that is not a valid RFC 3339 date-time, and for
-- times before 1970 or after 2255. Fraction digits past the sixth are dropped because the
-- field counts whole microseconds; Okta sends three.
local function rfc3339_to_usec(text)
    if type(text) ~= "string" then
        return nil
    end
    local year, month, day, hour, minute, second, rest =
        text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
    if not year then
        return nil
    end
    year, month, day = tonumber(year), tonumber(month), tonumber(day)
    hour, minute, second = tonumber(hour), tonumber(minute), tonumber(second)
    if month < 1 or month > 12 or day < 1 or day > days_in_month(year, month)
        or hour > 23 or minute > 59 or second > 59 then
        return nil
    end

    local fraction, zone = rest:match("^%.(%d+)(.*)$")
    if fraction then
        if #fraction > 9 then
            return nil
        end
        rest = zone
    else
        fraction = ""
    end
    local micros = tonumber((fraction .. "000000"):sub(1, 6))

    local offset_seconds
    if rest == "Z" or rest == "z" then
        offset_seconds = 0
    else
        local sign, offset_hour, offset_minute = rest:match("^([+-])(%d%d):(%d%d)$")
        if not sign then
            return nil
        end
        offset_hour, offset_minute = tonumber(offset_hour), tonumber(offset_minute)
        if offset_hour > 23 or offset_minute > 59 then
            return nil
        end
        offset_seconds = (offset_hour * 60 + offset_minute) * 60
        if sign == "-" then
            offset_seconds = -offset_seconds
        end
    end

    local seconds = days_from_civil(year, month, day) * 86400
        + hour * 3600 + minute * 60 + second - offset_seconds
    local usec = seconds * 1000000 + micros
    if seconds < 0 or usec >= MAX_EXACT_USEC then
        return nil
    end
    return usec
end

-- Okta writes the literal "unknown" where it has no alternateId.
local function alternate_id(principal)
    local id = nonempty_string(lookup(principal, "alternateId"))
    if id == "unknown" then
        return nil
    end
    return id
end

-- Returns the text after the last "@" of an e-mail style login, or nil.
local function domain_of(login)
    if not login then
        return nil
    end
    return nonempty_string(login:match("@([^@]*)$"))
end

-- Returns true when the event shows a second factor in use: an MFA verification event, an
-- Okta Verify event, or a debugData.factor entry. Factor enrolment changes
-- (user.mfa.factor.*) name a factor without using it and never count. Returns nil, so the
-- field is left out, when nothing shows MFA: a missing factor is no proof MFA was skipped.
local function mfa_used(record)
    local event_type = nonempty_string(record.eventType) or ""
    if event_type == "user.authentication.auth_via_mfa"
        or starts_with(event_type, "user.mfa.okta_verify.") then
        return true
    end
    if starts_with(event_type, "user.mfa.factor.") then
        return nil
    end
    if nonempty_string(lookup(record, "debugContext", "debugData", "factor")) then
        return true
    end
    return nil
end

local ACTIONS = {
    SUCCESS = "success",
    ALLOW = "success",
    FAILURE = "failure",
    DENY = "failure",
    SKIPPED = "failure",
}

-- Maps outcome.result to success or failure, and any other result Okta sends (CHALLENGE,
-- UNKNOWN, RATE_LIMIT, ...) to unknown. Left out when the event has no result.
local function auth_action(record)
    local result = nonempty_string(lookup(record, "outcome", "result"))
    if not result then
        return nil
    end
    return ACTIONS[result] or "unknown"
end

local LOGOFF_EVENT_TYPES = {
    ["user.session.end"] = true,
    ["user.session.clear"] = true,
    ["user.authentication.slo"] = true,
}

-- Returns logon for a session start or a user.authentication.* event, logoff for a session
-- end, session clear or single logout, and nil for event types that are no sign-in at all
-- (policy changes, token grants, profile updates).
local function logon_type(event_type)
    if not event_type then
        return nil
    end
    if LOGOFF_EVENT_TYPES[event_type] then
        return "logoff"
    end
    if event_type == "user.session.start" or starts_with(event_type, "user.authentication.") then
        return "logon"
    end
    return nil
end

-- Returns the displayName of the first AppInstance target; Okta does not keep target
-- positions stable, so the type decides.
local function application_name(record)
    local targets = record.target
    if type(targets) ~= "table" then
        return nil
    end
    for _, target in ipairs(targets) do
        if lookup(target, "type") == "AppInstance" then
            local name = nonempty_string(lookup(target, "displayName"))
            if name then
                return name
            end
        end
    end
    return nil
end

-- Builds the fields every XDR schema shares.
local function envelope(record, schema)
    return {
        schema = schema,
        sensor_type = SENSOR_TYPE,
        sensor_event_id = nonempty_string(record.uuid),
        sensor_tenant = nonempty_string(record.okta_org),
        event_time_usec = rfc3339_to_usec(record.published),
        original_data = nonempty_string(record.original_data),
    }
end

local function client_fields(out, record)
    out.source_address = nonempty_string(lookup(record, "client", "ipAddress"))
    out.user_agent = nonempty_string(lookup(record, "client", "userAgent", "rawUserAgent"))
end

-- Entry point for records tagged okta.auth. The actor is the user signing in, so it
-- becomes the target user, as Microsoft Sentinel's ASIM Okta parsers also map it. Actors
-- that are not users (client apps, the Okta system principal) leave the user fields out.
function okta_auth(tag, timestamp, record)
    local out = envelope(record, "auth")
    local event_type = nonempty_string(record.eventType)

    out.action = auth_action(record)
    client_fields(out, record)
    out.source_domain_name = nonempty_string(lookup(record, "securityContext", "domain"))
    if lookup(record, "actor", "type") == "User" then
        out.target_user_name = alternate_id(record.actor)
        out.target_domain_name = domain_of(out.target_user_name)
    end
    out.auth_system = AUTH_SYSTEM
    out.application_name = application_name(record)
    out.logon_type = logon_type(event_type)
    out.mfa_used = mfa_used(record)
    return 2, timestamp, out
end

-- Entry point for records tagged okta.cloudaudit. user_name is whoever made the change,
-- user or client app; event_type is the Okta namespace, the first word of eventType.
function okta_cloudaudit(tag, timestamp, record)
    local out = envelope(record, "cloudaudit")
    local event_type = nonempty_string(record.eventType)

    out.event_name = event_type
    if event_type then
        out.event_type = event_type:match("^([^.]+)")
    end
    out.user_name = alternate_id(record.actor)
    client_fields(out, record)
    out.mfa_used = mfa_used(record)
    return 2, timestamp, out
end

-- Entry point for records tagged okta.generic. summary is "<eventType>: <displayMessage>",
-- or the event type alone when Okta sent no message; hostname is the Okta org host.
function okta_generic(tag, timestamp, record)
    local out = envelope(record, "generic")
    local event_type = nonempty_string(record.eventType)
    local message = nonempty_string(record.displayMessage)

    if event_type and message then
        out.summary = event_type .. ": " .. message
    else
        out.summary = event_type or message
    end
    out.hostname = nonempty_string(record.okta_org)
    return 2, timestamp, out
end
