package ops

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// WebhookInput is what an admin sets on a webhook. Nil fields are left as they
// are by an update; a create needs URL. EventTypes empty means every type.
type WebhookInput struct {
	URL         *string
	EventTypes  *[]string
	Description *string
	Active      *bool // updates only: false pauses, true resumes
}

// NewWebhook is a webhook with its signing secret, which is shown this once.
type NewWebhook struct {
	store.Webhook
	Secret string `json:"secret"`
}

// DefaultSecretOverlap is how long a rotated-out secret keeps signing when the
// caller does not say: a day for receivers to switch.
const DefaultSecretOverlap = 24 * time.Hour

// ErrNoSecrets: the operations were built without a sealer, so no webhook secret
// can be made.
var ErrNoSecrets = errors.New("ops: no secret sealer configured for webhook secrets")

// checkWebhookURL applies the network policy to a URL an admin gives, after the
// cheap checks, so that a bad event type is reported before a DNS lookup.
func (o *Ops) checkWebhookURL(ctx context.Context, raw string, in WebhookInput) (string, error) {
	if in.EventTypes != nil {
		if _, err := events.ValidateTypes(*in.EventTypes); err != nil {
			return "", err
		}
	}
	u := strings.TrimSpace(raw)
	if u == "" {
		return "", core.Invalidf("a webhook needs a URL")
	}
	// The policy resolves the host now; the deliverer checks the addresses it
	// dials again, so a name that later resolves elsewhere is still refused.
	return u, o.WebhookPolicy.CheckURL(ctx, u)
}

// CreateWebhook checks the URL against the network policy and creates an active
// webhook with a new signing secret, returned this once. The webhook receives
// every event after its own creation.
func (o *Ops) CreateWebhook(ctx context.Context, actor core.Actor, orgID string, in WebhookInput) (NewWebhook, error) {
	if o.Secrets == nil {
		return NewWebhook{}, ErrNoSecrets
	}
	if in.URL == nil {
		return NewWebhook{}, core.Invalidf("a webhook needs a URL")
	}
	u, err := o.checkWebhookURL(ctx, *in.URL, in)
	if err != nil {
		return NewWebhook{}, err
	}
	w := store.Webhook{OrgID: orgID, URL: u}
	if in.EventTypes != nil {
		w.EventTypes = *in.EventTypes
	}
	if in.Description != nil {
		w.Description = *in.Description
	}
	w, secret, err := o.Store.CreateWebhook(ctx, actor, w, o.Secrets)
	if err != nil {
		return NewWebhook{}, err
	}
	return NewWebhook{Webhook: w, Secret: secret}, nil
}

// UpdateWebhook changes what in sets, in one transaction; a new URL is checked
// against the network policy first.
func (o *Ops) UpdateWebhook(ctx context.Context, actor core.Actor, orgID, id string, in WebhookInput) (store.Webhook, error) {
	var newURL string
	if in.URL != nil {
		var err error
		if newURL, err = o.checkWebhookURL(ctx, *in.URL, in); err != nil {
			return store.Webhook{}, err
		}
	}
	return o.Store.UpdateWebhook(ctx, actor, orgID, id, func(w *store.Webhook) error {
		if in.URL != nil {
			w.URL = newURL
		}
		if in.EventTypes != nil {
			w.EventTypes = *in.EventTypes
		}
		if in.Description != nil {
			w.Description = *in.Description
		}
		if in.Active != nil {
			w.Active = *in.Active
		}
		return nil
	})
}

// RotateWebhookSecret gives the webhook a new signing secret, returned this once
// with the webhook; the previous secret keeps signing for overlap.
func (o *Ops) RotateWebhookSecret(ctx context.Context, actor core.Actor, orgID, id string, overlap time.Duration) (NewWebhook, error) {
	if o.Secrets == nil {
		return NewWebhook{}, ErrNoSecrets
	}
	secret, err := o.Store.RotateWebhookSecret(ctx, actor, orgID, id, o.Secrets, overlap)
	if err != nil {
		return NewWebhook{}, err
	}
	// Read back for the expiry of the previous secret; a delete in between is
	// reported, the new secret having no webhook left to sign for.
	w, err := o.Store.GetWebhook(ctx, orgID, id)
	if err != nil {
		return NewWebhook{}, err
	}
	return NewWebhook{Webhook: w, Secret: secret}, nil
}
