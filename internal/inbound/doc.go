// Package inbound processes the Linq webhooks Linegate accepted, one River
// job per event, idempotent per event_id: the event row is locked and marked
// processed in the same transaction as every effect (the inbound counted in
// the line's budget, a signup code bound to its sender's handle, an opt-out,
// a message status) and the events published to product services, so a
// retried or redelivered event changes nothing twice.
//
// Concurrent jobs share one transaction (group commit, batch.go): a batch
// locks its events in event_id order and applies them in (line, minute)
// order, so that batches in one process or on two replicas take a line's
// volume rows in one order, and each job still returns its own event's
// answer once the batch has committed.
//
// Line state reported by Linq (phone_number.status_updated, and a
// message.failed with the ineligible-line code) is handed to line health
// through HealthApplier in the same transaction.
package inbound
