package api

// RotatedToken answers POST /v1/admin/principals/{id}/token: the
// principal's new token, shown only here; every earlier one is dead.
type RotatedToken struct {
	Token string `json:"token"`
}

// NewKey is the body of POST /v1/admin/principals/{id}/keys.
type NewKey struct {
	PublicKey string `json:"public_key"` // base64 of the raw 32-byte Ed25519 key
}

// AddedKey answers POST /v1/admin/principals/{id}/keys: the key id and the
// principal.key entry that registered it.
type AddedKey struct {
	KeyID string `json:"key_id"`
	Entry *Entry `json:"entry"`
}

// RevokedKey answers DELETE /v1/admin/principals/{id}/keys/{key_id} and
// DELETE /v1/trials/{trial_id}/delegates/{principal}: the revocation entry.
type RevokedKey struct {
	Entry *Entry `json:"entry"`
}

// Deactivated answers DELETE /v1/admin/principals/{id}: one
// principal.key-revocation entry per key the principal held, in log order.
type Deactivated struct {
	Entries []*Entry `json:"entries"`
}
