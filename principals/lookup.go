package principals

import (
	"context"
	"errors"
	"fmt"

	"github.com/trialog/trialog/storage"
)

// Principal returns the principal with this id; an unknown one is an error
// wrapping ErrUnknown.
func (s *Directory) Principal(ctx context.Context, id string) (*storage.Principal, error) {
	p, err := s.store.Principal(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: no principal has id %s", ErrUnknown, id)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return p, nil
}

// Exists tells whether a principal has this id.
func (s *Directory) Exists(ctx context.Context, id string) (bool, error) {
	_, err := s.Principal(ctx, id)
	if errors.Is(err, ErrUnknown) {
		return false, nil
	}
	return err == nil, err
}
