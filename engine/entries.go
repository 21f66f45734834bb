package engine

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/google/trillian"
	"github.com/google/trillian/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

type (
	Entry            = api.Entry
	InclusionProof   = api.InclusionProof
	ConsistencyProof = api.ConsistencyProof
)

const (
	StatusIncluded = api.StatusIncluded
	StatusPending  = api.StatusPending
)

// entryBase builds the proof-less part of an entry from the stored leaf.
func entryBase(e *storage.Entry) (*Entry, error) {
	leaf, payload, err := envelope.ReadLeaf(e.Leaf)
	if err != nil {
		return nil, fmt.Errorf("stored leaf %d: %w", e.LeafIndex, err)
	}
	return &Entry{
		ID:         hex.EncodeToString(e.ID),
		Status:     StatusPending,
		LeafIndex:  e.LeafIndex,
		Leaf:       base64.StdEncoding.EncodeToString(e.Leaf),
		LeafHash:   hex.EncodeToString(e.LeafHash),
		ReceivedAt: leaf.ReceivedAt,
		Envelope:   leaf.Envelope,
		Statement:  json.RawMessage(payload),
	}, nil
}

// entryAsKnown returns the entry, with a proof if the latest published
// checkpoint includes it.
func (s *Log) entryAsKnown(ctx context.Context, e *storage.Entry) (*Entry, error) {
	if cp := s.Published(); cp != nil && cp.Size > uint64(e.LeafIndex) {
		return s.entryWithProof(ctx, e, cp)
	}
	return entryBase(e)
}

// entryWithProof returns the entry proven against cp, which must include it.
func (s *Log) entryWithProof(ctx context.Context, e *storage.Entry, cp *Published) (*Entry, error) {
	out, err := entryBase(e)
	if err != nil {
		return nil, err
	}
	p, err := s.InclusionProof(ctx, e.LeafIndex, int64(cp.Size))
	if err != nil {
		return nil, err
	}
	out.Status = StatusIncluded
	out.InclusionProof = p
	out.Checkpoint = string(cp.Note)
	return out, nil
}

// InclusionProof returns the proof that leaf index is in the tree of size
// treeSize.
func (s *Log) InclusionProof(ctx context.Context, index, treeSize int64) (*InclusionProof, error) {
	if ns := s.nodeStore(); ns != nil {
		if h, ok := ns.inclusion(uint64(index), uint64(treeSize)); ok {
			return &InclusionProof{LeafIndex: index, TreeSize: treeSize, Hashes: b64s(h)}, nil
		}
	}
	resp, err := s.tclient.GetInclusionProof(ctx, &trillian.GetInclusionProofRequest{LogId: s.treeID, LeafIndex: index, TreeSize: treeSize})
	if err != nil {
		return nil, trillianErr("GetInclusionProof", err)
	}
	return &InclusionProof{LeafIndex: index, TreeSize: treeSize, Hashes: b64s(resp.GetProof().GetHashes())}, nil
}

// ConsistencyProof returns the proof that the tree of size from is a prefix
// of the tree of size to. Both must be published sizes' range: 1 ≤ from ≤ to
// ≤ the latest checkpoint's size.
func (s *Log) ConsistencyProof(ctx context.Context, from, to int64) (*ConsistencyProof, error) {
	cp := s.Published()
	if cp == nil {
		return nil, errNoCheckpoint
	}
	if from < 1 || from > to || uint64(to) > cp.Size {
		return nil, invalidf("need 1 ≤ from ≤ to ≤ %d (the latest checkpoint's size)", cp.Size)
	}
	if from == to {
		return &ConsistencyProof{From: from, To: to, Hashes: []string{}}, nil
	}
	if ns := s.nodeStore(); ns != nil {
		if h, ok := ns.consistency(uint64(from), uint64(to)); ok {
			return &ConsistencyProof{From: from, To: to, Hashes: b64s(h)}, nil
		}
	}
	resp, err := s.tclient.GetConsistencyProof(ctx, &trillian.GetConsistencyProofRequest{LogId: s.treeID, FirstTreeSize: from, SecondTreeSize: to})
	if err != nil {
		return nil, trillianErr("GetConsistencyProof", err)
	}
	return &ConsistencyProof{From: from, To: to, Hashes: b64s(resp.GetProof().GetHashes())}, nil
}

