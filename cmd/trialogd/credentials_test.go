package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/receipt"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// call sends a JSON request with token and decodes a 2xx answer into out;
// it returns the status and, for an error, the API error object.
func call(t *testing.T, method, u, token string, body any, out any) (int, api.ErrorBody) {
	t.Helper()
	var b []byte
	ct := ""
	if body != nil {
		b, _ = json.Marshal(body)
		ct = "application/json"
	}
	status, _, resp := testserver.Request(t, method, u, token, ct, b)
	if status >= 300 {
		var e api.Error
		if err := json.Unmarshal(resp, &e); err != nil || e.Error.Code == "" {
			t.Fatalf("%s %s: %d with a body that is not an API error: %s", method, u, status, resp)
		}
		return status, e.Error
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, u, err, resp)
		}
	}
	return status, api.ErrorBody{}
}

// leafStatement reads the leaf at index through GET /v1/log/leaves/{index}
// and decodes it by hand: the leaf bytes as JSON, the envelope's payload
// from base64, and the service key's signature over DSSE's PAE checked with
// crypto/ed25519 (no trialog code).
func leafStatement(t *testing.T, srv *testserver.Server, info *api.LogInfo, index int64) map[string]any {
	t.Helper()
	var e api.Entry
	if status, eb := call(t, http.MethodGet, srv.URL+"/v1/log/leaves/"+strconv.FormatInt(index, 10), "", nil, &e); status != http.StatusOK {
		t.Fatalf("leaf %d: %d %v", index, status, eb)
	}
	raw, err := base64.StdEncoding.DecodeString(e.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	var leaf struct {
		Envelope struct {
			PayloadType string `json:"payloadType"`
			Payload     string `json:"payload"`
			Signatures  []struct {
				KeyID string `json:"keyid"`
				Sig   string `json:"sig"`
			} `json:"signatures"`
		} `json:"envelope"`
		ReceivedAt string `json:"received_at"`
	}
	if err := json.Unmarshal(raw, &leaf); err != nil {
		t.Fatalf("leaf %d is not JSON: %v", index, err)
	}
	payload, err := base64.StdEncoding.DecodeString(leaf.Envelope.Payload)
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := base64.StdEncoding.DecodeString(info.ServiceKey)
	kid := sha256.Sum256(svc)
	sig, _ := base64.StdEncoding.DecodeString(leaf.Envelope.Signatures[0].Sig)
	pt := leaf.Envelope.PayloadType
	pae := "DSSEv1 " + strconv.Itoa(len(pt)) + " " + pt + " " + strconv.Itoa(len(payload)) + " " + string(payload)
	if len(leaf.Envelope.Signatures) != 1 || leaf.Envelope.Signatures[0].KeyID != hex.EncodeToString(kid[:]) || !ed25519.Verify(svc, []byte(pae), sig) {
		t.Fatalf("leaf %d is not signed by the service key alone", index)
	}
	var st map[string]any
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func wantFields(t *testing.T, what string, st map[string]any, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got, _ := st[k].(string); got != v {
			t.Fatalf("%s: %s = %q, want %q (statement %v)", what, k, got, v, st)
		}
	}
}

func newKey(t *testing.T) (ed25519.PrivateKey, string, string) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return priv, base64.StdEncoding.EncodeToString(pub), envelope.KeyID(pub)
}

func signWith(priv ed25519.PrivateKey, payload []byte) envelope.Envelope {
	return envelope.Sign(statement.PayloadType, payload, priv)
}

// fetchReceipt fetches and parses an entry's receipt.
func fetchReceipt(t *testing.T, srv *testserver.Server, id string) (*receipt.Receipt, []byte) {
	t.Helper()
	status, _, body := testserver.Request(t, http.MethodGet, srv.URL+"/v1/entries/"+id+"/receipt", "", "", nil)
	if status != http.StatusOK {
		t.Fatalf("receipt of %s: %d %s", id, status, body)
	}
	r, err := receipt.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	return r, body
}

