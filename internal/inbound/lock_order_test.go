package inbound

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
)

// TestLockOrder pins the order a batch applies its events in, which is what
// keeps two concurrent batches from deadlocking: the rows an event locks
// decide its place, not its event id.
func TestLockOrder(t *testing.T) {
	t.Parallel()
	minute := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	counted := func(event string, line int64, at time.Time, sender string) *item {
		return &item{row: store.WebhookEvent{EventID: event, OccurredAt: at}, msg: &message{lineID: line, at: at, sender: sender}}
	}
	status := func(event, linqID string) *item {
		return &item{row: store.WebhookEvent{EventID: event}, sent: &linq.MessageEventData{ID: linqID}}
	}
	ours := func(event, linqID, messageID string) *item {
		it := status(event, linqID)
		it.messageID = uuid.MustParse(messageID)
		return it
	}
	failure := func(event, linqID, messageID string) *item {
		it := &item{row: store.WebhookEvent{EventID: event}, failure: &linq.MessageFailedData{MessageID: linqID}}
		if messageID != "" {
			it.messageID = uuid.MustParse(messageID)
		}
		return it
	}
	other := func(event string) *item { return &item{row: store.WebhookEvent{EventID: event}} }
	const (
		m1 = "00000000-0000-7000-8000-000000000001"
		m2 = "00000000-0000-7000-8000-000000000002"
		m3 = "00000000-0000-7000-8000-000000000003"
	)
	cases := []struct {
		name string
		in   []*item
		want []string // event ids, in the order applied
	}{
		{
			// The order a send's outcome record locks the messages rows in.
			name: "StatusAndFailureEventsGoByOurMessageIDNotLinqsNorEventID",
			in: []*item{
				ours("evt_1", "msg_a", m3), failure("evt_2", "msg_b", m1), ours("evt_3", "msg_c", m2),
			},
			want: []string{"evt_2", "evt_3", "evt_1"},
		},
		{
			name: "EventsOfUnknownMessagesGoAfterByLinqsMessageID",
			in: []*item{
				failure("evt_1", "msg_b", ""), status("evt_2", "msg_a"), ours("evt_3", "msg_z", m1),
			},
			want: []string{"evt_3", "evt_2", "evt_1"},
		},
		{
			name: "StatusEventsGoByLinqsMessageIDNotByEventID",
			in:   []*item{status("evt_1", "msg_c"), status("evt_2", "msg_a"), status("evt_3", "msg_b")},
			want: []string{"evt_2", "evt_3", "evt_1"},
		},
		{
			name: "EventsOfOneMessageGoByEventID",
			in:   []*item{status("evt_9", "msg_a"), status("evt_1", "msg_a")},
			want: []string{"evt_1", "evt_9"},
		},
		{
			// Messages rows before line and user rows, as admissions lock
			// a message they take over before its line.
			name: "StatusEventsFirstThenCountedMessagesByLineMinuteAndSender",
			in: []*item{
				status("evt_0", "msg_a"),
				counted("evt_1", 2, minute, "+14155550001"),
				counted("evt_2", 1, minute.Add(time.Minute), "+14155550001"),
				counted("evt_3", 1, minute.Add(30*time.Second), "+14155550002"),
				counted("evt_4", 1, minute, "+14155550001"),
			},
			want: []string{"evt_0", "evt_4", "evt_3", "evt_2", "evt_1"},
		},
		{
			// A STOP and the message after it go in the order written.
			name: "OneSendersMessagesGoByTimeNotEventID",
			in: []*item{
				counted("evt_a", 1, minute.Add(20*time.Second), "+14155550001"),
				counted("evt_b", 1, minute.Add(time.Second), "+14155550001"),
			},
			want: []string{"evt_b", "evt_a"},
		},
		{
			name: "OtherEventsLastByEventID",
			in:   []*item{other("evt_2"), status("evt_3", "msg_z"), other("evt_1")},
			want: []string{"evt_3", "evt_1", "evt_2"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			items := slices.Clone(c.in)
			slices.SortFunc(items, lockOrder)
			got := make([]string, len(items))
			for i, it := range items {
				got[i] = it.row.EventID
			}
			require.Equal(t, c.want, got)
		})
	}
}
