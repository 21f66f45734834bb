package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// ServiceEntries prepares entries for statements trialogd itself makes,
// signed with its service key, checked as any submission is, without
// appending them. Credential changes append them with their database
// changes in one transaction (storage.Store.AppendAtomic) and then answer
// them with Logged.
func (s *Log) ServiceEntries(ctx context.Context, payloads [][]byte) ([]storage.Entry, error) {
	out := make([]storage.Entry, 0, len(payloads))
	for _, p := range payloads {
		body, _ := json.Marshal(envelope.Sign(statement.PayloadType, p, s.svcKey))
		e, err := s.prepare(ctx, s.serviceCaller(), body)
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	return out, nil
}

// Logged answers entries appended outside the submission queue: it wakes
// the feeder, waits up to wait for a published checkpoint to include them
// all, and returns them proven, or as far as known when the wait runs out.
func (s *Log) Logged(ctx context.Context, res []storage.Appended, wait time.Duration) ([]*Entry, error) {
	out := make([]*Entry, 0, len(res))
	if len(res) == 0 {
		return out, nil
	}
	s.kickFeeder()
	last := res[0].LeafIndex
	for _, a := range res {
		last = max(last, a.LeafIndex)
	}
	var cp *Published
	if wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		cp, _ = s.WaitPublished(wctx, last)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	for _, a := range res {
		var e *Entry
		var err error
		if cp != nil {
			e, err = s.entryWithProof(ctx, &a.Entry, cp)
		} else {
			e, err = s.entryAsKnown(ctx, &a.Entry)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// LoggedByID answers an entry logged before, by its raw id, as Logged does.
func (s *Log) LoggedByID(ctx context.Context, id []byte, wait time.Duration) (*Entry, error) {
	e, err := s.store.EntryByID(ctx, id)
	if err != nil {
		return nil, unavailable(err)
	}
	out, err := s.Logged(ctx, []storage.Appended{{Entry: *e}}, wait)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}
