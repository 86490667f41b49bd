package health

import (
	"github.com/linegate/linegate/internal/router"
)

// ContinuationAfter is the line ledger's reasons of a move after which the
// user's first send on their new line opens the chat with the continuation
// text (ContinuationText): failover, ops, recovery and retire. A signup or
// an import puts the user on a line they were told about. The send path's
// admission reads the user's newest ledger row and decides with it, so that
// the continuation is admitted with the send.
func (s *Service) ContinuationAfter() []string {
	return []string{router.LedgerFailover, router.LedgerOps, router.LedgerRecovery, router.LedgerRetire}
}