func b64s(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

func latestRoot(ctx context.Context, c trillian.TrillianLogClient, treeID int64) (*types.LogRootV1, error) {
	resp, err := c.GetLatestSignedLogRoot(ctx, &trillian.GetLatestSignedLogRootRequest{LogId: treeID})
	if err != nil {
		return nil, err
	}
	var root types.LogRootV1
	if err := root.UnmarshalBinary(resp.GetSignedLogRoot().GetLogRoot()); err != nil {
		return nil, err
	}
	return &root, nil
}

// EntryByID returns an entry by its id (64 hex digits), proven against the
// latest checkpoint when it is included.
func (s *Log) EntryByID(ctx context.Context, id string) (*Entry, error) {
	e, err := s.storedEntry(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.entryAsKnown(ctx, e)
}

// storedEntry reads an entry by its id (64 hex digits), with the API's
// errors for a malformed or unknown id.
func (s *Log) storedEntry(ctx context.Context, id string) (*storage.Entry, error) {
	raw, err := statement.DecodeHexDigest(id)
	if err != nil {
		return nil, invalidf("an entry id is 64 lowercase hex digits")
	}
	e, err := s.store.EntryByID(ctx, raw)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, notFoundf("no entry has id %s", id)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return e, nil
}

// EntryByIndex returns the entry at a leaf index.
func (s *Log) EntryByIndex(ctx context.Context, index int64) (*Entry, error) {
	e, err := s.store.EntryByIndex(ctx, index)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, notFoundf("no entry has leaf index %d", index)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return s.entryAsKnown(ctx, e)
}

// Entries returns up to count entries from start, without proofs. Only
// entries in the latest published checkpoint are listed.
func (s *Log) Entries(ctx context.Context, start, count int64) ([]*Entry, error) {
	cp := s.Published()
	if cp == nil {
		return []*Entry{}, nil
	}
	if end := int64(cp.Size); start+count > end {
		count = max(end-start, 0)
	}
	if count == 0 {
		return []*Entry{}, nil
	}
	es, err := s.store.EntriesRange(ctx, start, count)
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]*Entry, 0, len(es))
	for i := range es {
		e, err := entryBase(&es[i])
		if err != nil {
			return nil, err
		}
		e.Status = StatusIncluded
		out = append(out, e)
	}
	return out, nil
}

// InclusionProofByHash returns the inclusion proof of the first leaf with
// this leaf hash in the tree of size treeSize (0: the latest checkpoint).
func (s *Log) InclusionProofByHash(ctx context.Context, leafHash string, treeSize int64) (*InclusionProof, error) {
	raw, err := statement.DecodeHexDigest(leafHash)
	if err != nil {
		return nil, invalidf("leaf_hash must be 64 lowercase hex digits")
	}
	cp := s.Published()
	if cp == nil {
		return nil, errNoCheckpoint
	}
	if treeSize == 0 {
		treeSize = int64(cp.Size)
	}
	if treeSize < 1 || uint64(treeSize) > cp.Size {
		return nil, invalidf("tree_size must be between 1 and %d (the latest checkpoint's size)", cp.Size)
	}
	ns := s.nodeStore()
	if i, ok := ns.leafIndex(raw); ok {
		if int64(i) >= treeSize {
			return nil, notFoundf("leaf %s is not in the tree of size %d", leafHash, treeSize)
		}
		return s.InclusionProof(ctx, int64(i), treeSize)
	}
	if ns != nil && ns.size() >= cp.Size {
		// The store holds every published leaf: this hash is not one.
		return nil, notFoundf("no leaf in the tree of size %d has hash %s", treeSize, leafHash)
	}
	// No node store (or still loading): Trillian finds leaves by hash.
	resp, err := s.tclient.GetInclusionProofByHash(ctx, &trillian.GetInclusionProofByHashRequest{LogId: s.treeID, LeafHash: raw, TreeSize: treeSize})
	if status.Code(err) == codes.NotFound || (err == nil && len(resp.GetProof()) == 0) {
		return nil, notFoundf("no leaf in the tree of size %d has hash %s", treeSize, leafHash)
	}
	if err != nil {
		return nil, trillianErr("GetInclusionProofByHash", err)
	}
	p := resp.GetProof()[0]
	return &InclusionProof{LeafIndex: p.GetLeafIndex(), TreeSize: treeSize, Hashes: b64s(p.GetHashes())}, nil
}

// storeReader gives statement checks read access to logged entries.
type storeReader struct {
	st interface {
		EntriesByRef(ctx context.Context, ref string) ([]storage.Entry, error)
	}
	reg *statement.Registry
}

// Reader gives read access to logged entries by index reference.
func (s *Log) Reader() statement.Reader { return storeReader{st: s.store, reg: s.reg} }

func (r storeReader) EntriesByRef(ctx context.Context, ref string) ([]statement.Logged, error) {
	es, err := r.st.EntriesByRef(ctx, ref)
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]statement.Logged, 0, len(es))
	for _, e := range es {
		leaf, env, err := envelope.ParseLeaf(e.Leaf)
		if err != nil {
			return nil, err
		}
		var st statement.Statement
		if r.reg != nil {
			if _, st, err = r.reg.ParseFor(env.PayloadType, env.PayloadBytes); err != nil {
				return nil, err
			}
		}
		out = append(out, statement.Logged{ID: hex.EncodeToString(e.ID), LeafIndex: e.LeafIndex, PrincipalID: e.PrincipalID, Statement: st, ReceivedAt: statement.ParseReceivedAt(leaf.ReceivedAt)})
	}
	return out, nil
}

