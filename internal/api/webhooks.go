package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

type webhookInput struct {
	URL         *string   `json:"url"`
	EventTypes  *[]string `json:"event_types"`
	Description *string   `json:"description"`
	Active      *bool     `json:"active"`
}

func (in webhookInput) ops() ops.WebhookInput {
	return ops.WebhookInput{URL: in.URL, EventTypes: in.EventTypes, Description: in.Description, Active: in.Active}
}

func (h *Handler) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ws, err := h.Store.ListWebhooks(r.Context(), c.OrgID)
	if err != nil {
		return err
	}
	id := func(w store.Webhook) string { return w.ID }
	return writeList(w, pageOf(ws, p, id), p, id)
}

func (h *Handler) createWebhook(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in webhookInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Active != nil && !*in.Active {
		return httpx.Failf(http.StatusUnprocessableEntity, `a webhook is created active: leave out "active", then pause it with PATCH`)
	}
	nw, err := h.Ops.CreateWebhook(r.Context(), c.Actor, c.OrgID, in.ops())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, nw)
}

// webhook finds the org's webhook of the path.
func (h *Handler) webhook(r *http.Request) (store.Webhook, error) {
	ref := r.PathValue("webhook")
	wh, err := h.Store.GetWebhook(r.Context(), callerOf(r).OrgID, ref)
	return wh, httpx.NotFound(err, "webhook", ref)
}

func (h *Handler) getWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, err := h.webhook(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wh)
}

func (h *Handler) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in webhookInput
	if err := decode(r, &in); err != nil {
		return err
	}
	wh, err := h.webhook(r)
	if err != nil {
		return err
	}
	wh, err = h.Ops.UpdateWebhook(r.Context(), c.Actor, c.OrgID, wh.ID, in.ops())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wh)
}

func (h *Handler) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	wh, err := h.webhook(r)
	if err != nil {
		return err
	}
	if err := h.Store.DeleteWebhook(r.Context(), c.Actor, c.OrgID, wh.ID); err != nil {
		return httpx.NotFound(err, "webhook", wh.ID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	in := struct {
		OverlapSeconds *int64 `json:"overlap_seconds"`
	}{}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	overlap := ops.DefaultSecretOverlap
	if in.OverlapSeconds != nil {
		s := *in.OverlapSeconds
		if s < 0 || s > int64(store.MaxSecretOverlap/time.Second) {
			return httpx.Failf(http.StatusUnprocessableEntity, `"overlap_seconds" must be from 0 to %d (7 days)`, int64(store.MaxSecretOverlap/time.Second))
		}
		overlap = time.Duration(s) * time.Second
	}
	wh, err := h.webhook(r)
	if err != nil {
		return err
	}
	nw, err := h.Ops.RotateWebhookSecret(r.Context(), c.Actor, c.OrgID, wh.ID, overlap)
	if err != nil {
		return httpx.NotFound(err, "webhook", wh.ID)
	}
	return writeJSON(w, http.StatusOK, nw)
}

func (h *Handler) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	q := store.DeliveryQuery{Page: p}
	if s := r.URL.Query().Get("seq"); s != "" {
		if q.Seq, err = parseSeq("seq", s); err != nil {
			return err
		}
	}
	wh, err := h.webhook(r)
	if err != nil {
		return err
	}
	ds, err := h.Store.ListWebhookDeliveries(r.Context(), c.OrgID, wh.ID, q)
	if err != nil {
		return httpx.NotFound(err, "webhook", wh.ID)
	}
	return writeList(w, ds, p, func(d store.WebhookDelivery) string { return d.ID })
}

func (h *Handler) listDeadLetters(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	// Newest event first: the cursor is the seq of the last dead letter shown.
	q := store.DeadLetterQuery{Limit: p.Limit}
	if p.After != "" {
		if q.BeforeSeq, err = parseSeq("after", p.After); err != nil {
			return err
		}
	}
	switch v := r.URL.Query().Get("pending"); v {
	case "", "false":
	case "true":
		q.Pending = true
	default:
		return httpx.Failf(http.StatusBadRequest, "pending must be true or false")
	}
	wh, err := h.webhook(r)
	if err != nil {
		return err
	}
	dls, err := h.Store.ListDeadLetters(r.Context(), c.OrgID, wh.ID, q)
	if err != nil {
		return httpx.NotFound(err, "webhook", wh.ID)
	}
	return writeList(w, dls, p, func(d store.DeadLetter) string { return strconv.FormatInt(d.Seq, 10) })
}

func (h *Handler) redeliverDeadLetter(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	seq, err := parseSeq("seq", r.PathValue("seq"))
	if err != nil {
		return err
	}
	wh, err := h.webhook(r)
	if err != nil {
		return err
	}
	dl, err := h.Store.RedeliverDeadLetter(r.Context(), c.Actor, c.OrgID, wh.ID, seq)
	if errors.Is(err, core.ErrNotFound) {
		return httpx.Fail(http.StatusNotFound, "webhook "+httpx.Quote(wh.ID)+" has no dead letter at seq "+strconv.FormatInt(seq, 10), err)
	}
	if err != nil {
		return err
	}
	// Accepted: the deliverer makes the attempt; the dead letter shows its outcome.
	return writeJSON(w, http.StatusAccepted, dl)
}

// parseSeq reads a seq (a cursor into the event stream): a positive integer.
func parseSeq(name, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, httpx.Failf(http.StatusBadRequest, "%s must be an event seq: a positive integer", name)
	}
	return n, nil
}
