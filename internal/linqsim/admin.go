package linqsim

import (
	"errors"
	"net/http"
	"time"
)

// InjectInbound delivers a text from handle to one of the lines, as if the
// person had written: the 1:1 chat is created when new (chat.created), the
// message is stored and message.received goes out. A STOP-type text opts the
// handle out (403/2024 on later sends); any later ordinary text lifts it.
func (s *Sim) InjectInbound(from, toLine, text string) (string, error) {
	h, ok := normalizeHandle(from)
	if !ok {
		return "", errors.New("linqsim: from is not an E.164 number or email address")
	}
	l := s.lineByNumber(toLine)
	if l == nil {
		return "", errors.New("linqsim: no line " + toLine)
	}
	if text == "" {
		return "", errors.New("linqsim: text is empty")
	}
	now := s.ts()
	recipients := []string{h}
	s.chatsMu.RLock()
	c := s.chatsByKey[chatKey(l.number, recipients)]
	s.chatsMu.RUnlock()
	newChat := false
	if c == nil {
		c, newChat = s.indexChat(s.newChat(l, recipients, now))
	}

	stop := isStopKeyword(text)
	s.handlesMu.Lock()
	if prev, seen := s.optOut[h]; !seen || prev.optedOut != stop {
		s.optOut[h] = optState{optedOut: stop, at: now}
	}
	s.handlesMu.Unlock()

	m := &message{
		id: newID(), chat: c, inbound: true, sender: c.handleFor(h), createdAt: now,
		parts: []part{{typ: "text", value: text}}, updatedAt: now, status: "received", sentAt: now, deliveredAt: now,
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.updatedAt = now
	c.mu.Unlock()
	s.putMessage(m)

	if s.hooks.enabled() {
		if newChat {
			s.emit(eventChatCreated, "", c.id, s.chatCreatedData(c))
		}
		s.emit(eventMessageReceived, l.number, c.id, s.messageEvent(m, now, time.Time{}, time.Time{}))
	}
	return m.id, nil
}

// adminMux serves the /_sim/ admin API. It has no auth (the simulator
// listens on loopback) and no faults.
func (s *Sim) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_sim/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	mux.HandleFunc("GET /_sim/lines", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"lines": s.Lines()})
	})
	mux.HandleFunc("POST /_sim/lines", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			PhoneNumber string `json:"phone_number"`
		}
		if r.ContentLength != 0 {
			if aerr := decode(r, &body); aerr != nil {
				writeError(w, aerr)
				return
			}
		}
		if body.PhoneNumber != "" && !isE164(body.PhoneNumber) {
			writeError(w, errInvalid("phone_number must be E.164"))
			return
		}
		id := s.AddLine(body.PhoneNumber)
		s.linesMu.RLock()
		info := lineInfo(s.linesByID[id])
		s.linesMu.RUnlock()
		writeJSON(w, http.StatusCreated, info)
	})
	mux.HandleFunc("POST /_sim/lines/{number}/flag", s.adminLine(s.FlagLine))
	mux.HandleFunc("POST /_sim/lines/{number}/unflag", s.adminLine(s.UnflagLine))
	mux.HandleFunc("PUT /_sim/lines/{number}/reputation", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Reputation string `json:"reputation"`
			Status     string `json:"status"`
		}
		if aerr := decode(r, &body); aerr != nil {
			writeError(w, aerr)
			return
		}
		rep := cmpOr(body.Reputation, body.Status)
		s.adminLine(func(n string) error { return s.SetReputation(n, rep) })(w, r)
	})
	mux.HandleFunc("POST /_sim/inbound", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			From string `json:"from"`
			To   string `json:"to"`
			Text string `json:"text"`
		}
		if aerr := decode(r, &body); aerr != nil {
			writeError(w, aerr)
			return
		}
		id, err := s.InjectInbound(body.From, body.To, body.Text)
		if err != nil {
			writeError(w, errInvalid("%s", err.Error()))
			return
		}
		m := s.getMessage(id)
		writeJSON(w, http.StatusCreated, map[string]string{"message_id": id, "chat_id": m.chat.id})
	})
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults().toJSON())
	})
	mux.HandleFunc("PUT /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var body faultsJSON
		if aerr := decode(r, &body); aerr != nil {
			writeError(w, aerr)
			return
		}
		s.SetFaults(body.faults())
		writeJSON(w, http.StatusOK, s.Faults().toJSON())
	})
	mux.HandleFunc("GET /_sim/sends", func(w http.ResponseWriter, r *http.Request) {
		from, to := r.URL.Query().Get("from"), r.URL.Query().Get("to")
		out := []SendRecord{}
		for _, rec := range s.SendLog() {
			if (from == "" || rec.From == from) && (to == "" || containsAll(rec.To, []string{to})) {
				out = append(out, rec)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"sends": out})
	})
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, _ *http.Request) {
		s.logMu.Lock()
		sends := len(s.sendLog)
		s.logMu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"sends": sends, "count_429": s.Count429(), "webhooks": s.WebhookStats(),
			"faults": s.FaultStats()})
	})
	mux.HandleFunc("GET /_sim/webhook-secret", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"webhook_secret": s.WebhookSecret()})
	})
	mux.HandleFunc("POST /_sim/blocked", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Handle string `json:"handle"`
		}
		if aerr := decode(r, &body); aerr != nil {
			writeError(w, aerr)
			return
		}
		if _, ok := normalizeHandle(body.Handle); !ok {
			writeError(w, errInvalid("handle must be an E.164 number or email address"))
			return
		}
		s.Block(body.Handle)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /_sim/blocked/{handle}", func(w http.ResponseWriter, r *http.Request) {
		s.Unblock(r.PathValue("handle"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/webhook-deliveries", s.serveDeliveredWebhooks)
	mux.HandleFunc("/_sim/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFound("no such admin endpoint: "+r.Method+" "+r.URL.Path))
	})
	return mux
}

func (s *Sim) adminLine(op func(number string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		number := r.PathValue("number")
		if err := op(number); err != nil {
			aerr := &apiError{status: http.StatusNotFound, code: codeNotFound, message: err.Error()}
			if s.lineByNumber(number) != nil {
				aerr.status, aerr.code = http.StatusBadRequest, codeInvalid
			}
			writeError(w, aerr)
			return
		}
		s.linesMu.RLock()
		info := lineInfo(s.lines[number])
		s.linesMu.RUnlock()
		writeJSON(w, http.StatusOK, info)
	}
}
