package app_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/app"
	"github.com/linegate/linegate/internal/pgtest"
)

func TestServe(t *testing.T) {
	t.Parallel()

	t.Run("DrainsInFlightRequestsOnShutdown", func(t *testing.T) {
		t.Parallel()
		a := app.NewForTest(t, app.TestConfig(pgtest.NewURL(t)))
		key, _, err := a.Keys().Create(context.Background(), "ops", apikey.AllScopes)
		require.NoError(t, err)
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		// The server reads the body only from the handler once it holds the
		// whole header block; reading the body is the sign a handler runs.
		headersRead, bodyRead := newMark("\r\n\r\n"), newMark(`"name":"late"`)
		ln := &watchListener{Listener: inner, marks: []*mark{headersRead, bodyRead}}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- a.Serve(ctx, ln) }()
		base := "http://" + ln.Addr().String()

		// A request whose body is still arriving when shutdown begins.
		pr, pw := io.Pipe()
		req, err := http.NewRequest("POST", base+"/v1/ops/api-keys", pr)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		type answer struct {
			resp *http.Response
			err  error
		}
		answered := make(chan answer, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			answered <- answer{resp, err}
		}()
		headersRead.wait(t)
		_, err = pw.Write([]byte(`{"name":"late",`))
		require.NoError(t, err)
		bodyRead.wait(t)

		cancel() // SIGTERM
		require.Eventually(t, func() bool {
			c, err := net.DialTimeout("tcp", ln.Addr().String(), 100*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err != nil
		}, 5*time.Second, 20*time.Millisecond, "the listener must close at once")

		_, err = pw.Write([]byte(`"scopes":["send"]}`))
		require.NoError(t, err)
		require.NoError(t, pw.Close())
		ans := <-answered
		require.NoError(t, ans.err, "the in-flight request must be answered")
		ans.resp.Body.Close()
		require.Equal(t, http.StatusCreated, ans.resp.StatusCode)
		require.NoError(t, <-served)
	})
}

// mark is a byte string a watchListener waits for in what the server reads.
type mark struct {
	text []byte
	seen chan struct{}
	once sync.Once
}

func newMark(text string) *mark { return &mark{text: []byte(text), seen: make(chan struct{})} }

func (m *mark) wait(t *testing.T) {
	t.Helper()
	select {
	case <-m.seen:
	case <-time.After(10 * time.Second):
		t.Fatalf("the server never read %q", m.text)
	}
}

// watchListener signals each mark once the server has read it from one of
// its connections.
type watchListener struct {
	net.Listener
	marks []*mark
}

func (l *watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchConn{Conn: c, marks: l.marks}, nil
}

type watchConn struct {
	net.Conn
	marks []*mark
	read  []byte
}

func (c *watchConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.read = append(c.read, p[:n]...)
		for _, m := range c.marks {
			if bytes.Contains(c.read, m.text) {
				m.once.Do(func() { close(m.seen) })
			}
		}
	}
	return n, err
}
