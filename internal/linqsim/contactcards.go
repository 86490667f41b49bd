package linqsim

import (
	"net/http"
	"slices"
	"strings"
)

type wContactCard struct {
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name,omitempty"`
	ImageURL    string `json:"image_url,omitempty"`
	IsActive    bool   `json:"is_active"`
}

func cardJSON(c *contactCard) wContactCard {
	return wContactCard{PhoneNumber: c.phoneNumber, FirstName: c.firstName, LastName: c.lastName, ImageURL: c.imageURL, IsActive: true}
}

func (s *Sim) handleGetContactCards(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("phone_number")
	s.cardsMu.Lock()
	out := []wContactCard{}
	for _, c := range s.cards {
		if filter == "" || c.phoneNumber == filter {
			out = append(out, cardJSON(c))
		}
	}
	s.cardsMu.Unlock()
	slices.SortFunc(out, func(a, b wContactCard) int { return strings.Compare(a.PhoneNumber, b.PhoneNumber) })
	writeJSON(w, http.StatusOK, map[string]any{"contact_cards": out})
}

func (s *Sim) handleCreateContactCard(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PhoneNumber string `json:"phone_number"`
		FirstName   string `json:"first_name"`
		LastName    string `json:"last_name"`
		ImageURL    string `json:"image_url"`
	}
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	if body.FirstName == "" {
		writeError(w, errInvalid("first_name is required"))
		return
	}
	l, aerr := s.fromLine(body.PhoneNumber)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	s.cardsMu.Lock()
	if s.cards[l.number] != nil {
		s.cardsMu.Unlock()
		writeError(w, &apiError{status: http.StatusConflict, code: codeContactCardExist,
			message: "a contact card is already active for this phone number; use PATCH"})
		return
	}
	c := &contactCard{phoneNumber: l.number, firstName: body.FirstName, lastName: body.LastName, imageURL: body.ImageURL}
	s.cards[l.number] = c
	out := cardJSON(c)
	s.cardsMu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleUpdateContactCard(w http.ResponseWriter, r *http.Request) {
	number := r.URL.Query().Get("phone_number")
	if number == "" {
		writeError(w, errInvalid("phone_number is required"))
		return
	}
	var body struct {
		FirstName *string `json:"first_name"`
		LastName  *string `json:"last_name"`
		ImageURL  *string `json:"image_url"`
	}
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	s.cardsMu.Lock()
	c := s.cards[number]
	if c == nil {
		s.cardsMu.Unlock()
		writeError(w, errNotFound("no contact card for "+number))
		return
	}
	if body.FirstName != nil {
		if *body.FirstName == "" {
			s.cardsMu.Unlock()
			writeError(w, errInvalid("first_name may not be empty"))
			return
		}
		c.firstName = *body.FirstName
	}
	if body.LastName != nil {
		c.lastName = *body.LastName
	}
	if body.ImageURL != nil {
		c.imageURL = *body.ImageURL
	}
	out := cardJSON(c)
	s.cardsMu.Unlock()
	writeJSON(w, http.StatusOK, out)
}
