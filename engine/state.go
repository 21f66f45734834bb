package engine

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// appendState is the statement.State of an append in progress: JSON values
// over the store's locked rows.
type appendState struct {
	st  storage.State
	reg *statement.Registry
}

func (a appendState) Get(ctx context.Context, key string, v any) (bool, error) {
	b, ok, err := a.st.Get(ctx, key)
	if err != nil || !ok {
		return false, unavailableIf(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("state %s: %w", key, err)
	}
	return true, nil
}

func (a appendState) Put(_ context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state %s: %w", key, err)
	}
	a.st.Put(key, b)
	return nil
}

func (a appendState) Entry(ctx context.Context, id string) (*statement.Logged, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("%w: %s", statement.ErrNoEntry, id)
	}
	e, err := a.st.EntryByID(ctx, raw)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", statement.ErrNoEntry, id)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return logged(a.reg, e)
}

// logged parses a stored entry's statement.
func logged(reg *statement.Registry, e *storage.Entry) (*statement.Logged, error) {
	_, env, err := envelope.ParseLeaf(e.Leaf)
	if err != nil {
		return nil, err
	}
	_, st, err := reg.ParseFor(env.PayloadType, env.PayloadBytes)
	if err != nil {
		return nil, fmt.Errorf("entry %d no longer parses: %w", e.LeafIndex, err)
	}
	return &statement.Logged{ID: hex.EncodeToString(e.ID), LeafIndex: e.LeafIndex, PrincipalID: e.PrincipalID, Statement: st}, nil
}

func unavailableIf(err error) error {
	if err == nil {
		return nil
	}
	return unavailable(err)
}

// committedState is a read-only statement.State over the committed rows,
// for answers that log nothing (or whose entry's Check confirms them).
type committedState struct {
	st  Store
	reg *statement.Registry
}

// State gives read access to the domain state by key, as last committed.
func (s *Log) State() statement.State { return committedState{st: s.store, reg: s.reg} }

func (c committedState) Get(ctx context.Context, key string, v any) (bool, error) {
	b, ok, err := c.st.StateValue(ctx, key)
	if err != nil || !ok {
		return false, unavailableIf(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("state %s: %w", key, err)
	}
	return true, nil
}

func (committedState) Put(context.Context, string, any) error {
	return errors.New("state: read-only outside an append")
}

func (c committedState) Entry(ctx context.Context, id string) (*statement.Logged, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("%w: %s", statement.ErrNoEntry, id)
	}
	e, err := c.st.EntryByID(ctx, raw)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", statement.ErrNoEntry, id)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return logged(c.reg, e)
}

// entryCheck is the storage Check of an entry of kind: the Kind's Check,
// then its Apply, against the append's state.
func (s *Log) entryCheck(kind *statement.Kind, caller statement.Caller, st statement.Statement, id []byte) func(context.Context, storage.State) error {
	if kind.Check == nil && kind.Apply == nil {
		return nil
	}
	e := statement.Logged{ID: hex.EncodeToString(id), LeafIndex: -1, PrincipalID: caller.PrincipalID, Statement: st}
	return func(ctx context.Context, r storage.State) error {
		as := appendState{st: r, reg: s.reg}
		if kind.Check != nil {
			if err := kind.Check(ctx, as, caller, st); err != nil {
				return err
			}
		}
		if kind.Apply != nil {
			return kind.Apply(ctx, as, e)
		}
		return nil
	}
}

// buildState builds the domain state of a log that predates it, from its
// entries, once (storage.Store.BuildState).
func (s *Log) buildState(ctx context.Context) error {
	var types []string
	for _, name := range s.reg.Names() {
		if k, _ := s.reg.Lookup(name); k.Apply != nil {
			types = append(types, name)
		}
	}
	start := time.Now()
	n, err := s.store.BuildState(ctx, types, func(ctx context.Context, r storage.State, e storage.Entry) error {
		l, err := logged(s.reg, &e)
		if err != nil {
			return err
		}
		k, _ := s.reg.Lookup(l.Statement.Type())
		return k.Apply(ctx, appendState{st: r, reg: s.reg}, *l)
	})
	if err != nil {
		return fmt.Errorf("building the domain state from the log's entries: %w", err)
	}
	if n > 0 {
		s.log.Info("built the domain state from the log's entries", "entries", n, "seconds", time.Since(start).Seconds())
	}
	return nil
}

// ProvenByID returns the entries with these ids (64 hex digits each) that
// the latest published checkpoint includes, each proven against it, with
// its statement, in the order asked; entries the checkpoint does not
// include are left out. Reading by id keeps the cost of an answer
// independent of how much else is indexed under the same reference.
func (s *Log) ProvenByID(ctx context.Context, ids ...string) ([]ProvenEntry, *Published, error) {
	cp := s.Published()
	if cp == nil {
		return nil, nil, errNoCheckpoint
	}
	var out []ProvenEntry
	for _, id := range ids {
		raw, err := hex.DecodeString(id)
		if err != nil || len(raw) != 32 {
			return nil, nil, fmt.Errorf("entry id %q is not 64 hex digits", id)
		}
		e, err := s.store.EntryByID(ctx, raw)
		if err != nil {
			return nil, nil, unavailableIf(err)
		}
		l, err := logged(s.reg, e)
		if err != nil {
			return nil, nil, err
		}
		if uint64(e.LeafIndex) >= cp.Size {
			continue
		}
		pe, err := s.entryWithProof(ctx, e, cp)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, ProvenEntry{Entry: pe, PrincipalID: e.PrincipalID, Statement: l.Statement})
	}
	return out, cp, nil
}
