package principals

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// memStore is an in-memory Store with storage's errors; the MySQL one is
// tested in storage and end to end.
type memStore struct {
	mu     sync.Mutex
	byTok  map[string]storage.Principal
	byID   map[string]storage.Principal
	keys   map[string][]storage.Key
	owners map[string]string
	// log is where entries appended with a change are recorded;
	// failStore, if set, fails every logged change (nothing is recorded).
	log       *memLog
	failStore error
}

func newMemStore() *memStore {
	return &memStore{byTok: map[string]storage.Principal{}, byID: map[string]storage.Principal{}, keys: map[string][]storage.Key{}, owners: map[string]string{}}
}

func (m *memStore) EnsureAdmin(ctx context.Context, id string, tokenHash []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := storage.Principal{ID: id, Name: "admin", Role: string(statement.RoleAdmin)}
	m.byID[id] = p
	m.byTok[string(tokenHash)] = p
	return nil
}

func (m *memStore) CreatePrincipal(ctx context.Context, p storage.Principal, tokenHash []byte, keys []storage.Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if _, ok := m.owners[string(k.KeyID)]; ok {
			return storage.ErrDuplicateKey
		}
	}
	for _, k := range keys {
		m.owners[string(k.KeyID)] = p.ID
	}
	m.byID[p.ID], m.byTok[string(tokenHash)], m.keys[p.ID] = p, p, keys
	return nil
}

func (m *memStore) PrincipalByToken(ctx context.Context, tokenHash []byte) (*storage.Principal, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.byTok[string(tokenHash)]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &p, nil
}

func (m *memStore) Principal(ctx context.Context, id string) (*storage.Principal, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.byID[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &p, nil
}

func (m *memStore) Keys(ctx context.Context, id string) ([]storage.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys[id], nil
}

func (m *memStore) KeyOwner(ctx context.Context, keyID []byte) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.owners[string(keyID)]
	if !ok {
		return "", storage.ErrNotFound
	}
	return o, nil
}

// memLog records the principal.key statements it is asked to log, after
// checking they parse as the kind Register adds.
type memLog struct {
	t        *testing.T
	reg      *statement.Registry
	payloads [][]byte
	fail     error
}

func (l *memLog) SubmitBatchAsService(ctx context.Context, payloads [][]byte, wait time.Duration) ([]*engine.Submission, []error) {
	subs := make([]*engine.Submission, len(payloads))
	errs := make([]error, len(payloads))
	for i, p := range payloads {
		if l.fail != nil {
			errs[i] = l.fail
			continue
		}
		if _, _, err := l.reg.ParseFor(statement.PayloadType, p); err != nil {
			l.t.Fatalf("a principal.key statement that does not parse: %v\n%s", err, p)
		}
		l.payloads = append(l.payloads, p)
		subs[i] = &engine.Submission{Entry: &api.Entry{ID: strings.Repeat("0", 63) + string(rune('a'+len(l.payloads)))}, New: true}
	}
	return subs, errs
}

func newDirectory(t *testing.T) (*Directory, *memStore, *memLog) {
	t.Helper()
	reg := statement.NewRegistry()
	Register(reg)
	st, lg := newMemStore(), &memLog{t: t, reg: reg}
	st.log = lg
	d, err := New(context.Background(), Config{Store: st, Log: lg, AdminTokenFile: filepath.Join(t.TempDir(), "admin.token")})
	if err != nil {
		t.Fatal(err)
	}
	return d, st, lg
}

func newKey(t *testing.T) (ed25519.PublicKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, base64.StdEncoding.EncodeToString(pub)
}

func TestAdminTokenAndAuthenticate(t *testing.T) {
	d, _, _ := newDirectory(t)
	ctx := context.Background()
	b, err := os.ReadFile(d.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(d.AdminTokenPath()); fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file mode %v, want 0600", fi.Mode().Perm())
	}
	c, err := d.Authenticate(ctx, strings.TrimSpace(string(b)))
	if err != nil || c.PrincipalID != AdminPrincipalID || c.Role != statement.RoleAdmin {
		t.Fatalf("the admin token authenticates as %+v, %v", c, err)
	}
	for _, tok := range []string{"", "tlg_unknown"} {
		if _, err := d.Authenticate(ctx, tok); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("Authenticate(%q) = %v, want ErrUnauthenticated", tok, err)
		}
	}
}

