package consent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// memLog is an in-memory log: entries in order, indexed by their refs.
type memLog struct {
	reg     *statement.Registry
	entries []statement.Logged
	refs    map[string][]int
	state   *statement.MemState
}

func (m *memLog) EntriesByRef(_ context.Context, ref string) ([]statement.Logged, error) {
	var out []statement.Logged
	for _, i := range m.refs[ref] {
		out = append(out, m.entries[i])
	}
	return out, nil
}

// add checks and logs payload for caller, as the pipeline does.
func (m *memLog) add(caller statement.Caller, payload string) (string, error) {
	k, st, err := m.reg.Parse([]byte(payload))
	if err != nil {
		return "", err
	}
	if caller.Role != statement.RoleService {
		found := false
		for _, r := range k.Roles {
			found = found || r == caller.Role
		}
		if !found {
			return "", fmt.Errorf("%w: role", statement.ErrForbidden)
		}
	}
	sum := sha256.Sum256([]byte(payload))
	id := hex.EncodeToString(sum[:])
	e := statement.Logged{ID: id, LeafIndex: int64(len(m.entries)), PrincipalID: caller.PrincipalID, Statement: st}
	if m.state == nil {
		m.state = statement.NewMemState()
	}
	if err := statement.Decide(context.Background(), k, m.state, caller, e); err != nil {
		return "", err
	}
	m.entries = append(m.entries, e)
	for _, r := range st.Refs() {
		m.refs[r] = append(m.refs[r], len(m.entries)-1)
	}
	return id, nil
}

type memSubjects map[string]*Subject

func (m memSubjects) Subject(_ context.Context, ref string) (*Subject, error) {
	if s, ok := m[ref]; ok {
		return s, nil
	}
	return nil, ErrUnknownSubject
}

const (
	trialID  = "NCT00000419"
	subjectA = "sub_0123456789abcdef0123456789abcdef"
	subjectB = "sub_fedcba9876543210fedcba9876543210"
	subjectX = "sub_00000000000000000000000000000000" // minted for another trial
	subjectE = "sub_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee" // erased
)

var (
	owner    = statement.Caller{PrincipalID: "pr_owner", Role: statement.RoleSponsor}
	site     = statement.Caller{PrincipalID: "pr_site", Role: statement.RoleSite}
	other    = statement.Caller{PrincipalID: "pr_other", Role: statement.RoleSite}
	service  = statement.Caller{PrincipalID: "trialogd", Role: statement.RoleService}
	formV1   = digest("form v1")
	formV2   = digest("form v2")
	issuedAt = "2026-03-01T09:30:00Z"
)

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func newMemLog(t *testing.T) *memLog {
	t.Helper()
	reg := statement.NewRegistry()
	trials.Register(reg)
	Register(reg, memSubjects{
		subjectA: {Ref: subjectA, Trial: trialID},
		subjectB: {Ref: subjectB, Trial: trialID},
		subjectX: {Ref: subjectX, Trial: "ISRCTN12345678"},
		subjectE: {Ref: subjectE, Trial: trialID, Erased: true},
	})
	m := &memLog{reg: reg, refs: map[string][]int{}}
	must(t, m, owner, `{"type":"trial.registration","trial_id":"`+trialID+`","issued_at":"2026-01-01T00:00:00Z","title":"T","outcomes":[{"id":"o1","kind":"primary","measure":"m","time_frame":"1y"}]}`)
	must(t, m, service, string(trials.DelegationStatement(trialID, site.PrincipalID, owner.PrincipalID, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))))
	return m
}

func must(t *testing.T, m *memLog, c statement.Caller, payload string) string {
	t.Helper()
	id, err := m.add(c, payload)
	if err != nil {
		t.Fatalf("%s: %v", payload, err)
	}
	return id
}

func formJSON(version, sha, previous string) string {
	p := ""
	if previous != "" {
		p = `,"previous":"` + previous + `"`
	}
	return `{"type":"trial.consent-form","trial_id":"` + trialID + `","issued_at":"2026-01-03T00:00:00Z","version":"` + version + `","document":{"sha256":"` + sha + `"}` + p + `}`
}

func grantJSON(subject, version, sha, issued, scope string) string {
	return `{"type":"consent.grant","trial_id":"` + trialID + `","subject":"` + subject + `","issued_at":"` + issued + `","form":{"version":"` + version + `","sha256":"` + sha + `"},"scope":` + scope + `}`
}

