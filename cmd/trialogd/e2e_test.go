package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/statement"
)

func TestEndToEnd(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	ctx := context.Background()
	pub := client.New(srv.URL, "")
	info, err := pub.Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Origin != srv.Config.Origin || !strings.HasPrefix(info.PublicKey, srv.Config.Origin+"+") {
		t.Fatalf("log info %+v does not name origin %s", info, srv.Config.Origin)
	}
	// The empty tree's checkpoint is signed before anything is submitted.
	if _, size, _ := testserver.IndependentCheckpoint(t, info.PublicKey, []byte(info.Checkpoint)); size != 0 {
		t.Fatalf("first checkpoint has size %d, want 0", size)
	}

	sponsor := srv.NewPrincipal(t, "Acme Pharma", "sponsor")
	if len(sponsor.KeyEntries) != 1 || len(sponsor.KeyIDs) != 1 {
		t.Fatalf("principal creation logged %d key entries for %d keys", len(sponsor.KeyEntries), len(sponsor.KeyIDs))
	}

	// Submit with wait: 201, included, proven; checked with x/mod's tlog.
	env := sponsor.Sign(testserver.DigestStatement("protocol v1"))
	e, status, err := sponsor.Client.Submit(ctx, env, 10*time.Second)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("submit: status %d, %v", status, err)
	}
	size1, root1 := testserver.VerifyEntry(t, info.PublicKey, e)
	var st map[string]any
	if err := json.Unmarshal(e.Statement, &st); err != nil || st["type"] != "record.digest" {
		t.Fatalf("statement not returned decoded: %s", e.Statement)
	}

	// The principal.key entry is in the log, signed with the service key.
	ke, err := pub.Entry(ctx, sponsor.KeyEntries[0])
	if err != nil {
		t.Fatal(err)
	}
	testserver.VerifyEntry(t, info.PublicKey, ke)
	kp, err := envelope.Check(ke.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	svcKey, _ := envelope.DecodeB64(info.ServiceKey)
	if err := kp.VerifySignatures(map[string]ed25519.PublicKey{envelope.KeyID(svcKey): svcKey}); err != nil {
		t.Fatalf("principal.key entry is not signed by the service key: %v", err)
	}
	if !strings.Contains(string(kp.PayloadBytes), sponsor.KeyIDs[0]) || !strings.Contains(string(kp.PayloadBytes), sponsor.ID) {
		t.Fatalf("principal.key entry does not name the key and principal: %s", kp.PayloadBytes)
	}

	// The same envelope again: 200, same id and index, no new leaf.
	e2, status, err := sponsor.Client.Submit(ctx, env, 10*time.Second)
	if err != nil || status != http.StatusOK || e2.ID != e.ID || e2.LeafIndex != e.LeafIndex {
		t.Fatalf("resubmission: status %d id %s index %d (first %s %d), %v", status, e2.ID, e2.LeafIndex, e.ID, e.LeafIndex, err)
	}

	// Without wait: 202, then the entry becomes included.
	e3, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("sap v1")), 0)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("submit without wait: %d %v", status, err)
	}
	var got *api.Entry
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, err = pub.Entry(ctx, e3.ID); err == nil && got.Status == "included" {
			break
		}
	}
	if got == nil || got.Status != "included" {
		t.Fatalf("entry %s never included", e3.ID)
	}
	size2, root2 := testserver.VerifyEntry(t, info.PublicKey, got)
	testserver.CheckConsistency(t, srv.URL, size2, root2, size1, root1)

	// The same entry by leaf index, and its proof by leaf hash.
	byIdx, err := pub.Leaf(ctx, got.LeafIndex)
	if err != nil || byIdx.ID != got.ID || byIdx.Leaf != got.Leaf {
		t.Fatalf("leaf %d: %v", got.LeafIndex, err)
	}
	ip, err := pub.InclusionProof(ctx, got.LeafHash, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lh tlog.Hash
	copy(lh[:], testserver.MustHex(t, got.LeafHash))
	if err := tlog.CheckRecord(testserver.DecodeProof(t, ip.Hashes), size2, root2, ip.LeafIndex, lh); err != nil {
		t.Fatalf("inclusion proof by hash: %v", err)
	}

	// Batch: one bad envelope fails alone.
	good := sponsor.Sign(testserver.DigestStatement("dataset manifest"))
	bad := sponsor.Sign(testserver.DigestStatement("tampered"))
	bad.Payload = envelope.Sign(statement.PayloadType, testserver.DigestStatement("other"), sponsor.Priv).Payload
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	huge := json.RawMessage(`{"payloadType":"` + strings.Repeat("x", 1<<20) + `"}`)
	res, err := sponsor.Client.SubmitBatch(ctx, []json.RawMessage{raw(good), raw(bad), raw(env), huge}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Entry == nil || res[0].Status != http.StatusCreated {
		t.Fatalf("batch[0] = %+v, want a new entry", res[0])
	}
	testserver.VerifyEntry(t, info.PublicKey, res[0].Entry)
	if res[1].Error == nil || res[1].Error.Code != "invalid_argument" || !strings.Contains(res[1].Error.Message, "does not verify") {
		t.Fatalf("batch[1] = %+v %+v, want a signature error", res[1], res[1].Error)
	}
	if res[2].Entry == nil || res[2].Status != http.StatusOK || res[2].Entry.ID != e.ID {
		t.Fatalf("batch[2] = %+v, want the earlier entry", res[2])
	}
	if res[3].Error == nil || res[3].Status != http.StatusRequestEntityTooLarge || res[3].Error.Code != "too_large" {
		t.Fatalf("batch[3] = %+v, want too_large for an envelope over 1 MiB", res[3])
	}

	// Leaves in order, for monitors.
	latest, _ := pub.Log(ctx)
	leaves, err := pub.Leaves(ctx, 0, 1000)
	if err != nil || int64(len(leaves)) != int64(latest.TreeSize) {
		t.Fatalf("leaves: %d for tree size %d, %v", len(leaves), latest.TreeSize, err)
	}
	for i, l := range leaves {
		if l.LeafIndex != int64(i) {
			t.Fatalf("leaves[%d] has index %d", i, l.LeafIndex)
		}
	}

	// records/verify finds the digest, proven.
	sum := testserver.DigestOf("protocol v1")
	vr, err := pub.VerifyRecord(ctx, sum)
	if err != nil || len(vr.Entries) != 1 || vr.Entries[0].ID != e.ID {
		t.Fatalf("records/verify: %+v %v", vr, err)
	}
	testserver.VerifyEntry(t, info.PublicKey, vr.Entries[0])
	if _, err := pub.VerifyRecord(ctx, testserver.DigestOf("never notarized")); !client.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("records/verify of an unknown digest: %v, want 404", err)
	}

	// Operations endpoints.
	status, _, body := testserver.Request(t, http.MethodGet, srv.URL+"/metrics", "", "", nil)
	for _, m := range []string{"trialog_submissions_total", "trialog_tree_size", "trialog_checkpoint_age_seconds", "trialog_http_request_duration_seconds", "trialog_checkpoint_guard_failing 0"} {
		if status != http.StatusOK || !strings.Contains(string(body), m) {
			t.Fatalf("/metrics lacks %s", m)
		}
	}
	if status, _, _ := testserver.Request(t, http.MethodGet, srv.URL+"/healthz", "", "", nil); status != http.StatusOK {
		t.Fatalf("/healthz = %d", status)
	}
	status, hdr, body := testserver.Request(t, http.MethodGet, srv.URL+"/v1/checkpoint", "", "", nil)
	if status != http.StatusOK || hdr.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("/v1/checkpoint: %d %s", status, hdr.Get("Content-Type"))
	}
	testserver.IndependentCheckpoint(t, info.PublicKey, body)
}

