package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
)

// consentFixture is a running trialogd with a registered trial, a delegated
// site and a consent form.
type consentFixture struct {
	srv                        *testserver.Server
	info                       *api.LogInfo
	trial                      string
	owner, site, other, du, rg *testserver.Principal
	formV1                     string // entry id
}

func newConsentFixture(t *testing.T) *consentFixture {
	t.Helper()
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	info, err := client.New(srv.URL, "").Log(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f := &consentFixture{srv: srv, info: info, trial: "NCT00000419",
		owner: srv.NewPrincipal(t, "Sponsor Ltd", "sponsor"),
		site:  srv.NewPrincipal(t, "St Mary's research office", "site"),
		other: srv.NewPrincipal(t, "Another hospital", "site"),
		du:    srv.NewPrincipal(t, "Analysis CRO", "data-user"),
		rg:    srv.NewPrincipal(t, "Regulator", "regulator"),
	}
	mustSubmit(t, f.owner, registrationJSON(f.trial, "2026-01-01T00:00:00Z"))
	if status, _, e := delegate(t, srv, f.trial, f.owner.Token, f.site.ID); status != http.StatusCreated {
		t.Fatalf("delegation: %d %+v", status, e)
	}
	f.formV1 = mustSubmit(t, f.owner, consentFormJSON(f.trial, "1.0", "form v1", "")).ID
	return f
}

func consentFormJSON(trial, version, doc, previous string) []byte {
	p := ""
	if previous != "" {
		p = `,"previous":"` + previous + `"`
	}
	return []byte(`{"type":"trial.consent-form","trial_id":"` + trial + `","issued_at":"2026-01-03T00:00:00Z","version":"` + version +
		`","document":{"sha256":"` + testserver.DigestOf(doc) + `"}` + p + `}`)
}

func grantJSON(trial, subject, version, doc, issued string) []byte {
	return []byte(`{"type":"consent.grant","trial_id":"` + trial + `","subject":"` + subject + `","issued_at":"` + issued +
		`","form":{"version":"` + version + `","sha256":"` + testserver.DigestOf(doc) + `"},` +
		`"scope":[{"purpose":"primary-analysis","decision":"permit"},{"purpose":"future-research","decision":"deny"}]}`)
}

func withdrawJSON(trial, subject, issued string) []byte {
	return []byte(`{"type":"consent.withdraw","trial_id":"` + trial + `","subject":"` + subject + `","issued_at":"` + issued + `"}`)
}

// post sends a JSON body and decodes a 2xx answer into out; it returns the
// status and, otherwise, the error body.
func (f *consentFixture) post(t *testing.T, path, token string, body, out any) (int, api.ErrorBody) {
	t.Helper()
	return f.do(t, http.MethodPost, path, token, body, out)
}

func (f *consentFixture) do(t *testing.T, method, path, token string, body, out any) (int, api.ErrorBody) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	status, _, resp := testserver.Request(t, method, f.srv.URL+path, token, "application/json", b)
	var e api.Error
	if status >= 300 {
		json.Unmarshal(resp, &e)
		return status, e.Error
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, resp)
		}
	}
	return status, e.Error
}

func (f *consentFixture) mint(t *testing.T) api.ConsentSubject {
	t.Helper()
	var s api.ConsentSubject
	if status, e := f.post(t, "/v1/consent/subjects", f.site.Token, api.ConsentSubjectRequest{TrialID: f.trial}, &s); status != http.StatusCreated {
		t.Fatalf("minting a subject: %d %+v", status, e)
	}
	if !consent.ValidSubject(s.Subject) {
		t.Fatalf("subject %q", s.Subject)
	}
	if raw, err := base64.StdEncoding.DecodeString(s.SubjectSecret); err != nil || len(raw) != 32 {
		t.Fatalf("subject_secret %q is not base64 of 32 bytes", s.SubjectSecret)
	}
	return s
}

func (f *consentFixture) status(t *testing.T, secret string) (int, *api.ConsentStatus, api.ErrorBody) {
	t.Helper()
	var st api.ConsentStatus
	status, e := f.post(t, "/v1/consent/status", "", api.ConsentStatusRequest{SubjectSecret: secret, TrialID: f.trial}, &st)
	return status, &st, e
}

