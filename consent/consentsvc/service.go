// Package consentsvc is the consent service: minting subjects, a patient's
// consent status, data users' consent checks (each logged as
// consent.access), erasure, a trial's consent counts and the FHIR form of
// consent entries. It applies the rules of package consent to what the log
// engine holds and returns plain values and errors; it speaks neither HTTP
// (personality serves it) nor SQL (storage keeps the subjects).
//
// Its errors wrap ErrSubjectGone, consent.ErrNotConsent,
// trials.ErrUnknownTrial, statement.ErrInvalid, statement.ErrForbidden,
// ErrUnavailable or the engine's errors, for errors.Is.
package consentsvc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
	"github.com/trialog/trialog/trials"
	"github.com/trialog/trialog/trials/trialsvc"
)

// Errors of the service, for errors.Is; each is wrapped with a sentence for
// the caller after a colon.
var (
	// ErrSubjectGone means no live subject answers: a secret never issued
	// or whose subject was erased (the two are not told apart), or a
	// subject reference unknown in the trial or erased.
	ErrSubjectGone = errors.New("no such subject")
	// ErrUnavailable means the subjects' table cannot be reached, or an
	// answer must wait for a checkpoint; retry.
	ErrUnavailable = errors.New("consent temporarily unavailable")
)

// Store keeps the minted subjects (*storage.Store). Lookups return
// storage.ErrNotFound for an unknown subject or secret; creating a subject
// whose reference or secret hash exists returns storage.ErrDuplicateKey.
type Store interface {
	CreateConsentSubject(ctx context.Context, subject, trial string, secretHash []byte) error
	ConsentSubject(ctx context.Context, subject string) (*storage.ConsentSubject, error)
	ConsentSubjectBySecret(ctx context.Context, secretHash []byte) (*storage.ConsentSubject, error)
	EraseConsentSubject(ctx context.Context, subject string, secretHash []byte, at time.Time) (time.Time, error)
	// UnloggedErasures lists the erased subjects whose consent.erasure
	// entry is not marked logged; MarkErasureLogged marks it.
	UnloggedErasures(ctx context.Context) ([]storage.ConsentSubject, error)
	MarkErasureLogged(ctx context.Context, subject string) error
}

// Log is what the service needs of the log engine (*engine.Log).
type Log interface {
	// State reads the domain state by key as last committed.
	State() statement.State
	Proven(ctx context.Context, refs ...string) ([]engine.ProvenEntry, *engine.Published, error)
	ProvenByID(ctx context.Context, ids ...string) ([]engine.ProvenEntry, *engine.Published, error)
	LoggedByRef(ctx context.Context, refs ...string) ([]statement.Logged, error)
	IncludedByRef(ctx context.Context, refs ...string) ([]statement.Logged, *engine.Published, error)
	SubmitAsService(ctx context.Context, payload []byte, wait time.Duration) (*engine.Submission, error)
	EntryByID(ctx context.Context, id string) (*api.Entry, error)
	EntriesByRef(ctx context.Context, ref string) ([]*api.Entry, error)
	Statement(e *api.Entry) (statement.Statement, error)
}

// Config is what a Service needs.
type Config struct {
	Store  Store
	Log    Log
	Trials *trialsvc.Service
	Logger *slog.Logger
	// Wait is how long the endpoints that log an entry wait for it to be in
	// a published checkpoint. Default 30s.
	Wait time.Duration
	// ErasureInterval is how often Run logs erasures whose entry is
	// missing. Default 5 minutes.
	ErasureInterval time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Service answers consent questions.
type Service struct {
	store  Store
	log    Log
	trials *trialsvc.Service
	lg     *slog.Logger
	wait   time.Duration
	every  time.Duration
	now    func() time.Time
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 30 * time.Second
	}
	if cfg.ErasureInterval <= 0 {
		cfg.ErasureInterval = 5 * time.Minute
	}
	return &Service{store: cfg.Store, log: cfg.Log, trials: cfg.Trials, lg: cfg.Logger, wait: cfg.Wait, every: cfg.ErasureInterval, now: cfg.Now}
}

// Subjects gives the consent kinds' checks read access to the minted
// subjects in st (consent.Register takes it).
func Subjects(st Store) consent.Subjects { return subjects{st: st} }

