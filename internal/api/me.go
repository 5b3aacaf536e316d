package api

import "net/http"

// me answers GET /api/v1/me: the signed-in person, their groups and how they came
// into each, and their roles and workspace-level decisions in every environment of
// the workspaces they may see.
func (h *Handler) me(w http.ResponseWriter, r *http.Request) error {
	me, err := h.Decisions.Me(r.Context(), *callerOf(r), sessionOf(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, me)
}
