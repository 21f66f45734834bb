package consent

import (
	"context"
	"sort"
	"time"

	"github.com/trialog/trialog/statement"
)

// SubjectState is what the consent checks need of a subject, kept by key
// ("consent-subject:<subject>", statement.State) and updated with every
// grant, withdrawal and erasure: the latest grant's scope and period, the
// purposes withdrawn since, and the evidence. Access records change nothing
// in it, so a check costs the same after a thousand earlier checks as after
// none.
type SubjectState struct {
	Status    string            `json:"status"`
	Decisions map[string]string `json:"decisions,omitempty"`
	// All is set by a full withdrawal since the latest grant.
	All bool `json:"all,omitempty"`
	// Granted is set once the subject has a grant; Period and FormVersion
	// are the latest grant's.
	Granted bool `json:"granted,omitempty"`
	// Permitted lists the purposes the latest grant permits: the status
	// word follows them (partially withdrawn, withdrawn).
	Permitted   []string `json:"permitted,omitempty"`
	Period      *Period  `json:"period,omitempty"`
	FormVersion string   `json:"form_version,omitempty"`
	Erased      bool     `json:"erased,omitempty"`
	Evidence    []string `json:"evidence"`
}

func newSubjectState() *SubjectState {
	return &SubjectState{Status: StatusNone, Decisions: map[string]string{}, Evidence: []string{}}
}

func subjectKey(subject string) string { return "consent-subject:" + subject }

// LoadSubject reads a subject's state; a subject without consent events has
// the state of no consent.
func LoadSubject(ctx context.Context, s statement.State, subject string) (*SubjectState, error) {
	st := newSubjectState()
	if _, err := s.Get(ctx, subjectKey(subject), st); err != nil {
		return nil, err
	}
	if st.Decisions == nil {
		st.Decisions = map[string]string{}
	}
	if st.Evidence == nil {
		st.Evidence = []string{}
	}
	return st, nil
}

// apply folds one of the subject's entries into the state.
func (s *SubjectState) apply(id string, st statement.Statement) {
	switch g := st.(type) {
	case *Grant:
		s.All, s.Granted = false, true
		clear(s.Decisions)
		s.Permitted = nil
		for _, sc := range g.Scope {
			s.Decisions[sc.Purpose] = sc.Decision
			if sc.Decision == Permit {
				s.Permitted = append(s.Permitted, sc.Purpose)
			}
		}
		s.Period, s.FormVersion = g.Period, g.Form.Version
		s.Status = StatusGranted
		s.Evidence = []string{id}
	case *Withdraw:
		s.Evidence = append(s.Evidence, id)
		if g.All() {
			s.All = true
			s.Status = StatusWithdrawn
		}
		for _, p := range g.Purposes {
			s.Decisions[p] = Deny
		}
	case *Erasure:
		s.Erased = true
	}
}

// Consent returns the subject's consent given the trial's current
// consent-form version (latest, "" if unknown) at now. Access is empty: it
// lists history, which the state does not keep.
func (s *SubjectState) Consent(latest string, now time.Time) *Status {
	st := &Status{Status: s.Status, Scope: []Scope{}, Evidence: append([]string{}, s.Evidence...), Access: []string{}, Erased: s.Erased}
	if s.Granted && !s.All {
		st.Status = s.word(now)
	}
	if s.Granted {
		st.FormVersion = s.FormVersion
		st.ReconsentRequired = Active(st.Status) && latest != "" && latest != s.FormVersion
	}
	inPeriod := s.Granted && within(s.Period, now)
	for p, d := range s.Decisions {
		if s.All || !inPeriod {
			d = Deny
		}
		st.Scope = append(st.Scope, Scope{Purpose: p, Decision: d})
	}
	sort.Slice(st.Scope, func(i, j int) bool { return st.Scope[i].Purpose < st.Scope[j].Purpose })
	return st
}

// word is the status of a granted subject without a full withdrawal since:
// withdrawn when every purpose the grant permits was withdrawn one by one,
// else expired when the grant's period has ended, else partially withdrawn
// when some were, else granted.
func (s *SubjectState) word(now time.Time) string {
	withdrawn := 0
	for _, p := range s.Permitted {
		if s.Decisions[p] != Permit {
			withdrawn++
		}
	}
	switch {
	case len(s.Permitted) > 0 && withdrawn == len(s.Permitted):
		return StatusWithdrawn
	case ended(s.Period, now):
		return StatusExpired
	case withdrawn > 0:
		return StatusPartiallyWithdrawn
	}
	return StatusGranted
}

// applyEvent records a grant, withdrawal or erasure in its subject's state.
func applyEvent(ctx context.Context, s statement.State, e statement.Logged) error {
	cs := e.Statement.(Statement)
	st, err := LoadSubject(ctx, s, cs.SubjectID())
	if err != nil {
		return err
	}
	st.apply(e.ID, e.Statement)
	return s.Put(ctx, subjectKey(cs.SubjectID()), st)
}

// applyAccess changes nothing in the subject's state, but gives a subject
// without consent events its row: an access record decided on "no consent"
// then conflicts with a first grant appended at the same time by another
// trialogd (both create the row; one is decided again), instead of passing
// unlocked.
func applyAccess(ctx context.Context, s statement.State, e statement.Logged) error {
	a := e.Statement.(*Access)
	var st SubjectState
	ok, err := s.Get(ctx, subjectKey(a.Subject), &st)
	if err != nil || ok {
		return err
	}
	return s.Put(ctx, subjectKey(a.Subject), newSubjectState())
}
