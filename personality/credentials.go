package personality

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/trialog/trialog/personality/api"
	"github.com/trialog/trialog/personality/envelope"
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
	if k.Principal == "" || (k.Reason != RevocationKey && k.Reason != RevocationDeactivated) {
		return nil, statement.Invalidf("%s: principal and a reason (%s or %s) are required", TypeKeyRevocation, RevocationKey, RevocationDeactivated)
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

// checkPrincipalName validates a principal's name; the error says why.
func checkPrincipalName(name string) error {
	switch {
	case name == "" || len(name) > 200:
		return errInvalid("name is required (at most 200 bytes)")
	case !utf8.ValidString(name):
		return errInvalid("name must be valid UTF-8")
	case strings.ContainsFunc(name, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
	}):
		return errInvalid("name must not contain control or invisible formatting characters: it is logged for ever and must read the same everywhere")
	case emailLike.MatchString(name):
		return errInvalid("name must not contain an e-mail address: it is logged for ever in the principal's key registrations; use an organisation or role name, such as \"St Mary's Hospital, site 12\"")
	}
	return nil
}

// bootstrapGuard refuses credential changes of the admin principal behind
// the admin token file, whose token that file sets at every start.
func bootstrapGuard(id string) error {
	if id == AdminPrincipalID {
		return newError(http.StatusConflict, "conflict", "the principal %q holds the admin token file's token: replace <data-dir>/admin.token and restart trialogd to rotate it; create other admin principals to deactivate", AdminPrincipalID)
	}
	return nil
}

// credentialError maps the storage layer's credential errors to the API's.
func credentialError(id string, err error) error {
	var kre *storage.KeyRevokedError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return errNotFound("no principal has id %s", id)
	case errors.Is(err, storage.ErrDeactivated):
		return newError(http.StatusConflict, "conflict", "principal %s is deactivated: it can hold no token or key any more; create a new principal", id)
	case errors.Is(err, storage.ErrKeyNotFound):
		return errNotFound("principal %s holds no key with this id", id)
	case errors.Is(err, storage.ErrDuplicateKey):
		return newError(http.StatusConflict, "conflict", "the public key is already registered to a principal")
	case errors.As(err, &kre):
		return err
	case errors.Is(err, storage.ErrNotLogged):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return unavailable(err)
}

// RotateToken gives a principal a new token; every earlier token of the
// principal is dead once it returns, in this process at once (the token
// cache is cleared) and in every process within the cache's lifetime.
func (s *Service) RotateToken(ctx context.Context, id string) (string, error) {
	if err := bootstrapGuard(id); err != nil {
		return "", err
	}
	tok := NewToken()
	if err := s.store.ReplaceToken(ctx, id, TokenHash(tok)); err != nil {
		return "", credentialError(id, err)
	}
	s.auth.forget(id)
	s.log.Info("principal token rotated", "principal", id)
	return tok, nil
}

// AddKey registers one more key to an active principal: the principal.key
// entry and the key are stored in one transaction.
func (s *Service) AddKey(ctx context.Context, id, publicKey string, wait time.Duration) (*api.AddedKey, error) {
	p, err := s.store.Principal(ctx, id)
	if err != nil {
		return nil, credentialError(id, err)
	}
	if p.DeactivatedAt != nil {
		return nil, credentialError(id, storage.ErrDeactivated)
	}
	pub, err := envelope.DecodeB64(publicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, errInvalid("public_key must be the base64 of a raw 32-byte Ed25519 public key")
	}
	kid := envelope.KeyID(pub)
	if _, _, err := s.store.Key(ctx, mustHex(kid)); err == nil {
		return nil, credentialError(id, storage.ErrDuplicateKey)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, unavailable(err)
	}
	e, err := s.serviceEntry(ctx, PrincipalKey{Kind: TypePrincipalKey, Principal: p.ID, Name: p.Name, Role: p.Role,
		PublicKey: publicKey, KeyID: kid, IssuedAt: s.now().UTC().Format(TimeFormat)})
	if err != nil {
		return nil, err
	}
	a, err := s.store.AddKeyLogged(ctx, id, storage.Key{KeyID: mustHex(kid), PublicKey: pub}, *e)
	if err != nil {
		return nil, credentialError(id, err)
	}
	s.auth.forget(id)
	s.log.Info("principal key added", "principal", id, "key_id", kid, "leaf_index", a.LeafIndex)
	out, err := s.loggedEntries(ctx, []storage.Appended{a}, wait)
	if err != nil {
		return nil, err
	}
	return &api.AddedKey{KeyID: kid, Entry: out[0]}, nil
}

