package systemlog

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/edgeaudit/fluent-bit-okta/internal/auth"
)

func TestPacerDelay(t *testing.T) {
	date := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// The local clock is two minutes behind the server in every case that has a Date.
	local := date.Add(-2 * time.Minute)
	rate := func(limit, remaining int, resetIn time.Duration) RateLimit {
		return RateLimit{Limit: limit, Remaining: remaining, Reset: date.Add(resetIn),
			Date: date, Known: true}
	}
	cases := []struct {
		name string
		rate RateLimit
		now  time.Time
		want time.Duration
	}{
		{"unknown headers", RateLimit{}, local, 0},
		{"zero limit", rate(0, 0, 30*time.Second), local, 0},
		{"budget left", rate(120, 100, 30*time.Second), local, 0},
		{"share used", rate(120, 60, 30*time.Second), local, 30 * time.Second},
		{"bucket nearly empty", rate(120, 2, 45*time.Second), local, 45 * time.Second},
		{"reset already passed", rate(120, 0, -time.Second), local, 0},
		{"no Date uses local clock", RateLimit{Limit: 120, Remaining: 10,
			Reset: local.Add(20 * time.Second), Known: true}, local, 20 * time.Second},
		{"share rounds up to one", rate(1, 0, 10*time.Second), local, 10 * time.Second},
	}
	p := Pacer{Share: 0.5}
	for _, tc := range cases {
		if got := p.Delay(tc.rate, tc.now); got != tc.want {
			t.Errorf("%s: Delay = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestPacerRetryAfter429(t *testing.T) {
	date := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	local := date.Add(5 * time.Minute) // far off, to show that Date is used
	cases := []struct {
		name string
		rate RateLimit
		want time.Duration
	}{
		{"reset minus Date plus 1s", RateLimit{Limit: 120, Reset: date.Add(17 * time.Second),
			Date: date, Known: true}, 18 * time.Second},
		{"reset equals Date", RateLimit{Limit: 120, Reset: date, Date: date, Known: true},
			time.Second},
		{"reset before Date", RateLimit{Limit: 120, Reset: date.Add(-10 * time.Second),
			Date: date, Known: true}, time.Second},
		{"no headers", RateLimit{}, time.Second},
		{"concurrency estimate capped", RateLimit{Limit: 0, Reset: date.Add(10 * time.Minute),
			Date: date, Known: true}, 61 * time.Second},
	}
	var p Pacer
	for _, tc := range cases {
		if got := p.RetryAfter429(tc.rate, local); got != tc.want {
			t.Errorf("%s: RetryAfter429 = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestBackoffGrowthAndCap(t *testing.T) {
	cases := []struct {
		name   string
		random float64
		want   []time.Duration
	}{
		{"no jitter", 0, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second,
			4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}},
		{"full jitter", 0.999999, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second,
			8 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}},
	}
	for _, tc := range cases {
		b := Backoff{Base: time.Second, Max: 10 * time.Second,
			rand: func() float64 { return tc.random }}
		for i, want := range tc.want {
			got := b.Next()
			if got.Round(time.Millisecond) != want {
				t.Errorf("%s: wait %d = %s, want %s", tc.name, i, got, want)
			}
		}
		if got := b.Attempts(); got != len(tc.want) {
			t.Errorf("%s: Attempts = %d, want %d", tc.name, got, len(tc.want))
		}
		b.Reset()
		if got := b.Next().Round(time.Millisecond); got != tc.want[0] {
			t.Errorf("%s: first wait after Reset = %s, want %s", tc.name, got, tc.want[0])
		}
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	for _, r := range []float64{0, 0.25, 0.5, 0.75, 0.999} {
		b := Backoff{Base: 2 * time.Second, Max: time.Minute, rand: func() float64 { return r }}
		for i := 0; i < 10; i++ {
			ceiling := min(2*time.Second<<i, time.Minute)
			got := b.Next()
			if got < ceiling/2 || got > ceiling {
				t.Errorf("rand %v, attempt %d: wait %s outside [%s, %s]", r, i, got,
					ceiling/2, ceiling)
			}
		}
	}
}

func TestBackoffLongRun(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 5 * time.Minute, rand: func() float64 { return 0.5 }}
	for i := 0; i < 100; i++ {
		if got := b.Next(); got < time.Second/2 || got > 5*time.Minute {
			t.Fatalf("attempt %d: wait %s outside [0.5s, 5m]", i, got)
		}
	}
	if got := b.Attempts(); got != 100 {
		t.Errorf("Attempts = %d, want 100", got)
	}
}

func TestRetryDelayPermanentError(t *testing.T) {
	p := &Poller{Metrics: &Metrics{}, Clock: auth.NewClock(nil)}
	cases := []struct {
		name     string
		err      error
		min, max time.Duration
	}{
		{"network error", errors.New("connection refused"), 500 * time.Millisecond, time.Second},
		{"server error", &APIError{Status: 500}, 500 * time.Millisecond, time.Second},
		{"missing role", &APIError{Status: 403, Code: "E0000006"}, 150 * time.Second,
			5 * time.Minute},
		{"invalid client", &auth.OAuthError{Status: 401, Code: "invalid_client"},
			150 * time.Second, 5 * time.Minute},
		{"rate limited", &APIError{Status: http.StatusTooManyRequests}, time.Second, time.Second},
	}
	for _, tc := range cases {
		b := Backoff{Base: time.Second, Max: 5 * time.Minute, rand: func() float64 { return 0.5 }}
		got := p.retryDelay(tc.err, &b)
		if got < tc.min || got > tc.max {
			t.Errorf("%s: wait %s outside [%s, %s]", tc.name, got, tc.min, tc.max)
		}
	}
	if got := p.Metrics.RateLimited.Load(); got != 1 {
		t.Errorf("RateLimited = %d, want 1", got)
	}
}

func TestWindowEviction(t *testing.T) {
	w := NewWindow(3, []string{"a", "b", ""})
	steps := []struct {
		add     string
		present []string
		absent  []string
	}{
		{"", []string{"a", "b"}, []string{""}},
		{"c", []string{"a", "b", "c"}, nil},
		{"a", []string{"a", "b", "c"}, nil},
		{"d", []string{"b", "c", "d"}, []string{"a"}},
		{"e", []string{"c", "d", "e"}, []string{"a", "b"}},
		{"f", []string{"d", "e", "f"}, []string{"c"}},
		{"g", []string{"e", "f", "g"}, []string{"d"}},
	}
	for _, st := range steps {
		if st.add != "" {
			w.Add(st.add)
		}
		for _, u := range st.present {
			if !w.Contains(u) {
				t.Errorf("after Add(%q): %q missing", st.add, u)
			}
		}
		for _, u := range st.absent {
			if w.Contains(u) {
				t.Errorf("after Add(%q): %q still present", st.add, u)
			}
		}
	}
}
