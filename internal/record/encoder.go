package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// ValidTime reports whether t fits Fluent Bit's EventTime: not zero, from 1970-01-01 until
// before the seconds Fluent Bit reserves for group markers in 2106.
func ValidTime(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	seconds := t.Unix()
	return seconds >= 0 && seconds < maxEventTimeSeconds
}

// Encoder appends Fluent Bit log records (msgpack).
//
// A record has the Fluent Bit V2 shape [[EventTime, {}], {body}]. The body is the event's
// members as received, in order, followed by schema, okta_org and, when OriginalData is set,
// original_data. JSON strings become msgpack str, integers that fit int64 or uint64 become
// msgpack int, other numbers become float64 (see the number rules on AppendRecord), and
// objects become maps. The record contains no bin and no ext other than the EventTime.
type Encoder struct {
	OrgHost      string // value of "okta_org"
	OriginalData bool   // add "original_data" with the event's exact JSON text
}

// maxEventTimeSeconds is one past the last EventTime second for a record: Fluent Bit 5.1
// reserves 0xFFFFFFFE and 0xFFFFFFFF for group end and start markers (flb_log_event.h).
const maxEventTimeSeconds = math.MaxUint32 - 1

// AppendRecord appends one record for ev with the given schema to dst, and returns dst
// unchanged with an error when ev or ts cannot be encoded.
//
// ts becomes the EventTime: msgpack ext type 0 with 8 bytes, big-endian uint32 seconds since
// the Unix epoch and uint32 nanoseconds, so ts must lie between 1970-01-01 and 2106-02-07.
//
// Numbers: an integer without fraction or exponent that fits int64 or uint64 is a msgpack int.
// Every other number (1.0, 0.1, 1e3, integers beyond uint64) is a float64 rounded to nearest,
// and a number beyond the float64 range such as 1e400 is a str of its JSON text. Duplicate
// keys in an object keep the last member. Members of the event named schema, okta_org or
// original_data are left out, because the encoder writes those fields itself.
//
// ev comes from SplitPage, which has already transcoded it. For any other Event, AppendRecord
// validates and transcodes ev.Raw on every call.
func (e *Encoder) AppendRecord(dst []byte, ev *Event, schema string, ts time.Time) ([]byte,
	error) {
	if ev == nil {
		return dst, errors.New("record: AppendRecord called with a nil event")
	}
	if schema == "" {
		return dst, errors.New("record: empty schema name: pass a schema from the schema map")
	}
	seconds, nanos := ts.Unix(), ts.Nanosecond()
	if !ValidTime(ts) {
		return dst, fmt.Errorf("record: timestamp %s of event %q is outside the Fluent Bit "+
			"EventTime range (1970-01-01 to 2106-02-07 UTC): pass the event's published time "+
			"or the current time", ts.UTC().Format(time.RFC3339Nano), ev.UUID)
	}

	body, fields := ev.body, ev.fields
	if body == nil {
		var err error
		if body, fields, err = transcodeEvent(ev.Raw); err != nil {
			return dst, err
		}
	}

	extra := 2
	if e.OriginalData {
		extra++
	}

	// [[EventTime, {}], {body}]
	dst = append(dst, mpFixArray|2, mpFixArray|2, mpFixExt8, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(seconds))
	dst = binary.BigEndian.AppendUint32(dst, uint32(nanos))
	dst = append(dst, mpFixMap)

	dst = appendMapHeader(dst, fields+extra)
	dst = append(dst, body...)
	dst = appendStr(dst, SchemaField)
	dst = appendStr(dst, schema)
	dst = appendStr(dst, OrgField)
	dst = appendStr(dst, e.OrgHost)
	if e.OriginalData {
		dst = appendStr(dst, OriginalDataField)
		dst = appendStrBytes(dst, ev.Raw)
	}
	return dst, nil
}

// transcodeEvent validates raw as one JSON object and returns its members in msgpack.
func transcodeEvent(raw []byte) ([]byte, int, error) {
	s := splitter{t: transcoder{in: raw, out: make([]byte, 0, len(raw))}}
	t := &s.t
	t.skipSpace()
	if t.pos >= len(raw) || raw[t.pos] != '{' {
		if t.pos >= len(raw) {
			return nil, 0, t.fail("empty event, expected a JSON object")
		}
		return nil, 0, t.fail("event is %s, expected a JSON object", valueKind(raw[t.pos]))
	}
	if err := s.event(); err != nil {
		return nil, 0, err
	}
	t.skipSpace()
	if t.pos < len(raw) {
		return nil, 0, t.fail("invalid %s after the event object", t.describe())
	}
	return t.out, s.events[0].fields, nil
}
