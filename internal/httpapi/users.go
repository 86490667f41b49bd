package httpapi

import (
	"net/http"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/router"
)

type importUserRequest struct {
	Handle      string `json:"handle"`
	DisplayName string `json:"display_name"`
	PrefillText string `json:"prefill_text"`
}

// importUser brings an existing user over through the same assignment as a
// signup: 201 when assigned now, 200 when the user_ref already had lines.
func (s *server) importUser(w http.ResponseWriter, r *http.Request) {
	var req importUserRequest
	if err := Decode(r, &req); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	a, err := s.Router.Import(r.Context(), router.SignupRequest{
		UserRef: userRefParam(r), Handle: req.Handle, DisplayName: req.DisplayName, PrefillText: req.PrefillText,
	})
	s.writeAssignment(w, r, a, err)
}

func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.Router.User(r.Context(), userRefParam(r))
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, u)
}

// findUser is a user found by ?handle=, for ops.
func (s *server) findUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.Router.UserByHandle(r.Context(), r.URL.Query().Get("handle"))
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, u)
}

// deleteUser removes a user for good: 204, or 404 for a user_ref unknown
// (or deleted already).
func (s *server) deleteUser(w http.ResponseWriter, r *http.Request) {
	if err := s.Router.Delete(r.Context(), userRefParam(r)); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type reassignUserRequest struct {
	LineID *int64 `json:"line_id"`
}

// reassignUser moves a user to another line for good, for ops.
func (s *server) reassignUser(w http.ResponseWriter, r *http.Request) {
	var req reassignUserRequest
	if err := Decode(r, &req); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	if req.LineID == nil || *req.LineID <= 0 {
		s.resp.Error(w, r, apperr.Field("line_id", "must be a line id"))
		return
	}
	u, err := s.Router.Reassign(r.Context(), userRefParam(r), *req.LineID)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, u)
}
