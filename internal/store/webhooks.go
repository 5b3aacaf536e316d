package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/events"
)

// Webhook is an org's subscription of a URL to its event stream. Deliveries follow
// the change log (Audit.Changes): Cursor is the last seq delivered or skipped, and
// Attempts, FailingSince and NextAttemptAt describe the retries of the first
// subscribed event after it.
type Webhook struct {
	ID          string `json:"id"`
	OrgID       string `json:"org_id"`
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
	// EventTypes are types and "prefix.*" patterns (events.ValidateTypes); empty
	// means every type.
	EventTypes []string `json:"event_types"`
	// Active webhooks are delivered to; a paused one keeps its cursor and gets the
	// events it missed once active again.
	Active bool `json:"active"`

	Cursor        int64     `json:"cursor"`
	Attempts      int       `json:"attempts"`
	FailingSince  time.Time `json:"failing_since,omitzero"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"` // zero: due now
	// PreviousSecretExpiresAt is set after a rotation while the previous secret
	// still signs deliveries alongside the new one.
	PreviousSecretExpiresAt time.Time `json:"previous_secret_expires_at,omitzero"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int64     `json:"version"`
}

// ClaimedWebhook is a webhook leased for delivery, with its sealed secrets.
type ClaimedWebhook struct {
	Webhook
	// SecretSealed opens with the server's key under WebhookSecretLabel(ID).
	SecretSealed string
	// PreviousSecretSealed is the rotated-out secret while it is still valid, or "".
	PreviousSecretSealed string
	LeaseExpiresAt       time.Time
}

// Outcome is how an attempt to deliver an event ended.
type Outcome string

// Attempt outcomes.
const (
	// OutcomeDelivered: a 2xx answer; the cursor moves past the event.
	OutcomeDelivered Outcome = "delivered"
	// OutcomeFailed: anything else; the event is tried again later.
	OutcomeFailed Outcome = "failed"
	// OutcomeDeadLettered: a failure after the retry window; the event becomes a
	// dead letter and the cursor moves past it.
	OutcomeDeadLettered Outcome = "dead_lettered"
)

// WebhookDelivery is one attempt to deliver an event to a webhook.
type WebhookDelivery struct {
	ID        string `json:"id"`
	OrgID     string `json:"org_id"`
	WebhookID string `json:"webhook_id"`
	Seq       int64  `json:"seq"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	// Attempt counts the attempts at this event, from 1; a redelivery continues
	// the dead letter's count.
	Attempt    int       `json:"attempt"`
	Redelivery bool      `json:"redelivery,omitempty"`
	Outcome    Outcome   `json:"outcome"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	DurationMS int64     `json:"duration_ms"`
	// Status is the HTTP status of the answer; 0 when there was none (Error says why).
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// DeadLetter is an event a webhook gave up on after the retry window.
type DeadLetter struct {
	OrgID          string    `json:"org_id"`
	WebhookID      string    `json:"webhook_id"`
	Seq            int64     `json:"seq"`
	EventID        string    `json:"event_id"`
	EventType      string    `json:"event_type"`
	Attempts       int       `json:"attempts"`
	LastStatus     int       `json:"last_status,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	DeadLetteredAt time.Time `json:"dead_lettered_at"`
	// RedeliverRequestedAt is set while a redelivery waits for the deliverer.
	RedeliverRequestedAt time.Time `json:"redeliver_requested_at,omitzero"`
	// RedeliveredAt is when a redelivery last succeeded.
	RedeliveredAt time.Time `json:"redelivered_at,omitzero"`
}

// DeliveryQuery pages a webhook's attempts, newest first (Page.After: the last id
// of the previous page); Seq, when set, keeps the attempts at one event.
type DeliveryQuery struct {
	Page
	Seq int64
}

// DeadLetterQuery pages a webhook's dead letters, newest event first. BeforeSeq
// is the last seq of the previous page; Pending keeps those awaiting redelivery.
type DeadLetterQuery struct {
	BeforeSeq int64
	Limit     int
	Pending   bool
}

// Lease names the lease a deliverer holds in the delivery primitives: its owner
// (one per server instance), the deliverer's clock, and how long each successful
// write extends the lease.
type Lease struct {
	Owner string
	Now   time.Time
	TTL   time.Duration
	// Version, in writes, is the webhook's version when it was claimed: an admin
	// change since (URL, types, secret) ends the lease, so no delivery goes on
	// with what the admin replaced. Zero does not check.
	Version int64
}

