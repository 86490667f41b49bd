package messaging

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/internal/store"
)

// doneChannel is where a send's completion is announced to duplicates that
// asked for it (messages.awaited).
const doneChannel = "linegate_send_done"

// waiters lets a duplicate request wait for the send in flight under its
// key instead of polling the database: it listens on doneChannel (one
// connection of its own per replica, opened on first use), marks the
// message awaited, and the replica that finishes the send notifies. Only
// awaited sends notify, since NOTIFY serialises commits.
type waiters struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu      sync.Mutex
	byID    map[uuid.UUID][]chan struct{}
	ready   chan struct{} // closed once LISTEN is in place; nil: no listener
	stop    context.CancelFunc
	stopped bool
	wg      sync.WaitGroup
}

func newWaiters(pool *pgxpool.Pool, log *slog.Logger) *waiters {
	return &waiters{pool: pool, log: log, byID: map[uuid.UUID][]chan struct{}{}}
}

// await blocks until the send id (under apiKeyID and key) ends, its lease
// (leaseFor from now) runs out, or ctx ends; it reports whether the caller
// should ask again.
func (w *waiters) await(ctx context.Context, q *store.Queries, apiKeyID int64, key string, id uuid.UUID, leaseFor time.Duration) bool {
	if leaseFor <= 0 {
		return ctx.Err() == nil // ask again at once: the holder is gone
	}
	_, again := w.awaitEnd(ctx, id, func(ctx context.Context) (time.Duration, error) {
		_, err := q.MessageAwait(ctx, w.pool, store.MessageAwaitParams{ApiKeyID: apiKeyID, IdempotencyKey: key})
		return leaseFor, err
	})
	return again
}

// awaitRecord blocks until the Linq answer of the pending send id is
// recorded (see recordBehind), its lease runs out, or ctx ends. It reports
// whether the send was pending when asked, and whether the caller should
// look again.
func (w *waiters) awaitRecord(ctx context.Context, q *store.Queries, id uuid.UUID) (pending, again bool) {
	return w.awaitEnd(ctx, id, func(ctx context.Context) (time.Duration, error) {
		ms, err := q.MessageAwaitRecord(ctx, w.pool, pgUUID(id))
		return time.Duration(ms) * time.Millisecond, err
	})
}

// awaitEnd listens for the end of send id, then asks to be told of it (ask
// marks the message awaited and says how long its lease has left), then
// waits. Listening first, then asking: no end is missed. held says whether
// ask found the send still open.
func (w *waiters) awaitEnd(ctx context.Context, id uuid.UUID, ask func(context.Context) (time.Duration, error)) (held, again bool) {
	ch, err := w.subscribe(ctx, id)
	if err != nil {
		w.log.WarnContext(ctx, "listen for duplicates", slog.Any("error", err))
		return false, sleep(ctx, 100*time.Millisecond)
	}
	defer w.unsubscribe(id, ch)
	left, err := ask(ctx)
	if err != nil {
		if errors.Is(store.Interpret(err), store.ErrNotFound) {
			return false, ctx.Err() == nil // already ended
		}
		return false, false
	}
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case <-ch:
		return true, true
	case <-t.C:
		return true, true
	case <-ctx.Done():
		return true, false
	}
}

func (w *waiters) subscribe(ctx context.Context, id uuid.UUID) (chan struct{}, error) {
	w.mu.Lock()
	if w.ready == nil && !w.stopped {
		w.start()
	}
	ready := w.ready
	ch := make(chan struct{}, 1)
	w.byID[id] = append(w.byID[id], ch)
	w.mu.Unlock()
	if ready == nil {
		return nil, errors.New("waiters closed")
	}
	select {
	case <-ready:
		return ch, nil
	case <-ctx.Done():
		w.unsubscribe(id, ch)
		return nil, ctx.Err()
	}
}

func (w *waiters) unsubscribe(id uuid.UUID, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.byID[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.byID, id)
	} else {
		w.byID[id] = list
	}
}

// wakeAll releases every waiter (the listener was lost: they ask again).
func (w *waiters) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, list := range w.byID {
		for _, c := range list {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
}

func (w *waiters) wake(id uuid.UUID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.byID[id] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// start runs the listener; w.mu is held.
func (w *waiters) start() {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	w.ready, w.stop = ready, cancel
	w.wg.Go(func() {
		defer cancel()
		err := w.listen(ctx, ready)
		w.mu.Lock()
		if w.ready == ready {
			w.ready = nil // the next waiter starts a new listener
		}
		w.mu.Unlock()
		w.wakeAll()
		if err != nil && ctx.Err() == nil {
			w.log.Warn("duplicate listener ended", slog.Any("error", err))
		}
	})
}

// listen holds its own connection (not the pool's, so closing the pool
// never waits for it) and dispatches notifications.
func (w *waiters) listen(ctx context.Context, ready chan struct{}) error {
	conn, err := pgx.ConnectConfig(ctx, w.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+doneChannel); err != nil {
		return err
	}
	close(ready)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if id, err := uuid.Parse(n.Payload); err == nil {
			w.wake(id)
		}
	}
}

func (w *waiters) close() {
	w.mu.Lock()
	w.stopped = true
	if w.stop != nil {
		w.stop()
	}
	w.mu.Unlock()
	w.wg.Wait()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
