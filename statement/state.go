package statement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
)

// ErrNoEntry means State.Entry found no logged entry with the id.
var ErrNoEntry = errors.New("no such entry")

// State is the domain state that statement kinds keep by key: a trial's
// owner, delegates and version-chain heads, a subject's current consent.
// Each domain package defines its keys (prefixed with its name, as
// "trial:NCT01234567") and the JSON values stored under them; the log's
// store keeps them in the same transaction as the entries.
//
// Consistency: inside an append, a Check or Apply sees the state after every
// entry logged before it, including those earlier in the same batch; the
// state never depends on entries that were refused. A statement's cost is
// that of its keys, not of the trial's or subject's history.
//
// Concurrency: inside an append, Get locks the key until the append commits,
// so statements on one key take turns and statements on other keys do not
// wait. Outside an append (a read-only State), Get reads the last committed
// value; an answer computed from it is confirmed by a Check under the lock.
//
// Errors: Get and Put return the store's errors, which fail the whole
// append (or read); they never wrap ErrInvalid, ErrForbidden or ErrConflict.
type State interface {
	// Get decodes the JSON value under key into v and reports whether
	// there is one.
	Get(ctx context.Context, key string, v any) (bool, error)
	// Put stores v, as JSON, under key. A read-only State refuses it.
	Put(ctx context.Context, key string, v any) error
	// Entry returns the logged entry with this id (64 hex digits), parsed,
	// or an error wrapping ErrNoEntry. It costs one lookup by id.
	Entry(ctx context.Context, id string) (*Logged, error)
}

// MemState is a State in memory, for tests and tools that decide statements
// without a database. It is not safe for concurrent use.
type MemState struct {
	values  map[string][]byte
	entries map[string]Logged
}

// NewMemState returns an empty MemState.
func NewMemState() *MemState {
	return &MemState{values: map[string][]byte{}, entries: map[string]Logged{}}
}

// Get implements State.
func (m *MemState) Get(_ context.Context, key string, v any) (bool, error) {
	b, ok := m.values[key]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(b, v)
}

// Put implements State.
func (m *MemState) Put(_ context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state %s: %w", key, err)
	}
	m.values[key] = b
	return nil
}

// Entry implements State.
func (m *MemState) Entry(_ context.Context, id string) (*Logged, error) {
	e, ok := m.entries[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoEntry, id)
	}
	return &e, nil
}

// Log records e as logged (for Entry).
func (m *MemState) Log(e Logged) { m.entries[e.ID] = e }

// Clone returns a copy of m: Check and Apply can run on the copy, to be
// kept only if both pass.
func (m *MemState) Clone() *MemState {
	return &MemState{values: maps.Clone(m.values), entries: maps.Clone(m.entries)}
}

// Decide runs k's Check and, if it passes, its Apply on s, as an append
// does: the state changes only when the statement is accepted. e is the
// entry the statement would be logged as.
func Decide(ctx context.Context, k *Kind, s *MemState, caller Caller, e Logged) error {
	try := s.Clone()
	if k.Check != nil {
		if err := k.Check(ctx, try, caller, e.Statement); err != nil {
			return err
		}
	}
	if k.Apply != nil {
		if err := k.Apply(ctx, try, e); err != nil {
			return err
		}
	}
	try.Log(e)
	*s = *try
	return nil
}
