// Package witness is trialog's side of C2SP tlog-witness: the witness policy
// file (the format of Sigsum and Tessera), the add-checkpoint client that
// collects timestamped cosignatures (C2SP tlog-cosignature), and the check
// that a checkpoint carries a policy's quorum of valid cosignatures.
//
// It knows nothing of trialog's entries: it takes signed checkpoints and a
// function that proves consistency between two tree sizes.
package witness

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// ErrPolicy marks a malformed policy file.
var ErrPolicy = errors.New("witness policy")

// Witness is one witness of a policy.
type Witness struct {
	// Name is the policy's name for the witness (not necessarily its key
	// name).
	Name string
	// VKey is the witness's note verifier key, as written in the policy.
	VKey string
	// URL is the witness's submission prefix: add-checkpoint is at
	// URL + "/add-checkpoint". Empty when the policy gives none.
	URL string

	verifier note.Verifier
}

// Verifier checks the witness's cosignatures.
func (w *Witness) Verifier() note.Verifier { return w.verifier }

// AddCheckpointURL is where the witness's add-checkpoint endpoint is.
func (w *Witness) AddCheckpointURL() string {
	if strings.HasSuffix(w.URL, "/add-checkpoint") {
		return w.URL
	}
	return strings.TrimSuffix(w.URL, "/") + "/add-checkpoint"
}

// group is a threshold over members (witnesses or earlier groups).
type group struct {
	name      string
	threshold int
	members   []int // indices into Policy.nodes
}

// Policy is a parsed witness policy: witnesses, groups and the quorum a
// checkpoint must meet.
type Policy struct {
	Witnesses []*Witness
	// nodes are the policy's names in definition order: witnesses and
	// groups. A group's members are always defined before it.
	nodes  []node
	byName map[string]int
	quorum int // index into nodes; -1 for "quorum none"
}

type node struct {
	witness *Witness // set for a witness
	group   *group   // set for a group
}

// maxPolicy bounds a policy file; real ones are a few kilobytes.
const maxPolicy = 1 << 20

