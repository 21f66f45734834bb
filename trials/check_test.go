package trials_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

var (
	owner  = statement.Caller{PrincipalID: "pr_owner", Role: statement.RoleSponsor}
	cro    = statement.Caller{PrincipalID: "pr_cro", Role: statement.RoleSponsor}
	other  = statement.Caller{PrincipalID: "pr_other", Role: statement.RoleSponsor}
	site   = statement.Caller{PrincipalID: "pr_site", Role: statement.RoleSite}
	regul  = statement.Caller{PrincipalID: "pr_regulator", Role: statement.RoleRegulator}
	site2  = statement.Caller{PrincipalID: "pr_site2", Role: statement.RoleSite}
	dataer = statement.Caller{PrincipalID: "pr_data", Role: statement.RoleDataUser}
)

func registration(trial string, ids ...string) []byte {
	extra := ""
	if len(ids) > 0 {
		extra = `,"identifiers":["` + strings.Join(ids, `","`) + `"]`
	}
	return js(`{"type":"trial.registration","trial_id":"` + trial + `","issued_at":"2026-01-01T00:00:00Z","title":"A trial","outcomes":[` + outcome("P1", "primary", "W1") + `]` + extra + `}`)
}

func version(typ, trial, v, previous string) []byte {
	prev := ""
	if previous != "" {
		prev = `,"previous":"` + previous + `"`
	}
	outs := `,"outcomes":[` + outcome("P1", "primary", "W1") + `]`
	if typ == trials.TypeConsentForm {
		outs = ""
	}
	return js(`{"type":"` + typ + `","trial_id":"` + trial + `","issued_at":"2026-01-01T00:00:00Z","version":"` + v + `","document":{"sha256":"` + trialsDigest(typ+v) + `"}` + prev + outs + `}`)
}

func milestone(trial, event string) []byte {
	return js(`{"type":"trial.milestone","trial_id":"` + trial + `","issued_at":"2026-01-01T00:00:00Z","event":"` + event + `","at":"2026-01-01T00:00:00Z"}`)
}

func trialsDigest(s string) string {
	const h = "0123456789abcdef"
	b := []byte(hexA)
	for i := 0; i < len(s) && i < 64; i++ {
		b[i] = h[s[i]%16]
	}
	return string(b)
}

func wantErr(t *testing.T, err, kind error, inMsg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %v containing %q", kind, inMsg)
	}
	if !errors.Is(err, kind) || !strings.Contains(err.Error(), inMsg) {
		t.Fatalf("error %q, want %v containing %q", err, kind, inMsg)
	}
}

func TestOwnershipAndDelegation(t *testing.T) {
	m := newMemLog()
	const id = "NCT09300001"
	reg := m.mustSubmit(t, owner, registration(id))
	tr := m.load(t, id)
	if tr.Owner != owner.PrincipalID || tr.First.ID != reg.ID || tr.ID != id {
		t.Fatalf("trial = %+v", tr)
	}

	// Registering it again as someone else: 409; a site may not register.
	_, err := m.submit(other, registration(id))
	wantErr(t, err, statement.ErrConflict, "already registered by another principal")
	_, err = m.submit(site, registration("NCT09300002"))
	wantErr(t, err, statement.ErrForbidden, "site role")

	// Writing for it: the owner may, others may not (403), whatever their role.
	m.mustSubmit(t, owner, milestone(id, "first_participant_in"))
	for _, c := range []statement.Caller{other, cro, site, regul, dataer} {
		_, err := m.submit(c, milestone(id, "database_lock"))
		wantErr(t, err, statement.ErrForbidden, "neither the owner")
	}

	// Delegations: by the owner only, once per principal, never to the owner.
	if _, err := m.delegate(id, cro.PrincipalID, other.PrincipalID); err == nil || !errors.Is(err, statement.ErrForbidden) {
		t.Fatalf("delegation made by a non-owner: %v", err)
	}
	_, err = m.delegate(id, owner.PrincipalID, owner.PrincipalID)
	wantErr(t, err, statement.ErrInvalid, "owns trial")
	d1 := mustDelegate(t, m, id, cro.PrincipalID)
	mustDelegate(t, m, id, site.PrincipalID)
	mustDelegate(t, m, id, regul.PrincipalID)
	_, err = m.delegate(id, cro.PrincipalID, owner.PrincipalID)
	if !errors.Is(err, trials.ErrAlreadyDelegated) || !errors.Is(err, statement.ErrConflict) || !strings.Contains(err.Error(), d1.ID) {
		t.Fatalf("second delegation: %v", err)
	}
	// Delegations are the service's: no principal may submit one.
	_, err = m.submit(owner, trials.DelegationStatement(id, cro.PrincipalID, owner.PrincipalID, timeZero))
	wantErr(t, err, statement.ErrForbidden, "may not submit trial.delegation")
	_, err = m.delegate("NCT09399999", cro.PrincipalID, owner.PrincipalID)
	wantErr(t, err, statement.ErrInvalid, "is not registered")

	// Delegates of any role may write now; the others still may not.
	m.mustSubmit(t, cro, milestone(id, "database_lock"))
	m.mustSubmit(t, site, milestone(id, "last_participant_out"))
	m.mustSubmit(t, regul, milestone(id, "unblinding"))
	_, err = m.submit(site2, milestone(id, "unblinding"))
	wantErr(t, err, statement.ErrForbidden, "neither the owner")

	tr = m.load(t, id)
	if len(tr.Delegates) != 3 || tr.Delegates[cro.PrincipalID] != d1.ID || !tr.MayWrite(site.PrincipalID) || tr.MayWrite(site2.PrincipalID) {
		t.Fatalf("delegates = %v", tr.Delegates)
	}

	// A delegate that is a sponsor may update the registration; another
	// sponsor may not.
	m.mustSubmit(t, cro, registration(id, "ISRCTN93000001"))
	_, err = m.submit(other, registration(id, "ISRCTN93000001"))
	wantErr(t, err, statement.ErrConflict, "already registered")

	// An unregistered trial: 400 for anything but a registration.
	_, err = m.submit(owner, milestone("NCT09399999", "first_participant_in"))
	wantErr(t, err, statement.ErrInvalid, "NCT09399999 is not registered")
}

