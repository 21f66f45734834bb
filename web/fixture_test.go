package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/web"
	"github.com/trialog/trialog/web/internal/wasmbuild"
)

// verifierAssets builds the verifier from the current source into a
// directory holding a copy of web/assets, once per test binary, so that
// the tests never run a stale verifier.wasm.
var verifierAssets = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "trialog-pages-assets-")
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir("assets")
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == web.VerifierFile || e.Name() == web.WasmExecFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join("assets", e.Name()))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, wasmbuild.Build("..", dir)
})

func assetsDir(t *testing.T) string {
	t.Helper()
	dir, err := verifierAssets()
	if err != nil {
		t.Fatalf("building the verifier: %v", err)
	}
	return dir
}

// captured is one request as it reached the pages' server.
type captured struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// front serves the pages and passes the API through a reverse proxy to a
// real trialogd; tamper, when set, rewrites the API's answers in transit.
type front struct {
	URL string

	mu     sync.Mutex
	reqs   []captured
	tamper func(r *http.Request, body []byte) []byte
}

func newFront(t *testing.T, apiURL string) *front {
	t.Helper()
	target, _ := url.Parse(apiURL)
	f := &front{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		f.mu.Lock()
		tamper := f.tamper
		f.mu.Unlock()
		if tamper == nil {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		b = tamper(resp.Request, b)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Del("Content-Length")
		return nil
	}
	pages := web.Mount(rp, web.Options{Assets: os.DirFS(assetsDir(t))})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mu.Lock()
		f.reqs = append(f.reqs, captured{Method: r.Method, URL: r.URL.String(), Header: r.Header.Clone(), Body: body})
		f.mu.Unlock()
		pages.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *front) setTamper(fn func(r *http.Request, body []byte) []byte) {
	f.mu.Lock()
	f.tamper = fn
	f.mu.Unlock()
}

func (f *front) requests() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.reqs...)
}

func (f *front) reset() {
	f.mu.Lock()
	f.reqs = nil
	f.tamper = nil
	f.mu.Unlock()
}

// scenario is a trial with a switched outcome report and a patient whose
// data was used twice, logged in a real trialogd on MariaDB.
type scenario struct {
	srv      *testserver.Server
	info     *api.LogInfo
	trial    string
	secret   string // standard base64, as the API gives it
	subject  string
	entries  int // the trial's timeline entries
	accessor string
	owner    *testserver.Principal
	formV1   string // the consent form 1.0's entry
}

const trialID = "NCT09400077"

