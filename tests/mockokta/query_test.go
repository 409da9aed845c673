package mockokta

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

func rfc3339(t time.Time) string { return url.QueryEscape(t.UTC().Format(time.RFC3339Nano)) }

// storeOutOfOrder persists five events whose published times are not in persistence order.
func storeOutOfOrder(base time.Time) [][]byte {
	offsets := []int{30, 10, 50, 20, 40} // seconds after base, in persistence order
	var out [][]byte
	for _, off := range offsets {
		out = append(out, testEvent(fmt.Sprintf("e%d", off), "user.session.start",
			base.Add(time.Duration(off)*time.Second)))
	}
	return out
}

func uuidsOf(events []map[string]any) string {
	var ids []any
	for _, ev := range events {
		ids = append(ids, ev["uuid"])
	}
	return fmt.Sprint(ids)
}

func TestBoundedOrderedByPublished(t *testing.T) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	srv, c := startServer(t, nil, func(cfg *Config) { cfg.Events = storeOutOfOrder(base) })
	c.login()

	poll := c.getLogs(srv.LogsURL())
	if got := uuidsOf(eventsOf(t, poll)); got != "[e30 e10 e50 e20 e40]" {
		t.Errorf("polling order = %s, want persistence order", got)
	}

	next := srv.LogsURL() + "?limit=2&since=" + rfc3339(base) + "&until=" +
		rfc3339(base.Add(50*time.Second))
	var pages []string
	for range 5 {
		resp := c.getLogs(next)
		pages = append(pages, uuidsOf(eventsOf(t, resp)))
		next = links(t, resp.header)["next"]
		if next == "" {
			break
		}
	}
	// until is exclusive, so e50 is outside the range.
	if got := fmt.Sprint(pages); got != "[[e10 e20] [e30 e40]]" {
		t.Errorf("bounded pages = %s, want [[e10 e20] [e30 e40]] with no next on the last", got)
	}
}

func TestBoundedDescending(t *testing.T) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	srv, c := startServer(t, nil, func(cfg *Config) { cfg.Events = storeOutOfOrder(base) })
	c.login()
	next := srv.LogsURL() + "?limit=2&sortOrder=DESCENDING&since=" + rfc3339(base.Add(15*time.Second))
	var pages []string
	for range 5 {
		resp := c.getLogs(next)
		pages = append(pages, uuidsOf(eventsOf(t, resp)))
		next = links(t, resp.header)["next"]
		if next == "" {
			break
		}
	}
	if got := fmt.Sprint(pages); got != "[[e50 e40] [e30 e20]]" {
		t.Errorf("descending pages = %s, want [[e50 e40] [e30 e20]]", got)
	}
}

func TestBoundedCursorNotValidForPolling(t *testing.T) {
	base := time.Now().Add(-time.Hour)
	srv, c := startServer(t, nil, func(cfg *Config) { cfg.Events = storeOutOfOrder(base) })
	c.login()
	resp := c.getLogs(srv.LogsURL() + "?limit=1&until=" + rfc3339(time.Now()))
	next, err := url.Parse(links(t, resp.header)["next"])
	if err != nil {
		t.Fatal(err)
	}
	after := next.Query().Get("after")
	checkOktaError(t, c.getLogs(srv.LogsURL()+"?after="+after), 400, "E0000001")
}

func TestFilterEventType(t *testing.T) {
	now := time.Now()
	events := [][]byte{
		testEvent("a", "user.session.start", now),
		testEvent("b", "user.authentication.sso", now),
		testEvent("c", "system.api_token.create", now),
		testEvent("d", "user.session.start", now),
	}
	srv, c := startServer(t, nil, func(cfg *Config) { cfg.Events = events })
	c.login()
	cases := []struct {
		filter string
		want   string
	}{
		{`eventType eq "user.session.start"`, "[a d]"},
		{`eventType eq "user.session.start" or eventType eq "system.api_token.create"`, "[a c d]"},
		{`eventType EQ "user.session.start" and uuid eq "d"`, "[d]"},
		{`(eventType eq "x" or uuid eq "b") and severity eq "INFO"`, "[b]"},
		{`eventType sw "user."`, "[a b d]"},
		{`eventType ne "user.session.start"`, "[b c]"},
		{`target.type eq "AppInstance" and uuid eq "c"`, "[c]"},
		{`actor.alternateId co "jane"`, "[a b c d]"},
		{`eventType eq "User.Session.Start"`, "[]"},
		{`legacyEventType pr`, "[]"},
	}
	for _, tc := range cases {
		t.Run(tc.filter, func(t *testing.T) {
			resp := c.getLogs(srv.LogsURL() + "?filter=" + url.QueryEscape(tc.filter))
			if got := uuidsOf(eventsOf(t, resp)); got != tc.want {
				t.Errorf("events = %s, want %s", got, tc.want)
			}
			next, err := url.Parse(links(t, resp.header)["next"])
			if err != nil {
				t.Fatal(err)
			}
			if next.Query().Get("filter") != tc.filter {
				t.Errorf("next link filter = %q, want it repeated", next.Query().Get("filter"))
			}
		})
	}
}

func TestKeywordQuery(t *testing.T) {
	now := time.Now()
	srv, c := startServer(t, nil, func(cfg *Config) {
		cfg.Events = [][]byte{
			testEvent("a", "user.session.start", now),
			[]byte(`{"uuid":"b","published":"2026-05-14T08:00:00.000Z","eventType":"x",` +
				`"displayMessage":"Sign-on policy DENY","actor":{"alternateId":"ops@example.com"}}`),
		}
	})
	c.login()
	cases := []struct{ q, want string }{
		{"jane", "[a]"},
		{"JANE roe", "[a]"},
		{"sign", "[b]"},
		{"deny sign-on", "[b]"},
		{"ops@example.com", "[b]"},
		{"jan", "[]"},
		{"jane deny", "[]"},
	}
	for _, tc := range cases {
		t.Run(tc.q, func(t *testing.T) {
			resp := c.getLogs(srv.LogsURL() + "?q=" + url.QueryEscape(tc.q))
			if got := uuidsOf(eventsOf(t, resp)); got != tc.want {
				t.Errorf("events = %s, want %s", got, tc.want)
			}
		})
	}
}
