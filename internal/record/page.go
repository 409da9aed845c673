// Package record splits Okta System Log pages into events and encodes each event as a Fluent
// Bit log record in msgpack.
//
// Decoding streams: SplitPage walks the bytes of a page once, validates them as JSON, finds
// the span of each event, picks out uuid, eventType and published, and transcodes the event's
// fields to msgpack in the same pass. No generic map is built, so every field keeps its order,
// its type and its exact string value.
package record

import (
	"fmt"
	"time"
)

// Names of the fields that the encoder adds to every record. A member of the event object with
// one of these names is left out of the record body, so the plugin's value is the only one,
// and the event's own value is still in original_data when that is enabled. Okta's LogEvent
// has none of these fields.
const (
	SchemaField       = "schema"
	OrgField          = "okta_org"
	OriginalDataField = "original_data"
)

// Event is one LogEvent located in a System Log page.
type Event struct {
	Raw       []byte    // exact JSON text of the event object, a subslice of the page
	UUID      string    // "" when absent or not a string
	EventType string    // "" when absent or not a string
	Published time.Time // zero when absent or unparsable (caller decides what to do)

	// body is the msgpack encoding of the event's members without a map header, and fields
	// is their number. SplitPage sets both; AppendRecord transcodes Raw when body is nil.
	body   []byte
	fields int
}

// SplitPage returns the events of a page (a JSON array of objects) in order. A page that is
// not a JSON array of objects, or is truncated, returns a *SyntaxError with the byte offset
// and the reason, and no events: a page is used whole or not at all.
//
// The events' Raw fields share the page's bytes, so the page must not be modified while the
// events are in use.
func SplitPage(page []byte) ([]Event, error) {
	s := splitter{t: transcoder{in: page, out: make([]byte, 0, len(page)+len(page)/8)}}
	return s.split()
}

type splitter struct {
	t      transcoder
	ids    []byte // uuid, eventType and published of the current event
	events []Event
	spans  []int // start and end of each event's body in t.out
}

// event field offsets in s.ids, -1 when absent
type idOffsets struct {
	uuidStart, uuidEnd           int
	typeStart, typeEnd           int
	publishedStart, publishedEnd int
}

func (s *splitter) split() ([]Event, error) {
	t := &s.t
	t.skipSpace()
	if t.pos >= len(t.in) {
		return nil, t.fail("empty page, expected a JSON array of events")
	}
	if t.in[t.pos] != '[' {
		return nil, t.fail("invalid %s at the start of the page, expected '[' (a JSON array "+
			"of events)", t.describe())
	}
	t.pos++

	t.skipSpace()
	if t.pos < len(t.in) && t.in[t.pos] == ']' {
		t.pos++
		return s.finish()
	}
	for {
		t.skipSpace()
		if t.pos >= len(t.in) {
			return nil, t.fail("unexpected end of page, expected event %d", len(s.events))
		}
		if t.in[t.pos] != '{' {
			return nil, t.fail("event %d is %s, expected a JSON object", len(s.events),
				valueKind(t.in[t.pos]))
		}
		if err := s.event(); err != nil {
			return nil, err
		}

		t.skipSpace()
		if t.pos >= len(t.in) {
			return nil, t.fail("unexpected end of page after event %d, expected ',' or ']'",
				len(s.events)-1)
		}
		if t.in[t.pos] == ']' {
			t.pos++
			break
		}
		if t.in[t.pos] != ',' {
			return nil, t.fail("invalid %s after event %d, expected ',' or ']'",
				t.describe(), len(s.events)-1)
		}
		t.pos++
	}
	return s.finish()
}

func (s *splitter) finish() ([]Event, error) {
	t := &s.t
	t.skipSpace()
	if t.pos < len(t.in) {
		return nil, t.fail("invalid %s after the end of the page array", t.describe())
	}
	for i := range s.events {
		s.events[i].body = t.out[s.spans[2*i]:s.spans[2*i+1]:s.spans[2*i+1]]
	}
	if s.events == nil {
		s.events = []Event{}
	}
	return s.events, nil
}

// event transcodes the event object at the current position and appends it to s.events.
func (s *splitter) event() error {
	t := &s.t
	start, bodyStart := t.pos, len(t.out)
	s.ids = s.ids[:0]
	ids := idOffsets{-1, -1, -1, -1, -1, -1}

	fields, err := t.object(1, func(key []byte, strStart, strEnd int) bool {
		switch string(key) {
		case SchemaField, OrgField, OriginalDataField:
			return false
		case "uuid":
			ids.uuidStart, ids.uuidEnd = s.keepID(strStart, strEnd)
		case "eventType":
			ids.typeStart, ids.typeEnd = s.keepID(strStart, strEnd)
		case "published":
			ids.publishedStart, ids.publishedEnd = s.keepID(strStart, strEnd)
		}
		return true
	})
	if err != nil {
		return err
	}

	ev := Event{Raw: t.in[start:t.pos:t.pos], fields: fields}
	if len(s.ids) > 0 {
		// One string per event for its identifiers, so that keeping a UUID (for example in a
		// deduplication cache) keeps only these bytes alive, not the whole page.
		all := string(s.ids)
		ev.UUID = substring(all, ids.uuidStart, ids.uuidEnd)
		ev.EventType = substring(all, ids.typeStart, ids.typeEnd)
		ev.Published = parsePublished(substring(all, ids.publishedStart, ids.publishedEnd))
	}
	s.events = append(s.events, ev)
	s.spans = append(s.spans, bodyStart, len(t.out))
	return nil
}

// keepID copies the string value at t.out[strStart:strEnd] to s.ids and returns its offsets
// there, or -1, -1 when the value is not a string.
func (s *splitter) keepID(strStart, strEnd int) (int, int) {
	if strStart < 0 {
		return -1, -1
	}
	start := len(s.ids)
	s.ids = append(s.ids, s.t.out[strStart:strEnd]...)
	return start, len(s.ids)
}

func substring(s string, start, end int) string {
	if start < 0 {
		return ""
	}
	return s[start:end]
}

// parsePublished parses an RFC 3339 timestamp such as Okta's 2024-08-13T15:58:20.353Z and
// returns it in UTC, or the zero time when text is empty or invalid.
func parsePublished(text string) time.Time {
	if text == "" {
		return time.Time{}
	}
	ts, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return time.Time{}
	}
	return ts.UTC()
}

// valueKind names the JSON type of the value that starts with c, for error messages.
func valueKind(c byte) string {
	switch {
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return fmt.Sprintf("the invalid character %q", c)
}
