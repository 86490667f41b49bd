package store

import (
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Interval is d as a Postgres interval, for the queries that take one.
func Interval(d time.Duration) pgtype.Interval {
	return pgtype.Interval{Microseconds: d.Microseconds(), Valid: true}
}
