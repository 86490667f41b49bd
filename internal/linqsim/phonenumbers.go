package linqsim

import "net/http"

type wReputation struct {
	Status string `json:"status"`
	DocURL string `json:"doc_url"`
}

type wPhoneNumber struct {
	ID               string      `json:"id"`
	PhoneNumber      string      `json:"phone_number"`
	Reputation       wReputation `json:"reputation"`
	HealthStatus     wReputation `json:"health_status"`
	ForwardingNumber *string     `json:"forwarding_number"`
}

func (s *Sim) handleListPhoneNumbers(w http.ResponseWriter, _ *http.Request) {
	s.linesMu.RLock()
	out := make([]wPhoneNumber, 0, len(s.lineOrder))
	for _, l := range s.lineOrder {
		rep := wReputation{Status: l.reputation, DocURL: reputationDoc(l.reputation)}
		out = append(out, wPhoneNumber{ID: l.id, PhoneNumber: l.number, Reputation: rep, HealthStatus: rep,
			ForwardingNumber: sptr(l.forwarding)})
	}
	s.linesMu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"phone_numbers": out})
}

func (s *Sim) handleListPhoneNumbersLegacy(w http.ResponseWriter, _ *http.Request) {
	type caps struct {
		SMS   bool `json:"sms"`
		MMS   bool `json:"mms"`
		Voice bool `json:"voice"`
	}
	type legacy struct {
		ID           string  `json:"id"`
		PhoneNumber  string  `json:"phone_number"`
		Capabilities caps    `json:"capabilities"`
		CountryCode  *string `json:"country_code"`
		Type         *string `json:"type"`
	}
	s.linesMu.RLock()
	out := make([]legacy, 0, len(s.lineOrder))
	for _, l := range s.lineOrder {
		out = append(out, legacy{ID: l.id, PhoneNumber: l.number, Capabilities: caps{SMS: true, MMS: true, Voice: true}})
	}
	s.linesMu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"phone_numbers": out})
}