type subjects struct{ st Store }

func (c subjects) Subject(ctx context.Context, ref string) (*consent.Subject, error) {
	cs, err := c.st.ConsentSubject(ctx, ref)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, consent.ErrUnknownSubject
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return &consent.Subject{Ref: cs.Subject, Trial: cs.TrialID, Erased: cs.ErasedAt != nil}, nil
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

// secretLabel separates the hash of a subject secret from every other use of
// SHA-256 in trialog.
const secretLabel = "trialog consent subject secret v1\x00"

// secretHash is the only form in which trialog keeps a subject secret.
// POLICY: GDPR Art. 17 / EDPB 02/2025 — the secret is 32 random bytes, so
// its SHA-256 cannot be reversed or guessed; deleting the hash destroys the
// link (crypto-shredding). No salt is needed: there is nothing to guess.
func secretHash(secret []byte) []byte {
	h := sha256.New()
	h.Write([]byte(secretLabel))
	h.Write(secret)
	return h.Sum(nil)
}

// decodeSecret reads a subject_secret: standard base64 of 32 bytes.
func decodeSecret(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, statement.Invalidf("subject_secret must be the base64 of 32 bytes, as printed on the consent receipt")
	}
	return b, nil
}

// errSecretGone is the one answer for a secret that was never issued and
// for one whose subject was erased: the two must not be told apart.
var errSecretGone = fmt.Errorf("%w: no subject of this trial holds this secret: it was never issued, or the subject was erased", ErrSubjectGone)

// trial loads the trial a request names, from its history: for answers
// that show its consent forms.
func (s *Service) trial(ctx context.Context, raw string) (*trials.Trial, error) {
	id, err := trialsvc.ParseID(raw)
	if err != nil {
		return nil, err
	}
	return s.trials.Load(ctx, id)
}

// trialState reads the state of the trial a request names (owner,
// delegates, chains, kept by key): for writes and checks, whose cost must
// not grow with the trial's history.
func (s *Service) trialState(ctx context.Context, raw string) (*trials.State, error) {
	id, err := trialsvc.ParseID(raw)
	if err != nil {
		return nil, err
	}
	t, err := trials.LoadState(ctx, s.log.State(), id)
	if errors.Is(err, trials.ErrUnknownTrial) {
		return nil, fmt.Errorf("%w: trial %s is not registered", trials.ErrUnknownTrial, id)
	}
	return t, err
}

// delegatedSite checks that caller is a site delegated on t.
func delegatedSite(caller statement.Caller, t *trials.State) error {
	if caller.Role != statement.RoleSite {
		return fmt.Errorf("%w: only a site delegated on trial %s may do this; the %s role may not", statement.ErrForbidden, t.ID, caller.Role)
	}
	if _, ok := t.Delegates[caller.PrincipalID]; !ok {
		return fmt.Errorf("%w: %s is not a site delegated on trial %s; the trial's owner delegates with POST /v1/trials/%s/delegates", statement.ErrForbidden, caller.PrincipalID, t.ID, t.ID)
	}
	return nil
}

// MintSubject mints a subject of a trial for caller, a site delegated on
// it: a random reference and a random 32-byte secret, of which only a hash
// is kept.
// POLICY: HIPAA §164.514(c) — neither is derived from anything about the
// patient; both are fresh random values, so the same person in two trials
// has two unlinkable subjects.
func (s *Service) MintSubject(ctx context.Context, caller statement.Caller, trialID string) (*api.ConsentSubject, error) {
	t, err := s.trialState(ctx, trialID)
	if err != nil {
		return nil, err
	}
	if err := delegatedSite(caller, t); err != nil {
		return nil, err
	}
	for range 3 {
		var ref [16]byte
		var sec [32]byte
		rand.Read(ref[:])
		rand.Read(sec[:])
		subject := "sub_" + hex.EncodeToString(ref[:])
		err := s.store.CreateConsentSubject(ctx, subject, t.ID, secretHash(sec[:]))
		if errors.Is(err, storage.ErrDuplicateKey) {
			continue
		}
		if err != nil {
			return nil, unavailable(err)
		}
		return &api.ConsentSubject{TrialID: t.ID, Subject: subject, SubjectSecret: base64.StdEncoding.EncodeToString(sec[:])}, nil
	}
	return nil, errors.New("minting a subject: three random values collided")
}