// ErrLeaseLost: the deliverer no longer holds the webhook's lease (it expired and
// another instance may have taken it, or the webhook was deleted, paused or
// changed since the claim); the write changed nothing and the deliverer must drop
// the webhook.
var ErrLeaseLost = fmt.Errorf("webhook lease lost: %w", core.ErrConflict)

// Sealer seals a secret under the server's key (secrets.Box does): the store keeps
// webhook signing secrets sealed, never the key.
type Sealer interface {
	Seal(plaintext []byte, label string) (string, error)
}

// WebhookSecretLabel binds a webhook's sealed secret to the webhook.
func WebhookSecretLabel(webhookID string) string { return "gatehouse/webhook/" + webhookID + "/secret" }

// MaxSecretOverlap bounds how long a rotated-out secret keeps signing.
const MaxSecretOverlap = 7 * 24 * time.Hour

// Webhooks manages webhooks and holds the primitives their deliverer runs on.
// Admin changes (create, update, delete, rotate, redeliver) are audited like every
// change, so they are events too; delivery state changes are not.
type Webhooks interface {
	// CreateWebhook stores an active webhook with a new signing secret
	// ("whsec_" + base64 of 32 random bytes, the Standard Webhooks form), sealed
	// by seal, and returns it with the secret, which is never shown again. Its
	// cursor starts after its own creation event. The URL is checked for form
	// only: the network policy is the caller's (webhooks.Policy).
	CreateWebhook(ctx context.Context, actor core.Actor, w Webhook, seal Sealer) (Webhook, string, error)
	GetWebhook(ctx context.Context, orgID, id string) (Webhook, error)
	ListWebhooks(ctx context.Context, orgID string) ([]Webhook, error)
	// UpdateWebhook lets fn change URL, EventTypes, Description and Active;
	// other fields keep their values. A new URL, new types or a resume restart
	// the retries of the current event. A change that changes nothing writes
	// nothing.
	UpdateWebhook(ctx context.Context, actor core.Actor, orgID, id string, fn func(*Webhook) error) (Webhook, error)
	// DeleteWebhook removes a webhook with its deliveries and dead letters.
	DeleteWebhook(ctx context.Context, actor core.Actor, orgID, id string) error
	// RotateWebhookSecret replaces the signing secret and returns the new one,
	// shown once. The previous secret keeps signing (a second signature) for
	// overlap, at most MaxSecretOverlap, so receivers can switch without a gap.
	RotateWebhookSecret(ctx context.Context, actor core.Actor, orgID, id string, seal Sealer, overlap time.Duration) (string, error)
	ListWebhookDeliveries(ctx context.Context, orgID, webhookID string, q DeliveryQuery) ([]WebhookDelivery, error)
	ListDeadLetters(ctx context.Context, orgID, webhookID string, q DeadLetterQuery) ([]DeadLetter, error)
	// RedeliverDeadLetter asks for one more attempt at a dead letter, out of
	// stream order; asking again while one is pending changes nothing. The
	// webhook must be active.
	RedeliverDeadLetter(ctx context.Context, actor core.Actor, orgID, webhookID string, seq int64) (DeadLetter, error)

	// ClaimWebhooks leases up to limit active webhooks that have work: an event
	// after their cursor once their next attempt is due, or a redelivery asked
	// for. One conditional UPDATE takes each lease only where it is free or
	// expired, so two instances never both hold one.
	ClaimWebhooks(ctx context.Context, l Lease, limit int) ([]ClaimedWebhook, error)
	// SkipEvents moves the cursor over events the webhook does not subscribe to,
	// up to and including seq through, while the lease is held.
	SkipEvents(ctx context.Context, l Lease, orgID, webhookID string, through int64) error
	// RecordAttempt records an attempt and, only while the lease is held, applies
	// its outcome: delivered moves the cursor to d.Seq; failed counts the attempt
	// and schedules the next one at next; dead-lettered stores the dead letter and
	// moves the cursor. A redelivery updates its dead letter and leaves the cursor
	// alone. Each extends the lease; without it, ErrLeaseLost and nothing changes.
	RecordAttempt(ctx context.Context, l Lease, d WebhookDelivery, next time.Time) error
	// ReleaseWebhook gives a lease back; a lease not held is left alone.
	ReleaseWebhook(ctx context.Context, owner, orgID, webhookID string) error
	// PruneWebhookDeliveries deletes at most limit attempts started before
	// cutoff and says how many went.
	PruneWebhookDeliveries(ctx context.Context, cutoff time.Time, limit int) (int64, error)
}

var _ Webhooks = (*SQL)(nil)