func TestBadInputChangesNothing(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	ctx := context.Background()
	sponsor := srv.NewPrincipal(t, "Sponsor", "sponsor")
	other := srv.NewPrincipal(t, "Other sponsor", "sponsor")
	regulator := srv.NewPrincipal(t, "Regulator", "regulator")
	// Let the principal.key entries settle into a checkpoint.
	if _, _, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("settle")), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	before, _ := client.New(srv.URL, "").Log(ctx)

	envJSON := func(e any) []byte { b, _ := json.Marshal(e); return b }
	valid := sponsor.Sign(testserver.DigestStatement("valid"))
	wrongSig := valid
	wrongSig.Signatures = []api.Signature{{KeyID: valid.Signatures[0].KeyID, Sig: sponsor.Sign(testserver.DigestStatement("x")).Signatures[0].Sig}}
	badSchema := sponsor.Sign([]byte(`{"type":"record.digest","digest":{"sha256":"abc"},"issued_at":"2026-11-23T14:00:00Z"}`))
	unknownType := sponsor.Sign([]byte(`{"type":"no.such.type","issued_at":"2026-11-23T14:00:00Z"}`))
	serviceOnly := sponsor.Sign([]byte(`{"type":"principal.key"}`))
	big := make([]byte, 1<<20+10)
	for i := range big {
		big[i] = ' '
	}
	url := srv.URL + "/v1/entries"
	for _, tc := range []struct {
		name        string
		token, ct   string
		body        []byte
		status      int
		code, inMsg string
	}{
		{"no token", "", "application/json", envJSON(valid), 401, "unauthenticated", "token"},
		{"unknown token", "tlg_nope", "application/json", envJSON(valid), 401, "unauthenticated", "not known"},
		{"wrong role", regulator.Token, "application/json", envJSON(valid), 403, "permission_denied", "regulator"},
		{"key of another principal", other.Token, "application/json", envJSON(valid), 403, "permission_denied", "not registered"},
		{"service-only type", sponsor.Token, "application/json", envJSON(serviceOnly), 403, "permission_denied", "trialogd"},
		{"bad signature", sponsor.Token, "application/json", envJSON(wrongSig), 400, "invalid_argument", "does not verify"},
		{"bad schema", sponsor.Token, "application/json", envJSON(badSchema), 400, "invalid_argument", "digest.sha256"},
		{"unknown type", sponsor.Token, "application/json", envJSON(unknownType), 400, "invalid_argument", "unknown statement type"},
		{"bad base64", sponsor.Token, "application/json", []byte(`{"payloadType":"application/vnd.trialog.statement+json","payload":"%%%","signatures":[]}`), 400, "invalid_argument", "base64"},
		{"not json", sponsor.Token, "application/json", []byte(`hello`), 400, "invalid_argument", "JSON"},
		{"not json media type", sponsor.Token, "text/plain", envJSON(valid), 415, "unsupported_media_type", "application/json"},
		{"too large", sponsor.Token, "application/json", big, 413, "too_large", "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := testserver.Request(t, http.MethodPost, url, tc.token, tc.ct, tc.body)
			var e api.Error
			json.Unmarshal(body, &e)
			if status != tc.status || e.Error.Code != tc.code || !strings.Contains(e.Error.Message, tc.inMsg) {
				t.Fatalf("got %d %s, want %d %s containing %q", status, body, tc.status, tc.code, tc.inMsg)
			}
		})
	}
	// Proof endpoints reject out-of-range arguments.
	for _, q := range []string{"/v1/proofs/consistency?from=0&to=1", "/v1/proofs/consistency?from=2&to=1", fmt.Sprintf("/v1/proofs/consistency?from=1&to=%d", before.TreeSize+1), "/v1/proofs/inclusion?leaf_hash=zz", "/v1/log/leaves?start=0&count=1001", "/v1/entries/not-hex"} {
		if status, _, _ := testserver.Request(t, http.MethodGet, srv.URL+q, "", "", nil); status != 400 {
			t.Errorf("GET %s = %d, want 400", q, status)
		}
	}
	if status, _, _ := testserver.Request(t, http.MethodGet, srv.URL+"/v1/entries/"+strings.Repeat("ab", 32), "", "", nil); status != 404 {
		t.Errorf("unknown entry = %d, want 404", status)
	}
	// Non-admins cannot create principals.
	if status, _, _ := testserver.Request(t, http.MethodPost, srv.URL+"/v1/admin/principals", sponsor.Token, "application/json", []byte(`{"name":"x","role":"admin","public_keys":[]}`)); status != 403 {
		t.Errorf("sponsor creating a principal = %d, want 403", status)
	}

	// Nothing was stored: no leaf exists beyond the checkpoint, and the next
	// entry logged takes the very next index, so none of the bad input took
	// one (the order is assigned in one sequence; a stored rejection would
	// show as a gap here, not after some sleep).
	if status, _, _ := testserver.Request(t, http.MethodGet, fmt.Sprintf("%s/v1/log/leaves/%d", srv.URL, before.TreeSize), "", "", nil); status != 404 {
		t.Fatalf("a leaf exists beyond the checkpoint after bad input")
	}
	next, _, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("after the bad input")), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if next.LeafIndex != int64(before.TreeSize) {
		t.Fatalf("bad input took leaf indices %d to %d", before.TreeSize, next.LeafIndex-1)
	}
	after, _ := client.New(srv.URL, "").Log(ctx)
	if after.TreeSize != before.TreeSize+1 {
		t.Fatalf("bad input changed the log: size %d→%d for one good entry", before.TreeSize, after.TreeSize)
	}
}

