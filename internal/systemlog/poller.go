package systemlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/internal/auth"
	"github.com/edgeaudit/fluent-bit-okta/internal/record"
	"github.com/edgeaudit/fluent-bit-okta/internal/schema"
)

// SinceLayout is the form of the since parameter: RFC 3339 in UTC with milliseconds, as
// Okta's own examples write it.
const SinceLayout = "2006-01-02T15:04:05.000Z"

// Metrics are the counters of one poller. All fields are updated atomically.
type Metrics struct {
	Requests     atomic.Int64 // System Log requests sent
	Pages        atomic.Int64 // pages decoded
	EmptyPages   atomic.Int64 // pages without any event
	Events       atomic.Int64 // events queued (after duplicates were dropped)
	Records      atomic.Int64 // records queued
	Duplicates   atomic.Int64 // events dropped because their UUID was seen before
	RateLimited  atomic.Int64 // 429 answers
	Retries      atomic.Int64 // requests repeated after a failure
	NewestEvent  atomic.Int64 // published of the newest event queued, Unix nanoseconds
	NoPublished  atomic.Int64 // events whose published was missing or invalid
	ErrorsLogged atomic.Int64
}

// Poller fetches pages in order, from the cursor onwards, and pushes their records to a Queue.
type Poller struct {
	Client       *Client
	Queue        *Queue
	Encoder      *record.Encoder
	Schemas      *schema.Map
	PageSize     int
	PollInterval time.Duration
	Pacer        Pacer
	Seen         *Window // UUIDs already queued or handed over
	Logger       *slog.Logger
	Metrics      *Metrics
	Clock        *auth.Clock

	// Sleep waits d or until ctx ends; tests replace it. nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error

	failures *failureLog
}

