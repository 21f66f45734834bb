package consent

import (
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/statement"
)

// Statuses of a subject's consent. The word follows the purposes the
// latest grant permits, as of now.
const (
	// StatusGranted: every purpose the latest grant permits is still
	// permitted (or the grant permits none, or its period has not begun).
	StatusGranted = "granted"
	// StatusPartiallyWithdrawn: some, not all, of the purposes the latest
	// grant permits were withdrawn since.
	StatusPartiallyWithdrawn = "partially withdrawn"
	// StatusWithdrawn: a full withdrawal since the latest grant, or every
	// purpose it permits withdrawn one by one.
	StatusWithdrawn = "withdrawn"
	// StatusExpired: the latest grant's period has ended and nothing was
	// withdrawn in full.
	StatusExpired = "expired"
	// StatusNone: no grant and no withdrawal is logged.
	StatusNone = "none"
)

// Active reports whether a status leaves some purpose permitted: granted
// or partially withdrawn.
func Active(status string) bool {
	return status == StatusGranted || status == StatusPartiallyWithdrawn
}

// Status is a subject's consent as the log's entries make it.
type Status struct {
	// Status is the word for the subject's consent now: StatusGranted,
	// StatusPartiallyWithdrawn, StatusWithdrawn, StatusExpired, or
	// StatusNone when nothing is logged.
	Status string
	// Scope is the decision per purpose now: the latest grant's scope, with
	// the purposes withdrawn since then denied, and every purpose denied
	// outside the grant's period or after a full withdrawal. Sorted by
	// purpose.
	Scope []Scope
	// FormVersion is the consent-form version of the latest grant.
	FormVersion string
	// ReconsentRequired is set when the subject's consent is active
	// (granted or partially withdrawn) on an older consent-form version
	// than the trial's latest.
	ReconsentRequired bool
	// Erased is set when a consent.erasure names the subject.
	Erased bool
	// Evidence are the ids of the entries that determine Status and Scope:
	// the latest grant and every withdrawal after it (every withdrawal when
	// there is no grant), in log order.
	Evidence []string
	// Access are the ids of every consent.access entry of the subject, in
	// log order.
	Access []string
}

// Compute returns the consent of the subject whose entries (everything
// indexed under its SubjectRef, in log order) are given. latest is
// the trial's current consent-form version ("" if unknown: no re-consent is
// then required); now decides a grant's period.
func Compute(entries []statement.Logged, latest string, now time.Time) *Status {
	state := newSubjectState()
	var access []string
	for _, e := range entries {
		if _, ok := e.Statement.(*Access); ok {
			access = append(access, e.ID)
			continue
		}
		state.apply(e.ID, e.Statement)
	}
	st := state.Consent(latest, now)
	if access != nil {
		st.Access = access
	}
	return st
}

// ended reports whether a grant's period has ended by now.
func ended(p *Period, now time.Time) bool {
	if p == nil || p.End == "" {
		return false
	}
	e, err := statement.ParseTime("", p.End)
	return err == nil && !now.Before(e)
}

func within(p *Period, now time.Time) bool {
	if p == nil {
		return true
	}
	if p.Start != "" {
		if s, err := statement.ParseTime("", p.Start); err == nil && now.Before(s) {
			return false
		}
	}
	if p.End != "" {
		if e, err := statement.ParseTime("", p.End); err == nil && !now.Before(e) {
			return false
		}
	}
	return true
}

// Decide answers a data user's check of purpose: permit only when the
// subject's consent is active (granted or partially withdrawn), not erased,
// and its scope permits the purpose now. It returns the decision and the evidence entries it rests on.
func Decide(s *Status, purpose string) (string, []string) {
	if !Active(s.Status) || s.Erased {
		return Deny, s.Evidence
	}
	for _, sc := range s.Scope {
		if sc.Purpose == purpose {
			return sc.Decision, s.Evidence
		}
	}
	return Deny, s.Evidence
}

// Summary is a trial's consent counts (defined in api).
type Summary = api.ConsentSummary

// FormCount is the number of granted subjects on a form version (defined in api).
type FormCount = api.FormCount

// Summarize counts the subjects of a trial from its consent events (every
// entry under Ref of each of its identifiers, in log order) and its
// consent-form versions. Subject references are unique to a trial, so the
// entries are grouped by subject alone.
func Summarize(entries []statement.Logged, forms []FormVersion, now time.Time) Summary {
	latest := ""
	if len(forms) > 0 {
		latest = forms[len(forms)-1].Version
	}
	bySubject := map[string][]statement.Logged{}
	var order []string
	for _, e := range entries {
		h := header(e.Statement)
		if h == nil {
			continue
		}
		if _, ok := bySubject[h.Subject]; !ok {
			order = append(order, h.Subject)
		}
		bySubject[h.Subject] = append(bySubject[h.Subject], e)
	}
	sum := Summary{LatestFormVersion: latest, ByFormVersion: []FormCount{}}
	counts := map[string]int{}
	for _, sub := range order {
		st := Compute(bySubject[sub], latest, now)
		sum.Subjects++
		switch {
		case st.Erased:
			sum.Erased++
			continue
		case st.Status == StatusGranted:
			sum.Granted++
			counts[st.FormVersion]++
		case st.Status == StatusPartiallyWithdrawn:
			sum.PartiallyWithdrawn++
			counts[st.FormVersion]++
		case st.Status == StatusWithdrawn:
			sum.Withdrawn++
		case st.Status == StatusExpired:
			sum.Expired++
		default:
			sum.None++
		}
		if st.ReconsentRequired {
			sum.ReconsentRequired++
		}
	}
	for _, f := range forms {
		if n, ok := counts[f.Version]; ok {
			sum.ByFormVersion = append(sum.ByFormVersion, FormCount{Version: f.Version, Granted: n})
			delete(counts, f.Version)
		}
	}
	return sum
}
