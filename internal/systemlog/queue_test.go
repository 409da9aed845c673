package systemlog

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// testPage returns a page whose records have the given sizes, with UUIDs prefix-0, prefix-1...
func testPage(prefix, next string, sizes ...int) *Page {
	p := &Page{RequestURL: "req-" + prefix, NextURL: next}
	for i, size := range sizes {
		p.Data = append(p.Data, strings.Repeat(string(rune('a'+i%26)), size)...)
		p.Ends = append(p.Ends, len(p.Data))
		p.UUIDs = append(p.UUIDs, fmt.Sprintf("%s-%d", prefix, i))
	}
	p.Events = len(sizes)
	return p
}

func pushAll(t *testing.T, q *Queue, pages ...*Page) {
	t.Helper()
	for _, p := range pages {
		if err := q.Push(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
}

func batchText(b *Batch) string {
	var s strings.Builder
	for _, seg := range b.Segments {
		s.Write(seg)
	}
	return s.String()
}

func TestQueueTakeCapsBytes(t *testing.T) {
	cases := []struct {
		name     string
		pages    []*Page
		maxBytes int
		records  int
		bytes    int
		segments int
	}{
		{"cap inside a page", []*Page{testPage("p", "c1", 10, 10, 10)}, 25, 2, 20, 1},
		{"exact fit", []*Page{testPage("p", "c1", 10, 10, 10)}, 30, 3, 30, 1},
		{"one record larger than the cap", []*Page{testPage("p", "c1", 100, 1)}, 10, 1, 100, 1},
		{"spans pages", []*Page{testPage("p", "c1", 10, 10), testPage("q", "c2", 5, 5)}, 1000,
			4, 30, 2},
		{"cap in the second page", []*Page{testPage("p", "c1", 10), testPage("q", "c2", 10, 10)},
			25, 2, 20, 2},
		{"empty page between", []*Page{testPage("p", "c1", 10), testPage("e", "c2"),
			testPage("q", "c3", 10)}, 1000, 2, 20, 2},
	}
	for _, tc := range cases {
		q := NewQueue(1<<20, "c0")
		pushAll(t, q, tc.pages...)
		b, _ := q.Take(tc.maxBytes)
		if b == nil {
			t.Fatalf("%s: Take returned no batch", tc.name)
		}
		if b.Records != tc.records {
			t.Errorf("%s: Records = %d, want %d", tc.name, b.Records, tc.records)
		}
		if b.Bytes != tc.bytes {
			t.Errorf("%s: Bytes = %d, want %d", tc.name, b.Bytes, tc.bytes)
		}
		if len(batchText(b)) != tc.bytes {
			t.Errorf("%s: segments hold %d bytes, want %d", tc.name, len(batchText(b)), tc.bytes)
		}
		if len(b.Segments) != tc.segments {
			t.Errorf("%s: %d segments, want %d", tc.name, len(b.Segments), tc.segments)
		}
	}
}

func TestQueueDoneCommitsAfterWholePage(t *testing.T) {
	q := NewQueue(1<<20, "c0")
	p := testPage("p", "c1", 10, 10, 10)
	pushAll(t, q, p, testPage("q", "c2", 10))

	steps := []struct {
		maxBytes int
		text     string
		cursor   string
		uuids    []string
	}{
		{20, strings.Repeat("a", 10) + strings.Repeat("b", 10), "c0", []string{"p-0", "p-1"}},
		{10, strings.Repeat("c", 10), "c1", []string{"p-2"}},
		{10, strings.Repeat("a", 10), "c2", []string{"q-0"}},
	}
	for i, st := range steps {
		b, commit := q.Take(st.maxBytes)
		if commit != nil {
			t.Errorf("step %d: Take returned commit %+v", i, commit)
		}
		if b == nil {
			t.Fatalf("step %d: no batch", i)
		}
		if got := batchText(b); got != st.text {
			t.Errorf("step %d: batch %q, want %q", i, got, st.text)
		}
		c := q.Done()
		if c == nil {
			t.Fatalf("step %d: Done returned no commit", i)
		}
		if c.Cursor != st.cursor {
			t.Errorf("step %d: cursor %q, want %q", i, c.Cursor, st.cursor)
		}
		if !reflect.DeepEqual(c.UUIDs, st.uuids) {
			t.Errorf("step %d: UUIDs %q, want %q", i, c.UUIDs, st.uuids)
		}
		if q.Cursor() != st.cursor {
			t.Errorf("step %d: Cursor() = %q, want %q", i, q.Cursor(), st.cursor)
		}
	}
	if records, bytes := q.Len(); records != 0 || bytes != 0 {
		t.Errorf("Len = %d records, %d bytes; want empty", records, bytes)
	}
	if b, c := q.Take(100); b != nil || c != nil {
		t.Errorf("Take on an empty queue = %v, %v", b, c)
	}
	if c := q.Done(); c != nil {
		t.Errorf("Done without a batch in flight = %+v", c)
	}
}

func TestQueueEmptyPagesMoveCursorOnTake(t *testing.T) {
	q := NewQueue(1<<20, "c0")
	pushAll(t, q, testPage("e1", "c1"), testPage("e2", "c2"))
	b, c := q.Take(100)
	if b != nil {
		t.Errorf("Take returned a batch of %d records from empty pages", b.Records)
	}
	if c == nil || c.Cursor != "c2" || len(c.UUIDs) != 0 {
		t.Fatalf("commit = %+v, want cursor c2 without UUIDs", c)
	}
	pushAll(t, q, testPage("e3", "c2"))
	if _, c := q.Take(100); c != nil {
		t.Errorf("an empty page with the same cursor returned commit %+v", c)
	}
	pushAll(t, q, testPage("e4", ""))
	if _, c := q.Take(100); c != nil {
		t.Errorf("an empty page without a next link returned commit %+v", c)
	}
	if q.Cursor() != "c2" {
		t.Errorf("Cursor = %q, want c2", q.Cursor())
	}
}

func TestQueueEmptyPageAfterRecords(t *testing.T) {
	q := NewQueue(1<<20, "c0")
	pushAll(t, q, testPage("p", "c1", 10), testPage("e", "c2"))
	if b, _ := q.Take(100); b == nil || b.Records != 1 {
		t.Fatalf("Take = %+v, want one record", b)
	}
	c := q.Done()
	if c == nil || c.Cursor != "c2" || !reflect.DeepEqual(c.UUIDs, []string{"p-0"}) {
		t.Errorf("Done = %+v, want cursor c2 and UUID p-0", c)
	}
}

func TestQueueTakeWhileInFlight(t *testing.T) {
	q := NewQueue(1<<20, "c0")
	pushAll(t, q, testPage("p", "c1", 10, 10))
	if b, _ := q.Take(10); b == nil {
		t.Fatal("no first batch")
	}
	if b, c := q.Take(10); b != nil || c != nil {
		t.Errorf("second Take while in flight = %+v, %+v; want nil", b, c)
	}
	if records, _ := q.Len(); records != 2 {
		t.Errorf("Len = %d records while in flight, want 2", records)
	}
}

func TestQueueAbort(t *testing.T) {
	q := NewQueue(1<<20, "c0")
	pushAll(t, q, testPage("p", "c1", 3, 4))
	first, _ := q.Take(3)
	if first == nil {
		t.Fatal("no batch")
	}
	q.Abort()
	again, _ := q.Take(3)
	if again == nil {
		t.Fatal("no batch after Abort")
	}
	if batchText(again) != batchText(first) {
		t.Errorf("after Abort Take returned %q, want %q again", batchText(again),
			batchText(first))
	}
	c := q.Done()
	if c == nil || !reflect.DeepEqual(c.UUIDs, []string{"p-0"}) || c.Cursor != "c0" {
		t.Errorf("Done after Abort and Take = %+v, want UUID p-0 at cursor c0", c)
	}
}

func TestQueuePushBlocksWhenFull(t *testing.T) {
	q := NewQueue(20, "c0")
	pushAll(t, q, testPage("p", "c1", 20))

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	err := q.Push(cancelled, testPage("q", "c2", 5))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Push into a full queue = %v, want it to wait (and see the cancel)", err)
	}

	pushed := make(chan error, 1)
	go func() { pushed <- q.Push(context.Background(), testPage("q", "c2", 5)) }()
	if b, _ := q.Take(100); b == nil {
		t.Fatal("no batch")
	}
	select {
	case err := <-pushed:
		t.Fatalf("Push returned %v before Done freed room", err)
	default:
	}
	q.Done()
	if err := <-pushed; err != nil {
		t.Fatalf("Push after Done = %v", err)
	}
	if records, bytes := q.Len(); records != 1 || bytes != 5 {
		t.Errorf("Len = %d records, %d bytes; want 1 and 5", records, bytes)
	}
}

func TestQueueOversizedPageWhenEmpty(t *testing.T) {
	q := NewQueue(10, "c0")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	// An empty queue accepts any page without waiting, so the cancelled context is not seen.
	if err := q.Push(cancelled, testPage("big", "c1", 50)); err != nil {
		t.Fatalf("Push of an oversized page into an empty queue = %v", err)
	}
	if err := q.Push(cancelled, testPage("small", "c2", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Push behind an oversized page = %v, want a wait", err)
	}
}

func TestQueueTakeKeepsEventRecordsTogether(t *testing.T) {
	// One event with two schemas gives two adjacent records with the same UUID; a batch cap
	// that falls between them must not split them, or a restart would drop the second.
	p := &Page{NextURL: "next"}
	for i, uuid := range []string{"a", "b", "b", "c"} {
		p.Data = append(p.Data, make([]byte, 10)...)
		p.Ends = append(p.Ends, 10*(i+1))
		p.UUIDs = append(p.UUIDs, uuid)
	}
	q := NewQueue(1<<20, "start")
	if err := q.Push(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	b, _ := q.Take(20)
	if b == nil || b.Records != 3 {
		t.Fatalf("first batch = %+v, want the 3 records of events a and b", b)
	}
	c := q.Done()
	if got := strings.Join(c.UUIDs, ","); got != "a,b" {
		t.Errorf("handed UUIDs = %s, want a,b (one UUID per event)", got)
	}
	if c.Cursor != "start" {
		t.Errorf("cursor = %s, want start while the page is not fully handed over", c.Cursor)
	}
}

func TestQueuePushRefillsBelowThreshold(t *testing.T) {
	page := func(records int) *Page {
		p := &Page{NextURL: fmt.Sprintf("next-%d", records)}
		for i := 0; i < records; i++ {
			p.Data = append(p.Data, make([]byte, 10)...)
			p.Ends = append(p.Ends, len(p.Data))
			p.UUIDs = append(p.UUIDs, fmt.Sprintf("u%d-%d", records, i))
		}
		return p
	}
	q := NewQueue(40, "c0")
	q.RefillBelow = 10
	if err := q.Push(context.Background(), page(4)); err != nil {
		t.Fatal(err)
	}
	// The queue is full: a second page must wait while more than 10 bytes are unsent.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Push(ctx, page(3)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Push into a full queue = %v, want it to wait", err)
	}
	b, _ := q.Take(30)
	if b == nil || b.Records != 3 {
		t.Fatalf("Take(30) = %+v, want 3 records", b)
	}
	q.Done()
	// One record (10 bytes) is left unsent, so the next page is admitted at once.
	if err := q.Push(ctx, page(3)); err != nil {
		t.Fatalf("Push with 10 bytes unsent = %v, want it admitted", err)
	}
	b, _ = q.Take(40)
	if b == nil || b.Records != 4 {
		t.Fatalf("Take(40) after the refill = %+v, want the last record and 3 of the next page", b)
	}
}
