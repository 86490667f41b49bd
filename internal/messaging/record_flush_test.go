package messaging_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/store"
)

// markTracer keeps the flush argument of every outcome record.
type markTracer struct {
	mu      sync.Mutex
	flushes []bool
}

func (m *markTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, "message_mark_sent_many(") && len(d.Args) > 0 {
		if flush, ok := d.Args[0].(bool); ok {
			m.mu.Lock()
			m.flushes = append(m.flushes, flush)
			m.mu.Unlock()
		}
	}
	return ctx
}

func (m *markTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (m *markTracer) seen() []bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]bool(nil), m.flushes...)
}

func TestRecordFlush(t *testing.T) {
	t.Parallel()

	t.Run("a record the caller waits for waits for its flush, one behind the answer does not", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		tr := &markTracer{}
		gw := e.newGateway(t, gwOptions{tracer: tr})
		line, _ := e.addLine(t)
		ref, _ := e.addUser(t, line)

		// The first send opens the chat: the next send reads it, so the
		// caller waits for the record.
		_, err := gw.svc.Send(t.Context(), messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("opens the chat")})
		require.NoError(t, err)
		// On the open chat the caller has the answer before the record.
		_, err = gw.svc.Send(t.Context(), messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("on the chat")})
		require.NoError(t, err)
		gw.svc.Settle()

		require.Equal(t, []bool{true, false}, tr.seen())
		var state string
		require.NoError(t, e.pool.QueryRow(t.Context(),
			`SELECT string_agg(state, ',' ORDER BY admitted_at) FROM messages`).Scan(&state))
		require.Equal(t, "sent,sent", state, "both records committed")
	})

	t.Run("the record's transaction commits without waiting for the flush only when asked", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		for _, flush := range []bool{true, false} {
			var got string
			err := store.WithTx(t.Context(), e.pool, func(ctx context.Context, tx pgx.Tx) error {
				_, err := store.New().MessageMarkSentMany(ctx, tx, store.MessageMarkSentManyParams{
					Flush: flush, Ids: []pgtype.UUID{{Bytes: uuid.New(), Valid: true}}, LineIds: []int64{1},
					Handles: []string{"+15550000000"}, LinqChatIds: []string{"c"}, LinqMessageIds: []string{"m"},
					TraceIds: []string{""}, DeliveryStatuses: []string{"queued"}, NewChats: []bool{false},
				})
				if err != nil {
					return err
				}
				return tx.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&got)
			})
			require.NoError(t, err)
			want := map[bool]string{true: "on", false: "off"}[flush]
			require.Equal(t, want, got, "flush %v", flush)
		}
	})
}