// TestCredentials plays every call of the credentials table against a real
// trialogd: token rotation, key registration and revocation with receipts
// verified offline before and after, deactivation (of an API-created admin
// too), and the log entries each writes, read back independently.
func TestCredentials(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	ctx := context.Background()
	info, err := client.New(srv.URL, "").Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin := srv.AdminToken(t)
	site := srv.NewPrincipal(t, "St Mary's Hospital, site 12", "site")
	keyA := site.KeyIDs[0]
	base := srv.URL + "/v1/admin/principals/" + site.ID

	// Rotation: 201 with a new token; the old one is dead at once.
	var rot api.RotatedToken
	if status, eb := call(t, http.MethodPost, base+"/token", admin, struct{}{}, &rot); status != http.StatusCreated || !strings.HasPrefix(rot.Token, "tlg_") {
		t.Fatalf("rotate: %d %v", status, eb)
	}
	if _, _, err := site.Client.Submit(ctx, site.Sign(testserver.DigestStatement("old token")), 0); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Fatalf("old token after rotation: %v", err)
	}
	site.Client = client.New(srv.URL, rot.Token)
	// Only the new token's hash is stored, and only one.
	db := testdb.Open(t, srv.Config.MySQLDSN)
	var n int
	var h []byte
	if err := db.QueryRow(`SELECT COUNT(*), MAX(token_hash) FROM trialog_tokens WHERE principal_id = ?`, site.ID).Scan(&n, &h); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(rot.Token)); n != 1 || string(h) != string(sum[:]) {
		t.Fatalf("%d tokens stored, hash %x", n, h)
	}

	// A second key: 201, logged as principal.key, usable at once.
	privB, pubB, keyB := newKey(t)
	var added api.AddedKey
	if status, eb := call(t, http.MethodPost, base+"/keys?wait=10s", admin, api.NewKey{PublicKey: pubB}, &added); status != http.StatusCreated || added.KeyID != keyB {
		t.Fatalf("add key: %d %v %+v", status, eb, added)
	}
	testserver.VerifyEntry(t, info.PublicKey, added.Entry)
	wantFields(t, "principal.key", leafStatement(t, srv, info, added.Entry.LeafIndex),
		map[string]string{"type": "principal.key", "principal": site.ID, "key_id": keyB, "public_key": pubB, "role": "site", "name": site.Name})
	if _, status, err := site.Client.Submit(ctx, signWith(privB, testserver.DigestStatement("signed with B")), wait); err != nil || status != http.StatusCreated {
		t.Fatalf("submitting with the added key: %d %v", status, err)
	}
	// The same key again, or a malformed one: nothing logged.
	if status, eb := call(t, http.MethodPost, base+"/keys", admin, api.NewKey{PublicKey: pubB}, nil); status != http.StatusConflict {
		t.Fatalf("adding a registered key: %d %v", status, eb)
	}
	if status, eb := call(t, http.MethodPost, base+"/keys", admin, api.NewKey{PublicKey: "AAAA"}, nil); status != http.StatusBadRequest || !strings.Contains(eb.Message, "public_key") {
		t.Fatalf("adding a malformed key: %d %v", status, eb)
	}

	// Signed with A before its revocation: logged, receipt without a
	// revocation.
	before, status, err := site.Client.Submit(ctx, site.Sign(testserver.DigestStatement("before the revocation")), wait)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("submit before revocation: %d %v", status, err)
	}
	r0, _ := fetchReceipt(t, srv, before.ID)
	keyEntry, err := client.New(srv.URL, "").Entry(ctx, site.KeyEntries[0])
	if err != nil {
		t.Fatal(err)
	}
	if s := r0.Signers[0]; s.KeyEntry != site.KeyEntries[0] || s.KeyIndex == nil || *s.KeyIndex != keyEntry.LeafIndex || s.RevokedIndex != nil {
		t.Fatalf("receipt signer before the revocation: %+v (key entry at %d)", s, keyEntry.LeafIndex)
	}

	// Revocation of A: 200, logged as principal.key-revocation by the
	// service key; from its leaf on, A is refused (403).
	var rev api.RevokedKey
	if status, eb := call(t, http.MethodDelete, base+"/keys/"+keyA+"?wait=10s", admin, nil, &rev); status != http.StatusOK {
		t.Fatalf("revoke: %d %v", status, eb)
	}
	testserver.VerifyEntry(t, info.PublicKey, rev.Entry)
	revIndex := rev.Entry.LeafIndex
	wantFields(t, "principal.key-revocation", leafStatement(t, srv, info, revIndex),
		map[string]string{"type": "principal.key-revocation", "principal": site.ID, "key_id": keyA, "key_entry": site.KeyEntries[0], "reason": "key-revoked"})
	_, status, err = site.Client.Submit(ctx, site.Sign(testserver.DigestStatement("after the revocation")), wait)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Code != "permission_denied" || !strings.Contains(ae.Message, "revoked from leaf "+strconv.FormatInt(revIndex, 10)) {
		t.Fatalf("submit after revocation: %d %v", status, err)
	}
	res, err := site.Client.SubmitBatch(ctx, []json.RawMessage{mustJSON(t, site.Sign(testserver.DigestStatement("batch A"))), mustJSON(t, signWith(privB, testserver.DigestStatement("batch B")))}, wait)
	if err != nil || res[0].Error == nil || res[0].Error.Code != "permission_denied" || res[1].Error != nil {
		t.Fatalf("batch after revocation: %v %+v", err, res)
	}
	// Revoking again answers the same revocation; unknown keys are 404.
	var again api.RevokedKey
	if status, _ := call(t, http.MethodDelete, base+"/keys/"+keyA, admin, nil, &again); status != http.StatusOK || again.Entry.ID != rev.Entry.ID {
		t.Fatalf("second revocation: %d %+v", status, again.Entry)
	}
	other := srv.NewPrincipal(t, "Other site", "site")
	for _, tc := range []struct {
		path   string
		status int
	}{
		{base + "/keys/" + other.KeyIDs[0], http.StatusNotFound}, // someone else's key
		{base + "/keys/" + strings.Repeat("0", 64), http.StatusNotFound},
		{base + "/keys/ABC", http.StatusBadRequest},
		{srv.URL + "/v1/admin/principals/pr_000000000000000000000000/keys/" + keyB, http.StatusNotFound},
	} {
		if status, eb := call(t, http.MethodDelete, tc.path, admin, nil, nil); status != tc.status {
			t.Fatalf("DELETE %s: %d %v, want %d", tc.path, status, eb, tc.status)
		}
	}

	// The receipt of the entry signed before the revocation now says when
	// the key stopped counting, and verifies offline; moved to a leaf at
	// or after the revocation, it is refused.
	r1, raw := fetchReceipt(t, srv, before.ID)
	if s := r1.Signers[0]; s.RevokedIndex == nil || *s.RevokedIndex != revIndex {
		t.Fatalf("receipt signer after the revocation: %+v", s)
	}
	if !strings.Contains(string(raw), " registered "+strconv.FormatInt(keyEntry.LeafIndex, 10)+" revoked "+strconv.FormatInt(revIndex, 10)+"\n") {
		t.Fatalf("receipt signer line:\n%s", raw)
	}
	v, err := receipt.NewVerifier(info.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	vr, err := v.Verify(r1)
	if err != nil || vr.LeafIndex != uint64(before.LeafIndex) || len(vr.Revocations()) != 1 {
		t.Fatalf("receipt of an entry signed before the revocation: %v", err)
	}
	forged := *r1
	forged.Signers = []receipt.Signer{r1.Signers[0]}
	forged.Signers[0].RevokedIndex = receipt.Index(before.LeafIndex)
	var re *receipt.Error
	if _, err := v.Verify(&forged); !errors.As(err, &re) || re.Check != receipt.CheckRevocation {
		t.Fatalf("a receipt revoked at its own leaf: %v", err)
	}

	// Deactivation: every key left (B) revoked, one entry each, and the
	// token dead; a second deactivation logs nothing.
	var deact api.Deactivated
	if status, eb := call(t, http.MethodDelete, base+"?wait=10s", admin, nil, &deact); status != http.StatusOK || len(deact.Entries) != 1 {
		t.Fatalf("deactivate: %d %v %d entries", status, eb, len(deact.Entries))
	}
	testserver.VerifyEntry(t, info.PublicKey, deact.Entries[0])
	wantFields(t, "deactivation", leafStatement(t, srv, info, deact.Entries[0].LeafIndex),
		map[string]string{"type": "principal.key-revocation", "principal": site.ID, "key_id": keyB, "key_entry": added.Entry.ID, "reason": "principal-deactivated"})
	if _, _, err := site.Client.Submit(ctx, signWith(privB, testserver.DigestStatement("deactivated")), 0); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Fatalf("token of a deactivated principal: %v", err)
	}
	if status, _ := call(t, http.MethodDelete, base, admin, nil, &deact); status != http.StatusOK || len(deact.Entries) != 0 {
		t.Fatalf("second deactivation: %d, %d entries", status, len(deact.Entries))
	}
	for _, tc := range []struct{ method, path string }{{http.MethodPost, base + "/token"}, {http.MethodPost, base + "/keys"}} {
		_, pub, _ := newKey(t)
		if status, eb := call(t, tc.method, tc.path, admin, api.NewKey{PublicKey: pub}, nil); status != http.StatusConflict || !strings.Contains(eb.Message, "deactivated") {
			if tc.path == base+"/token" && status == http.StatusBadRequest {
				continue // the token body is {}: a key is an unknown field
			}
			t.Fatalf("%s %s on a deactivated principal: %d %v", tc.method, tc.path, status, eb)
		}
	}
	if status, eb := call(t, http.MethodPost, base+"/token", admin, struct{}{}, nil); status != http.StatusConflict {
		t.Fatalf("rotating a deactivated principal's token: %d %v", status, eb)
	}

	// An admin made through the API can be deactivated like any other; the
	// bootstrap admin (the token file's) cannot, and keeps working.
	admin2 := srv.NewPrincipal(t, "Second administrator", "admin")
	made, err := admin2.Client.CreatePrincipal(ctx, api.NewPrincipal{Name: "Made by admin2", Role: "regulator"})
	if err != nil {
		t.Fatalf("admin2 creating a principal: %v", err)
	}
	// A principal without keys is deactivated without an entry.
	if status, eb := call(t, http.MethodDelete, srv.URL+"/v1/admin/principals/"+made.ID, admin, nil, &deact); status != http.StatusOK || len(deact.Entries) != 0 {
		t.Fatalf("deactivating a keyless principal: %d %v %d entries", status, eb, len(deact.Entries))
	}
	if _, err := client.New(srv.URL, made.Token).Leaves(ctx, 0, 1); err != nil {
		t.Fatal(err) // public: works without a valid token
	}
	if status, _ := call(t, http.MethodPost, srv.URL+"/v1/consent/check", made.Token, map[string]string{"trial_id": "NCT01234567", "subject": "sub_x", "purpose": "p"}, nil); status != http.StatusUnauthorized {
		t.Fatalf("deactivated regulator's token: %d", status)
	}
	if status, eb := call(t, http.MethodDelete, srv.URL+"/v1/admin/principals/"+admin2.ID, admin, nil, &deact); status != http.StatusOK || len(deact.Entries) != 1 {
		t.Fatalf("deactivating admin2: %d %v", status, eb)
	}
	if _, err := admin2.Client.CreatePrincipal(ctx, api.NewPrincipal{Name: "Made after", Role: "regulator"}); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Fatalf("deactivated admin2: %v", err)
	}
	for _, p := range []string{"/v1/admin/principals/admin", "/v1/admin/principals/admin/token"} {
		method := http.MethodDelete
		var body any
		if strings.HasSuffix(p, "/token") {
			method, body = http.MethodPost, struct{}{}
		}
		if status, eb := call(t, method, srv.URL+p, admin, body, nil); status != http.StatusConflict || !strings.Contains(eb.Message, "admin.token") {
			t.Fatalf("%s %s: %d %v", method, p, status, eb)
		}
	}
	if _, err := client.New(srv.URL, admin).CreatePrincipal(ctx, api.NewPrincipal{Name: "Still admin", Role: "regulator"}); err != nil {
		t.Fatalf("bootstrap admin after the refusals: %v", err)
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCredentialsAuthorization: only admins may call the credential
// routes; no token is 401, a non-admin's is 403, whatever the role, and
// nothing changes.
func TestCredentialsAuthorization(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	victim := srv.NewPrincipal(t, "Victim site", "site")
	callers := map[string]string{"none": ""}
	for _, role := range []string{"sponsor", "site", "regulator", "data-user"} {
		callers[role] = srv.NewPrincipal(t, "Caller "+role, role).Token
	}
	callers["the victim itself"] = victim.Token
	var before int64
	if err := testdb.Open(t, srv.Config.MySQLDSN).QueryRow(`SELECT next_index FROM trialog_log`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	_, pub, _ := newKey(t)
	base := srv.URL + "/v1/admin/principals/" + victim.ID
	routes := []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, base + "/token", struct{}{}},
		{http.MethodPost, base + "/keys", api.NewKey{PublicKey: pub}},
		{http.MethodDelete, base + "/keys/" + victim.KeyIDs[0], nil},
		{http.MethodDelete, base, nil},
	}
	for who, tok := range callers {
		for _, rt := range routes {
			status, eb := call(t, rt.method, rt.path, tok, rt.body, nil)
			want := http.StatusForbidden
			if tok == "" {
				want = http.StatusUnauthorized
			}
			if status != want {
				t.Fatalf("%s: %s %s = %d %v, want %d", who, rt.method, rt.path, status, eb, want)
			}
		}
	}
	// Nothing changed: the victim's token and key still work, and the
	// first thing logged since is the victim's own statement.
	e, status, err := victim.Client.Submit(context.Background(), victim.Sign(testserver.DigestStatement("still here")), wait)
	if err != nil || status != http.StatusCreated || e.LeafIndex != before {
		t.Fatalf("victim after the refused calls: %d %v (leaf %d, log was %d)", status, err, e.LeafIndex, before)
	}
}