func (f *consentFixture) check(t *testing.T, token, subject, purpose string) (int, *api.ConsentCheck, api.ErrorBody) {
	t.Helper()
	var c api.ConsentCheck
	status, e := f.post(t, "/v1/consent/check", token, api.ConsentCheckRequest{TrialID: f.trial, Subject: subject, Purpose: purpose}, &c)
	return status, &c, e
}

// verifyAll checks every entry against one checkpoint with x/mod's tlog and
// note, and returns that checkpoint's size and root.
func verifyAll(t *testing.T, vkey, checkpoint string, es ...*api.Entry) {
	t.Helper()
	_, size, root := testserver.IndependentCheckpoint(t, vkey, []byte(checkpoint))
	for _, e := range es {
		if e == nil {
			t.Fatal("missing entry")
		}
		if e.Checkpoint != checkpoint {
			t.Fatalf("entry %s is proven against another checkpoint than the answer's", e.ID)
		}
		if s, r := testserver.VerifyEntry(t, vkey, e); s != size || r != root {
			t.Fatal("checkpoint mismatch")
		}
	}
}

func ids(es []*api.Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

// TestConsentEndToEnd plays the whole story as a new user would: a site
// enrols a subject and logs a grant; the patient, with only the secret,
// sees their status and every use of their data with proofs; a data user is
// refused after withdrawal; after erasure nothing links the patient to the
// log, and the log still verifies. Then no leaf holds the secret.
func TestConsentEndToEnd(t *testing.T) {
	f := newConsentFixture(t)
	ctx := context.Background()
	vkey := f.info.PublicKey
	subj := f.mint(t)
	subj2 := f.mint(t)
	if subj.Subject == subj2.Subject || subj.SubjectSecret == subj2.SubjectSecret {
		t.Fatal("two mints gave the same values")
	}

	// Before any event: status none.
	if status, st, e := f.status(t, subj.SubjectSecret); status != http.StatusOK || st.Status != consent.StatusNone {
		t.Fatalf("status before a grant: %d %+v %+v", status, st, e)
	}

	grant := mustSubmit(t, f.site, grantJSON(f.trial, subj.Subject, "1.0", "form v1", "2026-03-01T09:30:00Z"))
	mustSubmit(t, f.site, grantJSON(f.trial, subj2.Subject, "1.0", "form v1", "2026-03-01T09:31:00Z"))

	status, st, e := f.status(t, subj.SubjectSecret)
	if status != http.StatusOK {
		t.Fatalf("status: %d %+v", status, e)
	}
	wantScope := []consent.Scope{{Purpose: "future-research", Decision: "deny"}, {Purpose: "primary-analysis", Decision: "permit"}}
	if st.Status != consent.StatusGranted || st.FormVersion != "1.0" || st.ReconsentRequired || !reflect.DeepEqual(st.Scope, wantScope) ||
		!reflect.DeepEqual(ids(st.Evidence), []string{grant.ID}) || len(st.Access) != 0 || st.Subject != subj.Subject {
		t.Fatalf("status after grant: %+v", st)
	}
	verifyAll(t, vkey, st.Checkpoint, st.Evidence...)

	// Data use: every check is logged, permit or deny, and answered with
	// its proven access entry.
	var accessIDs []string
	for _, tc := range []struct{ purpose, want string }{{"primary-analysis", "permit"}, {"future-research", "deny"}, {"marketing", "deny"}} {
		status, c, e := f.check(t, f.du.Token, subj.Subject, tc.purpose)
		if status != http.StatusOK || c.Decision != tc.want {
			t.Fatalf("check %s: %d %+v %+v", tc.purpose, status, c, e)
		}
		if c.Access == nil || c.Access.ID != c.AccessEntry || !reflect.DeepEqual(ids(c.Evidence), []string{grant.ID}) {
			t.Fatalf("check %s: %+v", tc.purpose, c)
		}
		verifyAll(t, vkey, c.Checkpoint, append(c.Evidence, c.Access)...)
		var a consent.Access
		if err := json.Unmarshal(checkServiceSigned(t, f.info, c.Access), &a); err != nil || a.Accessor != f.du.ID || a.Purpose != tc.purpose || a.Decision != tc.want {
			t.Fatalf("access statement %+v %v", a, err)
		}
		accessIDs = append(accessIDs, c.AccessEntry)
	}
	_, st, _ = f.status(t, subj.SubjectSecret)
	if !reflect.DeepEqual(ids(st.Access), accessIDs) {
		t.Fatalf("status access %q, want %q", ids(st.Access), accessIDs)
	}
	verifyAll(t, vkey, st.Checkpoint, append(st.Evidence, st.Access...)...)

	// FHIR out: the grant as a FHIR R4 Consent.
	code, hdr, body := testserver.Request(t, http.MethodGet, f.srv.URL+"/v1/entries/"+grant.ID+"/fhir", "", "", nil)
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/fhir+json" {
		t.Fatalf("fhir: %d %s %s", code, hdr.Get("Content-Type"), body)
	}
	back, err := consent.ParseFHIR(body)
	if err != nil || back.(*consent.Grant).Subject != subj.Subject {
		t.Fatalf("served FHIR does not parse back: %v\n%s", err, body)
	}
	if code, _, _ := testserver.Request(t, http.MethodGet, f.srv.URL+"/v1/entries/"+f.formV1+"/fhir", "", "", nil); code != http.StatusNotFound {
		t.Fatalf("fhir of a consent form: %d", code)
	}

	// FHIR in: a partial withdrawal written as a FHIR Consent, logged with
	// its signed bytes unchanged.
	fw := []byte(`{"resourceType":"Consent","extension":[{"url":"` + consent.FHIRResearchStudyExtension + `","valueReference":{"identifier":{"system":"urn:trialog:trial","value":"` + f.trial + `"}}}],` +
		`"status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"research"}]},` +
		`"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"identifier":{"system":"urn:trialog:subject","value":"` + subj.Subject + `"}},` +
		`"dateTime":"2026-04-01T10:00:00Z","policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},"provision":{"type":"deny","provision":[{"type":"deny","purpose":[{"system":"urn:trialog:purpose","code":"primary-analysis"}]}]}}`)
	fenv := envelope.Sign(consent.FHIRPayloadType, fw, f.site.Priv)
	we, code2, err := f.site.Client.Submit(ctx, fenv, wait)
	if err != nil || code2 != http.StatusCreated {
		t.Fatalf("FHIR withdrawal: %d %v", code2, err)
	}
	if we.Envelope.PayloadType != consent.FHIRPayloadType || !bytes.Equal(we.Statement, fw) {
		t.Fatalf("the FHIR bytes were not logged as signed: %s", we.Statement)
	}
	testserver.VerifyEntry(t, vkey, we)
	if status, c, _ := f.check(t, f.du.Token, subj.Subject, "primary-analysis"); status != http.StatusOK || c.Decision != "deny" ||
		!reflect.DeepEqual(ids(c.Evidence), []string{grant.ID, we.ID}) {
		t.Fatalf("check after FHIR withdrawal: %d %+v", status, c)
	}
	if code, _, body := testserver.Request(t, http.MethodGet, f.srv.URL+"/v1/entries/"+we.ID+"/fhir", "", "", nil); code != http.StatusOK {
		t.Fatalf("fhir of the FHIR withdrawal: %d", code)
	} else if w, err := consent.ParseFHIR(body); err != nil || w.Type() != consent.TypeWithdraw {
		t.Fatalf("fhir of the FHIR withdrawal: %v", err)
	}

	// Re-consent: a newer form version.
	mustSubmit(t, f.owner, consentFormJSON(f.trial, "2.0", "form v2", f.formV1))
	// The FHIR withdrawal took back the only purpose the grant permitted:
	// the consent reads withdrawn, and asks for no re-consent; the other
	// subject's is granted on the old form.
	_, st, _ = f.status(t, subj.SubjectSecret)
	if st.Status != consent.StatusWithdrawn || st.ReconsentRequired || st.FormVersion != "1.0" {
		t.Fatalf("status after form 2.0: %+v", st)
	}
	_, st2, _ := f.status(t, subj2.SubjectSecret)
	if st2.Status != consent.StatusGranted || !st2.ReconsentRequired {
		t.Fatalf("status of the second subject after form 2.0: %+v", st2)
	}
	var sum api.TrialConsent
	if status, e := f.do(t, http.MethodGet, "/v1/trials/"+f.trial+"/consent", f.rg.Token, nil, &sum); status != http.StatusOK {
		t.Fatalf("trial consent: %d %+v", status, e)
	}
	if sum.Subjects != 2 || sum.Granted != 1 || sum.Withdrawn != 1 || sum.ReconsentRequired != 1 || sum.LatestFormVersion != "2.0" ||
		!reflect.DeepEqual(sum.ByFormVersion, []consent.FormCount{{Version: "1.0", Granted: 1}}) {
		t.Fatalf("trial consent: %+v", sum)
	}
	testserver.IndependentCheckpoint(t, vkey, []byte(sum.Checkpoint))

	// Full withdrawal: the data user is refused.
	mustSubmit(t, f.site, withdrawJSON(f.trial, subj.Subject, "2026-05-01T00:00:00Z"))
	if status, c, _ := f.check(t, f.du.Token, subj.Subject, "future-research"); status != http.StatusOK || c.Decision != "deny" {
		t.Fatalf("check after withdrawal: %d %+v", status, c)
	}
	_, st, _ = f.status(t, subj.SubjectSecret)
	if st.Status != consent.StatusWithdrawn || st.ReconsentRequired {
		t.Fatalf("status after withdrawal: %+v", st)
	}
	before := testserver.ReadLog(t, f.srv.URL)
	beforeEntries := append(st.Evidence, st.Access...)

	// Erasure by the patient, with the secret.
	var erased api.ConsentErased
	if status, e := f.post(t, "/v1/consent/erase", "", api.ConsentEraseRequest{SubjectSecret: subj.SubjectSecret, TrialID: f.trial}, &erased); status != http.StatusOK || !erased.Erased {
		t.Fatalf("erase: %d %+v", status, e)
	}
	testserver.VerifyEntry(t, vkey, erased.Entry)
	var ev map[string]any
	json.Unmarshal(checkServiceSigned(t, f.info, erased.Entry), &ev)
	if len(ev) != 4 || ev["type"] != consent.TypeErasure || ev["subject"] != subj.Subject || ev["trial_id"] != f.trial {
		t.Fatalf("erasure statement %v", ev)
	}
	statusErased, _, eErased := f.status(t, subj.SubjectSecret)
	var never [32]byte
	rand.Read(never[:])
	statusNever, _, eNever := f.status(t, base64.StdEncoding.EncodeToString(never[:]))
	if statusErased != http.StatusNotFound || statusNever != http.StatusNotFound || eErased != eNever {
		t.Fatalf("status after erasure %d %+v; of a never-issued secret %d %+v: must be the same 404", statusErased, eErased, statusNever, eNever)
	}
	if status, _, _ := f.check(t, f.du.Token, subj.Subject, "primary-analysis"); status != http.StatusNotFound {
		t.Fatalf("check after erasure: %d", status)
	}
	if status, _, err := submitStatement(t, f.site, grantJSON(f.trial, subj.Subject, "2.0", "form v2", "2026-07-01T00:00:00Z")); status != http.StatusBadRequest {
		t.Fatalf("grant for an erased subject: %d %v", status, err)
	}
	if status, _ := f.post(t, "/v1/consent/erase", "", api.ConsentEraseRequest{SubjectSecret: subj.SubjectSecret, TrialID: f.trial}, nil); status != http.StatusNotFound {
		t.Fatalf("erasing again with the secret: %d", status)
	}

	// Erasure by the site, with the subject; repeating it answers the same
	// erasure entry.
	var e2, e2again api.ConsentErased
	if status, e := f.post(t, "/v1/consent/erase", f.site.Token, api.ConsentEraseRequest{Subject: subj2.Subject, TrialID: f.trial}, &e2); status != http.StatusOK {
		t.Fatalf("site erase: %d %+v", status, e)
	}
	if status, _ := f.post(t, "/v1/consent/erase", f.site.Token, api.ConsentEraseRequest{Subject: subj2.Subject, TrialID: f.trial}, &e2again); status != http.StatusOK || e2again.Entry.ID != e2.Entry.ID {
		t.Fatalf("site erase again: %d %s %s", status, e2again.Entry.ID, e2.Entry.ID)
	}
	if status, _, _ := f.status(t, subj2.SubjectSecret); status != http.StatusNotFound {
		t.Fatalf("status after site erasure: %d", status)
	}
	if status, e := f.do(t, http.MethodGet, "/v1/trials/"+f.trial+"/consent", f.owner.Token, nil, &sum); status != http.StatusOK || sum.Erased != 2 || sum.Granted != 0 {
		t.Fatalf("trial consent after erasure: %d %+v %+v", status, sum, e)
	}

	// The log is unchanged: every entry still verifies, against a newer
	// checkpoint consistent with the one before the erasure.
	after := testserver.ReadLog(t, f.srv.URL)
	testserver.CheckConsistency(t, f.srv.URL, after.Size, after.Root, before.Size, before.Root)
	for _, old := range beforeEntries {
		e, err := client.New(f.srv.URL, "").Entry(ctx, old.ID)
		if err != nil || e.Leaf != old.Leaf {
			t.Fatalf("entry %s after erasure: %v", old.ID, err)
		}
		testserver.VerifyEntry(t, vkey, e)
	}

	assertNoSecretInLeaves(t, f.srv.URL, after.Size, []api.ConsentSubject{subj, subj2})
}