type webhookRow struct {
	ID                      string  `db:"id"`
	OrgID                   string  `db:"org_id"`
	URL                     string  `db:"url"`
	Description             string  `db:"description"`
	EventTypes              string  `db:"event_types"`
	SecretSealed            string  `db:"secret_sealed"`
	PreviousSecretSealed    *string `db:"previous_secret_sealed"`
	PreviousSecretExpiresAt *int64  `db:"previous_secret_expires_at"`
	Active                  bool    `db:"active"`
	CursorSeq               int64   `db:"cursor_seq"`
	Attempts                int     `db:"attempts"`
	FailingSince            *int64  `db:"failing_since"`
	NextAttemptAt           int64   `db:"next_attempt_at"`
	LeaseOwner              *string `db:"lease_owner"`
	LeaseExpiresAt          int64   `db:"lease_expires_at"`
	CreatedAt               int64   `db:"created_at"`
	UpdatedAt               int64   `db:"updated_at"`
	Version                 int64   `db:"version"`
}

const webhookCols = `id, org_id, url, description, event_types, secret_sealed, previous_secret_sealed,
	previous_secret_expires_at, active, cursor_seq, attempts, failing_since, next_attempt_at, lease_owner,
	lease_expires_at, created_at, updated_at, version`

func optMicros(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return fromMicros(*v)
}

func (r webhookRow) webhook() (Webhook, error) {
	w := Webhook{ID: r.ID, OrgID: r.OrgID, URL: r.URL, Description: r.Description, Active: r.Active,
		Cursor: r.CursorSeq, Attempts: r.Attempts, FailingSince: optMicros(r.FailingSince),
		PreviousSecretExpiresAt: optMicros(r.PreviousSecretExpiresAt),
		CreatedAt:               fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt), Version: r.Version}
	if r.NextAttemptAt > 0 {
		w.NextAttemptAt = fromMicros(r.NextAttemptAt)
	}
	if err := json.Unmarshal([]byte(r.EventTypes), &w.EventTypes); err != nil {
		return Webhook{}, fmt.Errorf("store: webhook %s: read event types: %w", r.ID, err)
	}
	if w.EventTypes == nil {
		w.EventTypes = []string{}
	}
	return w, nil
}

// validWebhook checks what an admin may set and cleans it: the URL's form (the
// network policy is webhooks.Policy's), the event types, the description.
func validWebhook(w *Webhook) (typesJSON string, err error) {
	w.URL = strings.TrimSpace(w.URL)
	if err := validWebhookURL(w.URL); err != nil {
		return "", err
	}
	if w.EventTypes, err = events.ValidateTypes(w.EventTypes); err != nil {
		return "", err
	}
	w.Description = strings.TrimSpace(w.Description)
	if utf8.RuneCountInString(w.Description) > 500 {
		return "", core.Invalidf("webhook description is longer than 500 characters")
	}
	b, err := json.Marshal(w.EventTypes)
	return string(b), err
}

// maxURLLen bounds a webhook URL.
const maxURLLen = 2048

func validWebhookURL(raw string) error {
	if raw == "" {
		return core.Invalidf("a webhook needs a URL")
	}
	if len(raw) > maxURLLen {
		return core.Invalidf("webhook URL is longer than %d bytes", maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return core.Invalidf("webhook URL %q is not a valid URL", raw)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return core.Invalidf("webhook URL %q must start with https://", raw)
	case u.Host == "" || u.Hostname() == "" || u.Opaque != "":
		return core.Invalidf("webhook URL %q has no host", raw)
	case u.User != nil:
		return core.Invalidf("webhook URL must not hold credentials: receivers authenticate deliveries by their signature")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return core.Invalidf("webhook URL %q must not have a fragment (#…)", raw)
	}
	return nil
}

// auditURL is a webhook URL fit for the audit log and the event stream, which
// other receivers read: the query, where a receiver may keep a token, is left out.
func auditURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}

