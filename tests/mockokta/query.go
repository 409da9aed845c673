package mockokta

import (
	"net/url"
	"sort"
	"strconv"
	"time"
)

// logsQuery is a parsed /api/v1/logs query.
type logsQuery struct {
	raw        url.Values
	bounded    bool // until given or sortOrder DESCENDING: ordered by published, finite
	descending bool
	since      time.Time
	until      time.Time
	after      *cursorPosition
	limit      int
	match      func(*storedEvent) bool
}

// cursorPosition is where a page ended, stored under the after value of its next link, so
// only cursors the server minted are accepted.
type cursorPosition struct {
	bounded    bool
	descending bool
	seq        uint64
	published  time.Time
	since      time.Time
}

// cursorKey is the lookup key of a minted cursor. The same event has different positions in
// polling, ascending and descending order, so the order is part of the key.
type cursorKey struct {
	bounded    bool
	descending bool
	after      string
}

// queryRejection is a 400 response with an Okta error code.
type queryRejection struct {
	code    string
	summary string
	reason  string
}

func badQuery(reason, code, summary string) *queryRejection {
	return &queryRejection{code: code, summary: summary, reason: reason}
}

func dateSummary(param string) string {
	// NOTE: Okta's full text goes on after "format."; the rest is not recorded, so the
	// summary ends there.
	return "Api validation failed: '" + param + "': The date format in your query is not " +
		"recognized. Please enter dates using ISO8601 string format."
}

// parseLogsQuery validates the query parameters of the System Log API.
func (s *Server) parseLogsQuery(values url.Values, now time.Time) (*logsQuery, *queryRejection) {
	q := &logsQuery{raw: values, limit: defaultLimit}

	switch order := values.Get("sortOrder"); order {
	case "", "ASCENDING":
	case "DESCENDING":
		q.descending = true
	default:
		return nil, badQuery(ReasonBadSortOrder, "E0000001",
			"Api validation failed: 'sortOrder': The sortOrder must be ASCENDING or DESCENDING.")
	}
	if v := values.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxLimit {
			// NOTE: Okta documents limit as 0 to 1000 but not its response outside that range.
			return nil, badQuery(ReasonBadLimit, "E0000001",
				"Api validation failed: 'limit': The limit must be an integer from 0 to 1000.")
		}
		q.limit = n
	}

	q.until = now
	if v := values.Get("until"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, badQuery(ReasonBadDate, "E0000001", dateSummary("until"))
		}
		q.until = t
		q.bounded = true
	}
	q.bounded = q.bounded || q.descending

	since, after := values.Get("since"), values.Get("after")
	if since != "" && after != "" {
		return nil, badQuery(ReasonSinceAndAfter, "E0000001",
			"Api validation failed: 'after': The after parameter cannot be used with since.")
	}
	q.since = q.until.Add(-defaultWindow)
	if since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			return nil, badQuery(ReasonBadDate, "E0000001", dateSummary("since"))
		}
		if now.Sub(t) > maxSinceAge {
			return nil, badQuery(ReasonSinceTooOld, "E0000053", summarySinceTooOld)
		}
		q.since = t
	}
	// For a since between 90 and 180 days back, Okta returns the events it still retains.
	if oldest := now.Add(-retention); q.since.Before(oldest) {
		q.since = oldest
	}
	if after != "" {
		s.mu.Lock()
		pos, ok := s.cursors[cursorKey{bounded: q.bounded, descending: q.descending, after: after}]
		s.mu.Unlock()
		if !ok {
			return nil, badQuery(ReasonBadCursor, "E0000001",
				"Api validation failed: 'after': The after cursor is invalid. "+
					"Use the after value of a next link unchanged.")
		}
		q.after = &pos
		q.since = pos.since
	}

	match, rej := buildMatcher(values.Get("filter"), values.Get("q"))
	if rej != nil {
		return nil, rej
	}
	q.match = match
	return q, nil
}

// page is one response of the System Log API: its events and the after value of its next link,
// empty when the page is the last of a bounded request.
type page struct {
	events []*storedEvent
	next   string
}

// readPage selects the events of a page and mints the cursor of its next link. The caller
// holds s.mu.
func (s *Server) readPage(q *logsQuery, now time.Time) page {
	if q.bounded {
		return s.readBoundedPage(q, now)
	}
	return s.readPollingPage(q, now)
}

// readPollingPage serves a polling request: events in persistence order after the cursor or
// persisted at or after since. Its next link is always present, on an empty page too.
func (s *Server) readPollingPage(q *logsQuery, now time.Time) page {
	events := s.store.events
	start := 0
	if q.after != nil {
		start = int(q.after.seq)
	} else {
		start = s.store.firstPersistedAtOrAfter(q.since)
	}
	oldest := now.Add(-retention)

	var out []*storedEvent
	i := start
	for ; i < len(events) && len(out) < q.limit; i++ {
		ev := events[i]
		if ev.persisted.Before(oldest) || !q.match(ev) {
			continue
		}
		out = append(out, ev)
	}

	var at time.Time
	if i > 0 {
		at = events[i-1].persisted
	} else {
		at = q.since
	}
	pos := cursorPosition{seq: uint64(i), since: q.since}
	return page{events: out, next: s.mintCursor(at, pos)}
}

// readBoundedPage serves a bounded request: events with since <= published < until in
// published order. The last page has no next link.
func (s *Server) readBoundedPage(q *logsQuery, now time.Time) page {
	idx := s.store.publishedIndex()
	n := len(idx)
	step := 1
	var i int
	switch {
	case q.after != nil && !q.descending:
		i = sort.Search(n, func(j int) bool { return afterKey(idx[j], q.after) })
	case q.after != nil:
		i = sort.Search(n, func(j int) bool { return !beforeKey(idx[j], q.after) }) - 1
		step = -1
	case !q.descending:
		i = sort.Search(n, func(j int) bool { return !idx[j].published.Before(q.since) })
	default:
		i = sort.Search(n, func(j int) bool { return !idx[j].published.Before(q.until) }) - 1
		step = -1
	}
	inRange := func(j int) bool {
		return j >= 0 && j < n && !idx[j].published.Before(q.since) &&
			idx[j].published.Before(q.until)
	}

	var out []*storedEvent
	for ; inRange(i) && len(out) < q.limit; i += step {
		if q.match(idx[i]) {
			out = append(out, idx[i])
		}
	}
	more := false
	for j := i; inRange(j); j += step {
		if q.match(idx[j]) {
			more = true
			break
		}
	}
	if !more || len(out) == 0 {
		return page{events: out}
	}
	last := out[len(out)-1]
	pos := cursorPosition{bounded: true, descending: q.descending, seq: last.seq,
		published: last.published, since: q.since}
	return page{events: out, next: s.mintCursor(last.published, pos)}
}

// mintCursor stores pos under a new after value, <millis>_<seq> as Okta's cursors look.
func (s *Server) mintCursor(at time.Time, pos cursorPosition) string {
	cursor := strconv.FormatInt(at.UnixMilli(), 10) + "_" + strconv.FormatUint(pos.seq, 10)
	s.cursors[cursorKey{bounded: pos.bounded, descending: pos.descending, after: cursor}] = pos
	return cursor
}

func afterKey(ev *storedEvent, key *cursorPosition) bool {
	if !ev.published.Equal(key.published) {
		return ev.published.After(key.published)
	}
	return ev.seq > key.seq
}

func beforeKey(ev *storedEvent, key *cursorPosition) bool {
	if !ev.published.Equal(key.published) {
		return ev.published.Before(key.published)
	}
	return ev.seq < key.seq
}
