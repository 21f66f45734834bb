// Package trialstest reads the trial-history fixtures in
// trials/testdata/fixtures, which both the trials package's tests (against an
// in-memory log) and trialogd's end-to-end tests (against a real log) play
// and check.
//
// A fixture is a list of steps: a statement submitted by a named principal,
// or a delegation by the trial's owner. Inside statements, a string
// "@label" stands for the entry id of the step with that label, and
// "#text" for the lowercase hex SHA-256 of text (a document digest). Want
// holds the expected outcome report, with labels for entry ids.
//
// Claimed dates (a milestone's at) are written relative to when the log
// received entries, so that one fixture gives one report both in memory and
// against a real trialogd, whose received_at is the time of the run:
// "$" is the time the step is submitted, "$(label)" the received_at of an
// earlier step, each optionally followed by a signed offset in Go duration
// syntax or in days ("$-400d", "$(proto-v1)+1us", "$+2h").
package trialstest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trialog/trialog/trials"
)

// Fixture is one trial history and its expected outcome report.
type Fixture struct {
	Name string `json:"name"`
	// About says what real histories the fixture is modelled on.
	About string `json:"about"`
	// Trial is the identifier the trial is looked up by.
	Trial string `json:"trial"`
	// Principals maps each principal's name in the fixture to its role.
	// "owner" registers the trial.
	Principals map[string]string `json:"principals"`
	Steps      []Step            `json:"steps"`
	Want       Want              `json:"want"`
}

// Step is a submission or a delegation.
type Step struct {
	Label string `json:"label"`
	// By names the submitting principal; Statement is what it signs.
	By        string         `json:"by,omitempty"`
	Statement map[string]any `json:"statement,omitempty"`
	// Delegate, if set, names the principal the owner delegates to.
	Delegate string `json:"delegate,omitempty"`
}

// Clock resolves the "$" placeholders: Now is the time the step is
// submitted (or just before), Received the received_at of each earlier
// step by label.
type Clock struct {
	Now      time.Time
	Received map[string]time.Time
}

// Want is the expected report, with step labels for entry ids.
type Want struct {
	Identifiers []string        `json:"identifiers"`
	Baseline    string          `json:"baseline"`
	Compared    *string         `json:"compared"`
	Summary     *trials.Summary `json:"summary,omitempty"`
	Outcomes    []WantOutcome   `json:"outcomes"`
	Flags       []WantFlag      `json:"flags"`
}

// WantOutcome is an expected outcome row.
type WantOutcome struct {
	ID       string   `json:"id"`
	Kind     string   `json:"kind"`
	Status   string   `json:"status"`
	Changes  []string `json:"changes"`
	Evidence []string `json:"evidence"`
	// Declared, when set, is the declaration the row must carry.
	Declared string `json:"declared,omitempty"`
}

// WantFlag is an expected flag.
type WantFlag struct {
	Code     string   `json:"code"`
	Evidence []string `json:"evidence"`
}

// Load reads every fixture in dir, sorted by file name.
func Load(dir string) ([]Fixture, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Fixture
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var f Fixture
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no fixtures in %s", dir)
	}
	return out, nil
}

// Payload is the statement of step s with placeholders replaced: "@label"
// by ids[label], "#text" by SHA-256(text), "$…" by a time from c.
func (s Step) Payload(ids map[string]string, c Clock) ([]byte, error) {
	v, err := resolve(s.Statement, ids, c)
	if err != nil {
		return nil, fmt.Errorf("step %s: %w", s.Label, err)
	}
	return json.Marshal(v)
}

