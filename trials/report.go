package trials

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/statement"
)

// Outcome statuses: how the compared results report a baseline outcome.
// Measures and time frames are compared in their Normalise form.
const (
	StatusUnchanged = "unchanged" // same kind, measure and time frame
	StatusAdded     = "added"     // reported, not pre-specified in the baseline
	StatusDropped   = "dropped"   // pre-specified in the baseline, not reported
	StatusSwitched  = "switched"  // same id, another measure: the pre-specified outcome is not what is reported
	StatusPromoted  = "promoted"  // secondary in the baseline, reported as primary
	StatusDemoted   = "demoted"   // primary in the baseline, reported as secondary
	StatusRetimed   = "retimed"   // same kind and measure, another time frame
)

// Flag codes.
const (
	FlagResultsBeforeRegistration = "results_before_registration"
	FlagRegisteredAfterStart      = "registered_after_start"
	FlagSAPAfterLock              = "sap_after_lock"
	FlagSAPAfterUnblinding        = "sap_after_unblinding"
	FlagAmendedAfterStart         = "amended_after_start"
	FlagMilestoneLoggedLate       = "milestone_logged_late"
)

// What changed in an outcome between two statements of it.
const (
	ChangeKind      = "kind"
	ChangeTimeFrame = "time_frame"
	ChangeMeasure   = "measure"
)

// Report is the outcome report as the API serves it (defined in api).
type Report = api.TrialReport

// Summary is the report's COMPare-style summary (defined in api).
type Summary = api.TrialSummary

// Counts is the summary's figures for one set of outcomes (defined in api).
type Counts = api.Counts

// DeclaredCounts is the count of declared changes (defined in api).
type DeclaredCounts = api.DeclaredCounts

// OutcomeStatus is one outcome's row in the report (defined in api).
type OutcomeStatus = api.OutcomeStatus

// Flag is an observation about the order of the trial's entries (defined in api).
type Flag = api.Flag

// Ver is one version in a protocol, SAP or consent-form chain (defined in api).
type Ver = api.Version

// Compute makes the outcome report of trial from its entries alone. Before
// and after are log order (leaf indices); the dates a sponsor signed — a
// milestone's at — are evidence against the sponsor, never an order: a
// claimed start earlier than the log shows moves the baseline earlier and
// raises milestone_logged_late, a claimed start later than the log shows
// changes nothing. issued_at plays no part. Only each entry's ID,
// LeafIndex, ReceivedAt and Statement are read, so a verifier can recompute
// the report from a verified timeline (parse each entry's statement with a
// registry holding Register's kinds, take received_at from its leaf) and
// compare it with the one trialogd served: the report is the same for the
// same entries, whoever computes it. Entries whose ReceivedAt is unknown
// (zero) are ordered by the log alone.
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
		rep.StartAt = stamp(h.startAt)
	}
	if n := len(h.results); n > 0 {
		cmp := h.results[n-1]
		rep.Compared = &cmp.ID
		rep.Outcomes = h.compare(base, cmp)
	}
	rep.Summary = summarize(outcomesOf(base), rep.Outcomes)
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
	milestones    []statement.Logged
	fpi           *statement.Logged // the first first_participant_in
	lock          *statement.Logged // the first database_lock or final dataset
	unblinding    *statement.Logged // the first unblinding

	// startAt is the time the trial is taken to have started, and
	// startClaim the first_participant_in milestone whose at is the
	// earliest claimed start (nil without one).
	startAt    time.Time
	startClaim *statement.Logged
	// lockClaim and unblindClaim are the database_lock and unblinding
	// milestones that claim the earliest time.
	lockClaim, unblindClaim *statement.Logged

	// norms caches Normalise, and byID each entry's outcomes by id: a
	// report compares the same texts and looks up the same ids many times.
	norms map[string]string
	byID  map[string]map[string]*Outcome
}

