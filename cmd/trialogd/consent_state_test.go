package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/storage"
)

// A grant on a consent-form version that a later version replaced is 409
// conflict; on the current version it is logged.
func TestGrantOnReplacedFormVersion(t *testing.T) {
	f := newConsentFixture(t)
	subj := f.mint(t)
	mustSubmit(t, f.owner, consentFormJSON(f.trial, "2.0", "form v2", f.formV1))
	status, _, err := submitStatement(t, f.site, grantJSON(f.trial, subj.Subject, "1.0", "form v1", "2026-03-01T09:30:00Z"))
	if status != http.StatusConflict || err == nil || !strings.Contains(err.Error(), `replaced by version "2.0"`) {
		t.Fatalf("grant on the replaced version: %d %v, want 409 naming 2.0", status, err)
	}
	mustSubmit(t, f.site, grantJSON(f.trial, subj.Subject, "2.0", "form v2", "2026-03-01T09:30:00Z"))
}

// An erasure whose entry is logged is marked so, and the reconciler leaves
// it alone.
func TestErasureMarkedLogged(t *testing.T) {
	f := newConsentFixture(t)
	subj := f.mint(t)
	var erased api.ConsentErased
	if status, e := f.post(t, "/v1/consent/erase", "", api.ConsentEraseRequest{SubjectSecret: subj.SubjectSecret, TrialID: f.trial}, &erased); status != http.StatusOK {
		t.Fatalf("erase: %d %+v", status, e)
	}
	ctx := context.Background()
	db, err := storage.Open(ctx, f.srv.Config.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending, err := storage.New(db).UnloggedErasures(ctx)
	if err != nil || len(pending) != 0 {
		t.Fatalf("erasures the reconciler would log again: %+v, %v; want none", pending, err)
	}
}
