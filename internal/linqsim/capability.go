package linqsim

import (
	"net/http"
	"strings"
)

type capabilityBody struct {
	Address string `json:"address"`
	From    string `json:"from"`
}

func (s *Sim) capabilityCheck(w http.ResponseWriter, r *http.Request, rcs bool) {
	var body capabilityBody
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	addr, ok := normalizeHandle(body.Address)
	switch {
	case !ok:
		writeError(w, errInvalid("address must be an E.164 number or email address"))
		return
	case rcs && strings.Contains(addr, "@"):
		writeError(w, errInvalid("check_rcs takes an E.164 phone number, not an email address"))
		return
	}
	if body.From != "" {
		l, aerr := s.fromLine(body.From)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if l.flagged.Load() {
			writeError(w, errLineIneligible(l.number))
			return
		}
	}
	svc := serviceFor(addr)
	want := serviceIMessage
	if rcs {
		want = serviceRCS
	}
	out := map[string]any{"address": body.Address, "available": svc == want, "selected_service": svc}
	if svc != want {
		out["reason"] = "not_supported"
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleCheckIMessage(w http.ResponseWriter, r *http.Request) {
	s.capabilityCheck(w, r, false)
}
func (s *Sim) handleCheckRCS(w http.ResponseWriter, r *http.Request) { s.capabilityCheck(w, r, true) }
