package personality

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/personality/envelope"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// ConsentSubjects gives the consent Kinds' checks read access to the minted
// subjects in st.
func ConsentSubjects(st *storage.Store) consent.Subjects { return consentSubjects{st: st} }

type consentSubjects struct{ st *storage.Store }

func (c consentSubjects) Subject(ctx context.Context, ref string) (*consent.Subject, error) {
	cs, err := c.st.ConsentSubject(ctx, ref)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, consent.ErrUnknownSubject
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return &consent.Subject{Ref: cs.Subject, Trial: cs.TrialID, Erased: cs.ErasedAt != nil}, nil
}

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
		return nil, errInvalid("subject_secret must be the base64 of 32 bytes, as printed on the consent receipt")
	}
	return b, nil
}

// errSubjectGone is the one answer for a secret that was never issued and
// for one whose subject was erased: the two must not be told apart.
func errSubjectGone() error {
	return errNotFound("no subject of this trial holds this secret: it was never issued, or the subject was erased")
}

// MintSubject mints a subject of trial (its canonical id): a random
// reference and a random 32-byte secret, of which only a hash is kept.
// POLICY: HIPAA §164.514(c) — neither is derived from anything about the
// patient; both are fresh random values, so the same person in two trials
// has two unlinkable subjects.
func (s *Service) MintSubject(ctx context.Context, trial string) (subject, secret string, err error) {
	for range 3 {
		var ref [16]byte
		var sec [32]byte
		rand.Read(ref[:])
		rand.Read(sec[:])
		subject = "sub_" + hex.EncodeToString(ref[:])
		err := s.store.CreateConsentSubject(ctx, subject, trial, secretHash(sec[:]))
		if errors.Is(err, storage.ErrDuplicateKey) {
			continue
		}
		if err != nil {
			return "", "", unavailable(err)
		}
		return subject, base64.StdEncoding.EncodeToString(sec[:]), nil
	}
	return "", "", fmt.Errorf("minting a subject: three random values collided")
}

// SubjectBySecret returns the live subject of trial holding secret (base64),
// or errSubjectGone.
func (s *Service) SubjectBySecret(ctx context.Context, trial, secret string) (string, []byte, error) {
	raw, err := decodeSecret(secret)
	if err != nil {
		return "", nil, err
	}
	h := secretHash(raw)
	cs, err := s.store.ConsentSubjectBySecret(ctx, h)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil, errSubjectGone()
	}
	if err != nil {
		return "", nil, unavailable(err)
	}
	if cs.TrialID != trial {
		return "", nil, errSubjectGone()
	}
	return cs.Subject, h, nil
}

// LiveSubject returns nil if subject is a live subject of trial, and a 404
// otherwise.
func (s *Service) LiveSubject(ctx context.Context, trial, subject string) error {
	cs, err := s.store.ConsentSubject(ctx, subject)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (cs.TrialID != trial || cs.ErasedAt != nil)) {
		return errNotFound("subject %s of trial %s is unknown or erased", subject, trial)
	}
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// EraseSubject destroys the link between a patient's secret and subject
// (only the holder of secretHash's subject when it is not nil) and logs the
// consent.erasure, waiting up to wait for its inclusion. Erasing again
// answers the same erasure entry.
func (s *Service) EraseSubject(ctx context.Context, trial, subject string, secretHash []byte, wait time.Duration) (*Submission, error) {
	// POLICY: GDPR Art. 17 — the link goes first, whatever happens to the
	// log entry after. If logging fails, logErasures logs the same statement
	// (same erasure time) later; a site's retry gets the same entry.
	at, err := s.store.EraseConsentSubject(ctx, subject, secretHash, s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errSubjectGone()
	}
	if err != nil {
		return nil, unavailable(err)
	}
	s.log.Info("consent subject erased", "trial", trial)
	payload, err := json.Marshal(consent.ErasureStatement(trial, subject, at))
	if err != nil {
		return nil, err
	}
	sub, err := s.SubmitAsService(ctx, payload, wait)
	if err != nil {
		return nil, err
	}
	s.markErasureLogged(ctx, subject)
	return sub, nil
}

// LoggedByRef returns every entry under refs, once each, in log order, with
// its parsed statement: everything in the log's order, included in a
// checkpoint or not.
func (s *Service) LoggedByRef(ctx context.Context, refs ...string) ([]statement.Logged, error) {
	r := s.Reader()
	seen := map[int64]bool{}
	var out []statement.Logged
	for _, ref := range refs {
		es, err := r.EntriesByRef(ctx, ref)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if !seen[e.LeafIndex] {
				seen[e.LeafIndex] = true
				out = append(out, e)
			}
		}
	}
	sortLogged(out)
	return out, nil
}

// IncludedByRef is LoggedByRef limited to the entries the latest published
// checkpoint includes, without proofs, and that checkpoint.
func (s *Service) IncludedByRef(ctx context.Context, refs ...string) ([]statement.Logged, *Published, error) {
	cp := s.Published()
	if cp == nil {
		return nil, nil, fmt.Errorf("%w: no checkpoint yet", ErrUnavailable)
	}
	all, err := s.LoggedByRef(ctx, refs...)
	if err != nil {
		return nil, nil, err
	}
	out := all[:0]
	for _, e := range all {
		if uint64(e.LeafIndex) < cp.Size {
			out = append(out, e)
		}
	}
	return out, cp, nil
}

func sortLogged(es []statement.Logged) {
	sort.Slice(es, func(i, j int) bool { return es[i].LeafIndex < es[j].LeafIndex })
}

// EntryStatement returns an entry's parsed statement and its payloadType.
func (s *Service) EntryStatement(e *Entry) (statement.Statement, error) {
	payload, err := envelope.DecodeB64(e.Envelope.Payload)
	if err != nil {
		return nil, err
	}
	_, st, err := s.reg.ParseFor(e.Envelope.PayloadType, payload)
	return st, err
}

func errUnavailableMsg(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnavailable, fmt.Sprintf(format, args...))
}

func isStoreNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }

// logErasures makes sure every erased subject's consent.erasure is in the
// log: the link is destroyed before the entry is logged, so an erasure whose
// logging failed (MySQL or Trillian away, a crash) is logged here. Only
// erasures not marked logged are submitted, so the work does not grow with
// the erasures of the past. The statement is the same bytes each time (same
// subject, trial and erasure time, a deterministic signature), so an erasure
// logged before its mark is answered as a duplicate and adds nothing. It
// runs at start and then every interval until ctx ends.
func (s *Service) logErasures(ctx context.Context, interval time.Duration) {
	for {
		erased, err := s.store.UnloggedErasures(ctx)
		if err == nil {
			for _, c := range erased {
				payload, merr := json.Marshal(consent.ErasureStatement(c.TrialID, c.Subject, *c.ErasedAt))
				if merr != nil {
					continue
				}
				if _, err = s.SubmitAsService(ctx, payload, 0); err != nil {
					break
				}
				s.markErasureLogged(ctx, c.Subject)
			}
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("logging consent erasures failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// markErasureLogged records that subject's erasure entry is durable; if the
// mark is lost, the reconciler submits the erasure once more, a duplicate.
func (s *Service) markErasureLogged(ctx context.Context, subject string) {
	if err := s.store.MarkErasureLogged(ctx, subject); err != nil {
		s.log.Warn("marking a consent erasure as logged failed; the reconciler will submit it again", "err", err)
	}
}
