package principals

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
	"github.com/trialog/trialog/trials"
)

// TypeKeyRevocation is the statement trialogd logs, signed with its service
// key, when a principal's key is revoked: the key no longer counts from the
// revocation's own leaf on.
const TypeKeyRevocation = "principal.key-revocation"

// Reasons of a key revocation.
const (
	RevocationKey         = "key-revoked"           // DELETE …/keys/{key_id}
	RevocationDeactivated = "principal-deactivated" // DELETE /v1/admin/principals/{id}
)

// Errors of credential changes, for errors.Is; like the directory's other
// errors each is wrapped with a sentence for the caller.
var (
	// ErrDeactivated: the principal is deactivated; nothing can be given
	// to it any more.
	ErrDeactivated = errors.New("principal deactivated")
	// ErrBootstrapAdmin: the admin principal behind the admin token file
	// is changed by replacing the file, not through the API.
	ErrBootstrapAdmin = errors.New("bootstrap admin")
)

// KeyRevocation is a principal.key-revocation statement.
type KeyRevocation struct {
	Kind      string `json:"type"`
	Principal string `json:"principal"`
	KeyID     string `json:"key_id"`
	// KeyEntry is the id of the principal.key entry that registered the
	// key, when known.
	KeyEntry string `json:"key_entry,omitempty"`
	Reason   string `json:"reason"`
	IssuedAt string `json:"issued_at"`
}

// Type implements statement.Statement.
func (k *KeyRevocation) Type() string { return TypeKeyRevocation }

// Refs indexes the revocation under the key id and the principal, as the
// registration is.
func (k *KeyRevocation) Refs() []string {
	return []string{"key:" + k.KeyID, "principal:" + k.Principal}
}

func parseKeyRevocation(payload []byte) (statement.Statement, error) {
	var k KeyRevocation
	if err := statement.Decode(TypeKeyRevocation, payload, &k); err != nil {
		return nil, err
	}
	if k.Kind != TypeKeyRevocation {
		return nil, statement.Invalidf("type must be %q", TypeKeyRevocation)
	}
	if !trials.ValidPrincipalID(k.Principal) {
		return nil, statement.Invalidf("%s: principal must be a principal id", TypeKeyRevocation)
	}
	if !statement.IsHexDigest(k.KeyID) {
		return nil, statement.Invalidf("%s: key_id must be 64 lowercase hex digits", TypeKeyRevocation)
	}
	if k.KeyEntry != "" && !statement.IsHexDigest(k.KeyEntry) {
		return nil, statement.Invalidf("%s: key_entry must be an entry id", TypeKeyRevocation)
	}
	if k.Reason != RevocationKey && k.Reason != RevocationDeactivated {
		return nil, statement.Invalidf("%s: a reason (%s or %s) is required", TypeKeyRevocation, RevocationKey, RevocationDeactivated)
	}
	if _, err := statement.ParseTime("issued_at", k.IssuedAt); err != nil {
		return nil, err
	}
	return &k, nil
}

// POLICY: a principal's name is logged for ever (principal.key entries), so
// it may not hold personal contact data or bytes that display as something
// else. An e-mail address is refused wherever it appears in the name.
var emailLike = regexp.MustCompile(`[^\s@<>()"]+@[^\s@<>()"]+\.[^\s@<>()".]+`)

// checkName validates a principal's name; the error says why.
func checkName(name string) error {
	switch {
	case name == "" || len(name) > 200:
		return invalidf("name is required (at most 200 bytes)")
	case !utf8.ValidString(name):
		return invalidf("name must be valid UTF-8")
	case strings.ContainsFunc(name, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
	}):
		return invalidf("name must not contain control or invisible formatting characters: it is logged for ever and must read the same everywhere")
	case emailLike.MatchString(name) || statement.HasEmail(name):
		return invalidf("name must not contain an e-mail address: it is logged for ever in the principal's key registrations; use an organisation or role name, such as \"St Mary's Hospital, site 12\"")
	}
	return nil
}

