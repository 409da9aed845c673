// Package flblog is a log/slog handler that writes through Fluent Bit's own logger, so that the
// instance's log_level and the service's log_file apply to the plugin's messages.
//
// Fluent Bit's log_print only reaches log_file when it is called from a Fluent Bit thread; from
// a thread Go created it writes to stderr. Messages are therefore queued, and the plugin's
// callbacks, which run on the instance's Fluent Bit thread, write them out with Flush.
package flblog

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// Fluent Bit log levels (include/fluent-bit/flb_log.h).
const (
	LevelError = 1
	LevelWarn  = 2
	LevelInfo  = 3
	LevelDebug = 4
	LevelTrace = 5
)

// maxQueued bounds the messages held between two Flush calls; older ones are dropped first and
// counted.
const maxQueued = 1000

// Sink writes one formatted message at a Fluent Bit level, and reports whether a level is
// enabled for the instance.
type Sink interface {
	Write(level int, msg string)
	Enabled(level int) bool
}

// Queue holds messages until Flush, shared by all handlers derived from one NewHandler.
type Queue struct {
	sink    Sink
	prefix  string
	mu      sync.Mutex
	pending []entry
	dropped int
}

type entry struct {
	level int
	msg   string
}

// NewHandler returns a handler whose messages start with prefix, such as
// "[input:okta:okta.0] ", and the Queue to flush them with.
func NewHandler(prefix string, sink Sink) (slog.Handler, *Queue) {
	q := &Queue{sink: sink, prefix: prefix}
	return &handler{q: q}, q
}

// Flush writes the queued messages through the sink. Call it from a Fluent Bit thread.
func (q *Queue) Flush() {
	q.mu.Lock()
	pending, dropped := q.pending, q.dropped
	q.pending, q.dropped = nil, 0
	q.mu.Unlock()
	if dropped > 0 {
		q.sink.Write(LevelWarn, fmt.Sprintf("%s%d log messages were dropped while Fluent "+
			"Bit did not call the plugin", q.prefix, dropped))
	}
	for _, e := range pending {
		q.sink.Write(e.level, e.msg)
	}
}

func (q *Queue) add(level int, msg string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) >= maxQueued {
		q.pending = q.pending[1:]
		q.dropped++
	}
	q.pending = append(q.pending, entry{level, msg})
}

type handler struct {
	q      *Queue
	attrs  string // preformatted attributes of With
	groups string
}

func fluentLevel(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return LevelError
	case l >= slog.LevelWarn:
		return LevelWarn
	case l >= slog.LevelInfo:
		return LevelInfo
	case l >= slog.LevelDebug:
		return LevelDebug
	}
	return LevelTrace
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool {
	return h.q.sink.Enabled(fluentLevel(l))
}

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.q.prefix)
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.groups, a)
		return true
	})
	h.q.add(fluentLevel(r.Level), b.String())
	return nil
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		appendAttr(&b, h.groups, a)
	}
	return &handler{q: h.q, attrs: b.String(), groups: h.groups}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{q: h.q, attrs: h.attrs, groups: h.groups + name + "."}
}

func appendAttr(b *strings.Builder, groups string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		// A group without a key is inlined, as the slog.Handler contract requires.
		prefix := groups
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			appendAttr(b, prefix, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(groups)
	b.WriteString(a.Key)
	b.WriteByte('=')
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " \t\n\"=") {
		v = strconv.Quote(v)
	}
	b.WriteString(v)
}
