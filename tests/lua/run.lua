-- Calls the entry points of a Fluent Bit Lua filter script the way filter_lua does.
--
-- Usage: luajit run.lua SCRIPT EVENTS_JSON OKTA_ORG < CASES
--
-- EVENTS_JSON is a JSON array of Okta LogEvents. Each line of CASES is "<uuid> <schema>".
-- For each case the runner builds the record the input plugin emits (the event's fields
-- plus schema, okta_org and original_data, the event's exact JSON text), converts it to Lua
-- values as filter_lua converts msgpack (Fluent Bit 5.1.1, src/flb_lua.c), calls
-- okta_<schema>(tag, timestamp, record) and prints one JSON line per case:
--   {"uuid":..,"schema":..,"code":..,"timestamp_kept":..,"record":{..}}
-- The output record is packed with filter_lua's rules: integral numbers become integers,
-- other numbers doubles, tables with the array metatable or keys 1..n arrays, others maps.

local ARRAY_TYPE, MAP_TYPE = 1, 2

-- filter_lua marks every decoded table with a metatable {type = 1 (array) or 2 (map)}.
local function marked(t, kind)
    return setmetatable(t, { type = kind })
end

------------------------------------------------------------------------------------------
-- JSON decoding into filter_lua's Lua values: null becomes nil (so the key is absent, as
-- with enable_flb_null off), numbers become Lua numbers.

local decode_value

local function decode_error(text, pos, what)
    error(string.format("invalid JSON at byte %d: %s", pos, what), 0)
end

local function skip_space(text, pos)
    return text:find("[^ \t\r\n]", pos) or #text + 1
end