// subjectBySecret returns the live subject of trial holding secret (base64)
// and the secret's hash, or errSecretGone.
func (s *Service) subjectBySecret(ctx context.Context, trial, secret string) (string, []byte, error) {
	raw, err := decodeSecret(secret)
	if err != nil {
		return "", nil, err
	}
	h := secretHash(raw)
	cs, err := s.store.ConsentSubjectBySecret(ctx, h)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil, errSecretGone
	}
	if err != nil {
		return "", nil, unavailable(err)
	}
	if cs.TrialID != trial {
		return "", nil, errSecretGone
	}
	return cs.Subject, h, nil
}

// liveSubject returns nil if subject is a live subject of trial.
func (s *Service) liveSubject(ctx context.Context, trial, subject string) error {
	cs, err := s.store.ConsentSubject(ctx, subject)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (cs.TrialID != trial || cs.ErasedAt != nil)) {
		return fmt.Errorf("%w: subject %s of trial %s is unknown or erased", ErrSubjectGone, subject, trial)
	}
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// latestForm is the trial's current consent-form version among the entries
// below size.
func latestForm(t *trials.Trial, size uint64) ([]consent.FormVersion, string) {
	var forms []consent.FormVersion
	for _, f := range consent.Forms(t) {
		if e, ok := t.Find(f.EntryID); ok && uint64(e.LeafIndex) < size {
			forms = append(forms, f)
		}
	}
	if len(forms) == 0 {
		return forms, ""
	}
	return forms, forms[len(forms)-1].Version
}

// Status answers the patient, who holds the secret, with their consent and
// every use of their data, all proven against one checkpoint.
func (s *Service) Status(ctx context.Context, trialID, secret string) (*api.ConsentStatus, error) {
	t, err := s.trial(ctx, trialID)
	if err != nil {
		return nil, err
	}
	subject, _, err := s.subjectBySecret(ctx, t.ID, secret)
	if err != nil {
		return nil, err
	}
	pes, cp, err := s.log.Proven(ctx, consent.SubjectRef(subject))
	if err != nil {
		return nil, err
	}
	_, latest := latestForm(t, cp.Size)
	byID := map[string]*api.Entry{}
	logged := make([]statement.Logged, len(pes))
	for i, pe := range pes {
		byID[pe.ID] = pe.Entry
		logged[i] = statement.Logged{ID: pe.ID, LeafIndex: pe.LeafIndex, PrincipalID: pe.PrincipalID, Statement: pe.Statement, ReceivedAt: statement.ParseReceivedAt(pe.ReceivedAt)}
	}
	st := consent.Compute(logged, latest, s.now())
	out := &api.ConsentStatus{TrialID: t.ID, Subject: subject, Status: st.Status, Scope: st.Scope, FormVersion: st.FormVersion,
		ReconsentRequired: st.ReconsentRequired, Checkpoint: string(cp.Note), Evidence: []*api.Entry{}, Access: []*api.Entry{}}
	for _, id := range st.Evidence {
		out.Evidence = append(out.Evidence, byID[id])
	}
	for _, id := range st.Access {
		out.Access = append(out.Access, byID[id])
	}
	return out, nil
}

// CheckAllowed tells whether caller may check consent at all: only data
// users may.
func CheckAllowed(caller statement.Caller) error {
	if caller.Role != statement.RoleDataUser {
		return fmt.Errorf("%w: only a data user may check consent; the %s role may not", statement.ErrForbidden, caller.Role)
	}
	return nil
}

// maxCheckAttempts bounds the retries of a check whose subject's consent
// changes while it is answered (consent.access is then a conflict).
const maxCheckAttempts = 3