// TestWithoutNodeStore runs with the in-memory tree off: waiting
// submitters, proofs by leaf hash and consistency proofs all come from
// Trillian, and still verify independently.
func TestWithoutNodeStore(t *testing.T) {
	cfg := testserver.Config(t, testdb.DSN(t))
	cfg.NodeCacheLeaves = -1
	srv := testserver.Start(t, cfg)
	ctx := context.Background()
	sponsor := srv.NewPrincipal(t, "Sponsor", "sponsor")
	var first testserver.LogState
	for i := 0; i < 5; i++ {
		e, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("no store %d", i))), 10*time.Second)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("submit: %d %v", status, err)
		}
		size, root := testserver.VerifyEntry(t, testserver.ReadLog(t, srv.URL).VKey, e)
		if i == 0 {
			first = testserver.LogState{Size: size, Root: root}
		}
		p, err := sponsor.Client.InclusionProof(ctx, e.LeafHash, size)
		if err != nil || p.LeafIndex != e.LeafIndex {
			t.Fatalf("inclusion by hash: %+v %v", p, err)
		}
		var lh tlog.Hash
		copy(lh[:], testserver.MustHex(t, e.LeafHash))
		if err := tlog.CheckRecord(testserver.DecodeProof(t, p.Hashes), size, root, p.LeafIndex, lh); err != nil {
			t.Fatalf("inclusion by hash from Trillian: %v", err)
		}
	}
	last := testserver.ReadLog(t, srv.URL)
	testserver.CheckConsistency(t, srv.URL, last.Size, last.Root, first.Size, first.Root)
	if _, err := sponsor.Client.InclusionProof(ctx, strings.Repeat("ab", 32), 0); !client.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("unknown leaf hash: %v, want 404", err)
	}
}