local function utf8_char(code)
    if code < 0x80 then
        return string.char(code)
    elseif code < 0x800 then
        return string.char(0xC0 + math.floor(code / 0x40), 0x80 + code % 0x40)
    elseif code < 0x10000 then
        return string.char(0xE0 + math.floor(code / 0x1000),
            0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
    end
    return string.char(0xF0 + math.floor(code / 0x40000),
        0x80 + math.floor(code / 0x1000) % 0x40,
        0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f",
    n = "\n", r = "\r", t = "\t" }

local function decode_string(text, pos)
    local parts = {}
    local i = pos + 1
    while true do
        local c = text:sub(i, i)
        if c == "" then
            decode_error(text, pos, "unterminated string")
        elseif c == '"' then
            return table.concat(parts), i + 1
        elseif c == "\\" then
            local e = text:sub(i + 1, i + 1)
            if e == "u" then
                local code = tonumber(text:sub(i + 2, i + 5), 16)
                if not code then
                    decode_error(text, i, "bad \\u escape")
                end
                i = i + 6
                if code >= 0xD800 and code <= 0xDBFF and text:sub(i, i + 1) == "\\u" then
                    local low = tonumber(text:sub(i + 2, i + 5), 16)
                    if low and low >= 0xDC00 and low <= 0xDFFF then
                        code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
                        i = i + 6
                    end
                end
                parts[#parts + 1] = utf8_char(code)
            elseif ESCAPES[e] then
                parts[#parts + 1] = ESCAPES[e]
                i = i + 2
            else
                decode_error(text, i, "bad escape")
            end
        else
            local j = text:find('["\\]', i) or #text + 1
            parts[#parts + 1] = text:sub(i, j - 1)
            i = j
        end
    end
end

local function decode_array(text, pos)
    local result = marked({}, ARRAY_TYPE)
    local n = 0
    pos = skip_space(text, pos + 1)
    if text:sub(pos, pos) == "]" then
        return result, pos + 1
    end
    while true do
        local value
        value, pos = decode_value(text, pos)
        n = n + 1
        result[n] = value
        pos = skip_space(text, pos)
        local c = text:sub(pos, pos)
        if c == "]" then
            return result, pos + 1
        elseif c ~= "," then
            decode_error(text, pos, "expected , or ]")
        end
        pos = pos + 1
    end
end

local function decode_object(text, pos)
    local result = marked({}, MAP_TYPE)
    pos = skip_space(text, pos + 1)
    if text:sub(pos, pos) == "}" then
        return result, pos + 1
    end
    while true do
        pos = skip_space(text, pos)
        if text:sub(pos, pos) ~= '"' then
            decode_error(text, pos, "expected a key")
        end
        local key
        key, pos = decode_string(text, pos)
        pos = skip_space(text, pos)
        if text:sub(pos, pos) ~= ":" then
            decode_error(text, pos, "expected :")
        end
        local value
        value, pos = decode_value(text, pos + 1)
        result[key] = value
        pos = skip_space(text, pos)
        local c = text:sub(pos, pos)
        if c == "}" then
            return result, pos + 1
        elseif c ~= "," then
            decode_error(text, pos, "expected , or }")
        end
        pos = pos + 1
    end
end

decode_value = function(text, pos)
    pos = skip_space(text, pos)
    local c = text:sub(pos, pos)
    if c == "{" then
        return decode_object(text, pos)
    elseif c == "[" then
        return decode_array(text, pos)
    elseif c == '"' then
        return decode_string(text, pos)
    elseif text:sub(pos, pos + 3) == "null" then
        return nil, pos + 4
    elseif text:sub(pos, pos + 3) == "true" then
        return true, pos + 4
    elseif text:sub(pos, pos + 4) == "false" then
        return false, pos + 5
    end
    local number = text:match("^-?%d+%.?%d*[eE]?[+-]?%d*", pos)
    if not number or number == "" then
        decode_error(text, pos, "unexpected character")
    end
    return tonumber(number), pos + #number
end

-- Returns the events of a JSON array and the exact JSON text of each.
local function decode_events(text)
    local events, spans = {}, {}
    local pos = skip_space(text, 1)
    if text:sub(pos, pos) ~= "[" then
        decode_error(text, pos, "events file is not a JSON array")
    end
    pos = skip_space(text, pos + 1)
    while text:sub(pos, pos) ~= "]" do
        local event, next_pos = decode_value(text, pos)
        events[#events + 1] = event
        spans[#spans + 1] = text:sub(pos, next_pos - 1)
        pos = skip_space(text, next_pos)
        if text:sub(pos, pos) == "," then
            pos = skip_space(text, pos + 1)
        end
    end
    return events, spans
end

------------------------------------------------------------------------------------------
-- JSON encoding with filter_lua's Lua-to-msgpack rules (flb_lua_tomsgpack).

local encode_value

local function encode_string(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
        return string.format("\\u%04x", c:byte())
    end) .. '"'
end

local function is_integral(n)
    return n == math.floor(n) and n > -2 ^ 63 and n < 2 ^ 63
end

-- Returns n when the table's keys are exactly 1..n with n > 0, else nil
-- (flb_lua_arraylength).
local function array_length(t)
    local count, max = 0, 0
    for k in pairs(t) do
        if type(k) ~= "number" or k <= 0 then
            return nil
        end
        count = count + 1
        if k > max then
            max = k
        end
    end
    if count == 0 or count ~= max then
        return nil
    end
    return max
end

local function encode_table(t)
    local meta = getmetatable(t)
    local length
    if meta and meta.type == ARRAY_TYPE then
        length = #t
    elseif not (meta and meta.type == MAP_TYPE) then
        length = array_length(t)
    end
    if length then
        local items = {}
        for i = 1, length do
            items[i] = encode_value(t[i])
        end
        return "[" .. table.concat(items, ",") .. "]"
    end
    local keys = {}
    for k in pairs(t) do
        keys[#keys + 1] = tostring(k)
    end
    table.sort(keys)
    local items = {}
    for _, k in ipairs(keys) do
        items[#items + 1] = encode_string(k) .. ":" .. encode_value(t[k])
    end
    return "{" .. table.concat(items, ",") .. "}"
end

encode_value = function(v)
    local kind = type(v)
    if kind == "string" then
        return encode_string(v)
    elseif kind == "number" then
        if is_integral(v) then
            return string.format("%d", v)
        end
        return string.format("%.17g", v)
    elseif kind == "boolean" then
        return tostring(v)
    elseif kind == "table" then
        return encode_table(v)
    elseif kind == "nil" then
        return "null"
    end
    error("value of type " .. kind .. " cannot be packed by filter_lua", 0)
end

------------------------------------------------------------------------------------------

local function read_file(path)
    local file = assert(io.open(path, "rb"))
    local text = file:read("*a")
    file:close()
    return text
end

local function main(script, events_path, okta_org)
    if not (script and events_path and okta_org) then
        io.stderr:write("usage: luajit run.lua SCRIPT EVENTS_JSON OKTA_ORG < CASES\n")
        os.exit(2)
    end
    dofile(script)

    local events, spans = decode_events(read_file(events_path))
    local by_uuid = {}
    for i, event in ipairs(events) do
        by_uuid[event.uuid] = i
    end

    for line in io.lines() do
        local uuid, schema = line:match("^(%S+) (%S+)$")
        if not uuid then
            error("malformed case line: " .. line, 0)
        end
        local index = by_uuid[uuid]
        if not index then
            error("no event with uuid " .. uuid .. " in " .. events_path, 0)
        end
        local entry = _G["okta_" .. schema]
        if type(entry) ~= "function" then
            error(script .. " defines no function okta_" .. schema, 0)
        end

        -- A fresh decode per case, because an entry point may modify its input table.
        local record = decode_value(spans[index], 1)
        record.schema = schema
        record.okta_org = okta_org
        record.original_data = spans[index]

        local timestamp = 1778746365.118
        local code, out_timestamp, out = entry("okta." .. schema, timestamp, record)
        print(encode_value({
            uuid = uuid,
            schema = schema,
            code = code,
            timestamp_kept = out_timestamp == timestamp,
            record = out,
        }))
    end
end

main(...)
