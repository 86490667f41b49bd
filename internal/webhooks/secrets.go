package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/linegate/linegate/internal/linq"
)

// A verification that fails re-reads the stored secrets (another replica
// may just have stored a new one), drawing on a budget that refills one
// read per secretReload up to secretReloadBurst: forged deliveries cost the
// database no more than that.
const (
	secretReload      = time.Second
	secretReloadBurst = 3
)

// subscriptionChangeFor bounds how long a subscription change in progress
// (EnsureSubscription) keeps unmatched signatures retryable, should the
// replica making it die before it ends.
const subscriptionChangeFor = 5 * time.Minute

// unconfirmedRetryAfter is the retry hint of errSecretsUnconfirmed: the
// change in progress ends, or the read budget refills, within seconds.
const unconfirmedRetryAfter = 5 * time.Second

// errSecretsUnconfirmed is a signature no known secret verifies while the
// stored secrets may be newer than the ones tried: the budget allowed no
// new read, or a subscription change was in progress. Linq must retry it.
var errSecretsUnconfirmed = errors.New("webhook secrets may be out of date")

// secretSet is one read of the secrets.
type secretSet struct {
	list     []string // cfg.Secrets plus the stored ones, read-only
	changing bool     // a subscription change was in progress
	// readAt is when the read began, on this process's monotonic clock:
	// a read begun after a delivery arrived saw every secret Linq could
	// have signed it with, or the change in progress that will store it.
	readAt time.Time
}

// unmatched reports a verification that a newer secret could pass.
func unmatched(err error) bool {
	return errors.Is(err, linq.ErrWebhookSignature) || errors.Is(err, linq.ErrWebhookNoSecret)
}

// verify checks a delivery's signature against the secrets this replica
// read last and, while none matches, against newer reads until one begun
// after the delivery arrived. An unmatched signature is
// errSecretsUnconfirmed, not a rejection, when the budget allows no such
// read or a subscription change was in progress.
func (s *Service) verify(ctx context.Context, header http.Header, body []byte) error {
	arrived := time.Now()
	set, err := s.secretsAfter(ctx, s.forgottenAt(), false)
	if err != nil {
		return err
	}
	err = linq.VerifyWebhook(set.list, header, body, s.cfg.Now(), s.cfg.Tolerance)
	for unmatched(err) && !set.readAt.After(arrived) {
		newer, rerr := s.secretsAfter(ctx, set.readAt, true)
		if rerr != nil {
			return rerr
		}
		if !slices.Equal(newer.list, set.list) {
			err = linq.VerifyWebhook(newer.list, header, body, s.cfg.Now(), s.cfg.Tolerance)
		}
		set = newer
	}
	if unmatched(err) && set.changing {
		return errSecretsUnconfirmed
	}
	return err
}

// secretsAfter returns a read of the secrets begun after since: the last
// one, the one in flight (callers share it rather than each query), or a
// new one. With budgeted, a new read draws on the read budget, and
// errSecretsUnconfirmed is returned when it is spent.
func (s *Service) secretsAfter(ctx context.Context, since time.Time, budgeted bool) (*secretSet, error) {
	for {
		s.mu.Lock()
		if s.last != nil && s.last.readAt.After(since) {
			set := s.last
			s.mu.Unlock()
			return set, nil
		}
		if wait := s.reading; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue // it may have failed
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if budgeted && !s.spendRead() {
			s.mu.Unlock()
			return nil, errSecretsUnconfirmed
		}
		done := make(chan struct{})
		readAt := time.Now()
		s.reading = done
		s.mu.Unlock()

		set, err := s.readSecrets(ctx, readAt)
		s.mu.Lock()
		if err == nil {
			s.last = set
		}
		s.reading = nil
		close(done)
		s.mu.Unlock()
		return set, err
	}
}

func (s *Service) readSecrets(ctx context.Context, readAt time.Time) (*secretSet, error) {
	row, err := s.q.LinqWebhookSubscriptionSecrets(ctx, s.pool, int32(subscriptionChangeFor/time.Second))
	if err != nil {
		return nil, fmt.Errorf("load webhook secrets: %w", err)
	}
	return &secretSet{list: append(slices.Clone(s.cfg.Secrets), row.Secrets...), changing: row.Changing, readAt: readAt}, nil
}

// spendRead takes one read from the budget, if there is one; s.mu is held.
func (s *Service) spendRead() bool {
	now := s.cfg.Now()
	switch {
	case s.budgetAt.IsZero():
		s.budget = secretReloadBurst
	case now.After(s.budgetAt):
		s.budget = min(secretReloadBurst, s.budget+float64(now.Sub(s.budgetAt))/float64(secretReload))
	}
	s.budgetAt = now
	if s.budget < 1 {
		return false
	}
	s.budget--
	return true
}

func (s *Service) forgottenAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forgotAt
}

// forgetSecrets makes the next verification read the stored secrets again
// (this replica has just stored a new one).
func (s *Service) forgetSecrets() {
	s.mu.Lock()
	s.forgotAt = time.Now()
	s.mu.Unlock()
}
