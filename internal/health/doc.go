// Package health answers two questions: is this instance up (the liveness
// and readiness probes), and is each line fit to carry its users.
//
// # Line health
//
// Every line has one health state (ok, at_risk, critical, down, missing),
// derived by Derive from its signals: Linq's service status and reputation,
// a 2027 (ineligible) answer, and whether Linq still lists it. Inputs come
// from the phone_number.status_updated webhooks, 2027 answers on sends and
// message.failed events, the poll of GET /v3/phone_numbers (with a
// capability check from each line, the one read that shows a flag), and
// ops. Service.Apply is the only way in: each signal applies in
// event-time order (an input changes only the signals it saw, each only
// when it saw it after the newest applied input of that signal; the service
// status and a 2027 mark count as one), each transition is written to
// line_health_history with the input that caused it and published as
// line.status_changed, all in the caller's transaction.
//
// Policy: the send path's line policy reads the state (at_risk: no signups,
// proactive sends paced to AtRiskPace of the budget; critical: no signups,
// replies only; down/missing: nothing). critical, down and missing fail the
// line's users over at once, inside the same transaction as the transition
// (router.FailoverTx: set-based, caps respected), so a state that says
// "users leave" is never committed without the move; users the pool cannot
// take stay (stranded) and the recovery tick retries them every minute.
// Each moved user gets one user.line_changed.
//
// Recovery has hysteresis: a line ok again takes its users back only after
// RecoveryDwell, at most RecoveryPerMinute per minute, and only those away
// because of a failover (not those ops moved since). A line that entered a
// failing state FlapLimit times within FlapWindow is held (held_at): no
// recovery and no signups until ops re-activate it.
package health