// TestUndelegate: only the trial's owner withdraws a delegation; the
// revocation is logged by the service key; the withdrawn delegate's trial
// statements are refused from then on and what it logged before stays.
func TestUndelegate(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	info, _ := client.New(srv.URL, "").Log(context.Background())
	owner := srv.NewPrincipal(t, "Owner", "sponsor")
	site := srv.NewPrincipal(t, "Site", "site")
	otherSponsor := srv.NewPrincipal(t, "Other sponsor", "sponsor")
	const trial = "ISRCTN94000002"
	mustSubmit(t, owner, registrationJSON(trial, "2026-01-01T00:00:00Z"))
	status, deleg, _ := delegate(t, srv, trial, owner.Token, site.ID)
	if status != http.StatusCreated {
		t.Fatalf("delegate: %d", status)
	}
	milestone := func(event string) []byte {
		return []byte(`{"type":"trial.milestone","trial_id":"` + trial + `","issued_at":"2026-01-02T00:00:00Z","event":"` + event + `","at":"2026-01-02T00:00:00Z"}`)
	}
	early := mustSubmit(t, site, milestone("first_participant_in"))
	mint := func() int {
		status, _ := call(t, http.MethodPost, srv.URL+"/v1/consent/subjects", site.Token, map[string]string{"trial_id": trial}, nil)
		return status
	}
	if status := mint(); status >= 300 {
		t.Fatalf("delegated site minting a consent subject: %d", status)
	}

	path := srv.URL + "/v1/trials/" + url.PathEscape(trial) + "/delegates/" + site.ID
	for who, tok := range map[string]string{"the delegate": site.Token, "another sponsor": otherSponsor.Token, "the admin": srv.AdminToken(t)} {
		if status, eb := call(t, http.MethodDelete, path, tok, nil, nil); status != http.StatusForbidden {
			t.Fatalf("%s withdrawing: %d %v", who, status, eb)
		}
	}
	if status, _ := call(t, http.MethodDelete, path, "", nil, nil); status != http.StatusUnauthorized {
		t.Fatalf("no token: %d", status)
	}
	var rev api.RevokedKey
	if status, eb := call(t, http.MethodDelete, path+"?wait=10s", owner.Token, nil, &rev); status != http.StatusOK {
		t.Fatalf("owner withdrawing: %d %v", status, eb)
	}
	testserver.VerifyEntry(t, info.PublicKey, rev.Entry)
	wantFields(t, "trial.delegation-revocation", leafStatement(t, srv, info, rev.Entry.LeafIndex),
		map[string]string{"type": "trial.delegation-revocation", "trial_id": trial, "principal": site.ID, "revoked_by": owner.ID, "delegation": deleg.ID})

	if status, _, err := submitStatement(t, site, milestone("database_lock")); status != http.StatusForbidden {
		t.Fatalf("withdrawn delegate submitting: %d %v", status, err)
	}
	if status := mint(); status != http.StatusForbidden {
		t.Fatalf("withdrawn site minting a consent subject: %d", status)
	}
	var tl api.TrialTimeline
	trialGet(t, srv, trial, "", &tl)
	verifyTimeline(t, info.PublicKey, tl)
	found := false
	for _, e := range tl.Entries {
		found = found || e.ID == early.ID
	}
	if len(tl.Delegates) != 0 || !found {
		t.Fatalf("timeline after withdrawal: delegates %v, early entry kept %v", tl.Delegates, found)
	}
	// Again: the same revocation; a principal never delegated: 404.
	var again api.RevokedKey
	if status, _ := call(t, http.MethodDelete, path, owner.Token, nil, &again); status != http.StatusOK || again.Entry.ID != rev.Entry.ID {
		t.Fatalf("withdrawing again: %d", status)
	}
	if status, _ := call(t, http.MethodDelete, srv.URL+"/v1/trials/"+trial+"/delegates/"+otherSponsor.ID, owner.Token, nil, nil); status != http.StatusNotFound {
		t.Fatalf("withdrawing a non-delegate: %d", status)
	}
	// Delegated again: the delegate writes again.
	if status, _, _ := delegate(t, srv, trial, owner.Token, site.ID); status != http.StatusCreated {
		t.Fatalf("delegating again: %d", status)
	}
	mustSubmit(t, site, milestone("database_lock"))
}

