package health_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/linq"
)

func TestContactCards(t *testing.T) {
	t.Parallel()

	t.Run("EveryLineGetsACardAndANameChangeIsPatched", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{CompanyName: "Acme"})
		_, n1 := b.addLine(t, 100)
		_, n2 := b.addLine(t, 100)
		res, err := b.inst.health.EnsureContactCards(context.Background())
		require.NoError(t, err)
		require.Equal(t, 2, res.Created)
		for _, n := range []string{n1, n2} {
			cards, err := b.linq.GetContactCard(context.Background(), n)
			require.NoError(t, err)
			require.Len(t, cards.ContactCards, 1)
			require.Equal(t, "Acme", cards.ContactCards[0].FirstName)
		}
		res, err = b.inst.health.EnsureContactCards(context.Background())
		require.NoError(t, err)
		require.Equal(t, health.CardResult{}, res, "nothing to do the second time")

		b.cfg.CompanyName = "Acme Inc"
		renamed := b.newInstance(t)
		res, err = renamed.health.EnsureContactCards(context.Background())
		require.NoError(t, err)
		require.Equal(t, 2, res.Updated)
		cards, err := b.linq.GetContactCard(context.Background(), n1)
		require.NoError(t, err)
		require.Equal(t, "Acme Inc", cards.ContactCards[0].FirstName)
	})

	t.Run("CardIsSharedAfterTheFirstMessageThenAtMostDaily", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{CompanyName: "Acme", CardReshareAfter: 24 * time.Hour})
		line, number := b.addLine(t, 100)
		b.seedUsers(t, "a", 1, line)
		_, err := b.inst.health.EnsureContactCards(context.Background())
		require.NoError(t, err)
		chat, err := b.linq.CreateChat(context.Background(), linq.CreateChatRequest{From: number, To: []string{"+15551230000"},
			Message: linq.MessageContent{Parts: []linq.Part{linq.TextPart("hello")}}})
		require.NoError(t, err)
		b.exec(t, `INSERT INTO chats (user_id, line_id, linq_chat_id, created_at) SELECT id, $1, $2, $3 FROM users`, line, chat.Chat.ID, t0)
		b.exec(t, `INSERT INTO messages (id, api_key_id, user_id, line_id, handle, intent, state, admitted_at, created_at, updated_at)
			SELECT (lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
			        || substr(replace(gen_random_uuid()::text, '-', ''), 13))::uuid, -- a UUIDv7, as message ids are
			       1, id, $1, '+15551230000', 'proactive', 'sent', $2, $2, $2 FROM users`, line, t0)

		n, err := b.inst.health.ShareContactCards(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, err = b.inst.health.ShareContactCards(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "not again the same day")
		b.clock.Advance(25 * time.Hour)
		n, err = b.inst.health.ShareContactCards(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "an idle chat is not shared again")
	})
}

func TestContactCardsManyLines(t *testing.T) {
	t.Parallel()
	const n = 20 // more lines than calls in flight

	t.Run("AFailedCardOfOneLineDoesNotStopTheOthers", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{CompanyName: "Acme"})
		numbers := make([]string, n)
		for i := range n {
			_, numbers[i] = b.addLine(t, 100)
		}
		res, err := b.withLinq(t, failingLinq{Linq: b.linq, number: numbers[7]}).EnsureContactCards(context.Background())
		require.NoError(t, err)
		require.Equal(t, health.CardResult{Created: n - 1, Failed: 1}, res)
		require.Equal(t, n-1, b.count(t, `SELECT count(*) FROM line_contact_cards WHERE first_name = 'Acme' AND synced_at = $1`, t0))

		res, err = b.inst.health.EnsureContactCards(context.Background())
		require.NoError(t, err)
		require.Equal(t, health.CardResult{Created: 1}, res, "the failed line is done on the next sync")
		require.Equal(t, n, b.count(t, `SELECT count(*) FROM line_contact_cards WHERE first_name = 'Acme'`))
	})

	t.Run("EveryDueChatIsSharedOnceAndAFailedShareIsTriedAgain", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{CompanyName: "Acme", CardReshareAfter: 24 * time.Hour})
		line, number := b.addLine(t, 100)
		b.seedUsers(t, "a", n, line)
		// Two messages to each user: one share per chat all the same.
		chats := seedChats(t, b, line, number, n, 2)

		shared, err := b.withLinq(t, failingLinq{Linq: b.linq, chatID: chats[3]}).ShareContactCards(context.Background())
		require.NoError(t, err)
		require.Equal(t, n-1, shared)
		require.Equal(t, n-1, b.count(t, `SELECT count(*) FROM contact_card_shares WHERE line_id = $1 AND shared_at = $2`, line, t0))

		shared, err = b.inst.health.ShareContactCards(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, shared, "only the chat whose share failed")
		require.Equal(t, n, b.count(t, `SELECT count(*) FROM contact_card_shares WHERE line_id = $1`, line))
	})
}

func TestContactCardsFirstShares(t *testing.T) {
	t.Parallel()

	t.Run("EveryChatOpenedLatelyGetsItsCardHoweverManyMessagesCameAfter", func(t *testing.T) {
		t.Parallel()
		// A run reads only the newest sent message, as one reads the
		// newest 50,000 of a pool that sends more than that between runs.
		b := setup(t, health.Config{CompanyName: "Acme", CardShareScan: 1})
		line, number := b.addLine(t, 100)
		const n = 5
		b.seedUsers(t, "a", n, line)
		seedChats(t, b, line, number, n, 1)

		shared, err := b.inst.health.ShareContactCards(context.Background())
		require.NoError(t, err)
		require.Equal(t, n, shared, "every chat opened in the last day, not only those of the messages read")
		shared, err = b.inst.health.ShareContactCards(context.Background())
		require.NoError(t, err)
		require.Zero(t, shared, "not again the same day")
	})
}

// seedChats makes the line's contact card, opens a chat at the simulator
// for each of the first n users (by id) and records it at t0, then records
// perUser sent messages to each of them; it returns the chats' Linq ids.
func seedChats(t *testing.T, b *bundle, line int64, number string, n, perUser int) []string {
	t.Helper()
	_, err := b.inst.health.EnsureContactCards(context.Background())
	require.NoError(t, err)
	chats := make([]string, n)
	for i := range n {
		chat, err := b.linq.CreateChat(context.Background(), linq.CreateChatRequest{From: number, To: []string{fmt.Sprintf("+1555123%04d", i)},
			Message: linq.MessageContent{Parts: []linq.Part{linq.TextPart("hello")}}})
		require.NoError(t, err)
		chats[i] = chat.Chat.ID
	}
	b.exec(t, `INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
		SELECT u.id, $1, c.id, $3 FROM (SELECT id, row_number() OVER (ORDER BY id) AS i FROM users) u
		JOIN unnest($2::text[]) WITH ORDINALITY AS c (id, i) ON c.i = u.i`, line, chats, t0)
	b.exec(t, `INSERT INTO messages (id, api_key_id, user_id, line_id, handle, intent, state, admitted_at, created_at, updated_at)
		SELECT (lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
		        || substr(replace(gen_random_uuid()::text, '-', ''), 13))::uuid, -- a UUIDv7, as message ids are
		       1, id, $1, '+15551230000', 'proactive', 'sent', $2, $2, $2 FROM users CROSS JOIN generate_series(1, $3::int)`,
		line, t0, perUser)
	return chats
}
