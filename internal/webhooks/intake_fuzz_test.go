package webhooks

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/inbound"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/testkit"
)

// jobLog records the processing jobs intake enqueues, in place of River.
type jobLog struct {
	mu  sync.Mutex
	ids map[string]int
}

func (j *jobLog) InsertTx(_ context.Context, _ pgx.Tx, args river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ids[args.(inbound.ProcessArgs).EventID]++
	return &rivertype.JobInsertResult{}, nil
}

func (j *jobLog) count(id string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.ids[id]
}

const fuzzSecret = "whsec_c2VjcmV0LWZvci10aGUtaW50YWtlLWZ1enotdGVzdA=="

// FuzzAccept drives webhook intake with arbitrary bodies, correctly signed:
// intake answers only with an envelope error (never a bare 500), stores an
// event and its one processing job exactly when the body is a Linq event,
// takes a repeat as a duplicate, and stores nothing for a body changed after
// signing.
func FuzzAccept(f *testing.F) {
	for _, s := range []string{
		`{"event_id":"e1","event_type":"message.received","created_at":"2026-02-03T10:00:00Z","data":{"id":"m1"}}`,
		`{"event_id":"e2","event_type":"x","data":{"s":"\u0000"}}`,
		`{"event_id":"e3\u0000","event_type":"x","data":1}`,
		`{"event_id":"` + string(make([]byte, 0)) + `e4","event_type":"x\u0000","data":[]}`,
		`{"event_id":"e5","event_type":"x","data":{"s":"\ud800"}}`,
		`{"event_id":"e6","event_type":"x","data":1,"created_at":"0001-01-01T00:00:00-23:59"}`,
		`{"event_id":"e7","event_type":"x"}`, `not json`, ``,
	} {
		f.Add([]byte(s), uint(7))
	}
	pool := pgtest.NewPool(f)
	now := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	jobs := &jobLog{ids: map[string]int{}}
	svc := New(pool, jobs, nil, testkit.Logger(f), metrics.New(), Config{
		Secrets: []string{fuzzSecret}, Now: func() time.Time { return now },
	})
	ctx := context.Background()
	stored := func(t *testing.T, id string) int {
		if strings.ContainsRune(id, 0) || !utf8.ValidString(id) {
			return 0 // text cannot hold it, so it cannot be stored
		}
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM webhook_events WHERE event_id = $1`, id).Scan(&n))
		return n
	}
	signed := func(body []byte) http.Header {
		h := http.Header{}
		h.Set(linq.HeaderWebhookID, "msg_fuzz")
		h.Set(linq.HeaderWebhookTimestamp, "1770112800")
		h.Set(linq.HeaderWebhookSignature, linq.SignStandard(fuzzSecret, "msg_fuzz", now, body))
		return h
	}
	f.Fuzz(func(t *testing.T, body []byte, pos uint) {
		if len(body) > 0 {
			tampered := append([]byte(nil), body...)
			tampered[pos%uint(len(body))] ^= 0x41
			_, err := svc.Accept(ctx, signed(body), tampered)
			ae, ok := apperr.As(err)
			require.True(t, ok, "tampered body: %v", err)
			// Past the budget of re-reads of the secrets (the clock does not
			// move here), an unmatched signature is answered 503.
			require.Contains(t, []string{"invalid_signature", "signature_unconfirmed"}, ae.Code)
		}

		ev, perr := linq.ParseWebhookEvent(body)
		before := 0
		if perr == nil {
			before = stored(t, ev.EventID)
		}
		res, err := svc.Accept(ctx, signed(body), body)
		if err != nil {
			ae, ok := apperr.As(err)
			require.True(t, ok, "signed body %q: %v is not an envelope error", body, err)
			require.Equal(t, apperr.Invalid, ae.Kind, "signed body %q: %v", body, err)
			if perr == nil {
				require.Equal(t, before, stored(t, ev.EventID), "a refused event must not be stored")
			}
			return
		}
		require.NoError(t, perr, "intake accepted what is no Linq event: %q", body)
		require.Equal(t, ev.EventID, res.EventID)
		require.Equal(t, before > 0, res.Duplicate)
		require.Equal(t, 1, stored(t, ev.EventID))
		require.Equal(t, 1, jobs.count(ev.EventID), "one processing job per event")
	})
}