var timeZero = mustTime("2026-01-01T00:00:00Z")

func mustDelegate(t *testing.T, m *memLog, trial, principal string) statement.Logged {
	t.Helper()
	e, err := m.delegate(trial, principal, owner.PrincipalID)
	if err != nil {
		t.Fatalf("delegating %s: %v", principal, err)
	}
	return e
}

func TestIdentifiers(t *testing.T) {
	m := newMemLog()
	m.mustSubmit(t, owner, registration("2004-000123-45"))
	m.mustSubmit(t, owner, milestone("2004-000123-45", "first_participant_in"))
	// EudraCT → EU CT: a later registration adds an identifier, spelled
	// loosely; lookups by any of them find the whole trial.
	m.mustSubmit(t, owner, registration("2025-522006-21-00", "  2004 – 000123 – 45 "))
	m.mustSubmit(t, owner, milestone("2025-522006-21-00", "database_lock"))
	for _, id := range []string{"2004-000123-45", "2025-522006-21-00", "2025‐522006‐21‐00"} {
		tr := m.load(t, id)
		if len(tr.Entries) != 4 || tr.ID != "2004-000123-45" || !reflect.DeepEqual(tr.Identifiers, []string{"2004-000123-45", "2025-522006-21-00"}) {
			t.Fatalf("by %s: %d entries, ids %q", id, len(tr.Entries), tr.Identifiers)
		}
	}
	// Removing an identifier is a 400 naming it.
	_, err := m.submit(owner, registration("2025-522006-21-00"))
	wantErr(t, err, statement.ErrInvalid, "never removed: this registration leaves out 2004-000123-45")
	_, err = m.submit(owner, registration("2004-000123-45", "NCT09300010"))
	wantErr(t, err, statement.ErrInvalid, "leaves out 2025-522006-21-00")
	// Adding one more works.
	m.mustSubmit(t, owner, registration("NCT09300010", "2004-000123-45", "2025-522006-21-00"))
	if tr := m.load(t, "nct09300010"); len(tr.Identifiers) != 3 {
		t.Fatalf("identifiers %q", tr.Identifiers)
	}

	// One registration may not join two trials, nor claim another's id.
	m.mustSubmit(t, other, registration("ISRCTN93000002"))
	_, err = m.submit(owner, registration("NCT09300010", "2004-000123-45", "2025-522006-21-00", "ISRCTN93000002"))
	wantErr(t, err, statement.ErrConflict, "two different trials")
	_, err = m.submit(other, registration("ISRCTN93000002", "NCT09300010"))
	wantErr(t, err, statement.ErrConflict, "two different trials")
	_, err = m.submit(other, registration("U1111-1111-4101", "2025-522006-21-00"))
	wantErr(t, err, statement.ErrConflict, "already registered by another principal")
}

func TestVersionChains(t *testing.T) {
	m := newMemLog()
	const id = "NCT09300020"
	m.mustSubmit(t, owner, registration(id))
	m.mustSubmit(t, owner, registration("NCT09300021"))
	for _, typ := range []string{trials.TypeProtocol, trials.TypeSAP, trials.TypeConsentForm} {
		t.Run(typ, func(t *testing.T) {
			v1 := m.mustSubmit(t, owner, version(typ, id, "1.0", ""))
			// A second first version: 409.
			_, err := m.submit(owner, version(typ, id, "1.1", ""))
			wantErr(t, err, statement.ErrConflict, "must name the version it replaces")
			v2 := m.mustSubmit(t, owner, version(typ, id, "2.0", v1.ID))
			// A second successor of 1.0: a fork, 409 naming the first.
			_, err = m.submit(owner, version(typ, id, "2.1", v1.ID))
			wantErr(t, err, statement.ErrConflict, v2.ID)
			wantErr(t, err, statement.ErrConflict, "fork")
			// A version label used twice: 409.
			_, err = m.submit(owner, version(typ, id, "2.0", v2.ID))
			wantErr(t, err, statement.ErrConflict, `version "2.0"`)
			// previous naming another kind of this trial, an entry of
			// another trial, or nothing: 400.
			reg := m.load(t, id).First
			_, err = m.submit(owner, version(typ, id, "3.0", reg.ID))
			wantErr(t, err, statement.ErrInvalid, "is a trial.registration entry, not a "+typ)
			other := m.mustSubmit(t, owner, version(typ, "NCT09300021", "1.0", ""))
			_, err = m.submit(owner, version(typ, id, "3.0", other.ID))
			wantErr(t, err, statement.ErrInvalid, "is not a "+typ+" entry of trial "+id)
			_, err = m.submit(owner, version(typ, id, "3.0", hexA))
			wantErr(t, err, statement.ErrInvalid, "is not a "+typ+" entry")
			m.mustSubmit(t, owner, version(typ, id, "3.0", v2.ID))
		})
	}
	// Chains of different kinds are separate.
	tr := m.load(t, id)
	rep, err := trials.Compute(id, tr.Entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{trials.TypeProtocol, trials.TypeSAP, trials.TypeConsentForm} {
		vs := rep.Chains[typ]
		if len(vs) != 3 || vs[0].Previous != "" || vs[1].Previous != vs[0].Entry || vs[2].Previous != vs[1].Entry {
			t.Errorf("%s chain %+v", typ, vs)
		}
	}
}
