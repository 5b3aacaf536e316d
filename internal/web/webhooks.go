package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// webhookForm is what the create and edit forms hold, kept to show them again
// with the values entered when they are refused.
type webhookForm struct {
	URL, Types, Description string
	Active                  bool
}

func formOf(w store.Webhook) webhookForm {
	return webhookForm{URL: w.URL, Types: strings.Join(w.EventTypes, ", "), Description: w.Description, Active: w.Active}
}

func readWebhookForm(r *http.Request) webhookForm {
	return webhookForm{URL: strings.TrimSpace(r.PostFormValue("url")), Types: strings.TrimSpace(r.PostFormValue("types")),
		Description: strings.TrimSpace(r.PostFormValue("description")), Active: r.PostFormValue("active") == "on"}
}

func (f webhookForm) input(withActive bool) ops.WebhookInput {
	types := splitTypes(f.Types)
	in := ops.WebhookInput{URL: &f.URL, EventTypes: &types, Description: &f.Description}
	if withActive {
		in.Active = &f.Active
	}
	return in
}

// refusedInput turns bad input into an error flash to show above the form again;
// other errors are left to the error page.
func refusedInput(err error, pd *pageData) bool {
	if !errors.Is(err, core.ErrInvalid) {
		return false
	}
	_, detail := httpx.Status(err)
	pd.Flash = &flash{Text: "Nothing was changed: " + detail, Error: true}
	return true
}

func (h *Handler) webhooksPage(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, status int, form webhookForm) error {
	ws, err := h.Store.ListWebhooks(r.Context(), c.OrgID)
	if err != nil {
		return err
	}
	pd.Title, pd.Nav = "Webhooks", "webhooks"
	pd.Data = struct {
		Webhooks []store.Webhook
		Form     webhookForm
	}{ws, form}
	return h.render(w, status, "webhooks", pd)
}

func (h *Handler) pageWebhooks(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	return h.webhooksPage(w, r, c, pd, http.StatusOK, webhookForm{})
}

// formCreateWebhook creates a webhook and shows its signing secret in this
// response only (never in a URL, never again).
func (h *Handler) formCreateWebhook(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	f := readWebhookForm(r)
	nw, err := h.Ops.CreateWebhook(r.Context(), c.Actor, c.OrgID, f.input(false))
	if refusedInput(err, pd) {
		return h.webhooksPage(w, r, c, pd, http.StatusUnprocessableEntity, f)
	}
	if err != nil {
		return err
	}
	pd.Flash = &flash{Text: "The webhook was created. It receives every event from now on."}
	return h.webhookPage(w, r, c, pd, http.StatusCreated, nw.Webhook, nw.Secret, formOf(nw.Webhook))
}

// webhook finds the org's webhook of the path.
func (h *Handler) webhook(r *http.Request, c *caller) (store.Webhook, error) {
	id := r.PathValue("webhook")
	wh, err := h.Store.GetWebhook(r.Context(), c.OrgID, id)
	return wh, httpx.NotFound(err, "webhook", id)
}

type overlapChoice struct {
	Seconds int
	Label   string
}

// secretOverlaps are the choices of how long a rotated-out secret keeps signing.
var secretOverlaps = []overlapChoice{{0, "stops at once"}, {3600, "signs for 1 more hour"}, {86400, "signs for 1 more day"}, {604800, "signs for 7 more days"}}

func (h *Handler) webhookPage(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, status int, wh store.Webhook, secret string, form webhookForm) error {
	ctx := r.Context()
	q := r.URL.Query()
	dq := store.DeliveryQuery{Page: store.Page{After: q.Get("deliveries_after"), Limit: 25}}
	ds, err := h.Store.ListWebhookDeliveries(ctx, c.OrgID, wh.ID, dq)
	if err != nil {
		return httpx.NotFound(err, "webhook", wh.ID)
	}
	lq := store.DeadLetterQuery{Limit: 25}
	if s := q.Get("dead_before"); s != "" {
		if lq.BeforeSeq, err = strconv.ParseInt(s, 10, 64); err != nil || lq.BeforeSeq < 1 {
			return httpx.Failf(http.StatusBadRequest, "That page of dead letters does not exist.")
		}
	}
	dls, err := h.Store.ListDeadLetters(ctx, c.OrgID, wh.ID, lq)
	if err != nil {
		return httpx.NotFound(err, "webhook", wh.ID)
	}
	base := "/admin/webhooks/" + url.PathEscape(wh.ID)
	data := struct {
		Webhook                      store.Webhook
		Types, NewSecret             string
		Form                         webhookForm
		Deliveries                   []store.WebhookDelivery
		DeadLetters                  []store.DeadLetter
		DeliveriesNext, DeadNext     string
		Overlaps                     []overlapChoice
		NextRetryIn                  string
		Failing, PreviousSecretSigns bool
	}{Webhook: wh, Types: strings.Join(wh.EventTypes, ", "), NewSecret: secret, Form: form,
		Deliveries: ds, DeadLetters: dls, Overlaps: secretOverlaps, Failing: wh.Attempts > 0,
		PreviousSecretSigns: wh.PreviousSecretExpiresAt.After(h.Now())}
	if data.Failing && !wh.NextAttemptAt.IsZero() {
		data.NextRetryIn = wh.NextAttemptAt.Sub(h.Now()).Round(time.Second).String()
	}
	if len(ds) == dq.Limit {
		data.DeliveriesNext = base + "?deliveries_after=" + url.QueryEscape(ds[len(ds)-1].ID)
	}
	if len(dls) == lq.Limit {
		data.DeadNext = base + "?dead_before=" + strconv.FormatInt(dls[len(dls)-1].Seq, 10)
	}
	pd.Title, pd.Nav, pd.Data = "Webhook", "webhooks", data
	return h.render(w, status, "webhook", pd)
}

