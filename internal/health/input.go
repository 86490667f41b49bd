package health

import "time"

// Sources of a line-health input.
const (
	SourceWebhook = "webhook"        // phone_number.status_updated
	SourceFailed  = "message_failed" // message.failed with an ineligible-line code
	SourceSend    = "send"           // Linq answered 2027 on a send
	SourcePoll    = "poll"           // the reputation poll of GET /v3/phone_numbers
	SourceOps     = "ops"            // an operator's action
)

// Input is one observation of a line's state by one source at one time.
// Empty fields are unknown to that source and leave the stored value alone.
type Input struct {
	// LineID names the line; when zero, Number (E.164) does.
	LineID int64
	Number string
	Source string
	// At is when the source saw it (the event time for webhooks). Each
	// signal is ordered on its own: the service status (with Ineligible),
	// the reputation and Missing each change only when the input saw them
	// later than the stored value was seen, so an input that did not see a
	// signal never makes an older input of it stale.
	At time.Time
	// StatusAt is when ServiceStatus was seen, when not at At: the poll
	// lists the lines (At) and then checks each one.
	StatusAt time.Time
	// ServiceStatus is ACTIVE or FLAGGED; Reputation HEALTHY, AT_RISK or
	// CRITICAL.
	ServiceStatus string
	Reputation    string
	// Ineligible marks a 2027 answer (the line may not send).
	Ineligible bool
	// Missing is set by the poll when Linq no longer lists the line.
	Missing bool
	// EventID is the Linq event that carried it, when there is one.
	EventID string
}

// statusAt is when the input saw the service status.
func (in Input) statusAt() time.Time {
	if in.StatusAt.IsZero() {
		return in.At
	}
	return in.StatusAt
}
