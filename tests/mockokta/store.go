package mockokta

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"time"

	jsoniter "github.com/json-iterator/go"
)

// publishedLayout is the format of Okta's published field: UTC with milliseconds.
const publishedLayout = "2006-01-02T15:04:05.000Z"

var storeJSON = jsoniter.ConfigCompatibleWithStandardLibrary

// storedEvent is one System Log event with the times the store orders it by.
type storedEvent struct {
	raw       []byte
	uuid      string
	eventType string
	published time.Time
	persisted time.Time // when the org stored the event; polling requests order by it
	seq       uint64    // 1-based position in persistence order
}

// eventStore keeps events in persistence order, with an index by published time that is
// rebuilt on demand for bounded requests.
type eventStore struct {
	events        []*storedEvent
	lastPersisted time.Time
	byPublished   []*storedEvent // nil when events changed since it was built
}

func newEventStore() *eventStore { return &eventStore{} }

// append persists events at now. When published is not zero, each event's published field is
// set to it. An event without published gets now. It returns the number of events skipped
// because they are not JSON objects.
func (st *eventStore) append(now time.Time, published time.Time, events [][]byte) int {
	invalid := 0
	persisted := now
	if persisted.Before(st.lastPersisted) {
		persisted = st.lastPersisted
	}
	for _, raw := range events {
		ev, ok := parseStoredEvent(raw)
		if !ok {
			invalid++
			continue
		}
		if !published.IsZero() || ev.published.IsZero() {
			when := published
			if when.IsZero() {
				when = now
			}
			ev.raw = setPublished(ev.raw, when)
			ev.published = when.UTC().Truncate(time.Millisecond)
		}
		ev.persisted = persisted
		ev.seq = uint64(len(st.events) + 1)
		st.events = append(st.events, ev)
	}
	st.lastPersisted = persisted
	st.byPublished = nil
	return invalid
}

func parseStoredEvent(raw []byte) (*storedEvent, bool) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, false
	}
	var head struct {
		UUID      string `json:"uuid"`
		EventType string `json:"eventType"`
		Published string `json:"published"`
	}
	if err := storeJSON.Unmarshal(trimmed, &head); err != nil {
		return nil, false
	}
	// Okta sends compact JSON, and hand-written sample files are usually indented.
	compact := append([]byte(nil), trimmed...)
	if bytes.ContainsAny(trimmed, "\n\r\t") {
		var buf bytes.Buffer
		if err := json.Compact(&buf, trimmed); err != nil {
			return nil, false
		}
		compact = buf.Bytes()
	}
	ev := &storedEvent{
		raw:       compact,
		uuid:      head.UUID,
		eventType: head.EventType,
	}
	if t, err := time.Parse(time.RFC3339Nano, head.Published); err == nil {
		ev.published = t.UTC()
	}
	return ev, true
}

// setPublished returns raw with its top-level published value replaced by t, or with a
// published member added at the front when it has none.
func setPublished(raw []byte, t time.Time) []byte {
	value := strconv.Quote(t.UTC().Format(publishedLayout))
	if start, end := topLevelValueSpan(raw, "published"); start >= 0 {
		out := make([]byte, 0, len(raw)+len(value))
		out = append(out, raw[:start]...)
		out = append(out, value...)
		return append(out, raw[end:]...)
	}
	out := make([]byte, 0, len(raw)+len(value)+16)
	out = append(out, `{"published":`...)
	out = append(out, value...)
	rest := bytes.TrimSpace(raw[1:])
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

// topLevelValueSpan returns the byte span in raw of the value of the top-level member name,
// or -1, -1. Walking the object with a decoder skips nested members of the same name.
func topLevelValueSpan(raw []byte, name string) (int, int) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return -1, -1
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return -1, -1
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return -1, -1
		}
		if tok == name {
			end := int(dec.InputOffset())
			return end - len(value), end
		}
	}
	return -1, -1
}

// publishedIndex returns the events ordered by published time, then persistence order.
func (st *eventStore) publishedIndex() []*storedEvent {
	if st.byPublished == nil {
		idx := slices.Clone(st.events)
		sort.SliceStable(idx, func(i, j int) bool {
			return idx[i].published.Before(idx[j].published)
		})
		st.byPublished = idx
	}
	return st.byPublished
}

// firstPersistedAtOrAfter returns the index of the first event persisted at or after t.
func (st *eventStore) firstPersistedAtOrAfter(t time.Time) int {
	return sort.Search(len(st.events), func(i int) bool {
		return !st.events[i].persisted.Before(t)
	})
}