// Check answers a data user (see CheckAllowed) whether it may use a
// subject's data for a purpose. Every check, permit or deny, is logged as
// consent.access first, and answered only once that entry is in a
// published checkpoint, with the evidence proven against it.
func (s *Service) Check(ctx context.Context, caller statement.Caller, trialID, subject, purpose string) (*api.ConsentCheck, error) {
	if !consent.ValidSubject(subject) {
		return nil, statement.Invalidf("subject must be a subject reference (sub_ and 32 hex digits)")
	}
	if !consent.ValidPurpose(purpose) {
		return nil, statement.Invalidf("purpose must be 1 to 64 lowercase letters, digits, '.', '_' or '-'")
	}
	// From the trial's and subject's state, not their history: a check
	// costs the same after a thousand earlier ones.
	t, err := s.trialState(ctx, trialID)
	if err != nil {
		return nil, err
	}
	if err := s.liveSubject(ctx, t.ID, subject); err != nil {
		return nil, err
	}
	var sub *engine.Submission
	var decision string
	for attempt := 1; ; attempt++ {
		ss, err := consent.LoadSubject(ctx, s.log.State(), subject)
		if err != nil {
			return nil, err
		}
		now := s.now()
		var evidence []string
		decision, evidence = consent.Decide(ss.Consent("", now), purpose)
		payload, _ := json.Marshal(consent.AccessStatement(t.ID, subject, caller.PrincipalID, purpose, decision, evidence, now))
		sub, err = s.log.SubmitAsService(ctx, payload, s.wait)
		if errors.Is(err, statement.ErrConflict) && attempt < maxCheckAttempts {
			continue
		}
		if errors.Is(err, statement.ErrInvalid) {
			// Erased between the lookup and the append.
			return nil, fmt.Errorf("%w: subject %s of trial %s is unknown or erased", ErrSubjectGone, subject, t.ID)
		}
		if err != nil {
			return nil, err
		}
		break
	}
	if sub.Entry.Status != api.StatusIncluded {
		return nil, fmt.Errorf("%w: the access record %s is logged but not yet in a published checkpoint; its answer is withheld until it is", engine.ErrUnavailable, sub.Entry.ID)
	}
	pes, cp, err := s.provenAccess(ctx, sub.Entry.ID)
	if err != nil {
		return nil, err
	}
	var access statement.Statement
	out := &api.ConsentCheck{Decision: decision, Evidence: []*api.Entry{}, AccessEntry: sub.Entry.ID, Checkpoint: string(cp.Note)}
	byID := map[string]*api.Entry{}
	for _, pe := range pes {
		byID[pe.ID] = pe.Entry
		if pe.ID == sub.Entry.ID {
			out.Access, access = pe.Entry, pe.Statement
		}
	}
	a, ok := access.(*consent.Access)
	if !ok {
		return nil, errors.New("the access entry is missing from its subject's entries")
	}
	// A duplicate (the same check in the same instant) answers the logged
	// record, so the answer is read from it.
	out.Decision = a.Decision
	for _, id := range a.Evidence {
		out.Evidence = append(out.Evidence, byID[id])
	}
	return out, nil
}

// provenAccess returns a logged consent.access entry and the evidence
// entries it names, each proven against the latest published checkpoint,
// with their statements: what a consent check answers, read by id, so that
// its cost does not grow with the subject's earlier checks. Entries the
// checkpoint does not include are left out.
func (s *Service) provenAccess(ctx context.Context, accessID string) ([]engine.ProvenEntry, *engine.Published, error) {
	e, err := s.log.EntryByID(ctx, accessID)
	if err != nil {
		return nil, nil, err
	}
	st, err := s.log.Statement(e)
	if err != nil {
		return nil, nil, err
	}
	ids := []string{accessID}
	if a, ok := st.(*consent.Access); ok {
		ids = append(ids, a.Evidence...)
	}
	// One call, so that every entry is proven against one checkpoint.
	return s.log.ProvenByID(ctx, ids...)
}

// Erasure names the subject to erase: by the patient's secret, or by a
// site delegated on the trial (Caller) with the subject reference.
type Erasure struct {
	TrialID string
	Secret  string
	Subject string
	Caller  statement.Caller
}

