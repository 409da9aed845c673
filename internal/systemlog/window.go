package systemlog

// Window is a set of the most recent event UUIDs, bounded in size, used to drop events Okta
// returns twice.
type Window struct {
	size  int
	order []string
	next  int
	set   map[string]struct{}
}

// NewWindow returns a Window remembering up to size UUIDs, seeded with uuids (oldest first).
func NewWindow(size int, uuids []string) *Window {
	w := &Window{size: size, order: make([]string, 0, size), set: make(map[string]struct{}, size)}
	for _, u := range uuids {
		w.Add(u)
	}
	return w
}

// Contains reports whether uuid was added recently.
func (w *Window) Contains(uuid string) bool {
	_, ok := w.set[uuid]
	return ok
}

// Add remembers uuid, forgetting the oldest when full.
func (w *Window) Add(uuid string) {
	if uuid == "" || w.Contains(uuid) {
		return
	}
	if len(w.order) < w.size {
		w.order = append(w.order, uuid)
	} else {
		delete(w.set, w.order[w.next])
		w.order[w.next] = uuid
		w.next = (w.next + 1) % w.size
	}
	w.set[uuid] = struct{}{}
}
