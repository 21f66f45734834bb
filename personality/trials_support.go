package personality

import (
	"context"
	"errors"

	"github.com/trialog/trialog/storage"
)

// Principal returns the principal with this id; an unknown one is an error
// wrapping ErrNotFound.
func (s *Service) Principal(ctx context.Context, id string) (*storage.Principal, error) {
	p, err := s.store.Principal(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNotFound("no principal has id %s", id)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return p, nil
}
