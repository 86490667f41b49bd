package linqsim_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
)

// BenchmarkSend measures chat sends through the Go client against the
// simulator over loopback HTTP, from many goroutines, as the gateway's
// benchmark baseline does. Recipients rotate so the pair limit never bites.
func BenchmarkSend(b *testing.B) {
	for _, hooks := range []bool{false, true} {
		b.Run(fmt.Sprintf("webhooks=%v", hooks), func(b *testing.B) {
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			cfg := linqsim.Config{APIKey: "k", LineCount: 4, Logger: quiet}
			if hooks {
				target := httptest.NewServer(nopHandler{})
				defer target.Close()
				cfg.WebhookURL = target.URL
			}
			sim := linqsim.New(cfg)
			defer sim.Close()
			srv := httptest.NewServer(sim.Handler())
			defer srv.Close()
			client, err := linq.New(linq.Config{BaseURL: srv.URL, APIKey: "k", Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			lines := sim.Lines()
			var n atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					i := n.Add(1)
					msg := linq.MessageContent{Parts: []linq.Part{linq.TextPart("benchmark message")}, IdempotencyKey: fmt.Sprint("k", i)}
					_, err := client.CreateChat(ctx, linq.CreateChatRequest{
						From: lines[i%int64(len(lines))].PhoneNumber, To: []string{fmt.Sprintf("+1444%07d", i%100000)}, Message: msg,
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
		})
	}
}

type nopHandler struct{}

func (nopHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }
