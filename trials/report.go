package trials

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/statement"
)

// Outcome statuses: how the compared results report a baseline outcome.
const (
	StatusUnchanged = "unchanged" // same kind and time frame
	StatusAdded     = "added"     // reported, not pre-specified in the baseline
	StatusDropped   = "dropped"   // pre-specified in the baseline, not reported
	StatusPromoted  = "promoted"  // secondary in the baseline, reported as primary
	StatusDemoted   = "demoted"   // primary in the baseline, reported as secondary
	StatusRetimed   = "retimed"   // same kind, another time frame
)

// Flag codes.
const (
	FlagResultsBeforeRegistration = "results_before_registration"
	FlagRegisteredAfterStart      = "registered_after_start"
	FlagSAPAfterLock              = "sap_after_lock"
	FlagSAPAfterUnblinding        = "sap_after_unblinding"
	FlagAmendedAfterStart         = "amended_after_start"
)

// What changed in an outcome between two statements of it.
const (
	ChangeKind      = "kind"
	ChangeTimeFrame = "time_frame"
	ChangeMeasure   = "measure"
)

// Report is the outcome report as the API serves it: the JSON type is defined in package api.
type Report = api.TrialReport

// OutcomeStatus is one outcome's row in the report (defined in api).
type OutcomeStatus = api.OutcomeStatus

// Flag is an observation about the order of the trial's entries (defined in api).
type Flag = api.Flag

// Ver is one version in a protocol, SAP or consent-form chain (defined in api).
type Ver = api.Version

// Compute makes the outcome report of trial from its entries alone, in the
// order of their leaf indices. Claimed times (issued_at, a milestone's at)
// play no part: "before" and "after" are log order. Only each entry's ID,
// LeafIndex and Statement are read, so a verifier can recompute the report
// from a verified timeline (parse each entry's statement with a registry
// holding Register's kinds) and compare it with the one trialogd served:
// the report is the same for the same entries, whoever computes it.
func Compute(trial string, entries []statement.Logged) (*Report, error) {
	es := slices.Clone(entries)
	sort.SliceStable(es, func(i, j int) bool { return es[i].LeafIndex < es[j].LeafIndex })
	t, err := Build(es)
	if err != nil {
		return nil, err
	}
	h := newHistory(t)
	rep := &Report{TrialID: trial, Identifiers: t.Identifiers, Outcomes: []OutcomeStatus{}, Flags: []Flag{}, Chains: h.chains()}

	base, why := h.baseline()
	rep.Baseline, rep.BaselineReason = base.ID, why
	if h.fpi != nil {
		rep.Start = &h.fpi.ID
	}
	if n := len(h.results); n > 0 {
		cmp := h.results[n-1]
		rep.Compared = &cmp.ID
		rep.Outcomes = h.compare(base, cmp)
	}
	rep.Flags = h.flags()
	return rep, nil
}

// history is a trial's entries sorted by type, each list in log order.
type history struct {
	t             *Trial
	registrations []statement.Logged
	protocols     []statement.Logged
	saps          []statement.Logged
	consentForms  []statement.Logged
	results       []statement.Logged
	fpi           *statement.Logged // the first of each milestone
	lock          *statement.Logged
	unblinding    *statement.Logged
}

func newHistory(t *Trial) *history {
	h := &history{t: t}
	for i, e := range t.Entries {
		switch st := e.Statement.(type) {
		case *Registration:
			h.registrations = append(h.registrations, e)
		case *Plan:
			if st.Type() == TypeProtocol {
				h.protocols = append(h.protocols, e)
			} else {
				h.saps = append(h.saps, e)
			}
		case *ConsentForm:
			h.consentForms = append(h.consentForms, e)
		case *Results:
			h.results = append(h.results, e)
		case *Milestone:
			first := &h.fpi
			switch st.Event {
			case EventDatabaseLock:
				first = &h.lock
			case EventUnblinding:
				first = &h.unblinding
			case EventLastParticipantOut:
				first = nil
			}
			if first != nil && *first == nil {
				*first = &t.Entries[i]
			}
		}
	}
	return h
}

// baseline picks the reference the way COMPare did: the protocol in force
// when the trial started, else the registry entry as it stood then. Without
// a logged start no protocol can be shown to precede it, so the first
// registration is the reference: never logging first_participant_in must
// not earn a later baseline.
func (h *history) baseline() (statement.Logged, string) {
	if h.fpi == nil {
		return h.registrations[0], "no first_participant_in milestone is logged, so no protocol version can be shown to precede the start: the baseline is the trial's first registration"
	}
	if p := lastBefore(h.protocols, h.fpi.LeafIndex); p != nil {
		v, _ := p.Statement.(*Plan).Chain()
		return *p, fmt.Sprintf("protocol version %q is the last logged before first_participant_in (entry %s)", v, h.fpi.ID)
	}
	if g := lastBefore(h.registrations, h.fpi.LeafIndex); g != nil {
		return *g, fmt.Sprintf("no protocol version is logged before first_participant_in (entry %s): the baseline is the last registration logged before it", h.fpi.ID)
	}
	return h.registrations[0], fmt.Sprintf("the trial was registered only after first_participant_in (entry %s): the baseline is its first registration", h.fpi.ID)
}