// bootstrapGuard refuses credential changes of the admin principal behind
// the admin token file, whose token that file sets at every start.
func bootstrapGuard(id string) error {
	if id == AdminPrincipalID {
		return fmt.Errorf("%w: the principal %q holds the admin token file's token: replace <data-dir>/admin.token and restart trialogd to rotate it; create other admin principals to deactivate", ErrBootstrapAdmin, AdminPrincipalID)
	}
	return nil
}

// credentialError maps the storage layer's credential errors to the
// directory's.
func credentialError(id string, err error) error {
	var kre *storage.KeyRevokedError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%w: no principal has id %s", ErrUnknown, id)
	case errors.Is(err, storage.ErrDeactivated):
		return fmt.Errorf("%w: principal %s is deactivated: it can hold no token or key any more; create a new principal", ErrDeactivated, id)
	case errors.Is(err, storage.ErrKeyNotFound):
		return fmt.Errorf("%w: principal %s holds no key with this id", ErrUnknown, id)
	case errors.Is(err, storage.ErrDuplicateKey):
		return fmt.Errorf("%w: the public key is already registered to a principal", ErrKeyRegistered)
	case errors.As(err, &kre):
		return err
	}
	return unavailable(err)
}

// RotateToken gives a principal a new token; every earlier token of the
// principal is dead once it returns, in this process at once (the token
// cache is cleared) and in every process within the cache's lifetime.
func (s *Directory) RotateToken(ctx context.Context, id string) (string, error) {
	if err := bootstrapGuard(id); err != nil {
		return "", err
	}
	tok := NewToken()
	if err := s.store.ReplaceToken(ctx, id, TokenHash(tok)); err != nil {
		return "", credentialError(id, err)
	}
	s.auth.forget(id)
	s.lg.Info("principal token rotated", "principal", id)
	return tok, nil
}

// AddKey registers one more key to an active principal: the principal.key
// entry and the key are stored in one transaction.
func (s *Directory) AddKey(ctx context.Context, id, publicKey string, wait time.Duration) (*api.AddedKey, error) {
	p, err := s.store.Principal(ctx, id)
	if err != nil {
		return nil, credentialError(id, err)
	}
	if p.DeactivatedAt != nil {
		return nil, credentialError(id, storage.ErrDeactivated)
	}
	pub, err := envelope.DecodeB64(publicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, invalidf("public_key must be the base64 of a raw 32-byte Ed25519 public key")
	}
	kid := envelope.KeyID(pub)
	if _, _, err := s.store.Key(ctx, mustHex(kid)); err == nil {
		return nil, credentialError(id, storage.ErrDuplicateKey)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, unavailable(err)
	}
	payload, _ := json.Marshal(PrincipalKey{Kind: TypePrincipalKey, Principal: p.ID, Name: p.Name, Role: p.Role,
		PublicKey: publicKey, KeyID: kid, IssuedAt: s.now().UTC().Format(engine.TimeFormat)})
	es, err := s.log.ServiceEntries(ctx, [][]byte{payload})
	if err != nil {
		return nil, err
	}
	a, err := s.store.AddKeyLogged(ctx, id, storage.Key{KeyID: mustHex(kid), PublicKey: pub}, es[0])
	if err != nil {
		return nil, credentialError(id, err)
	}
	s.auth.forget(id)
	s.lg.Info("principal key added", "principal", id, "key_id", kid, "leaf_index", a.LeafIndex)
	out, err := s.log.Logged(ctx, []storage.Appended{a}, wait)
	if err != nil {
		return nil, err
	}
	return &api.AddedKey{KeyID: kid, Entry: out[0]}, nil
}