// newWebhookSecret returns a signing secret in the Standard Webhooks form.
func newWebhookSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// CreateWebhook implements Webhooks.
func (s *SQL) CreateWebhook(ctx context.Context, actor core.Actor, w Webhook, seal Sealer) (Webhook, string, error) {
	if seal == nil {
		return Webhook{}, "", errors.New("store: create webhook: no sealer")
	}
	typesJSON, err := validWebhook(&w)
	if err != nil {
		return Webhook{}, "", err
	}
	w.ID = s.NewID()
	secret := newWebhookSecret()
	sealed, err := seal.Seal([]byte(secret), WebhookSecretLabel(w.ID))
	if err != nil {
		return Webhook{}, "", fmt.Errorf("store: seal webhook secret: %w", err)
	}
	now := s.now()
	w.Active, w.Attempts, w.Version = true, 0, 1
	w.CreatedAt, w.UpdatedAt = fromMicros(now), fromMicros(now)
	w.FailingSince, w.NextAttemptAt, w.PreviousSecretExpiresAt = time.Time{}, time.Time{}, time.Time{}
	err = s.inTx(ctx, func(t *tx) error {
		if err := t.orgExists(ctx, w.OrgID); err != nil {
			return err
		}
		// The audit event first: it takes the org's next seq and, on PostgreSQL,
		// locks the org's counter, so the cursor read below is exactly this
		// event's seq and the webhook gets every change after its creation.
		if err := t.audit(ctx, w.OrgID, actor, "webhook.create", "webhook", w.ID, map[string]any{
			"url": auditURL(w.URL), "event_types": w.EventTypes, "description": w.Description}); err != nil {
			return err
		}
		return t.get(ctx, &w.Cursor, `INSERT INTO webhooks (id, org_id, url, description, event_types, secret_sealed, active,
			cursor_seq, created_at, updated_at, version)
			VALUES (?, ?, ?, ?, ?, ?, TRUE, (SELECT generation FROM org_generations WHERE org_id = ?), ?, ?, 1)
			RETURNING cursor_seq`,
			w.ID, w.OrgID, w.URL, w.Description, typesJSON, sealed, w.OrgID, now, now)
	})
	if err != nil {
		return Webhook{}, "", fmt.Errorf("store: create webhook: %w", err)
	}
	return w, secret, nil
}

func (t *tx) getWebhook(ctx context.Context, orgID, id string, lock bool) (webhookRow, error) {
	q := `SELECT ` + webhookCols + ` FROM webhooks WHERE org_id = ? AND id = ?`
	if lock {
		q += t.forUpdate()
	}
	var r webhookRow
	return r, orNotFound(t.get(ctx, &r, q, orgID, id), "webhook", id)
}

// GetWebhook implements Webhooks.
func (s *SQL) GetWebhook(ctx context.Context, orgID, id string) (Webhook, error) {
	var r webhookRow
	if err := s.read(ctx, func(t *tx) (err error) { r, err = t.getWebhook(ctx, orgID, id, false); return err }); err != nil {
		return Webhook{}, err
	}
	return r.webhook()
}

// ListWebhooks lists the org's webhooks, oldest first.
func (s *SQL) ListWebhooks(ctx context.Context, orgID string) ([]Webhook, error) {
	var rows []webhookRow
	if err := s.read(ctx, func(t *tx) error {
		return t.sel(ctx, &rows, `SELECT `+webhookCols+` FROM webhooks WHERE org_id = ? ORDER BY id`, orgID)
	}); err != nil {
		return nil, err
	}
	out := make([]Webhook, len(rows))
	for i, r := range rows {
		w, err := r.webhook()
		if err != nil {
			return nil, err
		}
		out[i] = w
	}
	return out, nil
}

