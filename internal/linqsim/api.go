package linqsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

const maxBody = 1 << 20

func (s *Sim) apiMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v3/phone_numbers", s.handleListPhoneNumbers)
	mux.HandleFunc("GET /v3/phonenumbers", s.handleListPhoneNumbersLegacy)
	mux.HandleFunc("POST /v3/chats", s.handleCreateChat)
	mux.HandleFunc("GET /v3/chats", s.handleListChats)
	mux.HandleFunc("GET /v3/chats/{chatId}", s.handleGetChat)
	mux.HandleFunc("POST /v3/chats/{chatId}/messages", s.handleSendMessage)
	mux.HandleFunc("GET /v3/chats/{chatId}/messages", s.handleListMessages)
	mux.HandleFunc("POST /v3/chats/{chatId}/read", s.handleMarkRead)
	mux.HandleFunc("POST /v3/chats/{chatId}/typing", s.handleTyping)
	mux.HandleFunc("DELETE /v3/chats/{chatId}/typing", s.handleTyping)
	mux.HandleFunc("POST /v3/chats/{chatId}/share_contact_card", s.handleShareContactCard)
	mux.HandleFunc("POST /v3/messages", s.handleCreateMessage)
	mux.HandleFunc("GET /v3/messages/{messageId}", s.handleGetMessage)
	mux.HandleFunc("PATCH /v3/messages/{messageId}", s.handleEditMessage)
	mux.HandleFunc("DELETE /v3/messages/{messageId}", s.handleDeleteMessage)
	mux.HandleFunc("POST /v3/messages/{messageId}/reactions", s.handleReact)
	mux.HandleFunc("POST /v3/capability/check_imessage", s.handleCheckIMessage)
	mux.HandleFunc("POST /v3/capability/check_rcs", s.handleCheckRCS)
	mux.HandleFunc("GET /v3/contact_card", s.handleGetContactCards)
	mux.HandleFunc("POST /v3/contact_card", s.handleCreateContactCard)
	mux.HandleFunc("PATCH /v3/contact_card", s.handleUpdateContactCard)
	mux.HandleFunc("POST /v3/webhook-subscriptions", s.handleCreateSubscription)
	mux.HandleFunc("GET /v3/webhook-subscriptions", s.handleListSubscriptions)
	mux.HandleFunc("GET /v3/webhook-subscriptions/{id}", s.handleGetSubscription)
	mux.HandleFunc("PUT /v3/webhook-subscriptions/{id}", s.handleUpdateSubscription)
	mux.HandleFunc("DELETE /v3/webhook-subscriptions/{id}", s.handleDeleteSubscription)
	mux.HandleFunc("GET /v3/webhook-events", s.handleListEventTypes)
	mux.HandleFunc("/v3/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFound("no such endpoint: "+r.Method+" "+r.URL.Path))
	})
	return mux
}

// serveAPI adds latency, checks the bearer token and applies request
// faults before the endpoint runs.
func (s *Sim) serveAPI(mux http.Handler, w http.ResponseWriter, r *http.Request) {
	f := s.faults.Load()
	latency := s.cfg.Latency
	if f != nil {
		latency += f.Latency
	}
	if latency > 0 {
		// The body is read first: only then does the server watch the
		// connection, so that a client that gives up during the latency ends
		// the request (and its context) instead of leaving it to run later.
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if s.sleep(r.Context(), latency) != nil {
			return
		}
	}
	if !s.authorized(r) {
		writeError(w, &apiError{status: http.StatusUnauthorized, code: codeUnauthorized, message: "missing or invalid API key"})
		return
	}
	if f == nil || !s.faultHits(f, w, r, mux) {
		mux.ServeHTTP(w, r)
	}
}

func (s *Sim) authorized(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return false
	}
	return s.cfg.APIKey == "" || token == s.cfg.APIKey
}

// decode reads a JSON body into v: malformed JSON, wrong types or trailing
// data answer 400 in Linq's envelope.
func decode(r *http.Request, v any) *apiError {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errInvalid("request body is required")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errInvalid("field %s has the wrong type (want %s)", te.Field, te.Type)
		}
		return errInvalid("request body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errInvalid("request body holds more than one JSON value")
	}
	return nil
}