func (h *Handler) pageWebhook(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	wh, err := h.webhook(r, c)
	if err != nil {
		return err
	}
	return h.webhookPage(w, r, c, pd, http.StatusOK, wh, "", formOf(wh))
}

func (h *Handler) formUpdateWebhook(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	wh, err := h.webhook(r, c)
	if err != nil {
		return err
	}
	f := readWebhookForm(r)
	_, err = h.Ops.UpdateWebhook(r.Context(), c.Actor, c.OrgID, wh.ID, f.input(true))
	if refusedInput(err, pd) {
		return h.webhookPage(w, r, c, pd, http.StatusUnprocessableEntity, wh, "", f)
	}
	if err != nil {
		return httpx.NotFound(err, "webhook", wh.ID)
	}
	return redirectDone(w, r, "/admin/webhooks/"+url.PathEscape(wh.ID), "webhook-saved")
}

// formRotateWebhook replaces the signing secret and shows the new one in this
// response only.
func (h *Handler) formRotateWebhook(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	wh, err := h.webhook(r, c)
	if err != nil {
		return err
	}
	secs, err := strconv.Atoi(r.PostFormValue("overlap"))
	if err != nil || secs < 0 {
		return httpx.Failf(http.StatusUnprocessableEntity, "Choose how long the previous secret keeps signing.")
	}
	nw, err := h.Ops.RotateWebhookSecret(r.Context(), c.Actor, c.OrgID, wh.ID, time.Duration(secs)*time.Second)
	if refusedInput(err, pd) {
		return h.webhookPage(w, r, c, pd, http.StatusUnprocessableEntity, wh, "", formOf(wh))
	}
	if err != nil {
		return httpx.NotFound(err, "webhook", wh.ID)
	}
	pd.Flash = &flash{Text: "The signing secret was replaced."}
	return h.webhookPage(w, r, c, pd, http.StatusOK, nw.Webhook, nw.Secret, formOf(nw.Webhook))
}

// pageDeleteWebhook asks for confirmation: the pages have no script, so the
// confirmation is a page of its own with the one form that deletes.
func (h *Handler) pageDeleteWebhook(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	wh, err := h.webhook(r, c)
	if err != nil {
		return err
	}
	pd.Title, pd.Nav, pd.Data = "Delete webhook", "webhooks", wh
	return h.render(w, http.StatusOK, "webhook_delete", pd)
}

func (h *Handler) formDeleteWebhook(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	wh, err := h.webhook(r, c)
	if err != nil {
		return err
	}
	if err := h.Store.DeleteWebhook(r.Context(), c.Actor, c.OrgID, wh.ID); err != nil {
		return httpx.NotFound(err, "webhook", wh.ID)
	}
	return redirectDone(w, r, "/admin/webhooks", "webhook-deleted")
}

func (h *Handler) formRedeliver(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	wh, err := h.webhook(r, c)
	if err != nil {
		return err
	}
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		return httpx.Failf(http.StatusNotFound, "That dead letter does not exist.")
	}
	_, err = h.Store.RedeliverDeadLetter(r.Context(), c.Actor, c.OrgID, wh.ID, seq)
	switch {
	case errors.Is(err, core.ErrNotFound):
		return httpx.Fail(http.StatusNotFound, "That dead letter does not exist.", err)
	case refusedInput(err, pd):
		return h.webhookPage(w, r, c, pd, http.StatusUnprocessableEntity, wh, "", formOf(wh))
	case err != nil:
		return err
	}
	return redirectDone(w, r, "/admin/webhooks/"+url.PathEscape(wh.ID), "redelivery-queued")
}
