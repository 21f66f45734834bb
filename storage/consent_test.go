package storage

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestConsentSubjects(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	h1 := bytes.Repeat([]byte{1}, 32)
	if err := st.CreateConsentSubject(ctx, "sub_a", "NCT00000419", h1); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateConsentSubject(ctx, "sub_b", "NCT00000419", h1); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("duplicate secret hash: %v", err)
	}
	if cs, err := st.ConsentSubjectBySecret(ctx, h1); err != nil || cs.Subject != "sub_a" || cs.TrialID != "NCT00000419" || cs.ErasedAt != nil {
		t.Fatalf("by secret: %+v %v", cs, err)
	}
	if _, err := st.EraseConsentSubject(ctx, "sub_a", bytes.Repeat([]byte{2}, 32), time.Now()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("erasing with another secret: %v", err)
	}
	at := time.Date(2026, 6, 1, 0, 0, 0, 123456000, time.UTC)
	got, err := st.EraseConsentSubject(ctx, "sub_a", h1, at)
	if err != nil || !got.Equal(at) {
		t.Fatalf("erase: %v %v", got, err)
	}
	if _, err := st.ConsentSubjectBySecret(ctx, h1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the secret still finds the subject after erasure: %v", err)
	}
	var n int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM trialog_consent_subjects WHERE secret_hash IS NOT NULL`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d secret hashes left after erasure (%v)", n, err)
	}
	if got, err := st.EraseConsentSubject(ctx, "sub_a", nil, at.Add(time.Hour)); err != nil || !got.Equal(at) {
		t.Fatalf("erasing again keeps the first time: %v %v", got, err)
	}
	if cs, err := st.ConsentSubject(ctx, "sub_a"); err != nil || cs.ErasedAt == nil {
		t.Fatalf("erased subject: %+v %v", cs, err)
	}
	if _, err := st.EraseConsentSubject(ctx, "sub_zz", nil, at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown subject: %v", err)
	}
}

// The reconciler's list holds only erasures not marked logged: its work does
// not grow with the erasures of the past.
func TestUnloggedErasures(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	for _, s := range []string{"sub_1", "sub_2", "sub_3"} {
		if err := st.CreateConsentSubject(ctx, s, "NCT1", bytes.Repeat([]byte(s[4:]), 32)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"sub_1", "sub_2"} {
		if _, err := st.EraseConsentSubject(ctx, s, nil, at); err != nil {
			t.Fatal(err)
		}
	}
	names := func() []string {
		cs, err := st.UnloggedErasures(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.Subject)
		}
		return out
	}
	if got := names(); len(got) != 2 {
		t.Fatalf("unlogged erasures %v, want sub_1 and sub_2", got)
	}
	if err := st.MarkErasureLogged(ctx, "sub_1"); err != nil {
		t.Fatal(err)
	}
	// A live subject cannot be marked.
	if err := st.MarkErasureLogged(ctx, "sub_3"); err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 1 || got[0] != "sub_2" {
		t.Fatalf("unlogged erasures %v, want [sub_2]", got)
	}
	if _, err := st.EraseConsentSubject(ctx, "sub_3", nil, at); err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 2 {
		t.Fatalf("after erasing sub_3: %v, want sub_2 and sub_3", got)
	}
}