// Erase destroys the link between a patient and their subject and logs the
// consent.erasure, waiting for its inclusion. Erasing again answers the same
// erasure entry.
func (s *Service) Erase(ctx context.Context, req Erasure) (*api.ConsentErased, error) {
	if req.Subject != "" && !consent.ValidSubject(req.Subject) {
		return nil, statement.Invalidf("subject must be a subject reference (sub_ and 32 hex digits)")
	}
	t, err := s.trialState(ctx, req.TrialID)
	if err != nil {
		return nil, err
	}
	subject, hash := req.Subject, []byte(nil)
	if req.Secret != "" {
		if subject, hash, err = s.subjectBySecret(ctx, t.ID, req.Secret); err != nil {
			return nil, err
		}
	} else {
		if err := delegatedSite(req.Caller, t); err != nil {
			return nil, err
		}
		cs, err := s.store.ConsentSubject(ctx, subject)
		if err != nil || cs.TrialID != t.ID {
			if err == nil || errors.Is(err, storage.ErrNotFound) {
				return nil, fmt.Errorf("%w: subject %s of trial %s is unknown", ErrSubjectGone, subject, t.ID)
			}
			return nil, unavailable(err)
		}
	}
	sub, err := s.erase(ctx, t.ID, subject, hash)
	if err != nil {
		return nil, err
	}
	return &api.ConsentErased{Erased: true, Entry: sub.Entry}, nil
}

// erase destroys the link to subject (only from the holder of secretHash
// when it is not nil) and logs the consent.erasure.
func (s *Service) erase(ctx context.Context, trial, subject string, secretHash []byte) (*engine.Submission, error) {
	// POLICY: GDPR Art. 17 — the link goes first, whatever happens to the
	// log entry after. If logging fails, Run logs the same statement (same
	// erasure time) later; a site's retry gets the same entry.
	at, err := s.store.EraseConsentSubject(ctx, subject, secretHash, s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errSecretGone
	}
	if err != nil {
		return nil, unavailable(err)
	}
	s.lg.Info("consent subject erased", "trial", trial)
	payload, err := json.Marshal(consent.ErasureStatement(trial, subject, at))
	if err != nil {
		return nil, err
	}
	sub, err := s.log.SubmitAsService(ctx, payload, s.wait)
	if err != nil {
		return nil, err
	}
	s.markErasureLogged(ctx, subject)
	return sub, nil
}

// markErasureLogged records that subject's erasure entry is durable; if the
// mark is lost, Run submits the erasure once more, a duplicate.
func (s *Service) markErasureLogged(ctx context.Context, subject string) {
	if err := s.store.MarkErasureLogged(ctx, subject); err != nil {
		s.lg.Warn("marking a consent erasure as logged failed; the reconciler will submit it again", "err", err)
	}
}

// Summary counts a trial's subjects by consent state and form version, for
// its owner, its delegates and regulators.
func (s *Service) Summary(ctx context.Context, caller statement.Caller, trialID string) (*api.TrialConsent, error) {
	t, err := s.trial(ctx, trialID)
	if err != nil {
		return nil, err
	}
	if caller.Role != statement.RoleRegulator && !t.MayWrite(caller.PrincipalID) {
		return nil, fmt.Errorf("%w: only the owner of trial %s, its delegates and regulators may see its consent counts", statement.ErrForbidden, t.ID)
	}
	refs := make([]string, len(t.Identifiers))
	for i, id := range t.Identifiers {
		refs[i] = consent.Ref(id)
	}
	es, cp, err := s.log.IncludedByRef(ctx, refs...)
	if err != nil {
		return nil, err
	}
	forms, _ := latestForm(t, cp.Size)
	return &api.TrialConsent{TrialID: t.ID, ConsentSummary: consent.Summarize(es, forms, s.now()), Checkpoint: string(cp.Note)}, nil
}

// FHIR renders a grant or withdrawal entry as a FHIR R4 Consent, with its
// id, the log's time and, for a withdrawal, the grant it changes.
func (s *Service) FHIR(ctx context.Context, id string) ([]byte, error) {
	e, err := s.log.EntryByID(ctx, id)
	if err != nil {
		return nil, err
	}
	st, err := s.log.Statement(e)
	if err != nil {
		return nil, err
	}
	x := consent.FHIRContext{ID: e.ID, ReceivedAt: e.ReceivedAt}
	if w, ok := st.(*consent.Withdraw); ok {
		es, err := s.log.LoggedByRef(ctx, consent.SubjectRef(w.Subject))
		if err != nil {
			return nil, err
		}
		x.Changes = consent.GrantChanged(es, e.LeafIndex)
	}
	b, err := consent.ToFHIR(st, x)
	if errors.Is(err, consent.ErrNotConsent) {
		return nil, fmt.Errorf("%w: entry %s is a %s; only consent.grant and consent.withdraw entries are FHIR Consent resources", consent.ErrNotConsent, id, st.Type())
	}
	return b, err
}

