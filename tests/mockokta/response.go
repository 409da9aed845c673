package mockokta

import (
	"bytes"
	"net/http"
	"strconv"
)

// responseBuffer collects a response so the server can record the request before the client
// receives the response. A test that reads Stats right after a response then sees that request.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newResponseBuffer() *responseBuffer {
	return &responseBuffer{header: make(http.Header), status: http.StatusOK}
}

func (b *responseBuffer) Header() http.Header { return b.header }

func (b *responseBuffer) WriteHeader(status int) { b.status = status }

func (b *responseBuffer) Write(p []byte) (int, error) { return b.body.Write(p) }

// copyHeaders moves the collected headers to w and sets Content-Length.
func (b *responseBuffer) copyHeaders(w http.ResponseWriter) {
	h := w.Header()
	for name, values := range b.header {
		h[name] = values
	}
	h.Set("Content-Length", strconv.Itoa(b.body.Len()))
}

// flushTo writes the collected response to w.
func (b *responseBuffer) flushTo(w http.ResponseWriter) {
	b.copyHeaders(w)
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