func newHistory(t *Trial) *history {
	h := &history{t: t, norms: map[string]string{}, byID: map[string]map[string]*Outcome{}}
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
		case *Dataset:
			if st.Lock == LockFinal && h.lock == nil {
				h.lock = &t.Entries[i]
			}
		case *Milestone:
			h.milestones = append(h.milestones, e)
			m := &t.Entries[i]
			switch st.Event {
			case EventFirstParticipantIn:
				if h.fpi == nil {
					h.fpi = m
				}
				h.startClaim = earliest(h.startClaim, m)
			case EventDatabaseLock:
				if h.lock == nil {
					h.lock = m
				}
				h.lockClaim = earliest(h.lockClaim, m)
			case EventUnblinding:
				if h.unblinding == nil {
					h.unblinding = m
				}
				h.unblindClaim = earliest(h.unblindClaim, m)
			}
		}
	}
	if h.fpi != nil {
		h.startAt = claimedAt(*h.startClaim)
		if r := h.fpi.ReceivedAt; !r.IsZero() && r.Before(h.startAt) {
			h.startAt = r
		}
	}
	return h
}

// earliest returns whichever milestone claims the earlier at; the first
// logged on a tie.
func earliest(a, b *statement.Logged) *statement.Logged {
	if a == nil || claimedAt(*b).Before(claimedAt(*a)) {
		return b
	}
	return a
}

// claimedAt is a milestone's at.
func claimedAt(e statement.Logged) time.Time {
	m, ok := e.Statement.(*Milestone)
	if !ok {
		return time.Time{}
	}
	t, _ := statement.ParseTime("at", m.At)
	return t
}

// receivedAfter reports whether e is known to have been received after t.
func receivedAfter(e statement.Logged, t time.Time) bool {
	return !e.ReceivedAt.IsZero() && e.ReceivedAt.After(t)
}

// beforeStart reports whether a pre-specification precedes the trial's
// start: logged before the first first_participant_in, and not received
// at or after the start it claims.
func (h *history) beforeStart(e statement.Logged) bool {
	return e.LeafIndex < h.fpi.LeafIndex && (e.ReceivedAt.IsZero() || e.ReceivedAt.Before(h.startAt))
}

func lastWhere(es []statement.Logged, ok func(statement.Logged) bool) *statement.Logged {
	var last *statement.Logged
	for i := range es {
		if ok(es[i]) {
			last = &es[i]
		}
	}
	return last
}

// baseline picks the reference the way COMPare did: the protocol in force
// when the trial started, else the registry entry as it stood then. Without
// a logged start no protocol can be shown to precede it, so the first
// registration is the reference: never logging first_participant_in must
// not earn a later baseline.
func (h *history) baseline() (statement.Logged, string) {
	if h.fpi == nil {
		return h.registrations[0], "no first_participant_in milestone is logged, so no protocol version can be shown to precede the start: the baseline is the trial's first registration, " + describe(h.registrations[0])
	}
	start := h.describeStart()
	if p := lastWhere(h.protocols, h.beforeStart); p != nil {
		return *p, fmt.Sprintf("%s is the last protocol version logged and received before the start; %s", describe(*p), start)
	}
	if g := lastWhere(h.registrations, h.beforeStart); g != nil {
		return *g, fmt.Sprintf("no protocol version was logged and received before the start: the baseline is the last registration that was, %s; %s", describe(*g), start)
	}
	return h.registrations[0], fmt.Sprintf("the trial was registered only after it started: the baseline is its first registration, %s; %s", describe(h.registrations[0]), start)
}

// describeStart says how StartAt was found.
func (h *history) describeStart() string {
	s := fmt.Sprintf("the start is taken as %s, the earliest of the start claimed by %s and the time %s was logged",
		stamp(h.startAt), describe(*h.startClaim), h.fpi.ID)
	if h.startClaim.ID == h.fpi.ID {
		s = fmt.Sprintf("the start is taken as %s, the earlier of the start claimed by %s and the time it was logged",
			stamp(h.startAt), describe(*h.fpi))
	}
	return s
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

// outcome returns outcome id as entry e lists it, nil if it does not.
func (h *history) outcome(e statement.Logged, id string) *Outcome {
	m, ok := h.byID[e.ID]
	if !ok {
		os := outcomesOf(e)
		m = make(map[string]*Outcome, len(os))
		for i := range os {
			m[os[i].ID] = &os[i]
		}
		h.byID[e.ID] = m
	}
	if o := m[id]; o != nil {
		c := *o
		return &c
	}
	return nil
}

// norm is Normalise, cached.
func (h *history) norm(s string) string {
	n, ok := h.norms[s]
	if !ok {
		n = Normalise(s)
		h.norms[s] = n
	}
	return n
}

// changes lists what differs between two statements of one outcome, with
// measures and time frames compared in Normalise form.
func (h *history) changes(a, b Outcome) []string {
	out := []string{}
	if a.Kind != b.Kind {
		out = append(out, ChangeKind)
	}
	if h.norm(a.TimeFrame) != h.norm(b.TimeFrame) {
		out = append(out, ChangeTimeFrame)
	}
	if h.norm(a.Measure) != h.norm(b.Measure) {
		out = append(out, ChangeMeasure)
	}
	return out
}

func (h *history) same(a, b *Outcome) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return len(h.changes(*a, *b)) == 0
}

