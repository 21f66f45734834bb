package engine

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// TimeFormat is how received_at is written in leaves: RFC 3339 in UTC with
// exactly microseconds, so that every leaf's time has one spelling.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// Submission is the outcome of a submission.
type Submission struct {
	Entry *Entry
	// New is false when the same envelope was logged before.
	New bool
}

// Submit verifies and logs one envelope for caller. It returns once the
// entry is durable in the log's order; with wait > 0 it also waits, up to
// wait, until a published checkpoint includes the entry and then returns it
// with its inclusion proof.
func (s *Log) Submit(ctx context.Context, caller statement.Caller, body []byte, wait time.Duration) (*Submission, error) {
	a, err := s.submitOne(ctx, caller, body)
	if err != nil {
		return nil, err
	}
	return s.finish(ctx, a, wait)
}

// submitOne prepares and appends one envelope, counted as a single
// submission in progress by the bulk gate until it is durable (or failed,
// or panicked: a count left behind would hold batches back for good).
func (s *Log) submitOne(ctx context.Context, caller statement.Caller, body []byte) (storage.Appended, error) {
	s.bulk.enter()
	defer s.bulk.leave()
	e, err := s.prepare(ctx, caller, body)
	if err != nil {
		s.metrics.submissions.WithLabelValues("rejected").Inc()
		return storage.Appended{}, err
	}
	res, err := s.appendAll(ctx, []storage.Entry{*e})
	if err != nil {
		s.metrics.submissions.WithLabelValues("unavailable").Inc()
		return storage.Appended{}, err
	}
	return res[0], nil
}

// SubmitBatch logs several envelopes, each judged on its own: the i-th
// result answers bodies[i] with either a submission or an error.
//
// A batch is bulk work: it is prepared and appended in chunks, in order,
// each let through by the bulk gate (bulk.go), so that single submissions
// made meanwhile are not held up by it. While one chunk is appended the
// next is prepared. A chunk that cannot be appended (MySQL unreachable, the
// queue full) fails alone; the entries of the others are logged.
func (s *Log) SubmitBatch(ctx context.Context, caller statement.Caller, bodies [][]byte, wait time.Duration) ([]*Submission, []error) {
	subs := make([]*Submission, len(bodies))
	errs := make([]error, len(bodies))
	deadline, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	appended := make([]*storage.Appended, len(bodies))
	type chunk struct {
		req *appendReq
		pos []int // positions in bodies of req's entries
	}
	fail := func(pos []int, err error) {
		s.metrics.submissions.WithLabelValues("unavailable").Add(float64(len(pos)))
		for _, i := range pos {
			errs[i] = err
		}
	}
	settle := func(c *chunk) {
		res, err := c.req.wait(ctx)
		if err != nil {
			fail(c.pos, err)
			return
		}
		for j, i := range c.pos {
			appended[i] = &res[j]
		}
	}
	var inflight *chunk
	for next := 0; next < len(bodies); {
		n, err := s.bulk.admit(ctx)
		if err != nil {
			rest := make([]int, 0, len(bodies)-next)
			for i := next; i < len(bodies); i++ {
				rest = append(rest, i)
			}
			fail(rest, err)
			break
		}
		end := min(next+n, len(bodies))
		var es []storage.Entry
		var pos []int
		for i := next; i < end; i++ {
			e, err := s.prepare(ctx, caller, bodies[i])
			if err != nil {
				s.metrics.submissions.WithLabelValues("rejected").Inc()
				errs[i] = err
				continue
			}
			es = append(es, *e)
			pos = append(pos, i)
		}
		next = end
		if inflight != nil {
			settle(inflight)
			inflight = nil
		}
		if len(es) == 0 {
			continue
		}
		r, err := s.enqueue(es)
		if err != nil {
			fail(pos, err)
			continue
		}
		inflight = &chunk{req: r, pos: pos}
	}
	if inflight != nil {
		settle(inflight)
	}
	for i, a := range appended {
		if a == nil {
			continue
		}
		w := time.Duration(0)
		if wait > 0 {
			if dl, ok := deadline.Deadline(); ok {
				w = max(time.Until(dl), time.Nanosecond)
			}
		}
		subs[i], errs[i] = s.finish(ctx, *a, w)
	}
	return subs, errs
}

