package principals

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// The credential methods of the fakes. ServiceEntries checks each statement
// parses as its kind and carries it in the entry's leaf; the store "logs"
// an entry (records it in the log's payloads) only when its change is
// stored, as storage.Store.AppendAtomic does.

func (l *memLog) ServiceEntries(ctx context.Context, payloads [][]byte) ([]storage.Entry, error) {
	var out []storage.Entry
	for _, p := range payloads {
		if l.fail != nil {
			return nil, l.fail
		}
		if _, _, err := l.reg.ParseFor(statement.PayloadType, p); err != nil {
			l.t.Fatalf("a statement that does not parse: %v\n%s", err, p)
		}
		id := sha256.Sum256(p)
		out = append(out, storage.Entry{ID: id[:], Leaf: p})
	}
	return out, nil
}

func (l *memLog) Logged(ctx context.Context, res []storage.Appended, wait time.Duration) ([]*api.Entry, error) {
	out := make([]*api.Entry, len(res))
	for i, a := range res {
		out[i] = &api.Entry{ID: hex.EncodeToString(a.ID), LeafIndex: a.LeafIndex, Status: api.StatusPending}
	}
	return out, nil
}

func (l *memLog) LoggedByID(ctx context.Context, id []byte, wait time.Duration) (*api.Entry, error) {
	return &api.Entry{ID: hex.EncodeToString(id), Status: api.StatusPending}, nil
}

// appendLocked numbers es and records them as logged; m.mu is held.
func (m *memStore) appendLocked(es []storage.Entry) []storage.Appended {
	out := make([]storage.Appended, len(es))
	for i, e := range es {
		e.LeafIndex = int64(len(m.log.payloads))
		m.log.payloads = append(m.log.payloads, e.Leaf)
		out[i] = storage.Appended{Entry: e, New: true}
	}
	return out
}

func (m *memStore) CreatePrincipalLogged(ctx context.Context, p storage.Principal, tokenHash []byte, keys []storage.Key, es []storage.Entry) ([]storage.Appended, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if _, ok := m.owners[string(k.KeyID)]; ok {
			return nil, storage.ErrDuplicateKey
		}
	}
	if m.failStore != nil {
		return nil, m.failStore
	}
	res := m.appendLocked(es)
	for i := range keys {
		keys[i].EntryID, keys[i].EntryIndex, keys[i].RevokedIndex = res[i].ID, res[i].LeafIndex, -1
		m.owners[string(keys[i].KeyID)] = p.ID
	}
	m.byID[p.ID], m.byTok[string(tokenHash)], m.keys[p.ID] = p, p, keys
	return res, nil
}

func (m *memStore) AddKeyLogged(ctx context.Context, id string, k storage.Key, e storage.Entry) (storage.Appended, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.byID[id]
	switch {
	case !ok:
		return storage.Appended{}, storage.ErrNotFound
	case p.DeactivatedAt != nil:
		return storage.Appended{}, storage.ErrDeactivated
	}
	if _, ok := m.owners[string(k.KeyID)]; ok {
		return storage.Appended{}, storage.ErrDuplicateKey
	}
	a := m.appendLocked([]storage.Entry{e})[0]
	k.EntryID, k.EntryIndex, k.RevokedIndex = a.ID, a.LeafIndex, -1
	m.owners[string(k.KeyID)] = id
	m.keys[id] = append(m.keys[id], k)
	return a, nil
}

func (m *memStore) RevokeKeysLogged(ctx context.Context, id string, keyIDs [][]byte, es []storage.Entry, deactivate bool) ([]storage.Appended, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.byID[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	if p.DeactivatedAt != nil {
		return nil, storage.ErrDeactivated
	}
	find := func(kid []byte) *storage.Key {
		for i := range m.keys[id] {
			if string(m.keys[id][i].KeyID) == string(kid) {
				return &m.keys[id][i]
			}
		}
		return nil
	}
	for _, kid := range keyIDs {
		k := find(kid)
		if k == nil {
			return nil, storage.ErrKeyNotFound
		}
		if k.Revoked() {
			return nil, storage.ErrAlreadyRevoked
		}
	}
	res := m.appendLocked(es)
	for i, kid := range keyIDs {
		k := find(kid)
		k.RevokedIndex, k.RevokedEntryID = res[i].LeafIndex, res[i].ID
	}
	if deactivate {
		now := time.Now()
		p.DeactivatedAt = &now
		m.byID[id] = p
		for h, q := range m.byTok {
			if q.ID == id {
				delete(m.byTok, h)
			}
		}
	}
	return res, nil
}

func (m *memStore) ReplaceToken(ctx context.Context, id string, tokenHash []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.byID[id]
	switch {
	case !ok:
		return storage.ErrNotFound
	case p.DeactivatedAt != nil:
		return storage.ErrDeactivated
	}
	for h, q := range m.byTok {
		if q.ID == id {
			delete(m.byTok, h)
		}
	}
	m.byTok[string(tokenHash)] = p
	return nil
}

func (m *memStore) Key(ctx context.Context, keyID []byte) (string, *storage.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	owner, ok := m.owners[string(keyID)]
	if !ok {
		return "", nil, storage.ErrNotFound
	}
	for _, k := range m.keys[owner] {
		if string(k.KeyID) == string(keyID) {
			return owner, &k, nil
		}
	}
	return "", nil, storage.ErrNotFound
}