func lastBefore(es []statement.Logged, index int64) *statement.Logged {
	var last *statement.Logged
	for i := range es {
		if es[i].LeafIndex < index {
			last = &es[i]
		}
	}
	return last
}

// outcomesOf returns the outcomes a statement lists.
func outcomesOf(e statement.Logged) []Outcome {
	switch st := e.Statement.(type) {
	case *Registration:
		return st.Outcomes
	case *Plan:
		return st.Outcomes
	case *Results:
		return st.Outcomes
	}
	return nil
}

func find(os []Outcome, id string) *Outcome {
	for i := range os {
		if os[i].ID == id {
			o := os[i]
			return &o
		}
	}
	return nil
}

// changes lists what differs between two statements of one outcome.
func changes(a, b Outcome) []string {
	out := []string{}
	if a.Kind != b.Kind {
		out = append(out, ChangeKind)
	}
	if a.TimeFrame != b.TimeFrame {
		out = append(out, ChangeTimeFrame)
	}
	if a.Measure != b.Measure {
		out = append(out, ChangeMeasure)
	}
	return out
}

func same(a, b *Outcome) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// compare sets each outcome of the baseline and the results side by side:
// the baseline's in their order, then those only the results report.
func (h *history) compare(base, cmp statement.Logged) []OutcomeStatus {
	bos, ros := outcomesOf(base), outcomesOf(cmp)
	var ids []string
	for _, o := range bos {
		ids = append(ids, o.ID)
	}
	for _, o := range ros {
		if find(bos, o.ID) == nil {
			ids = append(ids, o.ID)
		}
	}
	out := make([]OutcomeStatus, 0, len(ids))
	for _, id := range ids {
		b, r := find(bos, id), find(ros, id)
		row := OutcomeStatus{ID: id, Baseline: b, Reported: r, Changes: []string{}}
		switch {
		case r == nil:
			row.Status, row.Measure, row.Kind = StatusDropped, b.Measure, b.Kind
		case b == nil:
			row.Status, row.Measure, row.Kind = StatusAdded, r.Measure, r.Kind
		default:
			row.Measure, row.Kind = r.Measure, r.Kind
			row.Changes = changes(*b, *r)
			switch {
			case b.Kind == KindSecondary && r.Kind == KindPrimary:
				row.Status = StatusPromoted
			case b.Kind == KindPrimary && r.Kind == KindSecondary:
				row.Status = StatusDemoted
			case b.TimeFrame != r.TimeFrame:
				row.Status = StatusRetimed
			default:
				row.Status = StatusUnchanged
			}
		}
		row.Evidence = h.evidence(id, base, cmp)
		out = append(out, row)
	}
	return out
}

// evidence lists the baseline, the pre-specifying entries after it that
// changed outcome id relative to the version before them, and the results.
func (h *history) evidence(id string, base, cmp statement.Logged) []string {
	picked := []statement.Logged{base, cmp}
	for _, chain := range [][]statement.Logged{h.registrations, h.protocols, h.saps} {
		// The reference is the chain's last version at or before the
		// baseline, or the baseline itself for a chain that starts later.
		ref := find(outcomesOf(base), id)
		if p := lastBefore(chain, base.LeafIndex+1); p != nil {
			ref = find(outcomesOf(*p), id)
		}
		for _, e := range chain {
			if e.LeafIndex <= base.LeafIndex {
				continue
			}
			cur := find(outcomesOf(e), id)
			if !same(ref, cur) {
				picked = append(picked, e)
			}
			ref = cur
		}
	}
	sort.Slice(picked, func(i, j int) bool { return picked[i].LeafIndex < picked[j].LeafIndex })
	out := []string{}
	for _, e := range picked {
		if len(out) == 0 || out[len(out)-1] != e.ID {
			out = append(out, e.ID)
		}
	}
	return out
}

