// Package principals holds who may call trialogd: principals (sponsors,
// sites, regulators, data users, admins) with their bearer tokens and
// Ed25519 keys, the principal.key statement that logs each key's
// registration, and authentication with a short-lived cache. Tokens are kept
// only as their SHA-256. It speaks neither HTTP nor SQL (storage holds the
// tables).
package principals

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// TypePrincipalKey is the statement trialogd logs for each key it registers
// to a principal, signed with its service key.
const TypePrincipalKey = "principal.key"

// PrincipalKey is a principal.key statement.
type PrincipalKey struct {
	Kind      string `json:"type"`
	Principal string `json:"principal"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	PublicKey string `json:"public_key"` // base64 of the raw 32-byte key
	KeyID     string `json:"key_id"`
	IssuedAt  string `json:"issued_at"`
}

// Type implements statement.Statement.
func (p *PrincipalKey) Type() string { return TypePrincipalKey }

// Refs indexes the registration under the key id and the principal.
func (p *PrincipalKey) Refs() []string {
	return []string{"key:" + p.KeyID, "principal:" + p.Principal}
}

func parsePrincipalKey(payload []byte) (statement.Statement, error) {
	var p PrincipalKey
	if err := statement.Decode(TypePrincipalKey, payload, &p); err != nil {
		return nil, err
	}
	pub, err := base64.StdEncoding.DecodeString(p.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, statement.Invalidf("principal.key: public_key must be a base64 32-byte Ed25519 key")
	}
	if envelope.KeyID(pub) != p.KeyID {
		return nil, statement.Invalidf("principal.key: key_id is not the SHA-256 of public_key")
	}
	if p.Principal == "" || p.Name == "" || !statement.ValidRole(statement.Role(p.Role)) {
		return nil, statement.Invalidf("principal.key: principal, name and a valid role are required")
	}
	if _, err := statement.ParseTime("issued_at", p.IssuedAt); err != nil {
		return nil, err
	}
	return &p, nil
}

// Register adds the principal.key kind to r: entries only trialogd writes
// (no role may submit one).
func Register(r *statement.Registry) {
	if _, ok := r.Lookup(TypePrincipalKey); ok {
		return
	}
	r.Register(statement.Kind{Name: TypePrincipalKey, Parse: parsePrincipalKey})
	r.Register(statement.Kind{Name: TypeKeyRevocation, Parse: parseKeyRevocation})
}

// Errors of the directory, for errors.Is; each is wrapped with a sentence
// for the caller after a colon.
var (
	// ErrUnauthenticated means no token, or one no principal holds.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrInvalid means a principal to create is malformed.
	ErrInvalid = errors.New("invalid principal")
	// ErrUnknown means no principal has the id asked for.
	ErrUnknown = errors.New("unknown principal")
	// ErrKeyRegistered means a key is registered to a principal already.
	ErrKeyRegistered = errors.New("key already registered")
	// ErrUnavailable means the database cannot be reached; retry.
	ErrUnavailable = errors.New("principals unavailable")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

// Store is what the directory needs of trialog's database
// (*storage.Store). Lookups return storage.ErrNotFound for a missing row;
// CreatePrincipal returns storage.ErrDuplicateKey when a key is taken.
type Store interface {
	EnsureAdmin(ctx context.Context, id string, tokenHash []byte) error
	CreatePrincipal(ctx context.Context, p storage.Principal, tokenHash []byte, keys []storage.Key) error
	PrincipalByToken(ctx context.Context, tokenHash []byte) (*storage.Principal, error)
	Principal(ctx context.Context, id string) (*storage.Principal, error)
	Keys(ctx context.Context, principalID string) ([]storage.Key, error)
	KeyOwner(ctx context.Context, keyID []byte) (string, error)

	// Credential changes, each with its log entries in one transaction
	// (storage.Store.AppendAtomic): see those methods.
	CreatePrincipalLogged(ctx context.Context, p storage.Principal, tokenHash []byte, keys []storage.Key, keyEntries []storage.Entry) ([]storage.Appended, error)
	AddKeyLogged(ctx context.Context, principalID string, k storage.Key, e storage.Entry) (storage.Appended, error)
	RevokeKeysLogged(ctx context.Context, principalID string, keyIDs [][]byte, revocations []storage.Entry, deactivate bool) ([]storage.Appended, error)
	ReplaceToken(ctx context.Context, principalID string, tokenHash []byte) error
	Key(ctx context.Context, keyID []byte) (string, *storage.Key, error)
}

// Log is what the directory needs of the log: logging principal.key
// statements signed with trialogd's service key (*engine.Log).
type Log interface {
	SubmitBatchAsService(ctx context.Context, payloads [][]byte, wait time.Duration) ([]*engine.Submission, []error)
	// ServiceEntries prepares service-signed entries without appending
	// them; Logged and LoggedByID answer entries appended with the
	// directory's changes.
	ServiceEntries(ctx context.Context, payloads [][]byte) ([]storage.Entry, error)
	Logged(ctx context.Context, res []storage.Appended, wait time.Duration) ([]*api.Entry, error)
	LoggedByID(ctx context.Context, id []byte, wait time.Duration) (*api.Entry, error)
}

// Config is what a Directory needs.
type Config struct {
	Store Store
	Log   Log
	// AdminTokenFile holds the admin token; it is created (mode 0600) if
	// missing, and the token it holds is the admin's from then on.
	AdminTokenFile string
	Logger         *slog.Logger
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// AdminPrincipalID is the id of the principal holding the admin token.
const AdminPrincipalID = "admin"

// Directory is the set of principals: creation, lookup and authentication.
type Directory struct {
	store Store
	log   Log
	admin string
	lg    *slog.Logger
	now   func() time.Time
	auth  *authCache
}

// New opens the directory and registers the admin token (read from, or
// created in, cfg.AdminTokenFile).
func New(ctx context.Context, cfg Config) (*Directory, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Directory{store: cfg.Store, log: cfg.Log, admin: cfg.AdminTokenFile, lg: cfg.Logger, now: cfg.Now,
		auth: newAuthCache(cfg.Store, 10*time.Second)}
	tok, err := LoadOrCreateToken(d.admin)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	if err := d.store.EnsureAdmin(ctx, AdminPrincipalID, TokenHash(tok)); err != nil {
		return nil, fmt.Errorf("registering the admin token: %w", err)
	}
	return d, nil
}

// AdminTokenPath is where the admin token is kept.
func (d *Directory) AdminTokenPath() string { return d.admin }

const maxKeysPerPrincipal = 16

// CreatePrincipal registers a principal with its keys. Each key registration
// is logged as a principal.key entry signed with the service key, in the
// same transaction that stores the principal, its token hash and its keys:
// a failure leaves neither entries nor principal behind, and a retry logs
// each key once.
func (s *Directory) CreatePrincipal(ctx context.Context, np api.NewPrincipal) (*api.CreatedPrincipal, error) {
	np.Name = strings.TrimSpace(np.Name)
	if err := checkName(np.Name); err != nil {
		return nil, err
	}
	if !statement.ValidRole(statement.Role(np.Role)) {
		return nil, invalidf("role must be one of sponsor, site, regulator, data-user, admin")
	}
	if len(np.PublicKeys) == 0 && np.Role != string(statement.RoleAdmin) && np.Role != string(statement.RoleDataUser) && np.Role != string(statement.RoleRegulator) {
		return nil, invalidf("public_keys: a %s signs its statements, so it needs at least one Ed25519 public key", np.Role)
	}
	if len(np.PublicKeys) > maxKeysPerPrincipal {
		return nil, invalidf("public_keys: at most %d keys", maxKeysPerPrincipal)
	}
	var idb [12]byte
	rand.Read(idb[:])
	out := &api.CreatedPrincipal{ID: "pr_" + hex.EncodeToString(idb[:]), Name: np.Name, Role: np.Role, Token: NewToken(), KeyIDs: []string{}, KeyEntries: []string{}}
	var keys []storage.Key
	var payloads [][]byte
	seen := map[string]bool{}
	now := s.now().UTC().Format(time.RFC3339)
	for i, k := range np.PublicKeys {
		pub, err := envelope.DecodeB64(k)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, invalidf("public_keys[%d] must be the base64 of a raw 32-byte Ed25519 public key", i)
		}
		kid := envelope.KeyID(pub)
		if seen[kid] {
			return nil, invalidf("public_keys[%d] repeats an earlier key", i)
		}
		seen[kid] = true
		if _, err := s.store.KeyOwner(ctx, mustHex(kid)); err == nil {
			return nil, fmt.Errorf("%w: public_keys[%d] is already registered to a principal", ErrKeyRegistered, i)
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, unavailable(err)
		}
		payload, _ := json.Marshal(PrincipalKey{Kind: TypePrincipalKey, Principal: out.ID, Name: np.Name, Role: np.Role, PublicKey: k, KeyID: kid, IssuedAt: now})
		payloads = append(payloads, payload)
		keys = append(keys, storage.Key{KeyID: mustHex(kid), PublicKey: pub})
		out.KeyIDs = append(out.KeyIDs, kid)
	}
	entries, err := s.log.ServiceEntries(ctx, payloads)
	if err != nil {
		return nil, err
	}
	res, err := s.store.CreatePrincipalLogged(ctx, storage.Principal{ID: out.ID, Name: np.Name, Role: np.Role}, TokenHash(out.Token), keys, entries)
	if err != nil {
		if errors.Is(err, storage.ErrDuplicateKey) {
			return nil, fmt.Errorf("%w: a public key is already registered to a principal", ErrKeyRegistered)
		}
		return nil, unavailable(err)
	}
	if len(res) > 0 {
		// Wake the feeder; the entries are acknowledged, not yet proven.
		if _, err := s.log.Logged(ctx, res, 0); err != nil {
			return nil, err
		}
	}
	for _, a := range res {
		out.KeyEntries = append(out.KeyEntries, hex.EncodeToString(a.ID))
	}
	s.lg.Info("principal created", "principal", out.ID, "role", np.Role, "keys", len(keys))
	return out, nil
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Authenticate returns the caller holding token.
func (s *Directory) Authenticate(ctx context.Context, token string) (statement.Caller, error) {
	if token == "" {
		return statement.Caller{}, fmt.Errorf("%w: this call needs a token: send Authorization: Bearer <token>", ErrUnauthenticated)
	}
	p, err := s.auth.principal(ctx, token)
	if errors.Is(err, storage.ErrNotFound) {
		return statement.Caller{}, fmt.Errorf("%w: the token is not known", ErrUnauthenticated)
	}
	if err != nil {
		return statement.Caller{}, unavailable(err)
	}
	return statement.Caller{PrincipalID: p.ID, Name: p.Name, Role: statement.Role(p.Role)}, nil
}

// Keys returns the keys registered to a principal by key id, from a cache
// of a few seconds: keys are only ever added, so a stale answer can only
// miss a new key, which is then looked up again. It implements
// engine.KeyResolver.
func (s *Directory) Keys(ctx context.Context, principalID string) (map[string]ed25519.PublicKey, error) {
	return s.auth.keys(ctx, principalID)
}

// authCache remembers principals by token hash and keys by principal for a
// short time, so that a busy submitter costs no extra queries per request.
// Principals and keys are only ever added, so a stale answer can only be a
// missing one, which is looked up again.
type authCache struct {
	st  Store
	ttl time.Duration

	mu    sync.Mutex
	byTok map[string]cachedPrincipal
	keysC map[string]cachedKeys
}

type cachedPrincipal struct {
	p  *storage.Principal
	at time.Time
}

type cachedKeys struct {
	keys map[string]ed25519.PublicKey
	at   time.Time
}

const maxAuthCache = 10000

func newAuthCache(st Store, ttl time.Duration) *authCache {
	return &authCache{st: st, ttl: ttl, byTok: map[string]cachedPrincipal{}, keysC: map[string]cachedKeys{}}
}

func (c *authCache) principal(ctx context.Context, token string) (*storage.Principal, error) {
	h := string(TokenHash(token))
	c.mu.Lock()
	if e, ok := c.byTok[h]; ok && time.Since(e.at) < c.ttl {
		c.mu.Unlock()
		return e.p, nil
	}
	c.mu.Unlock()
	p, err := c.st.PrincipalByToken(ctx, []byte(h))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.byTok) >= maxAuthCache {
		clear(c.byTok)
	}
	c.byTok[h] = cachedPrincipal{p: p, at: time.Now()}
	c.mu.Unlock()
	return p, nil
}

func (c *authCache) keys(ctx context.Context, principalID string) (map[string]ed25519.PublicKey, error) {
	c.mu.Lock()
	if e, ok := c.keysC[principalID]; ok && time.Since(e.at) < c.ttl {
		c.mu.Unlock()
		return e.keys, nil
	}
	c.mu.Unlock()
	ks, err := c.st.Keys(ctx, principalID)
	if err != nil {
		return nil, err
	}
	m := make(map[string]ed25519.PublicKey, len(ks))
	for _, k := range ks {
		m[hex.EncodeToString(k.KeyID)] = k.PublicKey
	}
	c.mu.Lock()
	if len(c.keysC) >= maxAuthCache {
		clear(c.keysC)
	}
	c.keysC[principalID] = cachedKeys{keys: m, at: time.Now()}
	c.mu.Unlock()
	return m, nil
}
