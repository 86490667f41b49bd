// Package webhooks is Linegate's intake of Linq's webhooks. A delivery is
// verified on its raw body (Standard Webhooks first, the legacy
// X-Webhook-Signature second, against every configured secret and the
// secret of the subscription Linegate created), parsed, and written — the
// event row keyed by event_id plus the River job that processes it — in one
// transaction before Linq gets its 2xx. A redelivered event_id is
// acknowledged and changes nothing. Processing is package inbound's.
//
// A signature no secret matches is refused with a 401, which Linq never
// retries, only on a read of the secrets begun after the delivery arrived
// that shows no subscription change in progress; otherwise (the read budget
// spent, or a change under way) the answer is a 503, which Linq retries.
//
// The package also keeps Linegate's own Linq webhook subscription in place
// (EnsureSubscription) and stores the signing secret Linq returns; the
// secret is never logged.
package webhooks