// RevokeKey revokes one key of a principal: the principal.key-revocation
// entry and the key's revocation are stored in one transaction, under the
// log's append lock, so that no statement signed with the key is ordered
// after the revocation. Revoking a revoked key answers its revocation.
func (s *Service) RevokeKey(ctx context.Context, id, keyID string, wait time.Duration) (*Entry, error) {
	if !statement.IsHexDigest(keyID) {
		return nil, errInvalid("a key id is 64 lowercase hex digits (the SHA-256 of the raw public key)")
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
		e, err := s.revocationEntry(ctx, id, k, RevocationKey)
		if err != nil {
			return nil, err
		}
		res, err := s.store.RevokeKeysLogged(ctx, id, [][]byte{k.KeyID}, []storage.Entry{*e}, false)
		s.auth.forget(id)
		switch {
		case err == nil:
			s.log.Info("principal key revoked", "principal", id, "key_id", keyID, "leaf_index", res[0].LeafIndex)
			out, err := s.loggedEntries(ctx, res, wait)
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
	return s.existingEntry(ctx, k.RevokedEntryID, wait)
}

// DeactivatePrincipal kills a principal's tokens and revokes every key it
// still holds, one principal.key-revocation entry per key, all in one
// transaction. Deactivating a deactivated principal answers no entries.
func (s *Service) DeactivatePrincipal(ctx context.Context, id string, wait time.Duration) ([]*Entry, error) {
	if err := bootstrapGuard(id); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		p, err := s.store.Principal(ctx, id)
		if err != nil {
			return nil, credentialError(id, err)
		}
		if p.DeactivatedAt != nil {
			return []*Entry{}, nil
		}
		keys, err := s.store.Keys(ctx, id)
		if err != nil {
			return nil, unavailable(err)
		}
		var ids [][]byte
		var es []storage.Entry
		for _, k := range keys {
			if k.Revoked() {
				continue
			}
			e, err := s.revocationEntry(ctx, id, &k, RevocationDeactivated)
			if err != nil {
				return nil, err
			}
			ids = append(ids, k.KeyID)
			es = append(es, *e)
		}
		res, err := s.store.RevokeKeysLogged(ctx, id, ids, es, true)
		s.auth.forget(id)
		if (errors.Is(err, storage.ErrKeysChanged) || errors.Is(err, storage.ErrAlreadyRevoked)) && attempt < 3 {
			continue
		}
		if errors.Is(err, storage.ErrDeactivated) {
			return []*Entry{}, nil
		}
		if err != nil {
			return nil, credentialError(id, err)
		}
		s.log.Info("principal deactivated", "principal", id, "keys_revoked", len(res))
		return s.loggedEntries(ctx, res, wait)
	}
}

func (s *Service) revocationEntry(ctx context.Context, id string, k *storage.Key, reason string) (*storage.Entry, error) {
	st := KeyRevocation{Kind: TypeKeyRevocation, Principal: id, KeyID: hex.EncodeToString(k.KeyID), Reason: reason,
		IssuedAt: s.now().UTC().Format(TimeFormat)}
	if len(k.EntryID) == 32 {
		st.KeyEntry = hex.EncodeToString(k.EntryID)
	}
	return s.serviceEntry(ctx, st)
}

// serviceEntry prepares an entry for a statement of trialogd's own, signed
// with its service key.
func (s *Service) serviceEntry(ctx context.Context, st any) (*storage.Entry, error) {
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(envelope.Sign(statement.PayloadType, payload, s.svcKey))
	return s.prepare(ctx, s.serviceCaller(), body)
}

// loggedEntries answers entries appended outside the appender: it wakes the
// feeder, waits up to wait for a published checkpoint to include them all,
// and returns them proven, or as far as known when the wait runs out.
func (s *Service) loggedEntries(ctx context.Context, res []storage.Appended, wait time.Duration) ([]*Entry, error) {
	out := make([]*Entry, 0, len(res))
	if len(res) == 0 {
		return out, nil
	}
	s.kickFeeder()
	last := res[0].LeafIndex
	for _, a := range res {
		last = max(last, a.LeafIndex)
	}
	var cp *Published
	if wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		cp, _ = s.WaitPublished(wctx, last)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	for _, a := range res {
		var e *Entry
		var err error
		if cp != nil {
			e, err = s.entryWithProof(ctx, &a.Entry, cp)
		} else {
			e, err = s.entryAsKnown(ctx, &a.Entry)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// existingEntry answers an entry logged before, waiting up to wait for its
// inclusion.
func (s *Service) existingEntry(ctx context.Context, id []byte, wait time.Duration) (*Entry, error) {
	e, err := s.store.EntryByID(ctx, id)
	if err != nil {
		return nil, unavailable(err)
	}
	out, err := s.loggedEntries(ctx, []storage.Appended{{Entry: *e}}, wait)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// defaultCredentialWait is how long credential calls wait for their entries'
// inclusion when the request names no wait.
const defaultCredentialWait = 10 * time.Second

// registerCredentialRoutes adds the credential endpoints (admin token).
func (a *API) registerCredentialRoutes() {
	a.Handle(http.MethodPost, "/v1/admin/principals/{id}/token", "principal_token", a.postToken)
	a.Handle(http.MethodPost, "/v1/admin/principals/{id}/keys", "principal_keys", a.postKey)
	a.Handle(http.MethodDelete, "/v1/admin/principals/{id}/keys/{key_id}", "principal_key", a.deleteKey)
	a.Handle(http.MethodDelete, "/v1/admin/principals/{id}", "principal", a.deletePrincipal)
}

// adminCall authenticates an admin and reads the principal id and the wait.
func (a *API) adminCall(r *http.Request) (string, time.Duration, error) {
	caller, err := a.Caller(r)
	if err != nil {
		return "", 0, err
	}
	if caller.Role != statement.RoleAdmin {
		return "", 0, errDenied("only an admin may change a principal's credentials")
	}
	wait, err := parseWait(r)
	if err != nil {
		return "", 0, err
	}
	if wait == 0 {
		wait = defaultCredentialWait
	}
	return mux.Vars(r)["id"], wait, nil
}

func (a *API) postToken(r *http.Request) (int, any, error) {
	id, _, err := a.adminCall(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct{}
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	tok, err := a.svc.RotateToken(r.Context(), id)
	return http.StatusCreated, api.RotatedToken{Token: tok}, err
}

func (a *API) postKey(r *http.Request) (int, any, error) {
	id, wait, err := a.adminCall(r)
	if err != nil {
		return 0, nil, err
	}
	var req api.NewKey
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	out, err := a.svc.AddKey(r.Context(), id, req.PublicKey, wait)
	return http.StatusCreated, out, err
}

func (a *API) deleteKey(r *http.Request) (int, any, error) {
	id, wait, err := a.adminCall(r)
	if err != nil {
		return 0, nil, err
	}
	e, err := a.svc.RevokeKey(r.Context(), id, mux.Vars(r)["key_id"], wait)
	return http.StatusOK, api.RevokedKey{Entry: e}, err
}

func (a *API) deletePrincipal(r *http.Request) (int, any, error) {
	id, wait, err := a.adminCall(r)
	if err != nil {
		return 0, nil, err
	}
	es, err := a.svc.DeactivatePrincipal(r.Context(), id, wait)
	return http.StatusOK, api.Deactivated{Entries: es}, err
}
