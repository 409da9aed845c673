package flblog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type line struct {
	level int
	msg   string
}

// recordingSink stores the messages written to it and enables levels up to max.
type recordingSink struct {
	mu    sync.Mutex
	max   int
	lines []line
}

func (s *recordingSink) Write(level int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, line{level, msg})
}

func (s *recordingSink) Enabled(level int) bool { return level <= s.max }

func (s *recordingSink) Lines() []line {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]line(nil), s.lines...)
}

func newTestLogger(max int) (*slog.Logger, *Queue, *recordingSink) {
	sink := &recordingSink{max: max}
	h, q := NewHandler("[input:okta:okta.0] ", sink)
	return slog.New(h), q, sink
}

func TestLevelsAndPrefix(t *testing.T) {
	log, q, sink := newTestLogger(LevelTrace)
	log.Error("e")
	log.Warn("w")
	log.Info("i")
	log.Debug("d")
	log.Log(context.Background(), slog.LevelDebug-4, "t")
	log.Log(context.Background(), slog.LevelError+4, "fatal")
	if got := sink.Lines(); len(got) != 0 {
		t.Fatalf("messages written before Flush: %v", got)
	}
	q.Flush()
	want := []line{
		{LevelError, "[input:okta:okta.0] e"},
		{LevelWarn, "[input:okta:okta.0] w"},
		{LevelInfo, "[input:okta:okta.0] i"},
		{LevelDebug, "[input:okta:okta.0] d"},
		{LevelTrace, "[input:okta:okta.0] t"},
		{LevelError, "[input:okta:okta.0] fatal"},
	}
	got := sink.Lines()
	if len(got) != len(want) {
		t.Fatalf("lines %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	q.Flush()
	if n := len(sink.Lines()); n != len(want) {
		t.Errorf("a second Flush wrote %d more lines", n-len(want))
	}
}

func TestEnabledFollowsSink(t *testing.T) {
	log, q, sink := newTestLogger(LevelInfo)
	log.Debug("hidden")
	log.Info("shown")
	q.Flush()
	got := sink.Lines()
	if len(got) != 1 || !strings.HasSuffix(got[0].msg, "shown") {
		t.Errorf("lines %v, want only the info line", got)
	}
}

func TestAttrsFormatting(t *testing.T) {
	cases := []struct {
		name string
		log  func(*slog.Logger)
		want string
	}{
		{"plain values", func(l *slog.Logger) { l.Info("m", "n", 3, "ok", true, "s", "abc") },
			"m n=3 ok=true s=abc"},
		{"quoted values", func(l *slog.Logger) {
			l.Info("m", "space", "a b", "empty", "", "quote", `say "hi"`, "eq", "a=b",
				"nl", "x\ny", "tab", "a\tb")
		}, `m space="a b" empty="" quote="say \"hi\"" eq="a=b" nl="x\ny" tab="a\tb"`},
		{"duration", func(l *slog.Logger) { l.Info("m", "wait", 1500*time.Millisecond) },
			"m wait=1.5s"},
		{"With", func(l *slog.Logger) { l.With("org", "o.okta.com").Info("m", "k", "v") },
			"m org=o.okta.com k=v"},
		{"group", func(l *slog.Logger) { l.Info("m", slog.Group("rate", "limit", 120)) },
			"m rate.limit=120"},
		{"WithGroup", func(l *slog.Logger) {
			l.With("a", 1).WithGroup("g").With("b", 2).Info("m", "c", 3)
		}, "m a=1 g.b=2 g.c=3"},
		{"inline group without key", func(l *slog.Logger) {
			l.Info("m", slog.Group("", "limit", 120))
		}, "m limit=120"},
		{"empty WithGroup ignored", func(l *slog.Logger) { l.WithGroup("").Info("m", "k", 1) },
			"m k=1"},
		{"empty attr dropped", func(l *slog.Logger) { l.Info("m", slog.Attr{}, "k", "v") },
			"m k=v"},
		{"LogValuer resolved", func(l *slog.Logger) { l.Info("m", "secret", redacted{}) },
			"m secret=(hidden)"},
		{"error value", func(l *slog.Logger) { l.Info("m", "err", fmt.Errorf("bad thing")) },
			`m err="bad thing"`},
	}
	for _, tc := range cases {
		log, q, sink := newTestLogger(LevelTrace)
		tc.log(log)
		q.Flush()
		got := sink.Lines()
		if len(got) != 1 {
			t.Errorf("%s: %d lines, want 1", tc.name, len(got))
			continue
		}
		if want := "[input:okta:okta.0] " + tc.want; got[0].msg != want {
			t.Errorf("%s: line %q, want %q", tc.name, got[0].msg, want)
		}
	}
}

type redacted struct{}

func (redacted) LogValue() slog.Value { return slog.StringValue("(hidden)") }

func TestQueueBoundAndDropped(t *testing.T) {
	log, q, sink := newTestLogger(LevelTrace)
	total := maxQueued + 25
	for i := 0; i < total; i++ {
		log.Info(fmt.Sprintf("message %d", i))
	}
	q.Flush()
	got := sink.Lines()
	if len(got) != maxQueued+1 {
		t.Fatalf("%d lines, want %d and the dropped count", len(got), maxQueued+1)
	}
	first := got[0]
	if first.level != LevelWarn || !strings.HasPrefix(first.msg, "[input:okta:okta.0] 25 log ") ||
		!strings.Contains(first.msg, "dropped") {
		t.Errorf("first line = %+v, want a warning that 25 messages were dropped", first)
	}
	if !strings.HasSuffix(got[1].msg, "message 25") {
		t.Errorf("oldest kept line = %q, want message 25", got[1].msg)
	}
	if !strings.HasSuffix(got[len(got)-1].msg, fmt.Sprintf("message %d", total-1)) {
		t.Errorf("newest line = %q", got[len(got)-1].msg)
	}

	log.Info("after")
	q.Flush()
	if lines := sink.Lines(); len(lines) != maxQueued+2 ||
		strings.Contains(lines[len(lines)-1].msg, "dropped") {
		t.Errorf("the dropped count was reported again: %v", lines[len(lines)-1])
	}
}

func TestConcurrentLogging(t *testing.T) {
	log, q, sink := newTestLogger(LevelTrace)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				log.Info("m", "g", g)
			}
		}()
	}
	wg.Wait()
	q.Flush()
	if n := len(sink.Lines()); n != 400 {
		t.Errorf("%d lines, want 400", n)
	}
}