// assertNoSecretInLeaves reads every leaf through the public API and checks
// that none holds a subject secret in any encoding, nor its hash: only
// subject references and public trial data reach the log.
func assertNoSecretInLeaves(t *testing.T, url string, size int64, subjects []api.ConsentSubject) {
	t.Helper()
	var forbidden []string
	for _, s := range subjects {
		raw, _ := base64.StdEncoding.DecodeString(s.SubjectSecret)
		h := sha256.Sum256(raw)
		labelled := sha256.Sum256(append([]byte("trialog consent subject secret v1\x00"), raw...))
		for _, b := range [][]byte{raw, h[:], labelled[:]} {
			forbidden = append(forbidden, string(b), hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
				base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
				base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b))
		}
	}
	c := client.New(url, "")
	seen := int64(0)
	for start := int64(0); start < size; start += 1000 {
		es, err := c.Leaves(context.Background(), start, min(1000, size-start))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			seen++
			leaf, err := base64.StdEncoding.DecodeString(e.Leaf)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := envelope.DecodeB64(e.Envelope.Payload)
			if err != nil {
				t.Fatal(err)
			}
			for _, hay := range [][]byte{leaf, payload, e.Statement} {
				for _, needle := range forbidden {
					if bytes.Contains(hay, []byte(needle)) {
						t.Fatalf("leaf %d contains a subject secret or its hash (%q)", e.LeafIndex, needle)
					}
				}
			}
			// Consent leaves carry only the fields of their schema: the
			// subject reference and public trial data.
			var fields map[string]json.RawMessage
			json.Unmarshal(payload, &fields)
			var typ string
			json.Unmarshal(fields["type"], &typ)
			if strings.HasPrefix(typ, "consent.") {
				for k := range fields {
					switch k {
					case "type", "trial_id", "subject", "issued_at", "form", "scope", "period", "purposes", "accessor", "purpose", "decision", "evidence":
					default:
						t.Fatalf("leaf %d: consent statement has field %q", e.LeafIndex, k)
					}
				}
			}
		}
	}
	if seen != size {
		t.Fatalf("read %d leaves of %d", seen, size)
	}
}