// RevokeKey revokes one key of a principal: the principal.key-revocation
// entry and the key's revocation are stored in one transaction, numbered
// under the log's lock, so that no statement signed with the key is ordered
// after the revocation. Revoking a revoked key answers its revocation.
func (s *Directory) RevokeKey(ctx context.Context, id, keyID string, wait time.Duration) (*api.Entry, error) {
	if !statement.IsHexDigest(keyID) {
		return nil, invalidf("a key id is 64 lowercase hex digits (the SHA-256 of the raw public key)")
	}
	if _, err := s.store.Principal(ctx, id); err != nil {
		return nil, credentialError(id, err)
	}
	owner, k, err := s.store.Key(ctx, mustHex(keyID))
	if errors.Is(err, storage.ErrNotFound) || (err == nil && owner != id) {
		return nil, credentialError(id, storage.ErrKeyNotFound)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if !k.Revoked() {
		es, err := s.log.ServiceEntries(ctx, [][]byte{s.revocation(id, k, RevocationKey)})
		if err != nil {
			return nil, err
		}
		res, err := s.store.RevokeKeysLogged(ctx, id, [][]byte{k.KeyID}, es, false)
		s.auth.forget(id)
		switch {
		case err == nil:
			s.lg.Info("principal key revoked", "principal", id, "key_id", keyID, "leaf_index", res[0].LeafIndex)
			out, err := s.log.Logged(ctx, res, wait)
			if err != nil {
				return nil, err
			}
			return out[0], nil
		case !errors.Is(err, storage.ErrAlreadyRevoked):
			return nil, credentialError(id, err)
		}
		// Revoked by another request meanwhile: answer its revocation.
		if _, k, err = s.store.Key(ctx, mustHex(keyID)); err != nil {
			return nil, unavailable(err)
		}
	}
	return s.log.LoggedByID(ctx, k.RevokedEntryID, wait)
}

// DeactivatePrincipal kills a principal's tokens and revokes every key it
// still holds, one principal.key-revocation entry per key, all in one
// transaction. Deactivating a deactivated principal answers no entries.
func (s *Directory) DeactivatePrincipal(ctx context.Context, id string, wait time.Duration) ([]*api.Entry, error) {
	if err := bootstrapGuard(id); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		p, err := s.store.Principal(ctx, id)
		if err != nil {
			return nil, credentialError(id, err)
		}
		if p.DeactivatedAt != nil {
			return []*api.Entry{}, nil
		}
		keys, err := s.store.Keys(ctx, id)
		if err != nil {
			return nil, unavailable(err)
		}
		var ids [][]byte
		var payloads [][]byte
		for _, k := range keys {
			if k.Revoked() {
				continue
			}
			ids = append(ids, k.KeyID)
			payloads = append(payloads, s.revocation(id, &k, RevocationDeactivated))
		}
		es, err := s.log.ServiceEntries(ctx, payloads)
		if err != nil {
			return nil, err
		}
		res, err := s.store.RevokeKeysLogged(ctx, id, ids, es, true)
		s.auth.forget(id)
		if (errors.Is(err, storage.ErrKeysChanged) || errors.Is(err, storage.ErrAlreadyRevoked)) && attempt < 3 {
			continue
		}
		if errors.Is(err, storage.ErrDeactivated) {
			return []*api.Entry{}, nil
		}
		if err != nil {
			return nil, credentialError(id, err)
		}
		s.lg.Info("principal deactivated", "principal", id, "keys_revoked", len(res))
		return s.log.Logged(ctx, res, wait)
	}
}

func (s *Directory) revocation(id string, k *storage.Key, reason string) []byte {
	st := KeyRevocation{Kind: TypeKeyRevocation, Principal: id, KeyID: hex.EncodeToString(k.KeyID), Reason: reason,
		IssuedAt: s.now().UTC().Format(engine.TimeFormat)}
	if len(k.EntryID) == 32 {
		st.KeyEntry = hex.EncodeToString(k.EntryID)
	}
	b, _ := json.Marshal(st)
	return b
}

// forget drops what the cache holds for a principal: its tokens and keys.
// Credential changes call it, so that this process sees them at once. (The
// append, not the cache, is what refuses statements signed with a revoked
// key.)
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