func newScenario(t *testing.T) *scenario {
	t.Helper()
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	ctx := context.Background()
	info, err := client.New(srv.URL, "").Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{srv: srv, info: info, trial: trialID}
	owner := srv.NewPrincipal(t, "Sponsor Ltd", "sponsor")
	site := srv.NewPrincipal(t, "St Mary's research office", "site")
	du := srv.NewPrincipal(t, "Analysis CRO", "data-user")
	s.accessor, s.owner = du.ID, owner
	submit := func(p *testserver.Principal, st string) *api.Entry {
		t.Helper()
		e, status, err := p.Client.Submit(ctx, p.Sign([]byte(st)), 10*time.Second)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("%s submitting %s: %d %v", p.Name, st, status, err)
		}
		return e
	}
	planned := `"outcomes":[{"id":"P1","kind":"primary","measure":"HbA1c","time_frame":"Week 26"},` +
		`{"id":"S1","kind":"secondary","measure":"Body weight","time_frame":"Week 26"}]`
	submit(owner, `{"type":"trial.registration","trial_id":"`+trialID+`","issued_at":"2026-01-05T09:00:00Z","title":"Glucose trial",`+planned+`}`)
	submit(owner, `{"type":"trial.protocol","trial_id":"`+trialID+`","issued_at":"2026-01-06T09:00:00Z","version":"1.0",`+
		`"document":{"sha256":"`+testserver.DigestOf("protocol 1.0")+`"},`+planned+`}`)
	s.formV1 = submit(owner, `{"type":"trial.consent-form","trial_id":"`+trialID+`","issued_at":"2026-01-06T10:00:00Z","version":"1.0",`+
		`"document":{"sha256":"`+testserver.DigestOf("consent form 1.0")+`"}}`).ID
	body, _ := json.Marshal(map[string]string{"principal": site.ID})
	if status, _, b := testserver.Request(t, http.MethodPost, srv.URL+"/v1/trials/"+trialID+"/delegates?wait=10s", owner.Token, "application/json", body); status != http.StatusCreated {
		t.Fatalf("delegation: %d %s", status, b)
	}
	submit(owner, `{"type":"trial.milestone","trial_id":"`+trialID+`","issued_at":"2026-02-01T08:00:00Z","event":"first_participant_in","at":"2026-02-01T08:00:00Z"}`)
	submit(owner, `{"type":"trial.results","trial_id":"`+trialID+`","issued_at":"2026-09-01T08:00:00Z",`+
		`"document":{"sha256":"`+testserver.DigestOf("results")+`"},`+
		`"outcomes":[{"id":"P1","kind":"secondary","measure":"HbA1c","time_frame":"Week 26"},`+
		`{"id":"S1","kind":"primary","measure":"Body weight","time_frame":"Week 26"},`+
		`{"id":"A1","kind":"primary","measure":"Quality of life","time_frame":"Week 26"}]}`)
	s.entries = 6

	// The patient: enrolled by the site, consent granted, data used twice.
	var subj struct {
		Subject       string `json:"subject"`
		SubjectSecret string `json:"subject_secret"`
	}
	req, _ := json.Marshal(map[string]string{"trial_id": trialID})
	status, _, b := testserver.Request(t, http.MethodPost, srv.URL+"/v1/consent/subjects", site.Token, "application/json", req)
	if status != http.StatusCreated || json.Unmarshal(b, &subj) != nil {
		t.Fatalf("minting a subject: %d %s", status, b)
	}
	s.secret, s.subject = subj.SubjectSecret, subj.Subject
	submit(site, `{"type":"consent.grant","trial_id":"`+trialID+`","subject":"`+s.subject+`","issued_at":"2026-02-03T09:30:00Z",`+
		`"form":{"version":"1.0","sha256":"`+testserver.DigestOf("consent form 1.0")+`"},`+
		`"scope":[{"purpose":"primary-analysis","decision":"permit"},{"purpose":"future-research","decision":"deny"}]}`)
	for _, purpose := range []string{"primary-analysis", "future-research"} {
		req, _ := json.Marshal(map[string]string{"trial_id": trialID, "subject": s.subject, "purpose": purpose})
		if status, _, b := testserver.Request(t, http.MethodPost, srv.URL+"/v1/consent/check", du.Token, "application/json", req); status != http.StatusOK {
			t.Fatalf("consent check %s: %d %s", purpose, status, b)
		}
	}
	return s
}

// secretURL is the secret as the patient's link carries it: base64url.
func (s *scenario) secretURL() string {
	raw, _ := base64.StdEncoding.DecodeString(s.secret)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// secretForms are every encoding of the secret that could leak.
func (s *scenario) secretForms() []string {
	raw, _ := base64.StdEncoding.DecodeString(s.secret)
	return []string{s.secret, strings.TrimRight(s.secret, "="), s.secretURL(), base64.URLEncoding.EncodeToString(raw),
		url.QueryEscape(s.secret), url.PathEscape(s.secret)}
}

// flipProofByte changes one character of the first inclusion-proof hash in
// a JSON answer, keeping it valid base64: one proof byte changed in
// transit.
func flipProofByte(body []byte) []byte {
	i := bytes.Index(body, []byte(`"hashes":["`))
	if i < 0 {
		return body
	}
	j := i + len(`"hashes":["`) + 5
	out := bytes.Clone(body)
	if out[j] == 'A' {
		out[j] = 'B'
	} else {
		out[j] = 'A'
	}
	return out
}