// TestPrincipalNames: names with control characters or e-mail addresses
// are refused with a reason, and nothing is logged.
func TestPrincipalNames(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	admin := srv.AdminToken(t)
	_, pub, _ := newKey(t)
	for _, tc := range []struct{ name, msg string }{
		{"Site\x0012", "control"},
		{"Site\n12", "control"},
		{"Site\u200b12", "control"},
		{"Dr Jane Roe <jane.roe@st-mary.example>", "e-mail"},
		{"jane.roe@st-mary.example", "e-mail"},
	} {
		status, eb := call(t, http.MethodPost, srv.URL+"/v1/admin/principals", admin, api.NewPrincipal{Name: tc.name, Role: "site", PublicKeys: []string{pub}}, nil)
		if status != http.StatusBadRequest || !strings.Contains(eb.Message, tc.msg) || !strings.Contains(eb.Message, "logged for ever") {
			t.Fatalf("name %q: %d %v", tc.name, status, eb)
		}
	}
	if size := testserver.ReadLog(t, srv.URL).Size; size != 0 {
		t.Fatalf("refused names logged %d entries", size)
	}
	var ok api.CreatedPrincipal
	if status, eb := call(t, http.MethodPost, srv.URL+"/v1/admin/principals", admin, api.NewPrincipal{Name: "Hôpital Saint-Louis @ Paris", Role: "site", PublicKeys: []string{pub}}, &ok); status != http.StatusCreated {
		t.Fatalf("a name with an @ but no address: %d %v", status, eb)
	}
}

