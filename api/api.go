// Package api holds the JSON types of trialog's HTTP API (docs/api.md),
// shared by trialogd and its clients. Field names here are the contract.
package api

import "encoding/json"

// Envelope is a DSSE envelope.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     string      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// Entry is a logged entry.
type Entry struct {
	ID             string          `json:"id"`
	Status         string          `json:"status"` // StatusIncluded or StatusPending
	LeafIndex      int64           `json:"leaf_index"`
	Leaf           string          `json:"leaf"` // base64 of the exact leaf bytes
	LeafHash       string          `json:"leaf_hash"`
	ReceivedAt     string          `json:"received_at"`
	Envelope       Envelope        `json:"envelope"`
	Statement      json.RawMessage `json:"statement"`
	InclusionProof *InclusionProof `json:"inclusion_proof,omitempty"`
	Checkpoint     string          `json:"checkpoint,omitempty"`
}

// An entry's status.
const (
	StatusIncluded = "included"
	StatusPending  = "pending"
)

// InclusionProof is an RFC 6962 inclusion proof; hashes are standard base64.
type InclusionProof struct {
	LeafIndex int64    `json:"leaf_index"`
	TreeSize  int64    `json:"tree_size"`
	Hashes    []string `json:"hashes"`
}

// ConsistencyProof is an RFC 6962 consistency proof.
type ConsistencyProof struct {
	From   int64    `json:"from"`
	To     int64    `json:"to"`
	Hashes []string `json:"hashes"`
}

// LogInfo is the answer of GET /v1/log.
type LogInfo struct {
	Origin     string `json:"origin"`
	PublicKey  string `json:"public_key"`  // note verifier key
	ServiceKey string `json:"service_key"` // base64 Ed25519 key of trialogd's own entries
	TreeSize   uint64 `json:"tree_size"`
	RootHash   string `json:"root_hash"`
	Checkpoint string `json:"checkpoint"`
	// CosignedAt is, when the log has a witness policy, when the witness
	// quorum cosigned the checkpoint (its oldest needed cosignature's
	// timestamp): the log's freshness.
	CosignedAt string `json:"cosigned_at,omitempty"`
}

// Entries is the answer of GET /v1/log/leaves.
type Entries struct {
	Entries []*Entry `json:"entries"`
}

// Batch is the body of POST /v1/entries:batch.
type Batch struct {
	Envelopes []json.RawMessage `json:"envelopes"`
}

// BatchResults is the answer of POST /v1/entries:batch.
type BatchResults struct {
	Results []BatchResult `json:"results"`
}

// BatchResult answers one envelope of a batch: an entry or an error.
type BatchResult struct {
	Entry  *Entry     `json:"entry,omitempty"`
	Status int        `json:"status,omitempty"` // the HTTP status it would have had alone
	Error  *ErrorBody `json:"error,omitempty"`
}

// Error is the API's error answer.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the API's error object.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// NewPrincipal is the body of POST /v1/admin/principals.
type NewPrincipal struct {
	Name       string   `json:"name"`
	Role       string   `json:"role"`
	PublicKeys []string `json:"public_keys"`
}

// CreatedPrincipal answers POST /v1/admin/principals. Token is shown only
// here; trialog keeps only its hash.
type CreatedPrincipal struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Role       string   `json:"role"`
	Token      string   `json:"token"`
	KeyIDs     []string `json:"key_ids"`
	KeyEntries []string `json:"key_entries"` // the principal.key entries
}

// RecordsVerify is the body of POST /v1/records/verify.
type RecordsVerify struct {
	SHA256 string `json:"sha256"`
}

// EntriesProven is a list of entries all proven against one checkpoint.
type EntriesProven struct {
	Entries    []*Entry `json:"entries"`
	Checkpoint string   `json:"checkpoint"`
}
