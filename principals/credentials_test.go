package principals

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/trialog/trialog/api"
)

// TestCredentialChanges runs every credential change of the directory on
// the fakes: what is logged, what the cache forgets, what is refused.
func TestCredentialChanges(t *testing.T) {
	d, st, lg := newDirectory(t)
	ctx := context.Background()
	_, k := newKey(t)

	// A store that fails after the entries are prepared: nothing logged,
	// no principal; the retry logs the key once.
	st.failStore = errors.New("Error 1366: Incorrect string value")
	if _, err := d.CreatePrincipal(ctx, api.NewPrincipal{Name: "Site", Role: "site", PublicKeys: []string{k}}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("store failure: %v", err)
	}
	if len(lg.payloads) != 0 || len(st.byID) != 1 {
		t.Fatalf("a failed creation logged %d statements, stored %d principals", len(lg.payloads), len(st.byID))
	}
	st.failStore = nil
	cp, err := d.CreatePrincipal(ctx, api.NewPrincipal{Name: "Site", Role: "site", PublicKeys: []string{k}})
	if err != nil || len(lg.payloads) != 1 {
		t.Fatalf("retry: %v, %d statements", err, len(lg.payloads))
	}

	// Rotation: the old token is refused at once, though it was cached.
	if _, err := d.Authenticate(ctx, cp.Token); err != nil {
		t.Fatal(err)
	}
	tok, err := d.RotateToken(ctx, cp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, cp.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("old token after rotation: %v", err)
	}
	if c, err := d.Authenticate(ctx, tok); err != nil || c.PrincipalID != cp.ID {
		t.Fatalf("new token: %v", err)
	}

	// A second key, then the first revoked: one principal.key-revocation,
	// naming the key and its registration; revoking again logs nothing.
	_, k2 := newKey(t)
	added, err := d.AddKey(ctx, cp.ID, k2, 0)
	if err != nil || len(lg.payloads) != 2 {
		t.Fatalf("AddKey: %v", err)
	}
	if _, err := d.AddKey(ctx, cp.ID, k2, 0); !errors.Is(err, ErrKeyRegistered) {
		t.Fatalf("the same key again: %v", err)
	}
	if _, err := d.RevokeKey(ctx, cp.ID, cp.KeyIDs[0], 0); err != nil {
		t.Fatal(err)
	}
	var rev KeyRevocation
	if json.Unmarshal(lg.payloads[2], &rev) != nil || rev.KeyID != cp.KeyIDs[0] || rev.KeyEntry != cp.KeyEntries[0] || rev.Reason != RevocationKey || rev.Principal != cp.ID {
		t.Fatalf("revocation logged: %s", lg.payloads[2])
	}
	if _, err := d.RevokeKey(ctx, cp.ID, cp.KeyIDs[0], 0); err != nil || len(lg.payloads) != 3 {
		t.Fatalf("revoking again: %v, %d statements", err, len(lg.payloads))
	}
	if _, err := d.RevokeKey(ctx, cp.ID, "zz", 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("malformed key id: %v", err)
	}
	if _, err := d.RevokeKey(ctx, "admin", added.KeyID, 0); !errors.Is(err, ErrUnknown) {
		t.Fatalf("another principal's key: %v", err)
	}

	// Deactivation: the remaining key revoked, the token dead; then 409s.
	es, err := d.DeactivatePrincipal(ctx, cp.ID, 0)
	if err != nil || len(es) != 1 || len(lg.payloads) != 4 {
		t.Fatalf("deactivate: %v, %d entries", err, len(es))
	}
	if _, err := d.Authenticate(ctx, tok); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("token of a deactivated principal: %v", err)
	}
	if _, err := d.RotateToken(ctx, cp.ID); !errors.Is(err, ErrDeactivated) {
		t.Fatalf("rotating a deactivated principal: %v", err)
	}
	if _, k3 := newKey(t); true {
		if _, err := d.AddKey(ctx, cp.ID, k3, 0); !errors.Is(err, ErrDeactivated) {
			t.Fatalf("adding to a deactivated principal: %v", err)
		}
	}
	if es, err := d.DeactivatePrincipal(ctx, cp.ID, 0); err != nil || len(es) != 0 {
		t.Fatalf("deactivating twice: %v, %d entries", err, len(es))
	}
	// The bootstrap admin is changed through its token file only.
	if _, err := d.RotateToken(ctx, AdminPrincipalID); !errors.Is(err, ErrBootstrapAdmin) {
		t.Fatalf("rotating the bootstrap admin: %v", err)
	}
	if _, err := d.DeactivatePrincipal(ctx, AdminPrincipalID, 0); !errors.Is(err, ErrBootstrapAdmin) {
		t.Fatalf("deactivating the bootstrap admin: %v", err)
	}
	// Names that would log personal data or hidden bytes for ever.
	for _, name := range []string{"jane.roe@st-mary.example", "Site\x00", "Site\u200b"} {
		if _, err := d.CreatePrincipal(ctx, api.NewPrincipal{Name: name, Role: "regulator"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("name %q: %v", name, err)
		}
	}
}