func withdrawJSON(subject, issued string, purposes ...string) string {
	p := ""
	if len(purposes) > 0 {
		p = `,"purposes":["` + strings.Join(purposes, `","`) + `"]`
	}
	return `{"type":"consent.withdraw","trial_id":"` + trialID + `","subject":"` + subject + `","issued_at":"` + issued + `"` + p + `}`
}

const scopeBoth = `[{"purpose":"primary-analysis","decision":"permit"},{"purpose":"future-research","decision":"deny"}]`

func TestCheckEvents(t *testing.T) {
	m := newMemLog(t)
	if _, err := m.add(site, grantJSON(subjectA, "1.0", formV1, issuedAt, scopeBoth)); !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), "no consent-form version") {
		t.Fatalf("grant before any form: %v", err)
	}
	must(t, m, owner, formJSON("1.0", formV1, ""))
	for _, tc := range []struct {
		name    string
		caller  statement.Caller
		payload string
		want    error
		msg     string
	}{
		{"undelegated site", other, grantJSON(subjectA, "1.0", formV1, issuedAt, scopeBoth), statement.ErrForbidden, "not a site delegated"},
		{"sponsor (owner)", owner, grantJSON(subjectA, "1.0", formV1, issuedAt, scopeBoth), statement.ErrForbidden, "role"},
		{"unknown subject", site, grantJSON("sub_11111111111111111111111111111111", "1.0", formV1, issuedAt, scopeBoth), statement.ErrInvalid, "not known"},
		{"erased subject", site, grantJSON(subjectE, "1.0", formV1, issuedAt, scopeBoth), statement.ErrInvalid, "erased"},
		{"subject of another trial", site, grantJSON(subjectX, "1.0", formV1, issuedAt, scopeBoth), statement.ErrInvalid, "not minted for trial"},
		{"unlogged form version", site, grantJSON(subjectA, "2.0", formV1, issuedAt, scopeBoth), statement.ErrInvalid, `logged: "1.0"`},
		{"wrong form digest", site, grantJSON(subjectA, "1.0", formV2, issuedAt, scopeBoth), statement.ErrInvalid, "not the digest"},
		{"withdraw of erased subject", site, withdrawJSON(subjectE, issuedAt), statement.ErrInvalid, "erased"},
		{"withdraw by undelegated site", other, withdrawJSON(subjectA, issuedAt), statement.ErrForbidden, "not a site delegated"},
		{"access by a site", site, string(mustJSON(AccessStatement(trialID, subjectA, "pr_du", "x", Deny, nil, time.Now()))), statement.ErrForbidden, "role"},
		{"unregistered trial", site, strings.ReplaceAll(withdrawJSON(subjectA, issuedAt), trialID, "NCT99999999"), statement.ErrInvalid, "not registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.add(tc.caller, tc.payload)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}
	must(t, m, site, grantJSON(subjectA, "1.0", formV1, issuedAt, scopeBoth))
	must(t, m, site, withdrawJSON(subjectA, "2026-03-02T00:00:00Z", "primary-analysis"))
}

func mustJSON(v any) []byte {
	b, err := jsonMarshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestComputeAndDecide(t *testing.T) {
	m := newMemLog(t)
	f1 := must(t, m, owner, formJSON("1.0", formV1, ""))
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	status := func() *Status {
		es, _ := m.EntriesByRef(context.Background(), SubjectRef(subjectA))
		return Compute(es, "1.0", now)
	}
	if s := status(); s.Status != StatusNone || len(s.Scope) != 0 || len(s.Evidence) != 0 {
		t.Fatalf("before any event: %+v", s)
	}
	g := must(t, m, site, grantJSON(subjectA, "1.0", formV1, issuedAt, scopeBoth))
	s := status()
	if s.Status != StatusGranted || s.FormVersion != "1.0" || s.ReconsentRequired || len(s.Evidence) != 1 || s.Evidence[0] != g {
		t.Fatalf("after grant: %+v", s)
	}
	if d, ev := Decide(s, "primary-analysis"); d != Permit || len(ev) != 1 {
		t.Fatalf("primary-analysis: %s %v", d, ev)
	}
	for _, p := range []string{"future-research", "marketing"} {
		if d, _ := Decide(s, p); d != Deny {
			t.Fatalf("%s: %s", p, d)
		}
	}
	// A data use is logged by trialogd with the decision the log supports;
	// any other decision is a conflict.
	acc := AccessStatement(trialID, subjectA, "pr_du", "primary-analysis", Permit, []string{g}, now)
	a := must(t, m, service, string(mustJSON(acc)))
	wrong := AccessStatement(trialID, subjectA, "pr_du", "future-research", Permit, []string{g}, now)
	if _, err := m.add(service, string(mustJSON(wrong))); !errors.Is(err, statement.ErrConflict) {
		t.Fatalf("access with a decision the log contradicts: %v", err)
	}
	// Re-consent: a newer form version.
	must(t, m, owner, formJSON("2.0", formV2, f1))
	es, _ := m.EntriesByRef(context.Background(), SubjectRef(subjectA))
	if s := Compute(es, "2.0", now); !s.ReconsentRequired || len(s.Access) != 1 || s.Access[0] != a {
		t.Fatalf("after form 2.0: %+v", s)
	}
	w := must(t, m, site, withdrawJSON(subjectA, "2026-04-01T00:00:00Z", "primary-analysis"))
	s = status()
	// The grant permitted only primary-analysis: withdrawing it withdraws
	// the consent, though no full withdrawal was logged.
	if s.Status != StatusWithdrawn || s.ReconsentRequired || len(s.Evidence) != 2 || s.Evidence[1] != w {
		t.Fatalf("after withdrawing the only permitted purpose: %+v", s)
	}
	if d, _ := Decide(s, "primary-analysis"); d != Deny {
		t.Fatal("withdrawn purpose still permitted")
	}
	must(t, m, site, withdrawJSON(subjectA, "2026-05-01T00:00:00Z"))
	s = status()
	if s.Status != StatusWithdrawn || s.ReconsentRequired {
		t.Fatalf("after full withdrawal: %+v", s)
	}
	for _, sc := range s.Scope {
		if sc.Decision != Deny {
			t.Fatalf("after full withdrawal: %+v", s.Scope)
		}
	}
	// A new grant, on the new form, replaces the scope.
	g2 := must(t, m, site, grantJSON(subjectA, "2.0", formV2, "2026-05-02T00:00:00Z", `[{"purpose":"future-research","decision":"permit"}]`))
	s = status()
	if s.Status != StatusGranted || len(s.Evidence) != 1 || s.Evidence[0] != g2 {
		t.Fatalf("after re-grant: %+v", s)
	}
	if d, _ := Decide(s, "primary-analysis"); d != Deny {
		t.Fatal("a purpose the new grant leaves out is still permitted")
	}
	if d, _ := Decide(s, "future-research"); d != Permit {
		t.Fatal("re-granted purpose denied")
	}
}

func TestPeriod(t *testing.T) {
	m := newMemLog(t)
	must(t, m, owner, formJSON("1.0", formV1, ""))
	p := strings.Replace(grantJSON(subjectA, "1.0", formV1, issuedAt, scopeBoth), `"scope"`, `"period":{"start":"2026-03-01T00:00:00Z","end":"2027-03-01T00:00:00Z"},"scope"`, 1)
	must(t, m, site, p)
	es, _ := m.EntriesByRef(context.Background(), SubjectRef(subjectA))
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), Deny},
		{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Permit},
		{time.Date(2027, 2, 28, 0, 0, 0, 0, time.UTC), Permit},
		{time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), Deny},
	} {
		if d, _ := Decide(Compute(es, "", tc.at), "primary-analysis"); d != tc.want {
			t.Errorf("at %s: %s, want %s", tc.at, d, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	m := newMemLog(t)
	f1 := must(t, m, owner, formJSON("1.0", formV1, ""))
	must(t, m, site, grantJSON(subjectA, "1.0", formV1, issuedAt, scopeBoth))
	must(t, m, owner, formJSON("2.0", formV2, f1))
	must(t, m, site, grantJSON(subjectB, "2.0", formV2, issuedAt, scopeBoth))
	tr, err := trials.Load(context.Background(), m, trialID)
	if err != nil {
		t.Fatal(err)
	}
	es, _ := m.EntriesByRef(context.Background(), Ref(trialID))
	sum := Summarize(es, Forms(tr), time.Now())
	if sum.Subjects != 2 || sum.Granted != 2 || sum.ReconsentRequired != 1 || sum.LatestFormVersion != "2.0" ||
		len(sum.ByFormVersion) != 2 || sum.ByFormVersion[0] != (FormCount{Version: "1.0", Granted: 1}) || sum.ByFormVersion[1] != (FormCount{Version: "2.0", Granted: 1}) {
		t.Fatalf("%+v", sum)
	}
	must(t, m, site, withdrawJSON(subjectA, "2026-04-01T00:00:00Z"))
	es, _ = m.EntriesByRef(context.Background(), Ref(trialID))
	if sum := Summarize(es, Forms(tr), time.Now()); sum.Granted != 1 || sum.Withdrawn != 1 || sum.ReconsentRequired != 0 {
		t.Fatalf("after withdrawal: %+v", sum)
	}
}