// EntriesByDigest returns every included entry indexed under a document
// digest (statement.Digest's reference), proven against the latest
// checkpoint.
func (s *Log) EntriesByDigest(ctx context.Context, sha string) ([]*Entry, *Published, error) {
	if !statement.IsHexDigest(sha) {
		return nil, nil, invalidf("sha256 must be 64 lowercase hex digits")
	}
	cp := s.Published()
	if cp == nil {
		return nil, nil, errNoCheckpoint
	}
	es, err := s.store.EntriesByRef(ctx, (&statement.Digest{SHA256: sha}).Ref())
	if err != nil {
		return nil, nil, unavailable(err)
	}
	out := []*Entry{}
	for i := range es {
		if uint64(es[i].LeafIndex) >= cp.Size {
			continue
		}
		e, err := s.entryWithProof(ctx, &es[i], cp)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, nil, notFoundf("no entry in the log notarizes the digest %s", sha)
	}
	return out, cp, nil
}

// ProvenEntry is an included entry with its parsed statement.
type ProvenEntry struct {
	*Entry
	PrincipalID string
	Statement   statement.Statement
}

// Proven returns every entry indexed under any of refs that the latest
// checkpoint includes, once each, in log order, each proven against that
// checkpoint, with its parsed statement. Entries not yet in a checkpoint are
// left out, so the answer is one consistent view of the log.
func (s *Log) Proven(ctx context.Context, refs ...string) ([]ProvenEntry, *Published, error) {
	cp := s.Published()
	if cp == nil {
		return nil, nil, errNoCheckpoint
	}
	seen := map[int64]bool{}
	var es []storage.Entry
	for _, ref := range refs {
		got, err := s.store.EntriesByRef(ctx, ref)
		if err != nil {
			return nil, nil, unavailable(err)
		}
		for _, e := range got {
			if !seen[e.LeafIndex] && uint64(e.LeafIndex) < cp.Size {
				seen[e.LeafIndex] = true
				es = append(es, e)
			}
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].LeafIndex < es[j].LeafIndex })
	out := make([]ProvenEntry, 0, len(es))
	for i := range es {
		e, err := s.entryWithProof(ctx, &es[i], cp)
		if err != nil {
			return nil, nil, err
		}
		_, env, err := envelope.ParseLeaf(es[i].Leaf)
		if err != nil {
			return nil, nil, err
		}
		_, st, err := s.reg.ParseFor(env.PayloadType, env.PayloadBytes)
		if err != nil {
			return nil, nil, fmt.Errorf("entry %d no longer parses: %w", es[i].LeafIndex, err)
		}
		out = append(out, ProvenEntry{Entry: e, PrincipalID: es[i].PrincipalID, Statement: st})
	}
	return out, cp, nil
}

// LoggedByRef returns every entry under refs, once each, in log order, with
// its parsed statement: everything in the log's order, included in a
// checkpoint or not.
func (s *Log) LoggedByRef(ctx context.Context, refs ...string) ([]statement.Logged, error) {
	r := s.Reader()
	seen := map[int64]bool{}
	var out []statement.Logged
	for _, ref := range refs {
		es, err := r.EntriesByRef(ctx, ref)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if !seen[e.LeafIndex] {
				seen[e.LeafIndex] = true
				out = append(out, e)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LeafIndex < out[j].LeafIndex })
	return out, nil
}

// IncludedByRef is LoggedByRef limited to the entries the latest published
// checkpoint includes, without proofs, and that checkpoint.
func (s *Log) IncludedByRef(ctx context.Context, refs ...string) ([]statement.Logged, *Published, error) {
	cp := s.Published()
	if cp == nil {
		return nil, nil, errNoCheckpoint
	}
	all, err := s.LoggedByRef(ctx, refs...)
	if err != nil {
		return nil, nil, err
	}
	out := all[:0]
	for _, e := range all {
		if uint64(e.LeafIndex) < cp.Size {
			out = append(out, e)
		}
	}
	return out, cp, nil
}

// Statement returns an entry's parsed statement.
func (s *Log) Statement(e *Entry) (statement.Statement, error) {
	payload, err := envelope.DecodeB64(e.Envelope.Payload)
	if err != nil {
		return nil, err
	}
	_, st, err := s.reg.ParseFor(e.Envelope.PayloadType, payload)
	return st, err
}

// EntriesByRef returns every entry indexed under ref, in log order, as far
// as known and without proofs: included in a checkpoint or not.
func (s *Log) EntriesByRef(ctx context.Context, ref string) ([]*Entry, error) {
	es, err := s.store.EntriesByRef(ctx, ref)
	if err != nil {
		return nil, unavailable(err)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].LeafIndex < es[j].LeafIndex })
	out := make([]*Entry, 0, len(es))
	for i := range es {
		e, err := entryBase(&es[i])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
