package httpapi

import (
	"net/http"

	"github.com/linegate/linegate/internal/apikey"
)

func (s *server) apiKeyRoutes() []Route {
	return []Route{
		{"GET", "/v1/ops/api-keys", apikey.ScopeOpsRead, s.listAPIKeys},
		{"POST", "/v1/ops/api-keys", apikey.ScopeOpsWrite, s.createAPIKey},
		{"DELETE", "/v1/ops/api-keys/{key}", apikey.ScopeOpsWrite, s.revokeAPIKey},
	}
}

func (s *server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.Keys.List(r.Context())
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, map[string]any{"api_keys": keys})
}

type createAPIKeyRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

func (s *server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	var req createAPIKeyRequest
	if err := Decode(r, &req); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	plain, key, err := s.Keys.Create(r.Context(), req.Name, req.Scopes)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusCreated, map[string]any{"key": plain, "api_key": key})
}

func (s *server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	key, err := s.Keys.Revoke(r.Context(), pathParam(r, "key"))
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, map[string]any{"api_key": key})
}