// TestPrincipalCreationAtomic makes the store of a principal fail after its
// key entries are prepared, by a real MariaDB condition (a name that the
// column's latin1 character set cannot hold, in strict mode): nothing is
// logged, retries log nothing either, and once the column can hold the
// name, one retry logs the key exactly once.
func TestPrincipalCreationAtomic(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	admin := srv.AdminToken(t)
	db := testdb.Open(t, srv.Config.MySQLDSN)
	if _, err := db.Exec(`ALTER TABLE trialog_principals MODIFY name VARCHAR(200) CHARACTER SET latin1 NOT NULL`); err != nil {
		t.Fatal(err)
	}
	_, pub, kid := newKey(t)
	np := api.NewPrincipal{Name: "東京大学病院 site 3", Role: "site", PublicKeys: []string{pub}}
	next := func() int64 {
		var n int64
		if err := db.QueryRow(`SELECT next_index FROM trialog_log`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	start := next()
	for range 3 {
		status, eb := call(t, http.MethodPost, srv.URL+"/v1/admin/principals", admin, np, nil)
		if status != http.StatusServiceUnavailable {
			t.Fatalf("store failure: %d %v", status, eb)
		}
		if n := next(); n != start {
			t.Fatalf("a failed creation logged %d entries", n-start)
		}
	}
	var keys int
	db.QueryRow(`SELECT COUNT(*) FROM trialog_keys`).Scan(&keys)
	if keys != 0 {
		t.Fatalf("%d keys stored by failed creations", keys)
	}
	if _, err := db.Exec(`ALTER TABLE trialog_principals MODIFY name VARCHAR(200) CHARACTER SET utf8mb4 NOT NULL`); err != nil {
		t.Fatal(err)
	}
	var p api.CreatedPrincipal
	if status, eb := call(t, http.MethodPost, srv.URL+"/v1/admin/principals", admin, np, &p); status != http.StatusCreated {
		t.Fatalf("retry: %d %v", status, eb)
	}
	var refs int
	if err := db.QueryRow(`SELECT COUNT(*) FROM trialog_refs WHERE ref_hash = ?`, storage.RefKey("key:"+kid)).Scan(&refs); err != nil {
		t.Fatal(err)
	}
	if n := next(); n != start+1 || refs != 1 || len(p.KeyEntries) != 1 {
		t.Fatalf("after the retry: %d entries, %d principal.key entries for the key", n-start, refs)
	}
	var owner string
	var idx sql.NullInt64
	if err := db.QueryRow(`SELECT principal_id, entry_index FROM trialog_keys WHERE key_id = ?`, testserver.MustHex(t, kid)).Scan(&owner, &idx); err != nil || owner != p.ID || !idx.Valid || idx.Int64 != start {
		t.Fatalf("stored key: owner %s index %v, %v", owner, idx, err)
	}
}
