package personality

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/trialog/trialog/personality/api"
	"github.com/trialog/trialog/personality/envelope"
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

func registerServiceKinds(r *statement.Registry) {
	if _, ok := r.Lookup(TypePrincipalKey); ok {
		return
	}
	r.Register(statement.Kind{Name: TypePrincipalKey, Parse: parsePrincipalKey})
	r.Register(statement.Kind{Name: TypeKeyRevocation, Parse: parseKeyRevocation})
}

// NewPrincipal is a principal to create.
type NewPrincipal = api.NewPrincipal

// CreatedPrincipal is a created principal with its one-time token.
type CreatedPrincipal = api.CreatedPrincipal

const maxKeysPerPrincipal = 16

// CreatePrincipal registers a principal with its keys. Each key registration
// is logged as a principal.key entry signed with the service key, in the
// same transaction that stores the principal, its token hash and its keys:
// a failure leaves neither entries nor principal behind, and a retry logs
// each key once.
func (s *Service) CreatePrincipal(ctx context.Context, np NewPrincipal) (*CreatedPrincipal, error) {
	np.Name = strings.TrimSpace(np.Name)
	if err := checkPrincipalName(np.Name); err != nil {
		return nil, err
	}
	if !statement.ValidRole(statement.Role(np.Role)) {
		return nil, errInvalid("role must be one of sponsor, site, regulator, data-user, admin")
	}
	if len(np.PublicKeys) == 0 && np.Role != string(statement.RoleAdmin) && np.Role != string(statement.RoleDataUser) && np.Role != string(statement.RoleRegulator) {
		return nil, errInvalid("public_keys: a %s signs its statements, so it needs at least one Ed25519 public key", np.Role)
	}
	if len(np.PublicKeys) > maxKeysPerPrincipal {
		return nil, errInvalid("public_keys: at most %d keys", maxKeysPerPrincipal)
	}
	var idb [12]byte
	rand.Read(idb[:])
	out := &CreatedPrincipal{ID: "pr_" + hex.EncodeToString(idb[:]), Name: np.Name, Role: np.Role, Token: NewToken(), KeyIDs: []string{}, KeyEntries: []string{}}
	var keys []storage.Key
	var entries []storage.Entry
	seen := map[string]bool{}
	now := s.now().UTC().Format(time.RFC3339)
	for i, k := range np.PublicKeys {
		pub, err := envelope.DecodeB64(k)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, errInvalid("public_keys[%d] must be the base64 of a raw 32-byte Ed25519 public key", i)
		}
		kid := envelope.KeyID(pub)
		if seen[kid] {
			return nil, errInvalid("public_keys[%d] repeats an earlier key", i)
		}
		seen[kid] = true
		if _, err := s.store.KeyOwner(ctx, mustHex(kid)); err == nil {
			return nil, newError(409, "conflict", "public_keys[%d] is already registered to a principal", i)
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, unavailable(err)
		}
		e, err := s.serviceEntry(ctx, PrincipalKey{Kind: TypePrincipalKey, Principal: out.ID, Name: np.Name, Role: np.Role, PublicKey: k, KeyID: kid, IssuedAt: now})
		if err != nil {
			return nil, err
		}
		entries = append(entries, *e)
		keys = append(keys, storage.Key{KeyID: mustHex(kid), PublicKey: pub})
		out.KeyIDs = append(out.KeyIDs, kid)
	}
	res, err := s.store.CreatePrincipalLogged(ctx, storage.Principal{ID: out.ID, Name: np.Name, Role: np.Role}, TokenHash(out.Token), keys, entries)
	if err != nil {
		if errors.Is(err, storage.ErrDuplicateKey) {
			return nil, newError(409, "conflict", "a public key is already registered to a principal")
		}
		return nil, unavailable(err)
	}
	if len(res) > 0 {
		s.kickFeeder()
	}
	for _, a := range res {
		out.KeyEntries = append(out.KeyEntries, hex.EncodeToString(a.ID))
	}
	s.log.Info("principal created", "principal", out.ID, "role", np.Role, "keys", len(keys))
	return out, nil
}

func (s *Service) serviceCaller() statement.Caller {
	return statement.Caller{PrincipalID: ServicePrincipalID, Name: "trialogd", Role: statement.RoleService}
}

// SubmitAsService logs a statement trialogd itself makes, signed with the
// service key. Domain packages use it for delegations and access records.
func (s *Service) SubmitAsService(ctx context.Context, payload []byte, wait time.Duration) (*Submission, error) {
	body, _ := json.Marshal(envelope.Sign(statement.PayloadType, payload, s.svcKey))
	return s.Submit(ctx, s.serviceCaller(), body, wait)
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Authenticate returns the caller holding token.
func (s *Service) Authenticate(ctx context.Context, token string) (statement.Caller, error) {
	if token == "" {
		return statement.Caller{}, errUnauthenticated("this call needs a token: send Authorization: Bearer <token>")
	}
	p, err := s.auth.principal(ctx, token)
	if errors.Is(err, storage.ErrNotFound) {
		return statement.Caller{}, errUnauthenticated("the token is not known")
	}
	if err != nil {
		return statement.Caller{}, unavailable(err)
	}
	return statement.Caller{PrincipalID: p.ID, Name: p.Name, Role: statement.Role(p.Role)}, nil
}

// authCache remembers principals by token hash and keys by principal for a
// short time, so that a busy submitter costs no extra queries per request.
// Principals and keys are only ever added, so a stale answer can only be a
// missing one, which is looked up again.
type authCache struct {
	st  *storage.Store
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
	keys    map[string]ed25519.PublicKey // valid keys
	revoked map[string]int64             // revoked keys: the revocation's leaf index
	at      time.Time
}

const maxAuthCache = 10000

func newAuthCache(st *storage.Store, ttl time.Duration) *authCache {
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

func (c *authCache) keys(ctx context.Context, principalID string) (cachedKeys, error) {
	c.mu.Lock()
	if e, ok := c.keysC[principalID]; ok && time.Since(e.at) < c.ttl {
		c.mu.Unlock()
		return e, nil
	}
	c.mu.Unlock()
	ks, err := c.st.Keys(ctx, principalID)
	if err != nil {
		return cachedKeys{}, err
	}
	ck := cachedKeys{keys: make(map[string]ed25519.PublicKey, len(ks)), revoked: map[string]int64{}, at: time.Now()}
	for _, k := range ks {
		if k.Revoked() {
			ck.revoked[hex.EncodeToString(k.KeyID)] = k.RevokedIndex
			continue
		}
		ck.keys[hex.EncodeToString(k.KeyID)] = k.PublicKey
	}
	c.mu.Lock()
	if len(c.keysC) >= maxAuthCache {
		clear(c.keysC)
	}
	c.keysC[principalID] = ck
	c.mu.Unlock()
	return ck, nil
}

// forget drops what the cache holds for a principal: its tokens and keys.
// Credential changes call it, so that this process sees them at once. (The
// append lock, not the cache, is what refuses statements signed with a
// revoked key.)
func (c *authCache) forget(principalID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.keysC, principalID)
	for h, e := range c.byTok {
		if e.p.ID == principalID {
			delete(c.byTok, h)
		}
	}
}