// FHIRPage is one page of a FHIR Consent search: Count resources from
// Offset. Base is the facade's base URL as the client reached it, for the
// bundle's links.
type FHIRPage struct {
	Base          string
	Count, Offset int
}

// SearchFHIR answers a FHIR Consent search by patient: the subject's grants
// and withdrawals in log order, as a searchset bundle of one page.
func (s *Service) SearchFHIR(ctx context.Context, subject string, pg FHIRPage) ([]byte, error) {
	if !consent.ValidSubject(subject) {
		return nil, statement.Invalidf("patient must be a subject reference (sub_ and 32 hex digits)")
	}
	type item struct {
		id string
		st statement.Statement
		x  consent.FHIRContext
	}
	stored, err := s.log.EntriesByRef(ctx, consent.SubjectRef(subject))
	if err != nil {
		return nil, err
	}
	var matches []item
	var last *consent.ChangedGrant
	for _, e := range stored {
		st, err := s.log.Statement(e)
		if err != nil {
			return nil, fmt.Errorf("entry %s: %w", e.ID, err)
		}
		x := consent.FHIRContext{ID: e.ID, ReceivedAt: e.ReceivedAt}
		switch c := st.(type) {
		case *consent.Grant:
			matches = append(matches, item{e.ID, st, x})
			last = &consent.ChangedGrant{EntryID: e.ID, Form: c.Form}
		case *consent.Withdraw:
			x.Changes = last
			matches = append(matches, item{e.ID, st, x})
		}
	}
	count, offset := pg.Count, pg.Offset
	page := func(off int) string {
		v := url.Values{"patient": {subject}, "_count": {strconv.Itoa(count)}}
		if off > 0 {
			v.Set("_offset", strconv.Itoa(off))
		}
		return pg.Base + "/Consent?" + v.Encode()
	}
	links := []consent.BundleLink{{Relation: "self", URL: page(offset)}}
	var entries []consent.BundleEntry
	if offset < len(matches) {
		end := min(offset+count, len(matches))
		for _, m := range matches[offset:end] {
			b, err := consent.ToFHIR(m.st, m.x)
			if err != nil {
				return nil, err
			}
			entries = append(entries, consent.BundleEntry{FullURL: pg.Base + "/Consent/" + m.id, Resource: b})
		}
		if end < len(matches) && count > 0 {
			links = append(links, consent.BundleLink{Relation: "next", URL: page(end)})
		}
	}
	if offset > 0 && count > 0 {
		links = append(links, consent.BundleLink{Relation: "first", URL: page(0)},
			consent.BundleLink{Relation: "previous", URL: page(max(0, offset-count))})
	}
	return consent.SearchBundle(len(matches), links, entries), nil
}

// Run makes sure every erased subject's consent.erasure is in the log until
// ctx ends: the link is destroyed before the entry is logged, so an erasure
// whose logging failed (MySQL or Trillian away, a crash) is logged here.
// Only erasures not marked logged are submitted, so the work does not grow
// with the erasures of the past. The statement is the same bytes each time
// (same subject, trial and erasure time, a deterministic signature), so an
// erasure logged before its mark is answered as a duplicate and adds
// nothing. It runs at start and then every ErasureInterval.
func (s *Service) Run(ctx context.Context) {
	for {
		erased, err := s.store.UnloggedErasures(ctx)
		if err == nil {
			for _, c := range erased {
				payload, merr := json.Marshal(consent.ErasureStatement(c.TrialID, c.Subject, *c.ErasedAt))
				if merr != nil {
					continue
				}
				if _, err = s.log.SubmitAsService(ctx, payload, 0); err != nil {
					break
				}
				s.markErasureLogged(ctx, c.Subject)
			}
		}
		if err != nil && ctx.Err() == nil {
			s.lg.Warn("logging consent erasures failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.every):
		}
	}
}