// compare sets each outcome of the baseline and the results side by side:
// the baseline's in their order, then those only the results report.
func (h *history) compare(base, cmp statement.Logged) []OutcomeStatus {
	bos, ros := outcomesOf(base), outcomesOf(cmp)
	omitted := map[string]string{}
	for _, o := range cmp.Statement.(*Results).Omitted {
		omitted[o.ID] = o.Declared
	}
	var ids []string
	for _, o := range bos {
		ids = append(ids, o.ID)
	}
	for _, o := range ros {
		if h.outcome(base, o.ID) == nil {
			ids = append(ids, o.ID)
		}
	}
	out := make([]OutcomeStatus, 0, len(ids))
	for _, id := range ids {
		b, r := h.outcome(base, id), h.outcome(cmp, id)
		row := OutcomeStatus{ID: id, Baseline: b, Reported: r, Changes: []string{}}
		switch {
		case r == nil:
			row.Status, row.Measure, row.Kind, row.Declared = StatusDropped, b.Measure, b.Kind, omitted[id]
		case b == nil:
			row.Status, row.Measure, row.Kind, row.Declared = StatusAdded, r.Measure, r.Kind, r.Declared
		default:
			row.Measure, row.Kind = r.Measure, r.Kind
			row.Changes = h.changes(*b, *r)
			switch {
			case slices.Contains(row.Changes, ChangeMeasure):
				row.Status = StatusSwitched
			case b.Kind == KindSecondary && r.Kind == KindPrimary:
				row.Status = StatusPromoted
			case b.Kind == KindPrimary && r.Kind == KindSecondary:
				row.Status = StatusDemoted
			case slices.Contains(row.Changes, ChangeTimeFrame):
				row.Status = StatusRetimed
			default:
				row.Status = StatusUnchanged
			}
			if row.Status != StatusUnchanged {
				row.Declared = r.Declared
			}
		}
		row.Evidence = h.evidence(id, base, cmp)
		out = append(out, row)
	}
	return out
}

// summarize counts the baseline's outcomes and the rows as COMPare did.
func summarize(base []Outcome, rows []OutcomeStatus) Summary {
	var s Summary
	byKind := func(kind string) *Counts {
		if kind == KindPrimary {
			return &s.Primary
		}
		return &s.Secondary
	}
	for _, o := range base {
		s.Prespecified++
		byKind(o.Kind).Prespecified++
	}
	for _, r := range rows {
		kind := r.Kind
		if r.Baseline != nil {
			kind = r.Baseline.Kind
		}
		count(&s.Counts, r)
		count(byKind(kind), r)
	}
	return s
}

// count adds one row to c.
func count(c *Counts, r OutcomeStatus) {
	declared := r.Declared != ""
	switch r.Status {
	case StatusUnchanged:
		c.CorrectlyReported++
	case StatusDropped:
		if declared {
			c.Declared.NotReported++
			c.CorrectlyReported++
		} else {
			c.NotReported++
		}
	case StatusAdded:
		if declared {
			c.Declared.Added++
		} else {
			c.Added++
		}
	default:
		if declared {
			c.Declared.Switched++
			c.CorrectlyReported++
		} else {
			c.Switched++
		}
	}
}