func resolve(v any, ids map[string]string, c Clock) (any, error) {
	switch x := v.(type) {
	case string:
		if l, ok := strings.CutPrefix(x, "@"); ok {
			id, ok := ids[l]
			if !ok {
				return nil, fmt.Errorf("no earlier step is labelled %q", l)
			}
			return id, nil
		}
		if t, ok := strings.CutPrefix(x, "#"); ok {
			return Digest(t), nil
		}
		if t, ok := strings.CutPrefix(x, "$"); ok {
			return resolveTime(t, c)
		}
		return x, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := resolve(e, ids, c)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := resolve(e, ids, c)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// resolveTime reads the text after "$": an optional "(label)", then an
// optional signed offset.
func resolveTime(t string, c Clock) (string, error) {
	base := c.Now
	if rest, ok := strings.CutPrefix(t, "("); ok {
		label, after, ok := strings.Cut(rest, ")")
		if !ok {
			return "", fmt.Errorf("$%s: no closing parenthesis", t)
		}
		r, ok := c.Received[label]
		if !ok {
			return "", fmt.Errorf("$%s: no earlier step is labelled %q", t, label)
		}
		base, t = r, after
	}
	if t != "" {
		var d time.Duration
		if days, ok := strings.CutSuffix(t, "d"); ok {
			n, err := strconv.Atoi(days)
			if err != nil {
				return "", fmt.Errorf("$%s: %v", t, err)
			}
			d = time.Duration(n) * 24 * time.Hour
		} else {
			var err error
			if d, err = time.ParseDuration(t); err != nil {
				return "", fmt.Errorf("$%s: %v", t, err)
			}
		}
		base = base.Add(d)
	}
	return base.UTC().Format(time.RFC3339Nano), nil
}

// Digest is the lowercase hex SHA-256 of text.
func Digest(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// IDs maps labels to entry ids.
func IDs(labels []string, ids map[string]string) []string {
	out := make([]string, len(labels))
	for i, l := range labels {
		out[i] = ids[l]
	}
	return out
}

// Labels maps entry ids back to labels, for readable failures; an unknown
// id stays as it is.
func Labels(entryIDs []string, ids map[string]string) []string {
	back := make(map[string]string, len(ids))
	for l, id := range ids {
		back[id] = l
	}
	out := make([]string, len(entryIDs))
	for i, id := range entryIDs {
		if l, ok := back[id]; ok {
			out[i] = l
		} else {
			out[i] = id
		}
	}
	return out
}

// Diff compares a report with the fixture's expectations and describes each
// difference; ids maps the fixture's labels to entry ids.
func (f Fixture) Diff(rep *trials.Report, ids map[string]string) []string {
	var out []string
	lab := func(id string) string { return Labels([]string{id}, ids)[0] }
	if !slices.Equal(rep.Identifiers, f.Want.Identifiers) {
		out = append(out, fmt.Sprintf("identifiers = %q, want %q", rep.Identifiers, f.Want.Identifiers))
	}
	if rep.Baseline != ids[f.Want.Baseline] {
		out = append(out, fmt.Sprintf("baseline = %s, want %s (%s)", lab(rep.Baseline), f.Want.Baseline, rep.BaselineReason))
	}
	switch {
	case f.Want.Compared == nil && rep.Compared != nil:
		out = append(out, fmt.Sprintf("compared = %s, want none", lab(*rep.Compared)))
	case f.Want.Compared != nil && (rep.Compared == nil || *rep.Compared != ids[*f.Want.Compared]):
		out = append(out, fmt.Sprintf("compared = %v, want %s", rep.Compared, *f.Want.Compared))
	}
	// The summary's totals always; its primary and secondary counts when
	// the fixture gives them.
	if w := f.Want.Summary; w != nil {
		if rep.Summary.Counts != w.Counts {
			out = append(out, fmt.Sprintf("summary = %+v, want %+v", rep.Summary.Counts, w.Counts))
		}
		if (w.Primary != trials.Counts{} || w.Secondary != trials.Counts{}) && (rep.Summary.Primary != w.Primary || rep.Summary.Secondary != w.Secondary) {
			out = append(out, fmt.Sprintf("summary primary %+v secondary %+v, want %+v %+v", rep.Summary.Primary, rep.Summary.Secondary, w.Primary, w.Secondary))
		}
	}
	if len(rep.Outcomes) != len(f.Want.Outcomes) {
		out = append(out, fmt.Sprintf("%d outcomes, want %d", len(rep.Outcomes), len(f.Want.Outcomes)))
	}
	for i := range min(len(rep.Outcomes), len(f.Want.Outcomes)) {
		got, want := rep.Outcomes[i], f.Want.Outcomes[i]
		if want.Declared != "" && got.Declared != want.Declared {
			out = append(out, fmt.Sprintf("outcome %d declared %q, want %q", i, got.Declared, want.Declared))
		}
		if got.ID != want.ID || got.Status != want.Status || got.Kind != want.Kind ||
			!slices.Equal(got.Changes, want.Changes) || !slices.Equal(got.Evidence, IDs(want.Evidence, ids)) {
			out = append(out, fmt.Sprintf("outcome %d = %s %s %s changes %q evidence %q, want %s %s %s changes %q evidence %q",
				i, got.ID, got.Kind, got.Status, got.Changes, Labels(got.Evidence, ids),
				want.ID, want.Kind, want.Status, want.Changes, want.Evidence))
		}
	}
	if len(rep.Flags) != len(f.Want.Flags) {
		out = append(out, fmt.Sprintf("%d flags, want %d", len(rep.Flags), len(f.Want.Flags)))
	}
	for i := range min(len(rep.Flags), len(f.Want.Flags)) {
		got, want := rep.Flags[i], f.Want.Flags[i]
		if got.Code != want.Code || !slices.Equal(got.Evidence, IDs(want.Evidence, ids)) {
			out = append(out, fmt.Sprintf("flag %d = %s %q, want %s %q", i, got.Code, Labels(got.Evidence, ids), want.Code, want.Evidence))
		}
		for _, id := range got.Evidence {
			if !strings.Contains(got.Message, id) {
				out = append(out, fmt.Sprintf("flag %d message %q does not name evidence %s", i, got.Message, id))
			}
		}
	}
	return out
}