// Run polls until ctx ends, starting at the URL start. It returns ctx's error.
func (p *Poller) Run(ctx context.Context, start string) error {
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	p.failures = &failureLog{logger: p.Logger, metrics: p.Metrics}
	backoff := Backoff{Base: time.Second, Max: 5 * time.Minute}
	target := start
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.Metrics.Requests.Add(1)
		resp, err := p.Client.Get(ctx, target)
		if err == nil {
			var page *Page
			var events int
			page, events, err = p.decode(resp)
			if err == nil {
				if err := p.Queue.Push(ctx, page); err != nil {
					return err
				}
				p.failures.recovered()
				backoff.Reset()
				if resp.Next != "" {
					target = resp.Next
				}
				wait := p.Pacer.Delay(resp.Rate, p.Clock.Local())
				// A page shorter than the limit means the stream is caught up. The next link
				// is always present in a polling request, so fetching it now would return an
				// empty page and spend a request.
				if events < p.PageSize && wait < p.PollInterval {
					wait = p.PollInterval
				}
				if wait > 0 {
					if err := p.Sleep(ctx, wait); err != nil {
						return err
					}
				}
				continue
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := p.retryDelay(err, &backoff)
		p.Metrics.Retries.Add(1)
		p.failures.failed(err, target, wait)
		if err := p.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// retryDelay picks the wait after a failed request: the rate-limit reset after a 429, the
// backoff's maximum after errors that need a change in Okta, else exponential backoff.
func (p *Poller) retryDelay(err error, backoff *Backoff) time.Duration {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests {
		p.Metrics.RateLimited.Add(1)
		return p.Pacer.RetryAfter429(apiErr.Rate, p.Clock.Local())
	}
	var setupErr interface{ Permanent() bool }
	permanent := (errors.As(err, &apiErr) && !apiErr.Retryable()) ||
		(errors.As(err, &setupErr) && setupErr.Permanent())
	if permanent {
		// Keep trying at a slow pace: the fix (a role, a scope, a key) is made in Okta while
		// Fluent Bit keeps running.
		for backoff.Attempts() < 12 {
			backoff.Next()
		}
	}
	return backoff.Next()
}

// decode turns a response into a queue page. It returns the number of events Okta sent, before
// duplicates were dropped.
func (p *Poller) decode(resp *Response) (*Page, int, error) {
	events, err := record.SplitPage(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("systemlog: page from %s cannot be decoded, fetching it "+
			"again: %w", redactURL(resp.URL), err)
	}
	p.Metrics.Pages.Add(1)
	if len(events) == 0 {
		p.Metrics.EmptyPages.Add(1)
	}
	page := &Page{RequestURL: resp.URL, NextURL: resp.Next,
		Ends: make([]int, 0, len(events)), UUIDs: make([]string, 0, len(events))}
	// Records are about the size of the event's JSON, twice that with original_data, so this
	// capacity avoids most of the copies of a growing buffer.
	estimate := len(resp.Body) + len(resp.Body)/4
	if p.Encoder.OriginalData {
		estimate *= 2
	}
	page.Data = make([]byte, 0, estimate)
	now := p.Clock.Local()
	var newest time.Time
	// UUIDs join Seen only once the whole page is encoded, so a page fetched again after an
	// error does not drop its own events as duplicates.
	inPage := make(map[string]struct{}, len(events))
	var added []string
	for i := range events {
		ev := &events[i]
		if ev.UUID != "" {
			_, again := inPage[ev.UUID]
			if again || p.Seen.Contains(ev.UUID) {
				p.Metrics.Duplicates.Add(1)
				continue
			}
			inPage[ev.UUID] = struct{}{}
			added = append(added, ev.UUID)
		}
		ts := ev.Published
		if !record.ValidTime(ts) {
			// Fluent Bit's EventTime cannot carry a missing or out-of-range time, so the
			// event is kept with the time it was read as its record time.
			ts = now
			if p.Metrics.NoPublished.Add(1) == 1 {
				p.Logger.Warn("event without a valid published time; using the time it was read",
					"uuid", ev.UUID, "eventType", ev.EventType)
			}
		}
		for _, name := range p.Schemas.Schemas(ev.EventType) {
			page.Data, err = p.Encoder.AppendRecord(page.Data, ev, name, ts)
			if err != nil {
				return nil, 0, fmt.Errorf("systemlog: event %d of the page from %s cannot be "+
					"encoded, fetching the page again: %w", i, redactURL(resp.URL), err)
			}
			page.Ends = append(page.Ends, len(page.Data))
			page.UUIDs = append(page.UUIDs, ev.UUID)
		}
		page.Events++
		if ts.After(newest) {
			newest = ts
		}
	}
	for _, uuid := range added {
		p.Seen.Add(uuid)
	}
	p.Metrics.Events.Add(int64(page.Events))
	p.Metrics.Records.Add(int64(len(page.Ends)))
	if !newest.IsZero() && newest.UnixNano() > p.Metrics.NewestEvent.Load() {
		p.Metrics.NewestEvent.Store(newest.UnixNano())
	}
	return page, len(events), nil
}

// StartURL returns the first request of a run without a checkpoint: a polling request from since.
func StartURL(org *url.URL, since time.Time, pageSize int, filter, query string) string {
	q := url.Values{}
	q.Set("since", since.UTC().Format(SinceLayout))
	setParams(q, pageSize, filter, query)
	u := *org
	u.Path = LogsPath
	u.RawQuery = q.Encode()
	return u.String()
}

// ResumeURL returns the stored cursor with limit, filter and q replaced by the configured
// values, so a change of page_size, filter or query applies from the checkpoint on.
// NOTE: Okta documents after as opaque. Combining it with another filter than the one that
// produced it is assumed to work like that filter's query from the same position.
func ResumeURL(cursor string, pageSize int, filter, query string) (string, bool, error) {
	u, err := url.Parse(cursor)
	if err != nil {
		return "", false, fmt.Errorf("systemlog: invalid cursor in the state file: %w", err)
	}
	q := u.Query()
	before := q.Encode()
	setParams(q, pageSize, filter, query)
	u.RawQuery = q.Encode()
	return u.String(), before != u.RawQuery, nil
}

func setParams(q url.Values, pageSize int, filter, query string) {
	q.Set("limit", strconv.Itoa(pageSize))
	q.Set("sortOrder", "ASCENDING")
	q.Del("until")
	q.Del("filter")
	q.Del("q")
	if filter != "" {
		q.Set("filter", filter)
	}
	if query != "" {
		q.Set("q", query)
	}
}

// redactURL drops the query of a System Log URL for logs: the cursor is not secret, but long
// filters make unreadable lines.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	u.RawQuery = ""
	return u.String()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failureLog logs the first failure of a run of failures, then at most one line a minute with
// the count, and a line when requests succeed again.
type failureLog struct {
	logger  *slog.Logger
	metrics *Metrics
	count   int
	last    time.Time
}

func (f *failureLog) failed(err error, target string, wait time.Duration) {
	f.count++
	now := time.Now()
	if f.count > 1 && now.Sub(f.last) < time.Minute {
		return
	}
	f.last = now
	f.metrics.ErrorsLogged.Add(1)
	// Okta's messages end with a period of their own.
	msg := strings.TrimSuffix(err.Error(), ".")
	f.logger.Warn(fmt.Sprintf("%s; retrying in %s", msg, wait.Round(time.Millisecond)),
		"failures", f.count, "url", redactURL(target))
}

func (f *failureLog) recovered() {
	if f.count > 0 {
		f.logger.Info("requests to Okta succeed again", "failures", f.count)
	}
	f.count = 0
}
