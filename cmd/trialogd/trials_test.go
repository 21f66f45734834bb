package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
	"github.com/trialog/trialog/trials/trialstest"
)

const wait = 10 * time.Second

// trialGet fetches a public trial endpoint without a token.
func trialGet(t *testing.T, srv *testserver.Server, id, suffix string, out any) (int, api.ErrorBody) {
	t.Helper()
	status, _, body := testserver.Request(t, http.MethodGet, srv.URL+"/v1/trials/"+url.PathEscape(id)+suffix, "", "", nil)
	var e api.Error
	if status != http.StatusOK {
		json.Unmarshal(body, &e)
		return status, e.Error
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s%s: %v: %s", id, suffix, err, body)
	}
	return status, e.Error
}

// delegate calls the delegation endpoint with token.
func delegate(t *testing.T, srv *testserver.Server, trial, token, principal string) (int, *api.Entry, api.ErrorBody) {
	t.Helper()
	body, _ := json.Marshal(api.TrialDelegate{Principal: principal})
	status, _, resp := testserver.Request(t, http.MethodPost, srv.URL+"/v1/trials/"+url.PathEscape(trial)+"/delegates", token, "application/json", body)
	var e api.Error
	if status >= 300 {
		json.Unmarshal(resp, &e)
		return status, nil, e.Error
	}
	var entry api.Entry
	if err := json.Unmarshal(resp, &entry); err != nil {
		t.Fatalf("delegation answer: %v: %s", err, resp)
	}
	return status, &entry, e.Error
}

func submitStatement(t *testing.T, p *testserver.Principal, payload []byte) (int, *api.Entry, error) {
	t.Helper()
	e, status, err := p.Client.Submit(context.Background(), p.Sign(payload), wait)
	return status, e, err
}

// mustSubmit submits a statement that must be logged as a new entry.
func mustSubmit(t *testing.T, p *testserver.Principal, payload []byte) *api.Entry {
	t.Helper()
	status, e, err := submitStatement(t, p, payload)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("%s submitting %s: %d %v", p.Name, payload, status, err)
	}
	return e
}

// verifyTimeline checks a timeline answer independently: every entry's
// checkpoint signature and inclusion proof with x/mod's note and tlog, all
// against the one checkpoint the answer carries, in log order.
func verifyTimeline(t *testing.T, vkey string, tl api.TrialTimeline) {
	t.Helper()
	_, size, root := testserver.IndependentCheckpoint(t, vkey, []byte(tl.Checkpoint))
	for i, e := range tl.Entries {
		if e.Checkpoint != tl.Checkpoint {
			t.Fatalf("entry %d is proven against another checkpoint than the answer's", i)
		}
		esize, eroot := testserver.VerifyEntry(t, vkey, e)
		if esize != size || eroot != root {
			t.Fatalf("entry %d: checkpoint %d, answer %d", i, esize, size)
		}
		if i > 0 && e.LeafIndex <= tl.Entries[i-1].LeafIndex {
			t.Fatalf("entries out of log order: %d after %d", e.LeafIndex, tl.Entries[i-1].LeafIndex)
		}
	}
}

