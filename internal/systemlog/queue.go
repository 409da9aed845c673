package systemlog

import (
	"context"
	"sync"
)

// Page is the encoded records of one System Log page, with the cursors around it.
type Page struct {
	RequestURL string   // the URL that fetched the page
	NextURL    string   // the cursor after the page
	Data       []byte   // Fluent Bit records, back to back
	Ends       []int    // end offset in Data of each record
	UUIDs      []string // event UUID of each record; an event with two schemas appears twice
	Events     int      // events behind the records (after duplicates were dropped)

	sent int // records handed to Fluent Bit
}

// Batch is the record bytes one collect callback hands to Fluent Bit, from one or more pages.
type Batch struct {
	Segments [][]byte // views into page data, to be copied in order
	Bytes    int
	Records  int
	end      []int // per touched page, the sent count after this batch
}

// Commit is a checkpoint position: the cursor to fetch next and the UUIDs handed over since the
// previous Commit.
type Commit struct {
	Cursor string
	UUIDs  []string
}

// Queue holds encoded pages between the poller and Fluent Bit's collect callback. The poller
// blocks in Push while the queue holds MaxBytes or more, so a slow or paused Fluent Bit stops
// requests to Okta instead of growing memory.
type Queue struct {
	// RefillBelow admits the next page, whatever its size, once the records not yet handed
	// over drop to this many bytes. Set it to the batch size of the collect callback, so the
	// callback that takes the end of one page also takes the start of the next instead of a
	// short batch. Set it before the first Push.
	RefillBelow int

	maxBytes int

	mu       sync.Mutex
	room     chan struct{} // closed and replaced when space frees up
	pages    []*Page
	bytes    int
	inFlight *Batch
	cursor   string // committed cursor
}

// NewQueue returns a Queue holding about maxBytes of records, whose committed cursor starts at
// cursor.
func NewQueue(maxBytes int, cursor string) *Queue {
	return &Queue{maxBytes: maxBytes, room: make(chan struct{}), cursor: cursor}
}

// Push appends p, first waiting until the queue has room. A page larger than MaxBytes is
// accepted once the queue is empty.
func (q *Queue) Push(ctx context.Context, p *Page) error {
	for {
		q.mu.Lock()
		if q.bytes == 0 || q.bytes+len(p.Data) <= q.maxBytes || q.unsentLocked() <= q.RefillBelow {
			q.pages = append(q.pages, p)
			q.bytes += len(p.Data)
			q.mu.Unlock()
			return nil
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// unsentLocked returns the bytes of the records not yet handed over.
func (q *Queue) unsentLocked() int {
	n := q.bytes
	for _, p := range q.pages {
		if p.sent > 0 {
			n -= p.Ends[p.sent-1]
		}
	}
	return n
}

// Len returns the records waiting and their size in bytes.
func (q *Queue) Len() (records, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.pages {
		records += len(p.Ends) - p.sent
	}
	return records, q.bytes
}

// Take returns up to maxBytes of the oldest records not yet handed over, or at least the
// records of one event when they are larger. It also returns a Commit when pages without
// records at the head of the queue moved the cursor. The batch stays in flight until Done, and
// Take returns nil while a batch is in flight.
func (q *Queue) Take(maxBytes int) (*Batch, *Commit) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.inFlight != nil {
		return nil, nil
	}
	commit := q.popDoneLocked()
	b := &Batch{}
	for _, p := range q.pages {
		n := p.sent
		first := n
		for n < len(p.Ends) {
			start := 0
			if n > 0 {
				start = p.Ends[n-1]
			}
			size := p.Ends[n] - start
			// The checkpoint stores UUIDs, so the records of one event (one per schema) go
			// over together: a restart after half of them would drop the rest as duplicates.
			sameEvent := n > first && p.UUIDs[n] != "" && p.UUIDs[n] == p.UUIDs[n-1]
			if b.Records > 0 && b.Bytes+size > maxBytes && !sameEvent {
				break
			}
			b.Bytes += size
			b.Records++
			n++
		}
		if n > first {
			start := 0
			if first > 0 {
				start = p.Ends[first-1]
			}
			b.Segments = append(b.Segments, p.Data[start:p.Ends[n-1]])
		}
		b.end = append(b.end, n)
		if n < len(p.Ends) {
			break
		}
	}
	if b.Records == 0 {
		return nil, commit
	}
	q.inFlight = b
	return b, commit
}

// Done marks the batch in flight as handed over to Fluent Bit and returns the new checkpoint
// position.
func (q *Queue) Done() *Commit {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.inFlight
	if b == nil {
		return nil
	}
	q.inFlight = nil
	var handed []string
	for i, n := range b.end {
		p := q.pages[i]
		for j := p.sent; j < n; j++ {
			// An event's records (one per schema) are adjacent; its UUID is stored once.
			if j == 0 || p.UUIDs[j] != p.UUIDs[j-1] {
				handed = append(handed, p.UUIDs[j])
			}
		}
		p.sent = n
	}
	commit := q.popDoneLocked()
	if commit == nil {
		commit = &Commit{Cursor: q.cursor}
	}
	commit.UUIDs = handed
	return commit
}

// Abort returns the batch in flight to the queue, as when Fluent Bit never took it.
func (q *Queue) Abort() {
	q.mu.Lock()
	q.inFlight = nil
	q.mu.Unlock()
}

// popDoneLocked removes fully handed-over pages from the head and returns the moved cursor, or
// nil when it did not move.
func (q *Queue) popDoneLocked() *Commit {
	moved := false
	for len(q.pages) > 0 && q.pages[0].sent == len(q.pages[0].Ends) {
		p := q.pages[0]
		q.pages[0] = nil
		q.pages = q.pages[1:]
		q.bytes -= len(p.Data)
		if p.NextURL != "" && p.NextURL != q.cursor {
			q.cursor = p.NextURL
			moved = true
		}
	}
	if len(q.pages) == 0 {
		q.pages = nil
	}
	close(q.room)
	q.room = make(chan struct{})
	if !moved {
		return nil
	}
	return &Commit{Cursor: q.cursor}
}

// Cursor returns the committed cursor.
func (q *Queue) Cursor() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cursor
}
