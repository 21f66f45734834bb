package personality_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/receipt"
)

func TestReceiptRoute(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	ctx := context.Background()
	info, err := client.New(srv.URL, "").Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := receipt.NewVerifier(info.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	site := srv.NewPrincipal(t, "St Mary's", "site")
	e, _, err := site.Client.Submit(ctx, site.Sign(testserver.DigestStatement("discharge summary")), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	// The receipt verifies with nothing but the log key, proves the entry
	// and names the key's principal.key entry.
	status, hdr, body := testserver.Request(t, http.MethodGet, srv.URL+"/v1/entries/"+e.ID+"/receipt", "", "", nil)
	if status != http.StatusOK || hdr.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("GET receipt: %d %s %s", status, hdr.Get("Content-Type"), body)
	}
	r, err := receipt.Parse(body)
	if err != nil {
		t.Fatalf("the served receipt does not parse: %v\n%s", err, body)
	}
	vr, err := v.Verify(r)
	if err != nil {
		t.Fatalf("the served receipt does not verify: %v", err)
	}
	if vr.EntryID != e.ID || int64(vr.LeafIndex) != e.LeafIndex || len(vr.Signers) != 1 ||
		vr.Signers[0].KeyID() != site.KeyIDs[0] || vr.Signers[0].KeyEntry != site.KeyEntries[0] {
		t.Fatalf("receipt proves %+v, want entry %s signed by key %s registered in %s", vr, e.ID, site.KeyIDs[0], site.KeyEntries[0])
	}
	// Checked independently of the receipt package, too.
	testserver.IndependentCheckpoint(t, info.PublicKey, r.Checkpoint)

	// The key entry it names is the principal.key registration of that key.
	ke, err := client.New(srv.URL, "").Entry(ctx, vr.Signers[0].KeyEntry)
	if err != nil {
		t.Fatal(err)
	}
	var pk struct {
		Type, Principal, KeyID, PublicKey string
	}
	json.Unmarshal(ke.Statement, &struct {
		Type      *string `json:"type"`
		Principal *string `json:"principal"`
		KeyID     *string `json:"key_id"`
		PublicKey *string `json:"public_key"`
	}{&pk.Type, &pk.Principal, &pk.KeyID, &pk.PublicKey})
	if pk.Type != "principal.key" || pk.Principal != site.ID || pk.KeyID != site.KeyIDs[0] {
		t.Fatalf("key entry %s holds %s", vr.Signers[0].KeyEntry, ke.Statement)
	}

	// trialogd's own entries are signed with the service key, which has no
	// key entry.
	status, _, body = testserver.Request(t, http.MethodGet, srv.URL+"/v1/entries/"+site.KeyEntries[0]+"/receipt", "", "", nil)
	if status != http.StatusOK {
		t.Fatalf("receipt of a principal.key entry: %d %s", status, body)
	}
	r, _ = receipt.Parse(body)
	vr, err = v.Verify(r)
	svc, _ := envelope.DecodeB64(info.ServiceKey)
	if err != nil || !ed25519.PublicKey(svc).Equal(vr.Signers[0].PublicKey) || vr.Signers[0].KeyEntry != "" {
		t.Fatalf("receipt of a service entry: %v %+v", err, vr)
	}

	for _, tc := range []struct {
		id     string
		status int
		code   string
	}{
		{strings.Repeat("ab", 32), http.StatusNotFound, "not_found"},
		{"nothex", http.StatusBadRequest, "invalid_argument"},
		{strings.ToUpper(e.ID), http.StatusBadRequest, "invalid_argument"},
	} {
		status, _, body := testserver.Request(t, http.MethodGet, srv.URL+"/v1/entries/"+tc.id+"/receipt", "", "", nil)
		var ae api.Error
		json.Unmarshal(body, &ae)
		if status != tc.status || ae.Error.Code != tc.code {
			t.Errorf("GET receipt of %s = %d %s, want %d %s", tc.id, status, body, tc.status, tc.code)
		}
	}
}

// TestReceiptRoutePending checks the answer for an entry that is logged
// but in no published checkpoint yet: 404 with Retry-After and a message
// saying so, until it is published.
func TestReceiptRoutePending(t *testing.T) {
	cfg := testserver.Config(t, testdb.DSN(t))
	cfg.SequencerInterval = time.Hour // nothing is integrated, so nothing new is published
	cfg.CheckpointInterval = time.Hour
	srv := testserver.Start(t, cfg)
	ctx := context.Background()
	site := srv.NewPrincipal(t, "St Mary's", "site")
	e, status, err := site.Client.Submit(ctx, site.Sign(testserver.DigestStatement("pending")), 0)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, err)
	}
	_, err = client.New(srv.URL, "").Receipt(ctx, e.ID)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Code != "not_found" ||
		!strings.Contains(ae.Message, "not yet in a published checkpoint") || ae.RetryAfter != time.Second {
		t.Fatalf("receipt of a pending entry: %#v", err)
	}
}