// checkServiceSigned checks that entry is signed by trialogd's service key.
func checkServiceSigned(t *testing.T, info *api.LogInfo, e *api.Entry) []byte {
	t.Helper()
	env, err := envelope.Check(e.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := envelope.DecodeB64(info.ServiceKey)
	if err := env.VerifySignatures(map[string]ed25519.PublicKey{envelope.KeyID(svc): svc}); err != nil {
		t.Fatalf("entry %s is not signed by the service key: %v", e.ID, err)
	}
	return env.PayloadBytes
}

// TestTrialFixtures plays each fixture history against a real trialogd and
// checks its timeline (every proof verified independently) and its outcome
// report, by every identifier of the trial.
func TestTrialFixtures(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	ctx := context.Background()
	info, err := client.New(srv.URL, "").Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fixtures, err := trialstest.Load("../../trials/testdata/fixtures")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures {
		t.Run(f.Name, func(t *testing.T) {
			ps := map[string]*testserver.Principal{}
			for name, role := range f.Principals {
				ps[name] = srv.NewPrincipal(t, f.Name+" "+name, role)
			}
			ids := map[string]string{}
			received := map[string]time.Time{}
			var order []string
			for _, s := range f.Steps {
				if s.Delegate != "" {
					status, e, apiErr := delegate(t, srv, f.Trial, ps["owner"].Token, ps[s.Delegate].ID)
					if status != http.StatusCreated {
						t.Fatalf("step %s: delegation %d %+v", s.Label, status, apiErr)
					}
					testserver.VerifyEntry(t, info.PublicKey, e)
					var d trials.Delegation
					if err := json.Unmarshal(checkServiceSigned(t, info, e), &d); err != nil || d.Principal != ps[s.Delegate].ID || d.DelegatedBy != ps["owner"].ID {
						t.Fatalf("delegation statement %+v %v", d, err)
					}
					ids[s.Label] = e.ID
					received[s.Label] = statement.ParseReceivedAt(e.ReceivedAt)
				} else {
					payload, err := s.Payload(ids, trialstest.Clock{Now: time.Now(), Received: received})
					if err != nil {
						t.Fatal(err)
					}
					e := mustSubmit(t, ps[s.By], payload)
					ids[s.Label] = e.ID
					received[s.Label] = statement.ParseReceivedAt(e.ReceivedAt)
				}
				order = append(order, ids[s.Label])
			}

			lookups := append([]string{f.Trial}, f.Want.Identifiers...)
			for _, id := range lookups {
				var tl api.TrialTimeline
				if status, e := trialGet(t, srv, id, "", &tl); status != http.StatusOK {
					t.Fatalf("timeline of %s: %d %+v", id, status, e)
				}
				verifyTimeline(t, info.PublicKey, tl)
				var got []string
				for _, e := range tl.Entries {
					got = append(got, e.ID)
				}
				if !slices.Equal(got, order) {
					t.Fatalf("timeline of %s = %q, want %q", id, trialstest.Labels(got, ids), trialstest.Labels(order, ids))
				}
				if !slices.Equal(tl.Identifiers, f.Want.Identifiers) || tl.Owner != ps["owner"].ID {
					t.Fatalf("timeline of %s: identifiers %q owner %s", id, tl.Identifiers, tl.Owner)
				}
				n, _, _ := trials.ParseID(id)
				if tl.TrialID != n {
					t.Fatalf("timeline trial_id %s, want %s", tl.TrialID, n)
				}

				var rep api.TrialOutcomes
				if status, e := trialGet(t, srv, id, "/outcomes", &rep); status != http.StatusOK {
					t.Fatalf("outcomes of %s: %d %+v", id, status, e)
				}
				for _, d := range f.Diff(&rep.TrialReport, ids) {
					t.Errorf("outcomes by %s: %s", id, d)
				}
				if rep.TrialID != n {
					t.Errorf("report trial_id %s, want %s", rep.TrialID, n)
				}
				// The answer's new fields, read as a client without the
				// trials package would: the summary's counts, and the start
				// the report took when a first_participant_in is logged.
				var raw struct {
					Summary map[string]json.RawMessage `json:"summary"`
					StartAt *string                    `json:"start_at"`
					Start   *string                    `json:"first_participant_in"`
				}
				trialGet(t, srv, id, "/outcomes", &raw)
				for _, k := range []string{"prespecified", "correctly_reported", "not_reported", "switched", "added", "declared"} {
					if _, ok := raw.Summary[k]; !ok {
						t.Errorf("outcomes by %s: summary lacks %q", id, k)
					}
				}
				if (raw.Start == nil) != (raw.StartAt == nil) {
					t.Errorf("outcomes by %s: first_participant_in %v but start_at %v", id, raw.Start, raw.StartAt)
				}
				testserver.IndependentCheckpoint(t, info.PublicKey, []byte(rep.Checkpoint))
				// Nothing is logged meanwhile: both answers are of one checkpoint.
				if rep.Checkpoint != tl.Checkpoint {
					t.Fatal("the report and the timeline are of different checkpoints")
				}
				checkRecomputed(t, n, tl, rep)
			}
		})
	}
}

// checkRecomputed recomputes the outcome report from the verified timeline
// alone, as a regulator can offline, and compares it with the served one.
func checkRecomputed(t *testing.T, trial string, tl api.TrialTimeline, served api.TrialOutcomes) {
	t.Helper()
	reg := statement.NewRegistry()
	trials.Register(reg)
	var logged []statement.Logged
	for _, e := range tl.Entries {
		_, st, err := reg.Parse(e.Statement)
		if err != nil {
			t.Fatalf("entry %s: %v", e.ID, err)
		}
		logged = append(logged, statement.Logged{ID: e.ID, LeafIndex: e.LeafIndex, Statement: st, ReceivedAt: statement.ParseReceivedAt(e.ReceivedAt)})
	}
	rep, err := trials.Compute(trial, logged)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(rep)
	got, _ := json.Marshal(served.TrialReport)
	if string(got) != string(want) {
		t.Fatalf("served report differs from the one recomputed from the timeline:\nserved     %s\nrecomputed %s", got, want)
	}
}

// TestTrialAuthorization is the authorization matrix: who may register,
// submit for, delegate on and read a trial.
func TestTrialAuthorization(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	owner := srv.NewPrincipal(t, "Owner", "sponsor")
	cro := srv.NewPrincipal(t, "Delegate CRO", "sponsor")
	other := srv.NewPrincipal(t, "Other sponsor", "sponsor")
	site := srv.NewPrincipal(t, "Site", "site")
	regulator := srv.NewPrincipal(t, "Regulator", "regulator")
	bystander := srv.NewPrincipal(t, "Bystander site", "site")
	const trial = "NCT09400001"
	mustSubmit(t, owner, registrationJSON(trial, "2026-01-01T00:00:00Z"))
	if status, _, e := delegate(t, srv, trial, owner.Token, cro.ID); status != http.StatusCreated {
		t.Fatalf("delegating: %d %+v", status, e)
	}

	type caller struct {
		name string
		p    *testserver.Principal // nil: no token
	}
	callers := []caller{{"owner", owner}, {"delegate", cro}, {"other sponsor", other}, {"site", site}, {"regulator", regulator}, {"no token", nil}}
	for i, tc := range []struct {
		action string
		want   map[string]int
	}{
		{"milestone", map[string]int{"owner": 201, "delegate": 201, "other sponsor": 403, "site": 403, "regulator": 403, "no token": 401}},
		{"registration update", map[string]int{"owner": 201, "delegate": 201, "other sponsor": 409, "site": 403, "regulator": 403, "no token": 401}},
		{"delegate", map[string]int{"owner": 201, "delegate": 403, "other sponsor": 403, "site": 403, "regulator": 403, "no token": 401}},
		{"timeline", map[string]int{"owner": 200, "delegate": 200, "other sponsor": 200, "site": 200, "regulator": 200, "no token": 200}},
		{"outcomes", map[string]int{"owner": 200, "delegate": 200, "other sponsor": 200, "site": 200, "regulator": 200, "no token": 200}},
	} {
		for j, c := range callers {
			t.Run(tc.action+"/"+c.name, func(t *testing.T) {
				issued := fmt.Sprintf("2026-02-%02dT%02d:00:00Z", i+1, j)
				token := ""
				if c.p != nil {
					token = c.p.Token
				}
				var status int
				var body []byte
				switch tc.action {
				case "milestone", "registration update":
					payload := []byte(`{"type":"trial.milestone","trial_id":"` + trial + `","issued_at":"` + issued + `","event":"last_participant_out","at":"` + issued + `"}`)
					if tc.action == "registration update" {
						payload = registrationJSON(trial, issued)
					}
					signer := c.p
					if signer == nil {
						signer = owner // signed, but sent without a token
					}
					env, _ := json.Marshal(signer.Sign(payload))
					status, _, body = testserver.Request(t, http.MethodPost, srv.URL+"/v1/entries?wait=10s", token, "application/json", env)
				case "delegate":
					req, _ := json.Marshal(api.TrialDelegate{Principal: bystander.ID})
					status, _, body = testserver.Request(t, http.MethodPost, srv.URL+"/v1/trials/"+trial+"/delegates", token, "application/json", req)
				case "timeline":
					status, _, body = testserver.Request(t, http.MethodGet, srv.URL+"/v1/trials/"+trial, token, "", nil)
				case "outcomes":
					status, _, body = testserver.Request(t, http.MethodGet, srv.URL+"/v1/trials/"+trial+"/outcomes", token, "", nil)
				}
				if status != tc.want[c.name] {
					t.Fatalf("%s by %s = %d %s, want %d", tc.action, c.name, status, body, tc.want[c.name])
				}
				wantCode := map[int]string{401: "unauthenticated", 403: "permission_denied", 409: "conflict"}[status]
				if wantCode != "" && !strings.Contains(string(body), `"code":"`+wantCode+`"`) {
					t.Fatalf("%d without code %s: %s", status, wantCode, body)
				}
			})
		}
	}
}

func registrationJSON(trial, issued string, ids ...string) []byte {
	extra := ""
	if len(ids) > 0 {
		extra = `,"identifiers":["` + strings.Join(ids, `","`) + `"]`
	}
	return []byte(`{"type":"trial.registration","trial_id":"` + trial + `","issued_at":"` + issued + `","title":"A trial",` +
		`"outcomes":[{"id":"P1","kind":"primary","measure":"HbA1c","time_frame":"Week 26"}]` + extra + `}`)
}

func protocolJSON(trial, version, previous string) []byte {
	prev := ""
	if previous != "" {
		prev = `,"previous":"` + previous + `"`
	}
	return []byte(`{"type":"trial.protocol","trial_id":"` + trial + `","issued_at":"2026-01-01T00:00:00Z","version":"` + version + `",` +
		`"document":{"sha256":"` + testserver.DigestOf(trial+version) + `"},"outcomes":[{"id":"P1","kind":"primary","measure":"HbA1c","time_frame":"Week 26"}]` + prev + `}`)
}

func TestTrialDelegation(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	info, _ := client.New(srv.URL, "").Log(context.Background())
	owner := srv.NewPrincipal(t, "Owner", "sponsor")
	site := srv.NewPrincipal(t, "Site", "site")
	const trial = "ISRCTN94000001"
	mustSubmit(t, owner, registrationJSON(trial, "2026-01-01T00:00:00Z"))

	// Concurrent delegations of one principal make one entry: one 201,
	// every other answer 200 with the same entry.
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	entries := make([]*api.Entry, 6)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], entries[i], _ = delegate(t, srv, "isrctn 9400 0001", owner.Token, site.ID)
		}()
	}
	wg.Wait()
	created := 0
	for i, s := range statuses {
		switch {
		case s == http.StatusCreated:
			created++
		case s != http.StatusOK:
			t.Fatalf("delegation %d: %d", i, s)
		}
		if entries[i].ID != entries[0].ID {
			t.Fatalf("delegation %d logged entry %s, another %s", i, entries[i].ID, entries[0].ID)
		}
		testserver.VerifyEntry(t, info.PublicKey, entries[i])
	}
	if created != 1 {
		t.Fatalf("%d delegations answered 201, want 1", created)
	}
	checkServiceSigned(t, info, entries[0])
	var tl api.TrialTimeline
	trialGet(t, srv, trial, "", &tl)
	if !slices.Equal(tl.Delegates, []string{site.ID}) || len(tl.Entries) != 2 || tl.Entries[1].ID != entries[0].ID {
		t.Fatalf("timeline delegates %q, %d entries", tl.Delegates, len(tl.Entries))
	}
	// The delegate may now write; the delegation is idempotent later too.
	mustSubmit(t, site, []byte(`{"type":"trial.milestone","trial_id":"`+trial+`","issued_at":"2026-01-02T00:00:00Z","event":"first_participant_in","at":"2026-01-02T00:00:00Z"}`))
	if status, e, _ := delegate(t, srv, trial, owner.Token, site.ID); status != http.StatusOK || e.ID != entries[0].ID {
		t.Fatalf("delegating again: %d", status)
	}

	for _, tc := range []struct {
		name, trial, body, ct string
		status                int
		inMsg                 string
	}{
		{"unknown principal", trial, `{"principal":"pr_000000000000000000000000"}`, "application/json", 400, "no principal has id"},
		{"no principal", trial, `{}`, "application/json", 400, "principal is required"},
		{"malformed principal", trial, `{"principal":"a b"}`, "application/json", 400, "principal must be"},
		{"unknown field", trial, `{"principal":"` + site.ID + `","role":"site"}`, "application/json", 400, "role"},
		{"the owner", trial, `{"principal":"` + owner.ID + `"}`, "application/json", 400, "owns trial"},
		{"not JSON", trial, `{"principal":"` + site.ID + `"}`, "text/plain", 415, "application/json"},
		{"unknown trial", "NCT09499999", `{"principal":"` + site.ID + `"}`, "application/json", 404, "not registered"},
		{"bad trial id", "NCT-1", `{"principal":"` + site.ID + `"}`, "application/json", 400, "trial_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := testserver.Request(t, http.MethodPost, srv.URL+"/v1/trials/"+tc.trial+"/delegates", owner.Token, tc.ct, []byte(tc.body))
			if status != tc.status || !strings.Contains(string(body), tc.inMsg) {
				t.Fatalf("%d %s, want %d containing %q", status, body, tc.status, tc.inMsg)
			}
		})
	}
	// A trial.delegation submitted by a principal is refused: only
	// trialogd writes them.
	status, _, err := submitStatement(t, owner, trials.DelegationStatement(trial, site.ID, owner.ID, time.Now()))
	if status != http.StatusForbidden {
		t.Fatalf("principal-signed delegation: %d %v", status, err)
	}
}

