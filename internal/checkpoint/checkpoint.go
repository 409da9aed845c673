// Package checkpoint keeps the position of one input in the System Log stream: the cursor
// (the URL of the next page to fetch, taken from Okta's next links) and the UUIDs of the events
// handed to Fluent Bit most recently.
//
// A page's records may reach Fluent Bit in several buffers, so the cursor only moves past a page
// once all of its records were handed over. Until then the stored UUIDs cover the records of the
// page handed over so far. On restart the input fetches the cursor again and drops the events
// whose UUID is stored, so nothing committed is repeated and nothing is skipped. The input
// commits a position only checkpoint_delay after the hand-off (internal/input), so a crash
// repeats the records of that delay.
package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Version is the state file format version.
const Version = 1

// MaxStoredUUIDs bounds the UUIDs kept in the state file. It is at least twice the largest page
// (1000 events), so the records handed over from a partly delivered page always fit.
const MaxStoredUUIDs = 4000

// State is the content of a state file.
type State struct {
	Version  int       `json:"version"`
	Org      string    `json:"org"`       // org URL the cursor belongs to
	ClientID string    `json:"client_id"` // informational
	Cursor   string    `json:"cursor"`    // URL of the next page to fetch
	UUIDs    []string  `json:"recent_uuids"`
	Updated  time.Time `json:"updated"`
}

// Store reads and writes one state file. The file is locked for the life of the Store, so two
// inputs cannot share it. A Store with an empty path keeps the state in memory.
type Store struct {
	path string
	lock *os.File

	mu    sync.Mutex
	state State
	dirty bool
}

// Open locks and reads the state file at path (which need not exist yet) for org. It fails when
// another input holds the file, when the file belongs to another org, or when it is corrupt.
func Open(path, org, clientID string) (*Store, error) {
	s := &Store{path: path, state: State{Version: Version, Org: org, ClientID: clientID}}
	if path == "" {
		return s, nil
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	removeStaleTemps(path)
	loaded, err := read(path)
	if err != nil {
		s.Close()
		return nil, err
	}
	if loaded != nil {
		if loaded.Org != org {
			s.Close()
			return nil, fmt.Errorf("checkpoint: state file %s belongs to org %s, not %s; give "+
				"each org its own state_file", path, loaded.Org, org)
		}
		s.state = *loaded
		s.state.ClientID = clientID
	}
	return s, nil
}

func (s *Store) acquire() error {
	dir := filepath.Dir(s.path)
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return fmt.Errorf("checkpoint: directory %s of state_file does not exist; create it "+
			"or choose another path", dir)
	}
	lock, err := os.OpenFile(s.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("checkpoint: cannot create lock file: %w", err)
	}
	// flock locks belong to the open file description, so a second input in the same process
	// is refused as well as one in another process.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("checkpoint: state file %s is in use by another input; give "+
				"each [INPUT] its own state_file", s.path)
		}
		return fmt.Errorf("checkpoint: cannot lock %s.lock: %w", s.path, err)
	}
	s.lock = lock
	return nil
}

// removeStaleTemps deletes the temporary files of writes that a crash interrupted before the
// rename. The caller holds the lock, so no other writer owns one.
func removeStaleTemps(path string) {
	dir, prefix := filepath.Dir(path), filepath.Base(path)+".tmp-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func read(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: cannot read state file: %w", err)
	}
	var st State
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	const recovery = "; move it away to start again from initial_lookback (events since " +
		"the last checkpoint may then repeat or be skipped), or restore it from a backup"
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("checkpoint: state file %s is corrupt (%v)%s", path, err, recovery)
	}
	if st.Version != Version {
		return nil, fmt.Errorf("checkpoint: state file %s has version %d, this plugin reads "+
			"version %d%s", path, st.Version, Version, recovery)
	}
	if st.Org == "" {
		return nil, fmt.Errorf("checkpoint: state file %s has no org%s", path, recovery)
	}
	return &st, nil
}

// State returns a copy of the current state.
func (s *Store) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.UUIDs = append([]string(nil), s.state.UUIDs...)
	return st
}

// Persistent reports whether the state is written to a file.
func (s *Store) Persistent() bool { return s.path != "" }

// Commit sets the cursor, appends the UUIDs handed over since the last commit, and writes the
// file. A write error leaves the new state in memory, marked for the next Commit or Flush.
func (s *Store) Commit(cursor string, handed []string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cursor == s.state.Cursor && len(handed) == 0 && !s.dirty {
		return nil
	}
	s.state.Cursor = cursor
	s.state.UUIDs = append(s.state.UUIDs, handed...)
	if extra := len(s.state.UUIDs) - MaxStoredUUIDs; extra > 0 {
		s.state.UUIDs = append([]string(nil), s.state.UUIDs[extra:]...)
	}
	s.state.Updated = now.UTC()
	s.dirty = true
	return s.writeLocked()
}

// Flush writes the state again if an earlier write failed.
func (s *Store) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty {
		return nil
	}
	return s.writeLocked()
}

// writeLocked replaces the file atomically: write a temporary file in the same directory,
// fsync it, rename it over the old one, and fsync the directory so the rename survives a crash.
func (s *Store) writeLocked() error {
	if s.path == "" {
		s.dirty = false
		return nil
	}
	data, err := json.MarshalIndent(&s.state, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: encode state: %w", err)
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint: cannot write state file: %w", err)
	}
	tmpName := tmp.Name()
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmpName, s.path)
	}
	if err != nil {
		os.Remove(tmpName)
		return fmt.Errorf("checkpoint: cannot write state file %s: %w", s.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("checkpoint: fsync of directory %s failed: %w", dir, err)
		}
	}
	s.dirty = false
	return nil
}

// Close releases the lock. It does not write the state; call Flush first.
func (s *Store) Close() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}
