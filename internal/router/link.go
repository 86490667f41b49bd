package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/deeplink"
	"github.com/linegate/linegate/internal/store"
)

// PublicLink is what the public short-link pages show.
type PublicLink struct {
	Token string
	Body  string
	Code  string
	// Current is the number the user should text now; Numbers is the whole
	// line set in order, home line first.
	Current   string
	Numbers   []string
	ExpiresAt time.Time
}

// Link resolves a live signup token. Unknown, expired and malformed tokens
// are the same 404 link_not_found, so the answer tells a guesser nothing.
func (s *Service) Link(ctx context.Context, token string) (PublicLink, error) {
	notFound := apperr.New(apperr.NotFound, "link_not_found", "no such link")
	if !deeplink.IsToken(token) {
		return PublicLink{}, notFound
	}
	row, err := s.q.SignupLinkResolve(ctx, s.pool, store.SignupLinkResolveParams{Token: token, Now: s.cfg.Now()})
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return PublicLink{}, notFound
	}
	if err != nil {
		return PublicLink{}, fmt.Errorf("resolve signup link: %w", err)
	}
	return PublicLink{Token: row.Token, Body: row.Body, Code: row.Code, Current: row.CurrentNumber,
		Numbers: row.Numbers, ExpiresAt: row.ExpiresAt}, nil
}
