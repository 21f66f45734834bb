package receipt

import (
	"bytes"
	"fmt"

	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/statement"
)

// parseLeaf is envelope.ParseLeaf, with a fast path for the bytes that
// envelope.MarshalLeaf writes, which is what every leaf trialogd logs looks
// like. Decoding JSON strictly costs several times an Ed25519 verification;
// reading the fixed layout costs a fraction of a microsecond.
//
// The fast path accepts only leaves whose every string is printable ASCII
// without '"' or '\\': JSON strings that decode to their own bytes, in a
// layout with no duplicate, unknown or case-folded keys. For those,
// envelope.ParseLeaf decodes exactly the same values, and the same checks
// follow, so the two agree on every input (FuzzLeafFastPath checks it).
// Anything else takes envelope.ParseLeaf.
func parseLeaf(b []byte) (*envelope.Leaf, *envelope.Parsed, error) {
	l, ok := fastLeaf(b)
	if !ok {
		return envelope.ParseLeaf(b)
	}
	pe, err := envelope.Check(l.Envelope)
	if err != nil {
		return nil, nil, fmt.Errorf("leaf: %v", err)
	}
	if _, err := statement.ParseTime("received_at", l.ReceivedAt); err != nil {
		return nil, nil, fmt.Errorf("leaf: %v", err)
	}
	return l, pe, nil
}

// fastLeaf reads exactly
//
//	{"envelope":{"payloadType":S,"payload":S,"signatures":[{"keyid":S,"sig":S},…]},"received_at":S}
//
// with S a JSON string of printable ASCII other than '"' and '\\'.
func fastLeaf(b []byte) (*envelope.Leaf, bool) {
	r := fastReader{b: b}
	var l envelope.Leaf
	ok := r.lit(`{"envelope":{"payloadType":`) && r.str(&l.Envelope.PayloadType) &&
		r.lit(`,"payload":`) && r.str(&l.Envelope.Payload) &&
		r.lit(`,"signatures":[`)
	if !ok {
		return nil, false
	}
	l.Envelope.Signatures = []envelope.Signature{}
	if !r.lit(`]`) {
		for {
			var s envelope.Signature
			if !(r.lit(`{"keyid":`) && r.str(&s.KeyID) && r.lit(`,"sig":`) && r.str(&s.Sig) && r.lit(`}`)) {
				return nil, false
			}
			l.Envelope.Signatures = append(l.Envelope.Signatures, s)
			if r.lit(`]`) {
				break
			}
			if !r.lit(`,`) {
				return nil, false
			}
		}
	}
	if !(r.lit(`},"received_at":`) && r.str(&l.ReceivedAt) && r.lit(`}`)) || len(r.b) != 0 {
		return nil, false
	}
	return &l, true
}

type fastReader struct{ b []byte }

func (r *fastReader) lit(s string) bool {
	if len(r.b) < len(s) || string(r.b[:len(s)]) != s {
		return false
	}
	r.b = r.b[len(s):]
	return true
}

func (r *fastReader) str(out *string) bool {
	if len(r.b) == 0 || r.b[0] != '"' {
		return false
	}
	end := bytes.IndexByte(r.b[1:], '"')
	if end < 0 {
		return false
	}
	s := r.b[1 : 1+end]
	for _, c := range s {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return false
		}
	}
	*out = string(s)
	r.b = r.b[end+2:]
	return true
}
