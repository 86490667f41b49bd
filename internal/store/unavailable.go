package store

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsUnavailable reports whether err says Postgres could not be reached or
// dropped the connection, rather than that a statement failed: the caller
// should retry later, and nothing it asked for was done. It is true for
//   - a failed connection attempt (refused, unreachable, timed out, the
//     server starting up or shutting down);
//   - an error pgconn marks safe to retry (nothing reached the server);
//   - a network error or a closed connection (server stopped or crashed),
//     unless pgconn reports it as a statement's timeout, and a connection
//     that ended in the middle of a message (a crashed server, seen as an
//     unexpected EOF);
//   - a server error of the connection-exception class (08…) or a shutdown
//     (57P01 admin, 57P02 crash, 57P03 cannot connect now);
//   - a context deadline that passed outside any statement, which in a
//     handler means while waiting for a pool connection (pgconn reports a
//     deadline it meets during a statement as its own timeout).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) || pgconn.SafeToRetry(err) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "08":
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03":
			return true
		}
		return false
	}
	switch {
	case pgconn.Timeout(err):
		return false // a statement ran out of its caller's time
	case errors.Is(err, context.DeadlineExceeded):
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}
