package web

import (
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (h *Handler) pageAudit(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	q := r.URL.Query()
	type form struct{ Actor, Action, Since, Until string }
	f := form{q.Get("actor"), q.Get("action"), q.Get("since"), q.Get("until")}
	aq := store.AuditQuery{Page: store.Page{After: q.Get("after"), Limit: 50}, ActorID: f.Actor, Action: f.Action}
	for _, x := range []struct {
		s   string
		dst *timeField
	}{{f.Since, &timeField{&aq.Since}}, {f.Until, &timeField{&aq.Until}}} {
		if x.s != "" {
			if err := x.dst.parse(x.s); err != nil {
				return httpx.Failf(http.StatusBadRequest, "Times look like 2026-01-02T15:04.")
			}
		}
	}
	evs, err := h.Store.ListAudit(r.Context(), c.OrgID, aq)
	if err != nil {
		return err
	}
	data := struct {
		Q      form
		Events []core.AuditEvent
		Next   string
	}{Q: f, Events: evs}
	if len(evs) == aq.Limit {
		v := url.Values{"after": {evs[len(evs)-1].ID}}
		for k, s := range map[string]string{"actor": f.Actor, "action": f.Action, "since": f.Since, "until": f.Until} {
			if s != "" {
				v.Set(k, s)
			}
		}
		data.Next = "/admin/audit?" + v.Encode()
	}
	pd.Title, pd.Nav, pd.Data = "Audit log", "audit", data
	return h.render(w, http.StatusOK, "audit", pd)
}
