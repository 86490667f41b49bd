package linqsim

import (
	"net/http"
	"slices"
)

var reactionTypes = map[string]bool{"love": true, "like": true, "dislike": true, "laugh": true,
	"emphasize": true, "question": true, "custom": true, "sticker": true}

func (s *Sim) handleReact(w http.ResponseWriter, r *http.Request) {
	m := s.liveMessage(w, r)
	if m == nil {
		return
	}
	var body struct {
		Operation   string `json:"operation"`
		Type        string `json:"type"`
		CustomEmoji string `json:"custom_emoji"`
		PartIndex   *int   `json:"part_index"`
	}
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	switch {
	case body.Operation != "add" && body.Operation != "remove":
		writeError(w, errInvalid("operation must be add or remove"))
		return
	case !reactionTypes[body.Type]:
		writeError(w, errInvalid("type %q is not a reaction type", body.Type))
		return
	case body.Type == "custom" && body.CustomEmoji == "":
		writeError(w, errInvalid("custom_emoji is required for type custom"))
		return
	case body.Type == "sticker":
		writeError(w, errInvalid("sticker reactions cannot be sent through the API"))
		return
	}
	c := m.chat
	if c.line.flagged.Load() {
		writeError(w, errLineIneligible(c.line.number))
		return
	}
	idx := 0
	if body.PartIndex != nil {
		idx = *body.PartIndex
	}
	now := s.ts()
	me := c.ourHandle()
	c.mu.Lock()
	if idx < 0 || idx >= len(m.parts) {
		c.mu.Unlock()
		writeError(w, errInvalid("part_index %d is out of range", idx))
		return
	}
	parts := slices.Clone(m.parts)
	kept := make([]reaction, 0, len(parts[idx].reactions)+1)
	for _, x := range parts[idx].reactions {
		// One reaction per person per part: adding replaces ours, removing
		// drops ours of that type.
		if x.handle.IsMe && (body.Operation == "add" || x.typ == body.Type) {
			continue
		}
		kept = append(kept, x)
	}
	if body.Operation == "add" {
		kept = append(kept, reaction{handle: me, typ: body.Type, customEmoji: body.CustomEmoji})
	}
	parts[idx].reactions = kept
	m.parts = parts
	m.updatedAt = now
	c.mu.Unlock()

	evt := eventReactionAdded
	msg := "Reaction added successfully"
	if body.Operation == "remove" {
		evt, msg = eventReactionRemoved, "Reaction removed successfully"
	}
	if s.hooks.enabled() {
		s.emit(evt, "", c.id, s.reactionData(m, me, body.Type, body.CustomEmoji, idx, now))
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": msg, "status": "success", "trace_id": newTraceID()})
}