// evidence lists the baseline, the pre-specifying entries after it that
// changed outcome id relative to the version before them, and the results.
func (h *history) evidence(id string, base, cmp statement.Logged) []string {
	picked := []statement.Logged{base, cmp}
	for _, chain := range [][]statement.Logged{h.registrations, h.protocols, h.saps} {
		// The reference is the chain's last version at or before the
		// baseline, or the baseline itself for a chain that starts later.
		ref := h.outcome(base, id)
		if p := lastWhere(chain, func(e statement.Logged) bool { return e.LeafIndex <= base.LeafIndex }); p != nil {
			ref = h.outcome(*p, id)
		}
		for _, e := range chain {
			if e.LeafIndex <= base.LeafIndex {
				continue
			}
			cur := h.outcome(e, id)
			if !h.same(ref, cur) {
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

// stamp writes a time as the report does.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// describe names an entry for a person: what it is, its id, its place in
// the log (leaf index), when the log received it, and the date it claims.
func describe(e statement.Logged) string {
	var what, claim string
	if hd, ok := e.Statement.(interface{ header() *Header }); ok {
		claim = "signed as issued " + hd.header().IssuedAt
	}
	switch st := e.Statement.(type) {
	case *Registration:
		what = "the registration naming " + strings.Join(st.IDs(), ", ")
	case *Plan:
		name := "protocol"
		if st.Type() == TypeSAP {
			name = "SAP"
		}
		what = fmt.Sprintf("%s version %q", name, st.Version)
	case *Milestone:
		what = "the " + st.Event + " milestone"
		claim = "claiming " + st.At
	case *Dataset:
		what = fmt.Sprintf("the %s dataset lock %q", st.Lock, st.Name)
	case *Results:
		what = "the results"
	default:
		what = "the entry"
	}
	logged := ""
	if !e.ReceivedAt.IsZero() {
		logged = ", logged " + stamp(e.ReceivedAt)
	}
	return fmt.Sprintf("%s (entry %s, leaf %d%s, %s)", what, e.ID, e.LeafIndex, logged, claim)
}

// claimNote ends every flag that rests on a claimed date.
const claimNote = "A date in a statement is what its signer claims; the log's order and received times are what the log itself saw."

// flags lists what the order of the entries, and the dates they claim,
// show; sorted by the log position of the entry that raises each flag.
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
	for i, g := range h.registrations {
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
		switch {
		case h.fpi != nil && h.fpi.LeafIndex < g.LeafIndex:
			add(g.LeafIndex, FlagRegisteredAfterStart,
				fmt.Sprintf("%s was registered after the trial started: %s was logged after %s. A registration made after the first participant was enrolled is retrospective (ICMJE).",
					ids, describe(g), describe(*h.fpi)), *h.fpi, g)
		case i == 0 && h.fpi != nil && receivedAfter(g, claimedAt(*h.startClaim)):
			add(h.startClaim.LeafIndex, FlagRegisteredAfterStart,
				fmt.Sprintf("%s was registered after the trial started, by the sponsor's own claim: %s says the first participant was enrolled at %s, before %s was received. A registration made after the first participant was enrolled is retrospective (ICMJE). %s",
					ids, describe(*h.startClaim), h.startClaim.Statement.(*Milestone).At, describe(g), claimNote), *h.startClaim, g)
		}
		var before []statement.Logged
		for _, r := range h.results {
			if r.LeafIndex < g.LeafIndex {
				before = append(before, r)
			}
		}
		if len(before) > 0 {
			add(g.LeafIndex, FlagResultsBeforeRegistration,
				fmt.Sprintf("%s was registered after results were logged: %s came after %s", ids, describe(g), describe(before[0])),
				append(before, g)...)
		}
	}

	// Milestones that claim a time before pre-specifications the log
	// received ahead of them.
	for _, m := range h.milestones {
		claim := claimedAt(m)
		var late []statement.Logged
		for _, chain := range [][]statement.Logged{h.registrations, h.protocols, h.saps} {
			for _, p := range chain {
				if p.LeafIndex < m.LeafIndex && receivedAfter(p, claim) {
					late = append(late, p)
				}
			}
		}
		if len(late) == 0 {
			continue
		}
		sort.Slice(late, func(i, j int) bool { return late[i].LeafIndex < late[j].LeafIndex })
		names := make([]string, len(late))
		for i, p := range late {
			names[i] = describe(p)
		}
		add(m.LeafIndex, FlagMilestoneLoggedLate,
			fmt.Sprintf("%s claims a time before entries the log received ahead of it: %s. The milestone was logged after them; the report takes the earlier of its claim and its logging as the time of the event. %s",
				describe(m), strings.Join(names, "; "), claimNote), append(late, m)...)
	}

	// SAP versions after the data were locked or unblinded: logged after
	// the first lock (a database_lock milestone or a final dataset,
	// whichever is logged first) or unblinding, or received after the
	// earliest time such a milestone claims.
	for _, s := range h.saps {
		for _, c := range []struct {
			code, what   string
			first, claim *statement.Logged
		}{{FlagSAPAfterLock, "the data were locked", h.lock, h.lockClaim}, {FlagSAPAfterUnblinding, "the data were unblinded", h.unblinding, h.unblindClaim}} {
			switch {
			case c.first != nil && c.first.LeafIndex < s.LeafIndex:
				add(s.LeafIndex, c.code, fmt.Sprintf("%s was logged after %s: %s came first", describe(s), c.what, describe(*c.first)), *c.first, s)
			case c.claim != nil && receivedAfter(s, claimedAt(*c.claim)):
				add(c.claim.LeafIndex, c.code, fmt.Sprintf("%s was received after %s, by the sponsor's own claim: %s says so, though it was logged after the SAP. %s",
					describe(s), c.what, describe(*c.claim), claimNote), *c.claim, s)
			}
		}
	}

	// An amendment changes outcomes after the start when it lists other
	// outcomes than the version of its own kind before it, and was logged
	// after the first first_participant_in or received after the start
	// any of them claims.
	if h.fpi != nil {
		for _, chain := range []struct {
			what string
			es   []statement.Logged
		}{{"registration", h.registrations}, {"protocol", h.protocols}, {"SAP", h.saps}} {
			for i := 1; i < len(chain.es); i++ {
				prev, cur := chain.es[i-1], chain.es[i]
				var start statement.Logged
				var when string
				switch {
				case h.fpi.LeafIndex < cur.LeafIndex:
					start, when = *h.fpi, fmt.Sprintf("logged after %s", describe(*h.fpi))
				case !h.beforeStart(cur):
					// Logged before the milestone, but not received
					// before the start it claims.
					start, when = *h.startClaim, fmt.Sprintf("received at or after the start claimed by %s, though logged before it. %s", describe(*h.startClaim), claimNote)
				default:
					continue
				}
				diff := h.describeDiff(prev, cur)
				if diff == "" {
					continue
				}
				if p, ok := cur.Statement.(*Plan); ok && p.Reason != "" {
					diff += fmt.Sprintf("; reason given: %q", p.Reason)
				}
				add(cur.LeafIndex, FlagAmendedAfterStart,
					fmt.Sprintf("%s changes the outcomes of %s after the trial started (%s): %s",
						describe(cur), describe(prev), diff, when), start, prev, cur)
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

// describeDiff says in words how the outcomes of entry b differ from those
// of entry a; "" if they do not.
func (h *history) describeDiff(a, b statement.Logged) string {
	var parts []string
	for _, o := range outcomesOf(a) {
		n := h.outcome(b, o.ID)
		if n == nil {
			parts = append(parts, fmt.Sprintf("%s %s removed", o.Kind, o.ID))
			continue
		}
		for _, c := range h.changes(o, *n) {
			switch c {
			case ChangeKind:
				parts = append(parts, fmt.Sprintf("%s %s → %s", o.ID, o.Kind, n.Kind))
			case ChangeTimeFrame:
				parts = append(parts, fmt.Sprintf("%s time frame %q → %q", o.ID, o.TimeFrame, n.TimeFrame))
			case ChangeMeasure:
				parts = append(parts, fmt.Sprintf("%s measure %q → %q", o.ID, o.Measure, n.Measure))
			}
		}
	}
	for _, o := range outcomesOf(b) {
		if h.outcome(a, o.ID) == nil {
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
