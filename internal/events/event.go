// Package events delivers Linegate's events to product services: each
// subscription gets each matching event as a signed webhook, sent by a River
// job inserted in the same transaction as the change that caused it.
//
// Deliveries are signed with Standard Webhooks headers (webhook-id is the
// event id, stable across attempts and replays, for the consumer's dedupe;
// during a secret rotation the replaced secrets sign too, each until its
// overlap ends). A failed attempt is retried with doubling waits for at
// least a day (EVENT_RETRY_*), then the delivery is dead: listed for ops
// and replayable, one or all of a subscription.
//
// Message text: a message.received event carries the inbound text to
// product, but Linegate keeps message bodies only when STORE_MESSAGE_TEXT is
// on. The body of each delivery lives in its event_deliveries row, never in
// the River job (whose args hold only the row id and generation, so
// River's own retention of finished jobs keeps no text). Once a delivery
// that holds text succeeds, its body is set to NULL; until then it must
// stay, since a retry or a replay has to send it again. The stored Linq
// webhook has its text removed when processed (package inbound).
package events

import "time"

// Event types sent to product services.
const (
	TypeMessageReceived   = "message.received"
	TypeMessageStatus     = "message.status"
	TypeUserConnected     = "user.connected"
	TypeUserOptedOut      = "user.opted_out"
	TypeUserOptedIn       = "user.opted_in"
	TypeUserLineChanged   = "user.line_changed"
	TypeUserDeleted       = "user.deleted"
	TypeLineStatusChanged = "line.status_changed"
)

// Event is one thing that happened, as product services receive it.
type Event struct {
	// ID is stable across retries so consumers can dedupe; when empty,
	// Publish derives one (from Row when set, else from the type, time and
	// data).
	ID string
	// Row is the row the event stands for (a ledger or history row), when
	// there is one.
	Row        *Row
	Type       string
	OccurredAt time.Time
	// Data is the type-specific payload, marshalled to JSON.
	Data any
}

// Row names a row: its table and id. An event's id derived from it lies
// within this database's random id (the installation table), so that it is
// the same wherever the row is published from and, unlike a bare row id,
// never comes back in a database that was reset or in another environment
// (a receiver that dedupes by event id would drop the new event).
type Row struct {
	Table string
	ID    int64
}
