package api

import (
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	aq := store.AuditQuery{Page: p, ActorID: q.Get("actor"), Action: q.Get("action")}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"since", &aq.Since}, {"until", &aq.Until}} {
		if s := q.Get(f.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return httpx.Failf(http.StatusBadRequest, "%s must be an RFC 3339 time (2026-01-02T15:04:05Z)", f.name)
			}
			*f.dst = t
		}
	}
	evs, err := h.Store.ListAudit(r.Context(), c.OrgID, aq)
	if err != nil {
		return err
	}
	return writeList(w, evs, p, func(e core.AuditEvent) string { return e.ID })
}
