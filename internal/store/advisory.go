package store

import "hash/fnv"

// AdvisoryKey turns a lock's name into a Postgres advisory-lock key, so every
// lock in Linegate is named, not numbered by hand.
func AdvisoryKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return int64(h.Sum64()) //nolint:gosec // any 64-bit value is a valid key
}