// UpdateWebhook implements Webhooks.
func (s *SQL) UpdateWebhook(ctx context.Context, actor core.Actor, orgID, id string, fn func(*Webhook) error) (Webhook, error) {
	var out Webhook
	err := s.inTx(ctx, func(t *tx) error {
		r, err := t.getWebhook(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		old, err := r.webhook()
		if err != nil {
			return err
		}
		w := old
		w.EventTypes = slices.Clone(old.EventTypes)
		if err := fn(&w); err != nil {
			return err
		}
		if w.ID != old.ID || w.OrgID != old.OrgID {
			return core.Invalidf("a webhook's id and organization cannot change")
		}
		typesJSON, err := validWebhook(&w)
		if err != nil {
			return err
		}
		// Only what an admin may set comes from fn.
		edited := old
		edited.URL, edited.EventTypes, edited.Description, edited.Active = w.URL, w.EventTypes, w.Description, w.Active
		d := map[string]any{}
		if edited.URL != old.URL {
			d["url"] = auditURL(edited.URL)
		}
		if !slices.Equal(edited.EventTypes, old.EventTypes) {
			d["event_types"] = edited.EventTypes
		}
		if edited.Description != old.Description {
			d["description"] = edited.Description
		}
		if edited.Active != old.Active {
			d["active"] = edited.Active
		}
		if len(d) == 0 {
			out = old
			return nil
		}
		// A new target, new types or a resume: the retries so far were about
		// another request; the current event is tried again at once.
		restart := edited.URL != old.URL || d["event_types"] != nil || (edited.Active && !old.Active)
		if restart {
			edited.Attempts, edited.FailingSince, edited.NextAttemptAt = 0, time.Time{}, time.Time{}
		}
		now := t.s.now()
		edited.UpdatedAt, edited.Version = fromMicros(now), old.Version+1
		if _, err := t.exec(ctx, `UPDATE webhooks SET url = ?, description = ?, event_types = ?, active = ?,
			attempts = CASE WHEN ? THEN 0 ELSE attempts END,
			failing_since = CASE WHEN ? THEN NULL ELSE failing_since END,
			next_attempt_at = CASE WHEN ? THEN 0 ELSE next_attempt_at END,
			updated_at = ?, version = ? WHERE org_id = ? AND id = ?`,
			edited.URL, edited.Description, typesJSON, edited.Active, restart, restart, restart,
			now, edited.Version, orgID, id); err != nil {
			return err
		}
		out = edited
		return t.audit(ctx, orgID, actor, "webhook.update", "webhook", id, d)
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("store: update webhook %s: %w", id, err)
	}
	return out, nil
}

// DeleteWebhook implements Webhooks.
func (s *SQL) DeleteWebhook(ctx context.Context, actor core.Actor, orgID, id string) error {
	err := s.inTx(ctx, func(t *tx) error {
		r, err := t.getWebhook(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM webhooks WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "webhook.delete", "webhook", id, map[string]any{"url": auditURL(r.URL)})
	})
	if err != nil {
		return fmt.Errorf("store: delete webhook %s: %w", id, err)
	}
	return nil
}

// RotateWebhookSecret implements Webhooks.
func (s *SQL) RotateWebhookSecret(ctx context.Context, actor core.Actor, orgID, id string, seal Sealer, overlap time.Duration) (string, error) {
	if seal == nil {
		return "", errors.New("store: rotate webhook secret: no sealer")
	}
	if overlap < 0 || overlap > MaxSecretOverlap {
		return "", core.Invalidf("the previous secret may keep signing for 0 to %s, not %s", MaxSecretOverlap, overlap)
	}
	secret := newWebhookSecret()
	sealed, err := seal.Seal([]byte(secret), WebhookSecretLabel(id))
	if err != nil {
		return "", fmt.Errorf("store: seal webhook secret: %w", err)
	}
	err = s.inTx(ctx, func(t *tx) error {
		if _, err := t.getWebhook(ctx, orgID, id, true); err != nil {
			return err
		}
		now := t.s.now()
		var until *int64
		d := map[string]any{}
		if overlap > 0 {
			v := now + overlap.Microseconds()
			until = &v
			d["previous_secret_expires_at"] = fromMicros(v)
		}
		// SET reads the row as it was: the old secret_sealed becomes the previous one.
		if _, err := t.exec(ctx, `UPDATE webhooks SET secret_sealed = ?,
			previous_secret_sealed = CASE WHEN ? THEN secret_sealed ELSE NULL END,
			previous_secret_expires_at = ?, updated_at = ?, version = version + 1
			WHERE org_id = ? AND id = ?`, sealed, until != nil, until, now, orgID, id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "webhook.rotate_secret", "webhook", id, d)
	})
	if err != nil {
		return "", fmt.Errorf("store: rotate secret of webhook %s: %w", id, err)
	}
	return secret, nil
}

type deliveryRow struct {
	ID         string `db:"id"`
	OrgID      string `db:"org_id"`
	WebhookID  string `db:"webhook_id"`
	Seq        int64  `db:"seq"`
	EventID    string `db:"event_id"`
	EventType  string `db:"event_type"`
	Attempt    int    `db:"attempt"`
	Redelivery bool   `db:"redelivery"`
	Outcome    string `db:"outcome"`
	StartedAt  int64  `db:"started_at"`
	FinishedAt int64  `db:"finished_at"`
	Status     *int   `db:"status"`
	Error      string `db:"error_message"`
}

const deliveryCols = `id, org_id, webhook_id, seq, event_id, event_type, attempt, redelivery, outcome, started_at,
	finished_at, status, error_message`

func (r deliveryRow) delivery() WebhookDelivery {
	d := WebhookDelivery{ID: r.ID, OrgID: r.OrgID, WebhookID: r.WebhookID, Seq: r.Seq, EventID: r.EventID,
		EventType: r.EventType, Attempt: r.Attempt, Redelivery: r.Redelivery, Outcome: Outcome(r.Outcome),
		StartedAt: fromMicros(r.StartedAt), FinishedAt: fromMicros(r.FinishedAt),
		DurationMS: (r.FinishedAt - r.StartedAt) / 1000, Error: r.Error}
	if r.Status != nil {
		d.Status = *r.Status
	}
	return d
}

// ListWebhookDeliveries implements Webhooks.
func (s *SQL) ListWebhookDeliveries(ctx context.Context, orgID, webhookID string, q DeliveryQuery) ([]WebhookDelivery, error) {
	query := `SELECT ` + deliveryCols + ` FROM webhook_deliveries WHERE org_id = ? AND webhook_id = ?`
	args := []any{orgID, webhookID}
	if q.After != "" {
		query += ` AND id < ?`
		args = append(args, q.After)
	}
	if q.Seq > 0 {
		query += ` AND seq = ?`
		args = append(args, q.Seq)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	return webhookLog(ctx, s, orgID, webhookID, "deliveries", query, append(args, q.limit()), deliveryRow.delivery)
}

// webhookLog reads one of a webhook's logs (deliveries, dead letters) in one
// snapshot with the check that the webhook is the org's, so that another org's
// webhook is not found rather than empty.
func webhookLog[R, T any](ctx context.Context, s *SQL, orgID, webhookID, what, query string, args []any, conv func(R) T) ([]T, error) {
	var rows []R
	err := s.read(ctx, func(t *tx) error {
		if _, err := t.getWebhook(ctx, orgID, webhookID, false); err != nil {
			return err
		}
		return t.sel(ctx, &rows, query, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("store: %s of webhook %s: %w", what, webhookID, err)
	}
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = conv(r)
	}
	return out, nil
}

type deadLetterRow struct {
	OrgID                string `db:"org_id"`
	WebhookID            string `db:"webhook_id"`
	Seq                  int64  `db:"seq"`
	EventID              string `db:"event_id"`
	EventType            string `db:"event_type"`
	Attempts             int    `db:"attempts"`
	LastStatus           *int   `db:"last_status"`
	LastError            string `db:"last_error"`
	DeadLetteredAt       int64  `db:"dead_lettered_at"`
	RedeliverRequestedAt *int64 `db:"redeliver_requested_at"`
	RedeliveredAt        *int64 `db:"redelivered_at"`
}

const deadLetterCols = `org_id, webhook_id, seq, event_id, event_type, attempts, last_status, last_error,
	dead_lettered_at, redeliver_requested_at, redelivered_at`

func (r deadLetterRow) deadLetter() DeadLetter {
	d := DeadLetter{OrgID: r.OrgID, WebhookID: r.WebhookID, Seq: r.Seq, EventID: r.EventID, EventType: r.EventType,
		Attempts: r.Attempts, LastError: r.LastError, DeadLetteredAt: fromMicros(r.DeadLetteredAt),
		RedeliverRequestedAt: optMicros(r.RedeliverRequestedAt), RedeliveredAt: optMicros(r.RedeliveredAt)}
	if r.LastStatus != nil {
		d.LastStatus = *r.LastStatus
	}
	return d
}

// ListDeadLetters implements Webhooks.
func (s *SQL) ListDeadLetters(ctx context.Context, orgID, webhookID string, q DeadLetterQuery) ([]DeadLetter, error) {
	query := `SELECT ` + deadLetterCols + ` FROM webhook_dead_letters WHERE org_id = ? AND webhook_id = ?`
	args := []any{orgID, webhookID}
	if q.BeforeSeq > 0 {
		query += ` AND seq < ?`
		args = append(args, q.BeforeSeq)
	}
	if q.Pending {
		query += ` AND redeliver_requested_at IS NOT NULL`
	}
	query += ` ORDER BY seq DESC LIMIT ?`
	return webhookLog(ctx, s, orgID, webhookID, "dead letters", query, append(args, Page{Limit: q.Limit}.limit()), deadLetterRow.deadLetter)
}

// RedeliverDeadLetter implements Webhooks.
func (s *SQL) RedeliverDeadLetter(ctx context.Context, actor core.Actor, orgID, webhookID string, seq int64) (DeadLetter, error) {
	var out deadLetterRow
	err := s.inTx(ctx, func(t *tx) error {
		w, err := t.getWebhook(ctx, orgID, webhookID, true)
		if err != nil {
			return err
		}
		if !w.Active {
			return core.Invalidf("webhook %s is paused: resume it to redeliver", webhookID)
		}
		if err := orNotFound(t.get(ctx, &out, `SELECT `+deadLetterCols+` FROM webhook_dead_letters
			WHERE org_id = ? AND webhook_id = ? AND seq = ?`+t.forUpdate(), orgID, webhookID, seq),
			"dead letter", fmt.Sprintf("%s/%d", webhookID, seq)); err != nil {
			return err
		}
		if out.RedeliverRequestedAt != nil {
			return nil // already waiting for the deliverer
		}
		now := t.s.now()
		if _, err := t.exec(ctx, `UPDATE webhook_dead_letters SET redeliver_requested_at = ? WHERE webhook_id = ? AND seq = ?`,
			now, webhookID, seq); err != nil {
			return err
		}
		out.RedeliverRequestedAt = &now
		return t.audit(ctx, orgID, actor, "webhook.redeliver", "webhook", webhookID, map[string]any{
			"seq": seq, "event_id": out.EventID, "event_type": out.EventType})
	})
	if err != nil {
		return DeadLetter{}, fmt.Errorf("store: redeliver event %d of webhook %s: %w", seq, webhookID, err)
	}
	return out.deadLetter(), nil
}

// ClaimWebhooks implements Webhooks. The inner SELECT picks candidates; the outer
// WHERE repeats the lease condition, which PostgreSQL re-checks on the row it
// locks, so of two claimants racing for a row only the first takes it (the other
// re-reads a lease that is no longer free and skips the row). SKIP LOCKED keeps
// claimants from queueing behind each other's candidate rows.
func (s *SQL) ClaimWebhooks(ctx context.Context, l Lease, limit int) ([]ClaimedWebhook, error) {
	if l.Owner == "" || l.TTL <= 0 {
		return nil, errors.New("store: claim webhooks: a lease needs an owner and a TTL")
	}
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	now, until := micros(l.Now), micros(l.Now.Add(l.TTL))
	var rows []webhookRow
	err := s.inTx(ctx, func(t *tx) error {
		lock := ""
		if t.s.dialect == Postgres {
			lock = ` FOR UPDATE OF w SKIP LOCKED`
		}
		return t.sel(ctx, &rows, `UPDATE webhooks SET lease_owner = ?, lease_expires_at = ?
			WHERE id IN (
				SELECT w.id FROM webhooks w
				WHERE w.active = TRUE AND (w.lease_owner IS NULL OR w.lease_expires_at <= ?)
				AND ((w.next_attempt_at <= ?
						AND w.cursor_seq < COALESCE((SELECT g.generation FROM org_generations g WHERE g.org_id = w.org_id), 0))
					OR EXISTS (SELECT 1 FROM webhook_dead_letters d
						WHERE d.webhook_id = w.id AND d.redeliver_requested_at IS NOT NULL))
				ORDER BY w.next_attempt_at, w.id LIMIT ?`+lock+`)
			AND active = TRUE AND (lease_owner IS NULL OR lease_expires_at <= ?)
			RETURNING `+webhookCols,
			l.Owner, until, now, now, limit, now)
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim webhooks: %w", err)
	}
	out := make([]ClaimedWebhook, 0, len(rows))
	for _, r := range rows {
		w, err := r.webhook()
		if err != nil {
			return nil, err
		}
		c := ClaimedWebhook{Webhook: w, SecretSealed: r.SecretSealed, LeaseExpiresAt: fromMicros(r.LeaseExpiresAt)}
		if r.PreviousSecretSealed != nil && r.PreviousSecretExpiresAt != nil && *r.PreviousSecretExpiresAt > now {
			c.PreviousSecretSealed = *r.PreviousSecretSealed
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b ClaimedWebhook) int { return a.NextAttemptAt.Compare(b.NextAttemptAt) })
	return out, nil
}

// heldLease is the condition of every write under a lease: still ours, not
// expired by the holder's clock, and the webhook still active.
const heldLease = ` org_id = ? AND id = ? AND lease_owner = ? AND lease_expires_at > ? AND active = TRUE`

// underLease runs a webhook UPDATE under the lease, extending it: set (may be
// empty) and extra (more WHERE conditions) take args in that order. No row
// updated is ErrLeaseLost.
func (t *tx) underLease(ctx context.Context, l Lease, orgID, webhookID, set, extra string, args ...any) error {
	if set != "" {
		set += ", "
	}
	n := strings.Count(set, "?")
	all := slices.Concat(args[:n], []any{micros(l.Now.Add(l.TTL)), orgID, webhookID, l.Owner, micros(l.Now)}, args[n:])
	if l.Version != 0 {
		extra += ` AND version = ?`
		all = append(all, l.Version)
	}
	res, err := t.exec(ctx, `UPDATE webhooks SET `+set+`lease_expires_at = ? WHERE`+heldLease+extra, all...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// SkipEvents implements Webhooks.
func (s *SQL) SkipEvents(ctx context.Context, l Lease, orgID, webhookID string, through int64) error {
	err := s.inTx(ctx, func(t *tx) error {
		return t.underLease(ctx, l, orgID, webhookID, `cursor_seq = ?`, ` AND cursor_seq < ?`, through, through)
	})
	if err != nil {
		return fmt.Errorf("store: skip events of webhook %s through %d: %w", webhookID, through, err)
	}
	return nil
}

// RecordAttempt implements Webhooks.
func (s *SQL) RecordAttempt(ctx context.Context, l Lease, d WebhookDelivery, next time.Time) error {
	switch {
	case d.Seq <= 0 || d.EventID == "" || d.Attempt < 1:
		return core.Invalidf("a delivery attempt needs an event seq, an event id and an attempt number")
	case d.FinishedAt.Before(d.StartedAt):
		return core.Invalidf("a delivery attempt cannot finish before it starts")
	case d.Redelivery && d.Outcome == OutcomeDeadLettered:
		return core.Invalidf("a redelivery is not dead-lettered again")
	case d.Outcome != OutcomeDelivered && d.Outcome != OutcomeFailed && d.Outcome != OutcomeDeadLettered:
		return core.Invalidf("delivery outcome %q is not one of delivered, failed, dead_lettered", d.Outcome)
	}
	var status *int
	if d.Status != 0 {
		status = &d.Status
	}
	err := s.inTx(ctx, func(t *tx) error {
		var err error
		switch {
		case d.Redelivery:
			if err = t.underLease(ctx, l, d.OrgID, d.WebhookID, ``, ``); err != nil {
				return err
			}
			set := `attempts = ?, last_status = ?, last_error = ?, redeliver_requested_at = NULL`
			args := []any{d.Attempt, status, d.Error}
			if d.Outcome == OutcomeDelivered {
				set += `, redelivered_at = ?`
				args = append(args, micros(d.FinishedAt))
			}
			_, err = t.exec(ctx, `UPDATE webhook_dead_letters SET `+set+` WHERE org_id = ? AND webhook_id = ? AND seq = ?`,
				append(args, d.OrgID, d.WebhookID, d.Seq)...)
		case d.Outcome == OutcomeFailed:
			err = t.underLease(ctx, l, d.OrgID, d.WebhookID,
				`attempts = attempts + 1, failing_since = COALESCE(failing_since, ?), next_attempt_at = ?`,
				` AND cursor_seq < ?`, micros(d.StartedAt), micros(next), d.Seq)
		default: // delivered or dead-lettered: the cursor moves past the event
			err = t.underLease(ctx, l, d.OrgID, d.WebhookID,
				`cursor_seq = ?, attempts = 0, failing_since = NULL, next_attempt_at = 0`, ` AND cursor_seq < ?`, d.Seq, d.Seq)
			if err == nil && d.Outcome == OutcomeDeadLettered {
				_, err = t.exec(ctx, `INSERT INTO webhook_dead_letters (`+deadLetterCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
					d.OrgID, d.WebhookID, d.Seq, d.EventID, d.EventType, d.Attempt, status, d.Error, micros(l.Now))
			}
		}
		if err != nil {
			return err
		}
		_, err = t.exec(ctx, `INSERT INTO webhook_deliveries (`+deliveryCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.s.NewID(), d.OrgID, d.WebhookID, d.Seq, d.EventID, d.EventType, d.Attempt, d.Redelivery, string(d.Outcome),
			micros(d.StartedAt), micros(d.FinishedAt), status, d.Error)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: record attempt %d at event %d of webhook %s: %w", d.Attempt, d.Seq, d.WebhookID, err)
	}
	return nil
}

// ReleaseWebhook implements Webhooks.
func (s *SQL) ReleaseWebhook(ctx context.Context, owner, orgID, webhookID string) error {
	err := s.inTx(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `UPDATE webhooks SET lease_owner = NULL, lease_expires_at = 0
			WHERE org_id = ? AND id = ? AND lease_owner = ?`, orgID, webhookID, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: release webhook %s: %w", webhookID, err)
	}
	return nil
}

// PruneWebhookDeliveries implements Webhooks. It deletes in bounded batches so a
// large backlog never holds SQLite's one writer for long.
func (s *SQL) PruneWebhookDeliveries(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	if limit <= 0 || limit > 10*MaxLimit {
		limit = 10 * MaxLimit
	}
	var n int64
	err := s.inTx(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
			SELECT id FROM webhook_deliveries WHERE started_at < ? ORDER BY started_at LIMIT ?)`, micros(cutoff), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune webhook deliveries: %w", err)
	}
	return n, nil
}