// TestRateLimit: a principal over its rate gets 429 rate_limited with
// Retry-After and nothing is logged; another principal is not affected.
func TestRateLimit(t *testing.T) {
	cfg := testserver.Config(t, testdb.DSN(t))
	cfg.RateLimit, cfg.RateBurst = 0.2, 2
	srv := testserver.Start(t, cfg)
	a := srv.NewPrincipal(t, "Busy sponsor", "sponsor")
	b := srv.NewPrincipal(t, "Other sponsor", "sponsor")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, _, err := a.Client.Submit(ctx, a.Sign(testserver.DigestStatement(fmt.Sprintf("burst %d", i))), 0); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	body, _ := testserver.JSON(a.Sign(testserver.DigestStatement("over the rate")))
	status, hdr, resp := testserver.Request(t, http.MethodPost, srv.URL+"/v1/entries", a.Token, "application/json", body)
	var e api.Error
	json.Unmarshal(resp, &e)
	if status != http.StatusTooManyRequests || e.Error.Code != "rate_limited" || hdr.Get("Retry-After") == "" {
		t.Fatalf("over the rate: %d %s (Retry-After %q), want 429 rate_limited with Retry-After", status, resp, hdr.Get("Retry-After"))
	}
	if _, err := a.Client.Entry(ctx, mustEntryID(t, body)); !client.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("a refused submission was logged: %v", err)
	}
	if _, _, err := b.Client.Submit(ctx, b.Sign(testserver.DigestStatement("other principal")), 0); err != nil {
		t.Fatalf("another principal was limited too: %v", err)
	}
}

func mustEntryID(t *testing.T, envJSON []byte) string {
	t.Helper()
	p, err := envelope.Parse(envJSON)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}