func TestCreatePrincipal(t *testing.T) {
	d, st, lg := newDirectory(t)
	ctx := context.Background()
	pub, k := newKey(t)
	cp, err := d.CreatePrincipal(ctx, api.NewPrincipal{Name: " St Mary's ", Role: "site", PublicKeys: []string{k}})
	if err != nil {
		t.Fatal(err)
	}
	if cp.Name != "St Mary's" || len(cp.KeyIDs) != 1 || cp.KeyIDs[0] != envelope.KeyID(pub) || len(cp.KeyEntries) != 1 {
		t.Fatalf("created %+v", cp)
	}
	// The key's registration was logged, naming the principal and the key.
	var pk PrincipalKey
	if len(lg.payloads) != 1 || json.Unmarshal(lg.payloads[0], &pk) != nil || pk.Principal != cp.ID || pk.KeyID != cp.KeyIDs[0] || pk.Role != "site" {
		t.Fatalf("logged %s", lg.payloads)
	}
	// The token authenticates; only its hash is stored.
	c, err := d.Authenticate(ctx, cp.Token)
	if err != nil || c.PrincipalID != cp.ID || c.Role != statement.RoleSite {
		t.Fatalf("Authenticate = %+v, %v", c, err)
	}
	if _, ok := st.byTok[cp.Token]; ok {
		t.Fatal("the token itself is stored")
	}
	if _, ok := st.byTok[string(TokenHash(cp.Token))]; !ok {
		t.Fatal("the token's hash is not stored")
	}
	keys, err := d.Keys(ctx, cp.ID)
	if err != nil || !bytes.Equal(keys[cp.KeyIDs[0]], pub) {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
	if ok, err := d.Exists(ctx, cp.ID); !ok || err != nil {
		t.Fatalf("Exists(%s) = %v, %v", cp.ID, ok, err)
	}
	if ok, err := d.Exists(ctx, "pr_000000000000000000000000"); ok || err != nil {
		t.Fatalf("Exists(unknown) = %v, %v", ok, err)
	}
	if _, err := d.Principal(ctx, "pr_000000000000000000000000"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Principal(unknown) = %v, want ErrUnknown", err)
	}

	// The same key again is a conflict, and nothing more is logged.
	if _, err := d.CreatePrincipal(ctx, api.NewPrincipal{Name: "Other", Role: "site", PublicKeys: []string{k}}); !errors.Is(err, ErrKeyRegistered) {
		t.Fatalf("a registered key again: %v, want ErrKeyRegistered", err)
	}
	if len(lg.payloads) != 1 {
		t.Fatalf("%d statements logged after a refused key", len(lg.payloads))
	}
}

func TestCreatePrincipalRefuses(t *testing.T) {
	d, st, lg := newDirectory(t)
	ctx := context.Background()
	_, k := newKey(t)
	for name, np := range map[string]api.NewPrincipal{
		"no name":            {Name: "  ", Role: "site", PublicKeys: []string{k}},
		"long name":          {Name: strings.Repeat("x", 201), Role: "site", PublicKeys: []string{k}},
		"unknown role":       {Name: "x", Role: "root", PublicKeys: []string{k}},
		"signer, no key":     {Name: "x", Role: "sponsor"},
		"not a key":          {Name: "x", Role: "site", PublicKeys: []string{"AAAA"}},
		"the same key twice": {Name: "x", Role: "site", PublicKeys: []string{k, k}},
		"too many keys": {Name: "x", Role: "site", PublicKeys: func() []string {
			var ks []string
			for range 17 {
				_, k := newKey(t)
				ks = append(ks, k)
			}
			return ks
		}()},
	} {
		if _, err := d.CreatePrincipal(ctx, np); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if len(lg.payloads) != 0 || len(st.byID) != 1 {
		t.Fatalf("refused principals left %d statements and %d principals", len(lg.payloads), len(st.byID))
	}
	// A log that cannot take the key's registration stores no principal.
	lg.fail = engine.ErrQueueFull
	if _, err := d.CreatePrincipal(ctx, api.NewPrincipal{Name: "x", Role: "site", PublicKeys: []string{k}}); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("with the log full: %v, want ErrUnavailable", err)
	}
	if len(st.byID) != 1 {
		t.Fatal("a principal was stored although its key's registration was not logged")
	}
	// Regulators, data users and admins need no key.
	if _, err := d.CreatePrincipal(ctx, api.NewPrincipal{Name: "EMA", Role: "regulator"}); err != nil {
		t.Fatal(err)
	}
}

func TestPrincipalKeyParse(t *testing.T) {
	pub, k := newKey(t)
	good := PrincipalKey{Kind: TypePrincipalKey, Principal: "pr_1", Name: "x", Role: "site", PublicKey: k, KeyID: envelope.KeyID(pub), IssuedAt: "2026-11-23T14:00:00Z"}
	b, _ := json.Marshal(good)
	if _, err := parsePrincipalKey(b); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*PrincipalKey){
		"key id of another key": func(p *PrincipalKey) { p.KeyID = hex.EncodeToString(make([]byte, 32)) },
		"short key":             func(p *PrincipalKey) { p.PublicKey = base64.StdEncoding.EncodeToString(pub[:31]) },
		"bad role":              func(p *PrincipalKey) { p.Role = "root" },
		"no time":               func(p *PrincipalKey) { p.IssuedAt = "" },
	} {
		p := good
		change(&p)
		b, _ := json.Marshal(p)
		if _, err := parsePrincipalKey(b); !errors.Is(err, statement.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
