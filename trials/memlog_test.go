package trials_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// memLog is an in-memory log that decides submissions as trialogd's
// pipeline does: role, parse, then the Kind's check against what is logged.
type memLog struct {
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

func (m *memLog) EntriesByRef(_ context.Context, ref string) ([]statement.Logged, error) {
	var out []statement.Logged
	for _, i := range m.refs[ref] {
		out = append(out, m.entries[i])
	}
	return out, nil
}

const servicePrincipal = "trialogd"

var service = statement.Caller{PrincipalID: servicePrincipal, Name: "trialogd", Role: statement.RoleService}

func (m *memLog) submit(caller statement.Caller, payload []byte) (statement.Logged, error) {
	kind, st, err := m.reg.Parse(payload)
	if err != nil {
		return statement.Logged{}, err
	}
	if caller.Role != statement.RoleService && !slices.Contains(kind.Roles, caller.Role) {
		return statement.Logged{}, fmt.Errorf("%w: the %s role may not submit %s", statement.ErrForbidden, caller.Role, kind.Name)
	}
	sum := sha256.Sum256(append([]byte(caller.PrincipalID+"\x00"), payload...))
	e := statement.Logged{ID: hex.EncodeToString(sum[:]), LeafIndex: int64(len(m.entries)), PrincipalID: caller.PrincipalID, Statement: st, ReceivedAt: m.nextReceivedAt()}
	if err := statement.Decide(context.Background(), kind, m.state, caller, e); err != nil {
		return statement.Logged{}, err
	}
	m.entries = append(m.entries, e)
	for _, r := range st.Refs() {
		if l := m.refs[r]; len(l) == 0 || l[len(l)-1] != len(m.entries)-1 {
			m.refs[r] = append(l, len(m.entries)-1)
		}
	}
	return e, nil
}

// memEpoch is when the in-memory log received its first entry; it
// receives one entry a day.
var memEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// nextReceivedAt is the received_at the next entry will get.
func (m *memLog) nextReceivedAt() time.Time {
	return memEpoch.Add(time.Duration(len(m.entries)) * 24 * time.Hour)
}

func (m *memLog) mustSubmit(t *testing.T, caller statement.Caller, payload []byte) statement.Logged {
	t.Helper()
	e, err := m.submit(caller, payload)
	if err != nil {
		t.Fatalf("%s submitting %s: %v", caller.PrincipalID, payload, err)
	}
	return e
}

// delegate logs a delegation as trialogd does for the owner.
func (m *memLog) delegate(trial, principal, owner string) (statement.Logged, error) {
	return m.submit(service, trials.DelegationStatement(trial, principal, owner, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
}

func (m *memLog) load(t testing.TB, id string) *trials.Trial {
	t.Helper()
	n, _, err := trials.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := trials.Load(context.Background(), m, n)
	if err != nil {
		t.Fatalf("loading %s: %v", id, err)
	}
	return tr
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