// ParsePolicy parses a witness policy in the format of Sigsum and Tessera:
//
//	# comment
//	log VKEY [URL]                          (accepted, not used)
//	witness NAME VKEY [URL]
//	group NAME all|any|K MEMBER...
//	quorum NAME|none
//
// VKEY is a note verifier key: a cosignature/v1 key (algorithm 0x04) or an
// Ed25519 key (algorithm 0x01). Names are unique; a group names witnesses
// and groups defined above it; K is between 1 and the number of members;
// quorum appears exactly once. The cost is linear in the file's size.
func ParsePolicy(b []byte) (*Policy, error) {
	if len(b) > maxPolicy {
		return nil, fmt.Errorf("%w: the file is over %d bytes", ErrPolicy, maxPolicy)
	}
	p := &Policy{byName: map[string]int{}, quorum: -2}
	keys := map[string]string{} // name+hash of each key → witness, to refuse ambiguous keys
	for i, line := range bytes.Split(b, []byte("\n")) {
		n := i + 1
		text := string(line)
		if c := strings.IndexByte(text, '#'); c >= 0 {
			text = text[:c]
		}
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		errf := func(format string, args ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrPolicy, n, fmt.Sprintf(format, args...))
		}
		switch f[0] {
		case "log":
			if len(f) < 2 || len(f) > 3 {
				return nil, errf("want: log VKEY [URL]")
			}
		case "witness":
			if len(f) < 3 || len(f) > 4 {
				return nil, errf("want: witness NAME VKEY [URL]")
			}
			if err := p.checkNewName(f[1]); err != nil {
				return nil, errf("%v", err)
			}
			v, err := NewVerifier(f[2])
			if err != nil {
				return nil, errf("witness %s: %v", f[1], err)
			}
			id := v.Name() + "+" + strconv.FormatUint(uint64(v.KeyHash()), 16)
			if other, dup := keys[id]; dup {
				return nil, errf("witness %s has the same key name and hash as witness %s", f[1], other)
			}
			keys[id] = f[1]
			w := &Witness{Name: f[1], VKey: f[2], verifier: v}
			if len(f) == 4 {
				u, err := url.Parse(f[3])
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return nil, errf("witness %s: the URL must be an http or https URL", f[1])
				}
				w.URL = f[3]
			}
			p.byName[w.Name] = len(p.nodes)
			p.nodes = append(p.nodes, node{witness: w})
			p.Witnesses = append(p.Witnesses, w)
		case "group":
			if len(f) < 4 {
				return nil, errf("want: group NAME all|any|K MEMBER...")
			}
			if err := p.checkNewName(f[1]); err != nil {
				return nil, errf("%v", err)
			}
			g := &group{name: f[1]}
			seen := map[int]bool{}
			for _, m := range f[3:] {
				idx, ok := p.byName[m]
				if !ok {
					return nil, errf("group %s: %q is not a witness or group defined above", f[1], m)
				}
				if seen[idx] {
					return nil, errf("group %s names %s twice", f[1], m)
				}
				seen[idx] = true
				g.members = append(g.members, idx)
			}
			switch f[2] {
			case "all":
				g.threshold = len(g.members)
			case "any":
				g.threshold = 1
			default:
				k, err := strconv.Atoi(f[2])
				if err != nil || k < 1 || k > len(g.members) || f[2] != strconv.Itoa(k) {
					return nil, errf("group %s: the threshold must be all, any or a number from 1 to %d", f[1], len(g.members))
				}
				g.threshold = k
			}
			p.byName[g.name] = len(p.nodes)
			p.nodes = append(p.nodes, node{group: g})
		case "quorum":
			if len(f) != 2 {
				return nil, errf("want: quorum NAME|none")
			}
			if p.quorum != -2 {
				return nil, errf("a second quorum line")
			}
			if f[1] == "none" {
				p.quorum = -1
				continue
			}
			idx, ok := p.byName[f[1]]
			if !ok {
				return nil, errf("quorum %q is not a witness or group defined above", f[1])
			}
			p.quorum = idx
		default:
			return nil, errf("unknown keyword %q (want log, witness, group or quorum)", f[0])
		}
	}
	if p.quorum == -2 {
		return nil, fmt.Errorf("%w: no quorum line", ErrPolicy)
	}
	return p, nil
}

func (p *Policy) checkNewName(name string) error {
	if name == "none" {
		return errors.New(`"none" is reserved`)
	}
	if _, dup := p.byName[name]; dup {
		return fmt.Errorf("the name %s is defined twice", name)
	}
	return nil
}

// RequiresNone reports whether the policy's quorum is "none".
func (p *Policy) RequiresNone() bool { return p.quorum == -1 }

// Quorum is the name of the quorum's witness or group, or "none".
func (p *Policy) Quorum() string {
	if p.quorum < 0 {
		return "none"
	}
	n := p.nodes[p.quorum]
	if n.witness != nil {
		return n.witness.Name
	}
	return n.group.name
}

// Satisfied reports whether cosignatures from the named witnesses meet the
// quorum. Groups are evaluated in definition order, each once.
func (p *Policy) Satisfied(cosigned map[string]bool) bool {
	if p.quorum == -1 {
		return true
	}
	ok := make([]bool, len(p.nodes))
	for i, n := range p.nodes {
		if n.witness != nil {
			ok[i] = cosigned[n.witness.Name]
			continue
		}
		k := 0
		for _, m := range n.group.members {
			if ok[m] {
				k++
			}
		}
		ok[i] = k >= n.group.threshold
	}
	return ok[p.quorum]
}

// Witness returns the witness of that name, or nil.
func (p *Policy) Witness(name string) *Witness {
	if i, ok := p.byName[name]; ok {
		return p.nodes[i].witness
	}
	return nil
}