// TestConsentAuthorization is the matrix of who may call each consent
// endpoint.
func TestConsentAuthorization(t *testing.T) {
	f := newConsentFixture(t)
	subj := f.mint(t)
	mustSubmit(t, f.site, grantJSON(f.trial, subj.Subject, "1.0", "form v1", "2026-03-01T09:30:00Z"))
	who := map[string]string{"no token": "", "owner": f.owner.Token, "site": f.site.Token, "other site": f.other.Token, "data user": f.du.Token, "regulator": f.rg.Token}

	for _, tc := range []struct {
		name string
		call func(token string) int
		want map[string]int
	}{
		{"mint a subject", func(tok string) int {
			s, _ := f.post(t, "/v1/consent/subjects", tok, api.ConsentSubjectRequest{TrialID: f.trial}, nil)
			return s
		}, map[string]int{"no token": 401, "owner": 403, "site": 201, "other site": 403, "data user": 403, "regulator": 403}},
		{"check", func(tok string) int {
			s, _, _ := f.check(t, tok, subj.Subject, "primary-analysis")
			return s
		}, map[string]int{"no token": 401, "owner": 403, "site": 403, "other site": 403, "data user": 200, "regulator": 403}},
		{"trial consent counts", func(tok string) int {
			s, _ := f.do(t, http.MethodGet, "/v1/trials/"+f.trial+"/consent", tok, nil, nil)
			return s
		}, map[string]int{"no token": 401, "owner": 200, "site": 200, "other site": 403, "data user": 403, "regulator": 200}},
		{"erase by subject (unknown subject)", func(tok string) int {
			s, _ := f.post(t, "/v1/consent/erase", tok, api.ConsentEraseRequest{Subject: "sub_11111111111111111111111111111111", TrialID: f.trial}, nil)
			return s
		}, map[string]int{"no token": 401, "owner": 403, "site": 404, "other site": 403, "data user": 403, "regulator": 403}},
	} {
		for name, tok := range who {
			if got := tc.call(tok); got != tc.want[name] {
				t.Errorf("%s by %s: %d, want %d", tc.name, name, got, tc.want[name])
			}
		}
	}

	// Statements: only a site delegated on the trial, only for its live
	// subjects.
	for _, tc := range []struct {
		name    string
		by      *testserver.Principal
		payload []byte
		want    int
	}{
		{"grant by undelegated site", f.other, grantJSON(f.trial, subj.Subject, "1.0", "form v1", "2026-03-02T00:00:00Z"), 403},
		{"grant by sponsor", f.owner, grantJSON(f.trial, subj.Subject, "1.0", "form v1", "2026-03-02T00:00:00Z"), 403},
		{"grant for unknown subject", f.site, grantJSON(f.trial, "sub_11111111111111111111111111111111", "1.0", "form v1", "2026-03-02T00:00:00Z"), 400},
		{"grant on unlogged form", f.site, grantJSON(f.trial, subj.Subject, "9.9", "form v1", "2026-03-02T00:00:00Z"), 400},
		{"access written by a site", f.site, []byte(`{"type":"consent.access","trial_id":"` + f.trial + `","subject":"` + subj.Subject + `","issued_at":"2026-03-02T00:00:00Z","accessor":"x","purpose":"p","decision":"permit","evidence":[]}`), 403},
		{"withdraw by undelegated site", f.other, withdrawJSON(f.trial, subj.Subject, "2026-03-02T00:00:00Z"), 403},
		{"withdraw by delegated site", f.site, withdrawJSON(f.trial, subj.Subject, "2026-03-02T00:00:00Z"), 201},
	} {
		if status, _, err := submitStatement(t, tc.by, tc.payload); status != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.name, status, err, tc.want)
		}
	}

	// Requests with malformed input.
	if status, e := f.post(t, "/v1/consent/status", "", api.ConsentStatusRequest{SubjectSecret: "not-base64", TrialID: f.trial}, nil); status != 400 {
		t.Errorf("status with a malformed secret: %d %+v", status, e)
	}
	if status, _ := f.post(t, "/v1/consent/status", "", api.ConsentStatusRequest{SubjectSecret: subj.SubjectSecret, TrialID: "NCT99999999"}, nil); status != 404 {
		t.Errorf("status for another trial: %d", status)
	}
	if status, _ := f.post(t, "/v1/consent/erase", f.site.Token, api.ConsentEraseRequest{Subject: subj.Subject, SubjectSecret: subj.SubjectSecret, TrialID: f.trial}, nil); status != 400 {
		t.Errorf("erase with both: %d", status)
	}
	if status, _, _ := f.check(t, f.du.Token, "MRN-123", "primary-analysis"); status != 400 {
		t.Errorf("check with a malformed subject: %d", status)
	}
	if status, _ := f.post(t, "/v1/consent/erase", f.other.Token, api.ConsentEraseRequest{Subject: subj.Subject, TrialID: f.trial}, nil); status != 403 {
		t.Errorf("erase by an undelegated site: %d", status)
	}
	if status, _, _ := f.status(t, subj.SubjectSecret); status != 200 {
		t.Errorf("status after refused erasures: %d", status)
	}
}
