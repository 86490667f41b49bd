package linq

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is Linq's production partner API.
const DefaultBaseURL = "https://api.linqapp.com/api/partner"

// Defaults for Config.
const (
	DefaultMaxRetries   = 2
	DefaultMaxRetryWait = 60 * time.Second
	retryBase           = 500 * time.Millisecond
	retryCap            = 8 * time.Second
	maxErrorBody        = 64 << 10
	maxResponseBody     = 32 << 20
)

// TraceHeader is the response header the client reads a trace id from when
// the body has none.
const TraceHeader = "X-Trace-Id"

// Config configures a Client.
type Config struct {
	// BaseURL is the API root, path prefix included; default DefaultBaseURL.
	BaseURL string
	// APIKey is sent as a bearer token. Required. Never logged.
	APIKey string
	// HTTPClient is used as-is when set; otherwise the client builds one with
	// a transport tuned for many concurrent sends to one host.
	HTTPClient *http.Client
	// Logger receives retry and failure records; default slog.Default().
	Logger *slog.Logger
	// MaxRetries is the number of retries after the first attempt; 0 means
	// DefaultMaxRetries, a negative value disables retries.
	MaxRetries int
	// MaxRetryWait is the longest server-requested wait (Retry-After) the
	// client sleeps for; a longer request ends the call with the error.
	// Default DefaultMaxRetryWait.
	MaxRetryWait time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// SleepFunc waits between attempts; default a timer that stops early
	// when ctx is done. Tests replace it.
	SleepFunc func(ctx context.Context, d time.Duration) error
	// UserAgent overrides the User-Agent header.
	UserAgent string
	// NoRetryOn429 answers a 429 to the caller at once instead of waiting it
	// out: the gateway hands Linq's Retry-After to its own caller rather than
	// hold a request (and its pair slot) open.
	NoRetryOn429 bool
	// On429Func is called for every 429 Linq answers, retried or not, so a
	// metric of them misses none.
	On429Func func()
}

// Client calls the Linq v3 API. It is safe for concurrent use.
type Client struct {
	baseURL      string
	auth         string
	hc           *http.Client
	log          *slog.Logger
	maxRetries   int
	noRetry429   bool
	on429        func()
	maxRetryWait time.Duration
	now          func() time.Time
	sleep        func(ctx context.Context, d time.Duration) error
	userAgent    string
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("linq: APIKey is required")
	}
	base := strings.TrimRight(cmp.Or(cfg.BaseURL, DefaultBaseURL), "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("linq: invalid BaseURL %q", cfg.BaseURL)
	}
	c := &Client{
		baseURL:      base,
		auth:         "Bearer " + cfg.APIKey,
		hc:           cfg.HTTPClient,
		log:          cmp.Or(cfg.Logger, slog.Default()),
		maxRetries:   cfg.MaxRetries,
		maxRetryWait: cmp.Or(cfg.MaxRetryWait, DefaultMaxRetryWait),
		now:          cfg.Now,
		sleep:        cfg.SleepFunc,
		userAgent:    cmp.Or(cfg.UserAgent, "Linegate-linq-go/1"),
		noRetry429:   cfg.NoRetryOn429,
		on429:        cfg.On429Func,
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: NewTransport()}
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	return c, nil
}

// NewTransport returns the transport New uses by default: keep-alive
// connections to one host in large numbers, so thousands of sends per second
// reuse connections instead of dialing.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// BaseURL returns the API root the client calls.
func (c *Client) BaseURL() string { return c.baseURL }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call describes one API operation.
type call struct {
	op        string // operation name for logs
	method    string
	path      string // after the base URL, escaped
	query     url.Values
	body      any
	header    map[string]string
	retrySafe bool // repeating the request cannot cause a second effect
	out       any  // decode target for a 2xx body; nil discards it
}

type traceSetter interface{ setTraceID(string) }

// do runs c with retries. It returns the final status code.
func (c *Client) do(ctx context.Context, cl *call) (int, error) {
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return 0, notAttempted("encode %s request: %v", cl.op, err)
		}
	}
	target := c.baseURL + cl.path
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%w: linq %s: %w", ErrNotAttempted, cl.op, err)
	}

	uncertain := false // an earlier attempt may have been acted on
	for attempt := 0; ; attempt++ {
		var body io.Reader
		if payload != nil {
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, cl.method, target, body)
		if err != nil {
			return 0, notAttempted("build %s request: %v", cl.op, err)
		}
		req.Header.Set("Authorization", c.auth)
		req.Header.Set("User-Agent", c.userAgent)
		if _, isAck := cl.out.(*Ack); cl.out != nil && !isAck {
			req.Header.Set("Accept", "application/json")
		} else {
			req.Header.Set("Accept", "*/*")
		}
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range cl.header {
			req.Header.Set(k, v)
		}

		resp, err := c.hc.Do(req) //nolint:bodyclose // decodeSuccess and readError close it
		if err != nil {
			// Connection error or ctx done: the request may or may not
			// have reached Linq.
			err = fmt.Errorf("linq %s: %w", cl.op, err)
			if ctx.Err() != nil || !cl.retrySafe || attempt >= c.maxRetries {
				return 0, err
			}
			wait := c.backoff(attempt)
			if !c.fitsDeadline(ctx, wait) {
				return 0, err
			}
			c.logRetry(ctx, cl, attempt, 0, wait, "", err)
			if c.sleep(ctx, wait) != nil {
				return 0, err
			}
			uncertain = true
			continue
		}

		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			err := decodeSuccess(resp, cl.out)
			if err != nil {
				return resp.StatusCode, fmt.Errorf("linq %s: decode response: %w", cl.op, err)
			}
			return resp.StatusCode, nil
		}

		apiErr := readError(resp, c.now())
		apiErr.uncertain = uncertain
		if resp.StatusCode == http.StatusTooManyRequests && c.on429 != nil {
			c.on429()
		}
		if !c.shouldRetry(cl, resp, attempt) {
			return resp.StatusCode, apiErr
		}
		wait := apiErr.RetryAfter // server-given: headers first, then the body
		if wait > c.maxRetryWait {
			return resp.StatusCode, apiErr
		}
		if wait <= 0 {
			wait = c.backoff(attempt)
		}
		if !c.fitsDeadline(ctx, wait) {
			return resp.StatusCode, apiErr
		}
		c.logRetry(ctx, cl, attempt, resp.StatusCode, wait, apiErr.TraceID, nil)
		if c.sleep(ctx, wait) != nil {
			return resp.StatusCode, apiErr
		}
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout {
			uncertain = true
		}
	}
}