func TestTrialRules(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	owner := srv.NewPrincipal(t, "Owner", "sponsor")
	other := srv.NewPrincipal(t, "Other", "sponsor")
	const trial = "2004-000123-45"
	mustSubmit(t, owner, registrationJSON(trial, "2026-01-01T00:00:00Z"))
	v1 := mustSubmit(t, owner, protocolJSON(trial, "1.0", ""))

	// Two successors of 1.0 submitted at once: exactly one is logged, the
	// others are 409, under the append lock.
	const n = 6
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _, _ = submitStatement(t, owner, protocolJSON(trial, fmt.Sprintf("2.%d", i), v1.ID))
		}()
	}
	wg.Wait()
	slices.Sort(statuses)
	if want := append([]int{201}, slices.Repeat([]int{409}, n-1)...); !slices.Equal(statuses, want) {
		t.Fatalf("concurrent successors: %v, want %v", statuses, want)
	}

	for _, tc := range []struct {
		name    string
		by      *testserver.Principal
		payload []byte
		status  int
		inMsg   string
	}{
		{"second first version", owner, protocolJSON(trial, "1.1", ""), 409, "must name the version it replaces"},
		{"fork", owner, protocolJSON(trial, "3.0", v1.ID), 409, "fork"},
		{"previous not a protocol", owner, []byte(strings.Replace(string(protocolJSON(trial, "3.0", v1.ID)), "trial.protocol", "trial.sap", 1)), 400, "is a trial.protocol entry, not a trial.sap"},
		{"other sponsor registers", other, registrationJSON("2004 000123 45", "2026-01-05T00:00:00Z"), 400, "trial_id"},
		{"other sponsor registers, normalised", other, registrationJSON("2004–000123–45", "2026-01-05T00:00:00Z"), 409, "already registered by another principal"},
		{"unregistered trial", owner, []byte(`{"type":"trial.milestone","trial_id":"NCT09499998","issued_at":"2026-01-01T00:00:00Z","event":"unblinding","at":"2026-01-01T00:00:00Z"}`), 400, "NCT09499998 is not registered"},
		{"bad trial_id", owner, []byte(`{"type":"trial.milestone","trial_id":"NCT 1","issued_at":"2026-01-01T00:00:00Z","event":"unblinding","at":"2026-01-01T00:00:00Z"}`), 400, "trial_id"},
		{"unknown field", owner, []byte(`{"type":"trial.milestone","trial_id":"` + trial + `","issued_at":"2026-01-01T00:00:00Z","event":"unblinding","at":"2026-01-01T00:00:00Z","site":"x"}`), 400, `unknown field "site"`},
		{"missing field", owner, []byte(`{"type":"trial.results","trial_id":"` + trial + `","issued_at":"2026-01-01T00:00:00Z","document":{"sha256":"` + testserver.DigestOf("r") + `"}}`), 400, "outcomes is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, err := submitStatement(t, tc.by, tc.payload)
			if status != tc.status || err == nil || !strings.Contains(err.Error(), tc.inMsg) {
				t.Fatalf("%d %v, want %d containing %q", status, err, tc.status, tc.inMsg)
			}
		})
	}
	// The owner adds the EU CT number; leaving the EudraCT number out
	// afterwards is a 400.
	mustSubmit(t, owner, registrationJSON("2025-522006-21-00", "2026-01-07T00:00:00Z", trial))
	if status, _, err := submitStatement(t, owner, registrationJSON("2025-522006-21-00", "2026-01-08T00:00:00Z")); status != 400 || !strings.Contains(err.Error(), "never removed") {
		t.Fatalf("removing an identifier: %d %v", status, err)
	}

	// Reads: unknown trial 404, bad identifier 400.
	var tl api.TrialTimeline
	if status, e := trialGet(t, srv, "NCT09499997", "", &tl); status != 404 || e.Code != "not_found" {
		t.Fatalf("unknown trial: %d %+v", status, e)
	}
	if status, e := trialGet(t, srv, "NCT09499997", "/outcomes", &tl); status != 404 || e.Code != "not_found" {
		t.Fatalf("outcomes of an unknown trial: %d %+v", status, e)
	}
	if status, e := trialGet(t, srv, "not-a-trial", "", &tl); status != 400 || e.Code != "invalid_argument" {
		t.Fatalf("bad identifier: %d %+v", status, e)
	}
	// The new identifier finds the whole history; the document digest
	// finds the protocol through records/verify.
	if status, _ := trialGet(t, srv, "2025-522006-21-00", "", &tl); status != 200 || len(tl.Entries) != 4 {
		t.Fatalf("by the EU CT number: %d, %d entries", status, len(tl.Entries))
	}
	vr, err := client.New(srv.URL, "").VerifyRecord(context.Background(), testserver.DigestOf(trial+"1.0"))
	if err != nil || len(vr.Entries) != 1 || vr.Entries[0].ID != v1.ID {
		t.Fatalf("records/verify of the protocol document: %+v %v", vr, err)
	}
}