func (s *Log) finish(ctx context.Context, a storage.Appended, wait time.Duration) (*Submission, error) {
	if a.Err != nil {
		s.metrics.submissions.WithLabelValues("rejected").Inc()
		return nil, a.Err
	}
	if a.New {
		s.metrics.submissions.WithLabelValues("new").Inc()
	} else {
		s.metrics.submissions.WithLabelValues("duplicate").Inc()
	}
	sub := &Submission{New: a.New}
	if wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		cp, err := s.WaitPublished(wctx, a.LeafIndex)
		cancel()
		if err == nil {
			e, err := s.entryWithProof(ctx, &a.Entry, cp)
			if err != nil {
				return nil, err
			}
			sub.Entry = e
			return sub, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	// Not waiting, or the wait ran out: the entry as far as known.
	e, err := s.entryAsKnown(ctx, &a.Entry)
	if err != nil {
		return nil, err
	}
	sub.Entry = e
	return sub, nil
}

// SubmitBatchAsService logs several statements trialogd itself makes, each
// signed with the service key, as SubmitBatch does.
func (s *Log) SubmitBatchAsService(ctx context.Context, payloads [][]byte, wait time.Duration) ([]*Submission, []error) {
	bodies := make([][]byte, len(payloads))
	for i, p := range payloads {
		bodies[i], _ = json.Marshal(envelope.Sign(statement.PayloadType, p, s.svcKey))
	}
	return s.SubmitBatch(ctx, s.serviceCaller(), bodies, wait)
}

func (s *Log) serviceCaller() statement.Caller {
	return statement.Caller{PrincipalID: ServicePrincipalID, Name: "trialogd", Role: statement.RoleService}
}

// SubmitAsService logs a statement trialogd itself makes, signed with the
// service key. Domain packages use it for delegations and access records.
func (s *Log) SubmitAsService(ctx context.Context, payload []byte, wait time.Duration) (*Submission, error) {
	body, _ := json.Marshal(envelope.Sign(statement.PayloadType, payload, s.svcKey))
	return s.Submit(ctx, s.serviceCaller(), body, wait)
}

// prepare checks an envelope completely and builds its leaf. Nothing is
// stored.
func (s *Log) prepare(ctx context.Context, caller statement.Caller, body []byte) (*storage.Entry, error) {
	env, err := envelope.Parse(body)
	if err != nil {
		return nil, err
	}
	// Other payloadTypes than statement.PayloadType are accepted when a
	// statement.Format is registered for them (FHIR Consent, for instance).
	kind, err := s.reg.KindFor(env.PayloadType, env.PayloadBytes)
	if err != nil {
		return nil, err
	}
	if caller.Role != statement.RoleService && !slices.Contains(kind.Roles, caller.Role) {
		if len(kind.Roles) == 0 {
			return nil, fmt.Errorf("%w: %s entries are written only by trialogd itself", statement.ErrForbidden, kind.Name)
		}
		return nil, fmt.Errorf("%w: the %s role may not submit %s", statement.ErrForbidden, caller.Role, kind.Name)
	}
	_, st, err := s.reg.ParseFor(env.PayloadType, env.PayloadBytes)
	if err != nil {
		return nil, err
	}
	keys, err := s.callerKeys(ctx, caller)
	if err != nil {
		return nil, err
	}
	if err := env.VerifySignatures(keys); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	leaf := envelope.MarshalLeaf(envelope.Leaf{Envelope: env.Envelope, ReceivedAt: now.Format(TimeFormat)})
	if len(leaf) > MaxLeafSize {
		return nil, errLeafTooLarge(len(leaf))
	}
	id, _ := hex.DecodeString(env.ID)
	// Judged in the append, after duplicates are answered: a resubmission
	// of a logged envelope gets its entry, and two statements that
	// contradict each other cannot both pass.
	check := s.entryCheck(kind, caller, st, id)
	var keyIDs [][]byte
	if caller.Role != statement.RoleService {
		// The append refuses the entry if one of these keys is revoked.
		keyIDs = env.KeyIDs
	}
	return &storage.Entry{
		KeyIDs:      keyIDs,
		Check:       check,
		ID:          id,
		LeafHash:    rfc6962.DefaultHasher.HashLeaf(leaf),
		Leaf:        leaf,
		Type:        kind.Name,
		PrincipalID: caller.PrincipalID,
		ReceivedAt:  now,
		Refs:        st.Refs(),
	}, nil
}

func (s *Log) callerKeys(ctx context.Context, caller statement.Caller) (map[string]ed25519.PublicKey, error) {
	if caller.Role == statement.RoleService {
		pub := s.ServicePublicKey()
		return map[string]ed25519.PublicKey{envelope.KeyID(pub): pub}, nil
	}
	if s.cfg.Keys == nil {
		return nil, errors.New("the log has no key resolver: only trialogd's own statements can be verified")
	}
	keys, err := s.cfg.Keys.Keys(ctx, caller.PrincipalID)
	if err != nil {
		return nil, unavailable(err)
	}
	return keys, nil
}