func (c *Client) logRetry(ctx context.Context, cl *call, attempt, status int, wait time.Duration, traceID string, err error) {
	attrs := []slog.Attr{
		slog.String("op", cl.op),
		slog.String("method", cl.method),
		slog.Int("attempt", attempt+1),
		slog.Duration("wait", wait),
	}
	if status != 0 {
		attrs = append(attrs, slog.Int("status", status))
	}
	if traceID != "" {
		attrs = append(attrs, slog.String("trace_id", traceID))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "linq request retry", attrs...)
}

// shouldRetry applies the retry rules: only requests safe to repeat, only
// connection errors (handled by the caller), 408, 429 and 5xx, with
// Linq's x-should-retry header able to veto or force a retry.
func (c *Client) shouldRetry(cl *call, resp *http.Response, attempt int) bool {
	if !cl.retrySafe || attempt >= c.maxRetries {
		return false
	}
	switch resp.Header.Get("X-Should-Retry") {
	case "true":
		return true
	case "false":
		return false
	}
	s := resp.StatusCode
	if s == http.StatusTooManyRequests && c.noRetry429 {
		return false
	}
	return s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500
}

// backoff is 0.5 s · 2^attempt, capped at 8 s, minus up to 25 % jitter.
func (c *Client) backoff(attempt int) time.Duration {
	d := retryCap
	if attempt < 5 {
		d = min(retryBase<<attempt, retryCap)
	}
	return time.Duration(float64(d) * (1 - 0.25*rand.Float64())) //nolint:gosec // jitter, not a secret
}

// fitsDeadline reports whether waiting d still leaves the context's deadline
// ahead; a wait that would pass it is not started.
func (c *Client) fitsDeadline(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	if !ok {
		return true
	}
	return c.now().Add(d).Before(dl)
}

// serverWait reads Retry-After-Ms (float milliseconds) and then Retry-After
// (float seconds or an HTTP date).
func serverWait(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && !math.IsInf(ms, 0) {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && !math.IsInf(s, 0) {
			return time.Duration(s * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	return 0
}

func decodeSuccess(resp *http.Response, out any) error {
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
	}()
	trace := resp.Header.Get(TraceHeader)
	if out == nil {
		return nil
	}
	if ack, ok := out.(*Ack); ok {
		ack.StatusCode = resp.StatusCode
		ack.setTraceID(trace)
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBody)).Decode(out); err != nil {
		return err
	}
	if ts, ok := out.(traceSetter); ok && trace != "" {
		ts.setTraceID(trace)
	}
	return nil
}

type errorEnvelope struct {
	Error *struct {
		Code       int             `json:"code"`
		Message    string          `json:"message"`
		DocURL     string          `json:"doc_url"`
		RetryAfter json.RawMessage `json:"retry_after"`
	} `json:"error"`
	TraceID string `json:"trace_id"`
}

func readError(resp *http.Response, now time.Time) *Error {
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Status: resp.StatusCode}
	var env errorEnvelope
	if json.Unmarshal(raw, &env) == nil {
		e.TraceID = env.TraceID
		if env.Error != nil {
			e.Code = env.Error.Code
			e.Message = env.Error.Message
			e.DocURL = env.Error.DocURL
			if s, err := strconv.ParseFloat(strings.Trim(string(env.Error.RetryAfter), `"`), 64); err == nil && s > 0 {
				e.RetryAfter = time.Duration(s * float64(time.Second))
			}
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if e.TraceID == "" {
		e.TraceID = resp.Header.Get(TraceHeader)
	}
	if w := serverWait(resp.Header, now); w > 0 {
		e.RetryAfter = w
	}
	return e
}

// doJSON and doAck are thin wrappers that keep the endpoint methods short.

func doJSON[T any](ctx context.Context, c *Client, cl call) (*T, error) {
	out := new(T)
	cl.out = out
	if _, err := c.do(ctx, &cl); err != nil {
		return nil, err
	}
	return out, nil
}

func doAck(ctx context.Context, c *Client, cl call) (*Ack, error) {
	ack := &Ack{}
	cl.out = ack
	status, err := c.do(ctx, &cl)
	if err != nil {
		return nil, err
	}
	ack.StatusCode = status
	return ack, nil
}

func pathID(kind, id string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", notAttempted("%s id is empty", kind)
	}
	return url.PathEscape(id), nil
}
