package trialsvc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// memLog is an in-memory log engine for the service: it parses and checks
// statements as the engine does (role rules aside) and counts every entry as
// included in its one checkpoint.
type memLog struct {
	mu      sync.Mutex
	reg     *statement.Registry
	entries []statement.Logged
	refs    map[string][]int
	state   *statement.MemState
}

func newMemLog() *memLog {
	reg := statement.NewRegistry()
	trials.Register(reg)
	return &memLog{reg: reg, refs: map[string][]int{}, state: statement.NewMemState()}
}

func (m *memLog) State() statement.State { return m.state }

func (m *memLog) EntriesByRef(_ context.Context, ref string) ([]statement.Logged, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []statement.Logged
	for _, i := range m.refs[ref] {
		out = append(out, m.entries[i])
	}
	return out, nil
}

func (m *memLog) Reader() statement.Reader { return m }

func (m *memLog) add(caller statement.Caller, payload []byte) (*engine.Submission, error) {
	kind, st, err := m.reg.ParseFor(statement.PayloadType, payload)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sum := sha256.Sum256(payload)
	l := statement.Logged{ID: hex.EncodeToString(sum[:]), LeafIndex: int64(len(m.entries)), PrincipalID: caller.PrincipalID, Statement: st}
	if err := statement.Decide(context.Background(), kind, m.state, caller, l); err != nil {
		return nil, err
	}
	for _, r := range st.Refs() {
		m.refs[r] = append(m.refs[r], len(m.entries))
	}
	m.entries = append(m.entries, l)
	return &engine.Submission{Entry: m.entry(l), New: true}, nil
}

func (m *memLog) entry(l statement.Logged) *api.Entry {
	return &api.Entry{ID: l.ID, LeafIndex: l.LeafIndex, Status: api.StatusIncluded}
}

func (m *memLog) SubmitAsService(ctx context.Context, payload []byte, wait time.Duration) (*engine.Submission, error) {
	return m.add(statement.Caller{PrincipalID: engine.ServicePrincipalID, Role: statement.RoleService}, payload)
}

func (m *memLog) Proven(ctx context.Context, refs ...string) ([]engine.ProvenEntry, *engine.Published, error) {
	seen := map[int64]bool{}
	var out []engine.ProvenEntry
	for _, ref := range refs {
		es, _ := m.EntriesByRef(ctx, ref)
		for _, l := range es {
			if !seen[l.LeafIndex] {
				seen[l.LeafIndex] = true
				out = append(out, engine.ProvenEntry{Entry: m.entry(l), PrincipalID: l.PrincipalID, Statement: l.Statement})
			}
		}
	}
	return out, &engine.Published{Size: uint64(len(m.entries)), Note: []byte("checkpoint\n")}, nil
}

func (m *memLog) EntryByID(ctx context.Context, id string) (*api.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.entries {
		if l.ID == id {
			return m.entry(l), nil
		}
	}
	return nil, engine.ErrNotFound
}

func (m *memLog) WaitPublished(ctx context.Context, index int64) (*engine.Published, error) {
	return &engine.Published{Size: uint64(len(m.entries))}, nil
}

type principals map[string]bool

func (p principals) Exists(ctx context.Context, id string) (bool, error) { return p[id], nil }

const (
	owner    = "pr_000000000000000000000001"
	site     = "pr_000000000000000000000002"
	stranger = "pr_000000000000000000000009"
)

func registered(t *testing.T) (*Service, *memLog) {
	t.Helper()
	m := newMemLog()
	_, err := m.add(statement.Caller{PrincipalID: owner, Role: statement.RoleSponsor}, []byte(`{"type":"trial.registration","trial_id":"NCT01234567","issued_at":"2026-01-01T00:00:00Z","title":"A trial","outcomes":[{"id":"P1","kind":"primary","measure":"HbA1c","time_frame":"26 weeks"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Log: m, Principals: principals{owner: true, site: true}}), m
}

func TestDelegate(t *testing.T) {
	s, m := registered(t)
	ctx := context.Background()
	if _, err := s.Owned(ctx, statement.Caller{PrincipalID: stranger, Role: statement.RoleSponsor}, "NCT01234567"); !errors.Is(err, statement.ErrForbidden) {
		t.Fatalf("a stranger delegating: %v, want ErrForbidden", err)
	}
	if _, err := s.Owned(ctx, statement.Caller{PrincipalID: owner}, "NCT09999999"); !errors.Is(err, trials.ErrUnknownTrial) {
		t.Fatalf("an unregistered trial: %v, want ErrUnknownTrial", err)
	}
	trial, err := s.Owned(ctx, statement.Caller{PrincipalID: owner, Role: statement.RoleSponsor}, "NCT01234567")
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]string{"empty": "", "not an id": "site", "the owner": owner, "trialogd": engine.ServicePrincipalID, "unknown": stranger} {
		if _, err := s.Delegate(ctx, trial, p, time.Second); !errors.Is(err, statement.ErrInvalid) {
			t.Errorf("delegating to %s: %v, want ErrInvalid", name, err)
		}
	}
	n := len(m.entries)
	d, err := s.Delegate(ctx, trial, site, time.Second)
	if err != nil || d.Existing || !d.New || len(m.entries) != n+1 {
		t.Fatalf("first delegation: %+v %v", d, err)
	}
	// Again: the existing entry, nothing logged.
	trial, _ = s.Owned(ctx, statement.Caller{PrincipalID: owner, Role: statement.RoleSponsor}, "NCT01234567")
	again, err := s.Delegate(ctx, trial, site, time.Second)
	if err != nil || !again.Existing || again.Entry.ID != d.Entry.ID || len(m.entries) != n+1 {
		t.Fatalf("second delegation: %+v %v (%d entries)", again, err, len(m.entries))
	}
	// A stale view of the trial (another request delegated in between):
	// the log's check refuses the duplicate and the service answers the
	// entry logged first.
	stale, _ := s.Owned(ctx, statement.Caller{PrincipalID: owner, Role: statement.RoleSponsor}, "NCT01234567")
	delete(stale.Delegates, site)
	third, err := s.Delegate(ctx, stale, site, time.Second)
	if err != nil || !third.Existing || third.Entry.ID != d.Entry.ID {
		t.Fatalf("delegation racing another: %+v %v", third, err)
	}

	tl, err := s.Timeline(ctx, "NCT01234567")
	if err != nil || tl.Owner != owner || fmt.Sprint(tl.Delegates) != fmt.Sprint([]string{site}) || len(tl.Entries) != 2 {
		t.Fatalf("timeline %+v %v", tl, err)
	}
	if _, err := ParseID("not a trial"); !errors.Is(err, statement.ErrInvalid) {
		t.Fatalf("ParseID of garbage: %v", err)
	}
}