// flags lists what the order of the entries shows, sorted by the log
// position of the entry that raises each flag.
func (h *history) flags() []Flag {
	type at struct {
		index int64
		flag  Flag
	}
	var fs []at
	add := func(index int64, code, msg string, ev ...statement.Logged) {
		ids := make([]string, len(ev))
		for i, e := range ev {
			ids[i] = e.ID
		}
		fs = append(fs, at{index, Flag{Code: code, Message: msg, Evidence: ids}})
	}

	// Registrations that first name an identifier: the first registration
	// names all of its own; later ones may add more (a registry update, a
	// new registry).
	known := map[string]bool{}
	for _, g := range h.registrations {
		var fresh []string
		for _, id := range g.Statement.(*Registration).IDs() {
			if !known[id] {
				known[id] = true
				fresh = append(fresh, id)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		ids := strings.Join(fresh, ", ")
		if h.fpi != nil && h.fpi.LeafIndex < g.LeafIndex {
			add(g.LeafIndex, FlagRegisteredAfterStart,
				fmt.Sprintf("%s was registered (entry %s) after first_participant_in (entry %s): a registration made after the trial started is retrospective",
					ids, g.ID, h.fpi.ID), *h.fpi, g)
		}
		var before []statement.Logged
		for _, r := range h.results {
			if r.LeafIndex < g.LeafIndex {
				before = append(before, r)
			}
		}
		if len(before) > 0 {
			add(g.LeafIndex, FlagResultsBeforeRegistration,
				fmt.Sprintf("%s was registered (entry %s) after results were logged (entry %s)", ids, g.ID, before[0].ID),
				append(before, g)...)
		}
	}

	for _, s := range h.saps {
		v, _ := s.Statement.(*Plan).Chain()
		if h.lock != nil && h.lock.LeafIndex < s.LeafIndex {
			add(s.LeafIndex, FlagSAPAfterLock,
				fmt.Sprintf("SAP version %q (entry %s) was logged after database_lock (entry %s)", v, s.ID, h.lock.ID), *h.lock, s)
		}
		if h.unblinding != nil && h.unblinding.LeafIndex < s.LeafIndex {
			add(s.LeafIndex, FlagSAPAfterUnblinding,
				fmt.Sprintf("SAP version %q (entry %s) was logged after unblinding (entry %s)", v, s.ID, h.unblinding.ID), *h.unblinding, s)
		}
	}

	// An amendment changes outcomes after the start when it lists other
	// outcomes than the version of its own kind before it.
	if h.fpi != nil {
		for _, chain := range []struct {
			what string
			es   []statement.Logged
		}{{"registration", h.registrations}, {"protocol", h.protocols}, {"SAP", h.saps}} {
			for i := 1; i < len(chain.es); i++ {
				prev, cur := chain.es[i-1], chain.es[i]
				if cur.LeafIndex < h.fpi.LeafIndex {
					continue
				}
				diff := describeDiff(outcomesOf(prev), outcomesOf(cur))
				if diff == "" {
					continue
				}
				name := chain.what
				if p, ok := cur.Statement.(*Plan); ok {
					name = fmt.Sprintf("%s version %q", chain.what, p.Version)
					if p.Reason != "" {
						diff += fmt.Sprintf("; reason given: %q", p.Reason)
					}
				}
				add(cur.LeafIndex, FlagAmendedAfterStart,
					fmt.Sprintf("%s (entry %s), logged after first_participant_in (entry %s), changes the outcomes of entry %s: %s",
						name, cur.ID, h.fpi.ID, prev.ID, diff), *h.fpi, prev, cur)
			}
		}
	}

	sort.SliceStable(fs, func(i, j int) bool { return fs[i].index < fs[j].index })
	out := make([]Flag, len(fs))
	for i, f := range fs {
		out[i] = f.flag
	}
	return out
}

// describeDiff says in words how outcomes b differ from a; "" if they do
// not.
func describeDiff(a, b []Outcome) string {
	var parts []string
	for _, o := range a {
		n := find(b, o.ID)
		if n == nil {
			parts = append(parts, fmt.Sprintf("%s %s removed", o.Kind, o.ID))
			continue
		}
		for _, c := range changes(o, *n) {
			switch c {
			case ChangeKind:
				parts = append(parts, fmt.Sprintf("%s %s → %s", o.ID, o.Kind, n.Kind))
			case ChangeTimeFrame:
				parts = append(parts, fmt.Sprintf("%s time frame %q → %q", o.ID, o.TimeFrame, n.TimeFrame))
			case ChangeMeasure:
				parts = append(parts, fmt.Sprintf("%s measure reworded", o.ID))
			}
		}
	}
	for _, o := range b {
		if find(a, o.ID) == nil {
			parts = append(parts, fmt.Sprintf("%s %s added", o.Kind, o.ID))
		}
	}
	return strings.Join(parts, "; ")
}

// chains lists the protocol, SAP and consent-form versions in log order,
// keyed by statement type.
func (h *history) chains() map[string][]Ver {
	out := map[string][]Ver{}
	for _, c := range []struct {
		typ string
		es  []statement.Logged
	}{{TypeProtocol, h.protocols}, {TypeSAP, h.saps}, {TypeConsentForm, h.consentForms}} {
		vs := []Ver{}
		for _, e := range c.es {
			v := Ver{Entry: e.ID}
			switch st := e.Statement.(type) {
			case *Plan:
				v.Version, v.Previous, v.Reason = st.Version, st.Previous, st.Reason
			case *ConsentForm:
				v.Version, v.Previous, v.Reason = st.Version, st.Previous, st.Reason
			}
			vs = append(vs, v)
		}
		out[c.typ] = vs
	}
	return out
}
