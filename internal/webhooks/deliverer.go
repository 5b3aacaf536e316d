package webhooks

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/internal/netpolicy"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Store is what the deliverer needs of the store: the change log and the webhook
// delivery primitives.
type Store interface {
	Changes(ctx context.Context, orgID string, after int64, limit int) ([]core.AuditEvent, error)
	ClaimWebhooks(ctx context.Context, l store.Lease, limit int) ([]store.ClaimedWebhook, error)
	SkipEvents(ctx context.Context, l store.Lease, orgID, webhookID string, through int64) error
	RecordAttempt(ctx context.Context, l store.Lease, d store.WebhookDelivery, next time.Time) error
	ReleaseWebhook(ctx context.Context, owner, orgID, webhookID string) error
	ListDeadLetters(ctx context.Context, orgID, webhookID string, q store.DeadLetterQuery) ([]store.DeadLetter, error)
	PruneWebhookDeliveries(ctx context.Context, cutoff time.Time, limit int) (int64, error)
}

// Opener opens sealed secrets; *secrets.Box is one.
type Opener interface {
	Open(sealed, label string) ([]byte, error)
}

// Options configure a Deliverer. Zero fields take the defaults named.
type Options struct {
	Store   Store
	Secrets Opener // opens the webhooks' sealed signing secrets
	Policy  Policy
	Logger  *slog.Logger // slog.Default()

	// Owner names this instance in leases: unique per running process
	// (hostname-pid-random).
	Owner string

	// PollInterval is how often an idle deliverer looks for work (1 s).
	PollInterval time.Duration
	// LeaseTTL is how long a claim, and each write under it, holds a webhook (1 min);
	// at least twice AttemptTimeout. A crashed instance's webhooks wait this long.
	LeaseTTL time.Duration
	// AttemptTimeout bounds one delivery: connect, send, answer (15 s; the
	// Standard Webhooks specification recommends 15 to 30 s).
	AttemptTimeout time.Duration
	// RetryWindow is how long an event is retried from its first failed attempt
	// before it is dead-lettered (24 h).
	RetryWindow time.Duration
	// BackoffBase and BackoffMax shape the retries: the n-th failure waits a
	// random time below min(BackoffMax, BackoffBase·2ⁿ⁻¹) (full jitter), at least
	// BackoffBase/10, and at least a Retry-After the receiver asked for (5 s, 1 h).
	BackoffBase, BackoffMax time.Duration
	// Concurrency is how many webhooks one instance delivers to at once (4); each
	// webhook gets its events one at a time, in order.
	Concurrency int
	// MaxPerTurn is how many events one webhook gets before the deliverer moves on
	// to others and claims it again (100).
	MaxPerTurn int
	// DeliveryRetention is how long attempts stay in the deliveries log (30 days);
	// PruneEvery is how often the log is pruned (1 h).
	DeliveryRetention, PruneEvery time.Duration
	// TLSConfig is the client's TLS configuration (system roots; tests give their
	// own).
	TLSConfig *tls.Config

	// Now, Sleep and Rand are the clock, the idle wait and the jitter's random
	// source (time.Now; a timer that ctx interrupts; math/rand/v2.Int64N).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration)
	Rand  func(n int64) int64

	// AfterSend is a test hook, called after a delivery was sent and answered and
	// before the attempt is recorded. An error abandons the webhook there, with
	// nothing recorded and the lease kept, as a crash at that point would.
	AfterSend func(ctx context.Context, webhookID string, seq int64) error
}

// Deliverer delivers every org's events to its webhooks: at least once, in stream
// order per webhook, signed as the Standard Webhooks specification describes. Run
// one per server instance (Start, Stop); several instances on one database share
// the work through leases.
type Deliverer struct {
	o      Options
	client *http.Client

	mu        sync.Mutex
	running   bool
	quit      context.CancelFunc // stops claiming; turns end after their attempt
	kill      context.CancelFunc // cancels attempts in flight
	done      chan struct{}
	lastPrune time.Time
}

// responseLimit bounds how much of a receiver's answer is read (and dropped).
const responseLimit = 4 << 10

// New checks the options and returns a stopped Deliverer.
func New(o Options) (*Deliverer, error) {
	if o.Store == nil || o.Secrets == nil {
		return nil, errors.New("webhooks: a deliverer needs a Store and Secrets")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PollInterval, time.Second)
	def(&o.LeaseTTL, time.Minute)
	def(&o.AttemptTimeout, 15*time.Second)
	def(&o.RetryWindow, 24*time.Hour)
	def(&o.BackoffBase, 5*time.Second)
	def(&o.BackoffMax, time.Hour)
	def(&o.DeliveryRetention, 30*24*time.Hour)
	def(&o.PruneEvery, time.Hour)
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxPerTurn <= 0 {
		o.MaxPerTurn = 100
	}
	if o.LeaseTTL < 2*o.AttemptTimeout {
		return nil, fmt.Errorf("webhooks: the lease (%s) must be at least twice the attempt timeout (%s)", o.LeaseTTL, o.AttemptTimeout)
	}
	if o.BackoffMax < o.BackoffBase {
		return nil, fmt.Errorf("webhooks: the largest backoff (%s) is below the first (%s)", o.BackoffMax, o.BackoffBase)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Rand == nil {
		o.Rand = mrand.Int64N
	}
	if o.Owner == "" {
		o.Owner = newOwner()
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.TLSConfig != nil {
		tlsConf = o.TLSConfig.Clone()
	}
	transport := o.Policy.net().Transport()
	transport.TLSClientConfig = tlsConf
	transport.ResponseHeaderTimeout = o.AttemptTimeout
	client := &http.Client{
		Transport: transport,
		// A redirect is a failed attempt: following it could lead anywhere, and the
		// specification asks senders to have the URL updated instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Deliverer{o: o, client: client}, nil
}

func newOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Owner is the name this deliverer's leases carry.
func (d *Deliverer) Owner() string { return d.o.Owner }

// Start runs the delivery loop until ctx ends or Stop is called.
func (d *Deliverer) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running {
		return errors.New("webhooks: deliverer already started")
	}
	quit, stop := context.WithCancel(ctx)
	work, kill := context.WithCancel(context.WithoutCancel(ctx))
	d.running, d.quit, d.kill, d.done = true, stop, kill, make(chan struct{})
	go d.loop(quit, work)
	return nil
}

// Stop stops claiming webhooks and waits for the deliveries in flight to finish
// and be recorded, and their leases to be given back. When ctx ends first, it
// cancels them (those events are delivered again later) and returns ctx's error.
func (d *Deliverer) Stop(ctx context.Context) error {
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		return nil
	}
	d.running = false
	quit, kill, done := d.quit, d.kill, d.done
	d.mu.Unlock()
	quit()
	defer kill()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		kill()
		<-done
		return ctx.Err()
	}
}

// loop claims webhooks while it has free slots and runs a turn for each.
func (d *Deliverer) loop(quit, work context.Context) {
	defer close(d.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, d.o.Concurrency)
	for quit.Err() == nil {
		d.maybePrune(work)
		claimed := 0
		if free := cap(slots) - len(slots); free > 0 {
			cs, err := d.o.Store.ClaimWebhooks(work, d.lease(), free)
			if err != nil && quit.Err() == nil {
				d.o.Logger.Error("webhooks: claim", "err", err)
			}
			for _, c := range cs {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() { <-slots }()
					d.turn(work, quit, c)
				})
			}
			claimed = len(cs)
		}
		if claimed == 0 {
			d.o.Sleep(quit, d.o.PollInterval)
		}
	}
}

// RunOnce claims what is due now, gives each claimed webhook one turn and waits
// for them: one step of the loop, for tests and tools. It returns how many
// webhooks it served.
func (d *Deliverer) RunOnce(ctx context.Context) (int, error) {
	cs, err := d.o.Store.ClaimWebhooks(ctx, d.lease(), d.o.Concurrency)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { d.turn(ctx, ctx, c) })
	}
	wg.Wait()
	return len(cs), nil
}

// Prune deletes attempts older than the retention from the deliveries log.
func (d *Deliverer) Prune(ctx context.Context) (int64, error) {
	const batch = 5000
	cutoff := d.o.Now().Add(-d.o.DeliveryRetention)
	var total int64
	for {
		n, err := d.o.Store.PruneWebhookDeliveries(ctx, cutoff, batch)
		total += n
		if err != nil || n < batch {
			return total, err
		}
	}
}

func (d *Deliverer) maybePrune(ctx context.Context) {
	now := d.o.Now()
	if now.Sub(d.lastPrune) < d.o.PruneEvery {
		return
	}
	d.lastPrune = now
	if n, err := d.Prune(ctx); err != nil {
		d.o.Logger.Error("webhooks: prune deliveries", "err", err)
	} else if n > 0 {
		d.o.Logger.Info("webhooks: pruned deliveries", "deleted", n)
	}
}

func (d *Deliverer) lease() store.Lease {
	return store.Lease{Owner: d.o.Owner, Now: d.o.Now(), TTL: d.o.LeaseTTL}
}

// errCrashed: the AfterSend hook abandoned the webhook.
var errCrashed = errors.New("webhooks: abandoned by the AfterSend hook")

// turn serves one claimed webhook: pending redeliveries, then the stream from its
// cursor while attempts succeed, up to MaxPerTurn events. It gives the lease
// back at the end, unless the hook abandoned it (a crash keeps the lease until it
// expires). quit ends the turn between attempts; work carries the attempts.
func (d *Deliverer) turn(work, quit context.Context, c store.ClaimedWebhook) {
	t := &turnState{d: d, c: c, leaseUntil: c.LeaseExpiresAt}
	t.keys, t.keyErr = d.keys(c)
	err := t.redeliver(work, quit)
	if err == nil {
		err = t.stream(work, quit)
	}
	log := d.o.Logger.With("webhook", c.ID, "org", c.OrgID)
	switch {
	case errors.Is(err, errCrashed):
		return
	case errors.Is(err, store.ErrLeaseLost):
		log.Info("webhooks: lease lost; another instance or an admin change took over")
	case err != nil && work.Err() == nil:
		log.Error("webhooks: delivery", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(work), 5*time.Second)
	defer cancel()
	if err := d.o.Store.ReleaseWebhook(ctx, d.o.Owner, c.OrgID, c.ID); err != nil {
		log.Error("webhooks: release lease", "err", err)
	}
}

// keys opens the webhook's signing secrets: the current one, then a rotated-out
// one still valid.
func (d *Deliverer) keys(c store.ClaimedWebhook) ([][]byte, error) {
	var keys [][]byte
	for _, sealed := range []string{c.SecretSealed, c.PreviousSecretSealed} {
		if sealed == "" {
			continue
		}
		secret, err := d.o.Secrets.Open(sealed, store.WebhookSecretLabel(c.ID))
		if err != nil {
			return nil, fmt.Errorf("cannot open the webhook's signing secret (was the server's secret key changed?): %w", err)
		}
		k, err := ParseSecret(string(secret))
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

type turnState struct {
	d          *Deliverer
	c          store.ClaimedWebhook
	keys       [][]byte
	keyErr     error
	leaseUntil time.Time
}

// lease is the lease for the next write, bound to the version claimed; a
// successful write extends it.
func (t *turnState) lease() store.Lease {
	l := t.d.lease()
	l.Version = t.c.Version
	t.leaseUntil = l.Now.Add(l.TTL)
	return l
}

// leaseLeft reports whether the lease outlasts one more attempt and its record
// (half an attempt's time for that: New makes a fresh lease twice an attempt).
func (t *turnState) leaseLeft() bool {
	return t.leaseUntil.Sub(t.d.o.Now()) > t.d.o.AttemptTimeout*3/2
}

// redeliver makes one attempt at each dead letter an admin asked to redeliver.
func (t *turnState) redeliver(work, quit context.Context) error {
	pending, err := t.d.o.Store.ListDeadLetters(work, t.c.OrgID, t.c.ID, store.DeadLetterQuery{Pending: true, Limit: t.d.o.MaxPerTurn})
	if err != nil {
		return err
	}
	slices.Reverse(pending) // oldest event first
	for _, dl := range pending {
		if quit.Err() != nil || !t.leaseLeft() {
			return nil
		}
		evs, err := t.d.o.Store.Changes(work, t.c.OrgID, dl.Seq-1, 1)
		if err != nil {
			return err
		}
		if len(evs) != 1 || evs[0].Seq != dl.Seq {
			return fmt.Errorf("event %d of the dead letter is not in the change log", dl.Seq)
		}
		r, err := t.send(work, evs[0])
		if err != nil {
			return err
		}
		a := r.delivery(t.c, evs[0], dl.Attempts+1)
		a.Redelivery = true
		if err := t.d.o.Store.RecordAttempt(work, t.lease(), a, time.Time{}); err != nil {
			return err
		}
	}
	return nil
}

// stream delivers the events after the cursor, in order, until one fails or the
// turn's share is used.
func (t *turnState) stream(work, quit context.Context) error {
	o := t.d.o
	if t.c.NextAttemptAt.After(o.Now()) {
		return nil // only a redelivery was due
	}
	filter := events.NewFilter(t.c.EventTypes)
	cursor, attempts, failingSince := t.c.Cursor, t.c.Attempts, t.c.FailingSince
	for sent := 0; sent < o.MaxPerTurn && quit.Err() == nil; {
		evs, err := o.Store.Changes(work, t.c.OrgID, cursor, min(o.MaxPerTurn, 500))
		if err != nil || len(evs) == 0 {
			return err
		}
		skipTo := cursor // events not subscribed to, passed over
		for _, e := range evs {
			typ := events.TypeOf(e.Action)
			if !filter.Match(typ) {
				skipTo = e.Seq
				continue
			}
			if quit.Err() != nil || !t.leaseLeft() || sent >= o.MaxPerTurn {
				return nil
			}
			r, err := t.send(work, e)
			if err != nil {
				return err
			}
			sent++
			attempts++
			a := r.delivery(t.c, e, attempts)
			if r.ok() {
				a.Outcome = store.OutcomeDelivered
				if err := o.Store.RecordAttempt(work, t.lease(), a, time.Time{}); err != nil {
					return err
				}
				cursor, skipTo, attempts, failingSince = e.Seq, e.Seq, 0, time.Time{}
				continue
			}
			if failingSince.IsZero() {
				failingSince = r.start
			}
			if r.start.Sub(failingSince) >= o.RetryWindow {
				a.Outcome = store.OutcomeDeadLettered
				if err := o.Store.RecordAttempt(work, t.lease(), a, time.Time{}); err != nil {
					return err
				}
				o.Logger.Warn("webhooks: event dead-lettered", "webhook", t.c.ID, "org", t.c.OrgID, "seq", e.Seq,
					"attempts", attempts, "failing_since", failingSince, "err", a.Error)
				cursor, skipTo, attempts, failingSince = e.Seq, e.Seq, 0, time.Time{}
				continue
			}
			return o.Store.RecordAttempt(work, t.lease(), a, r.finish.Add(t.d.backoff(attempts, r.retryAfter)))
		}
		if skipTo > cursor {
			if err := o.Store.SkipEvents(work, t.lease(), t.c.OrgID, t.c.ID, skipTo); err != nil {
				return err
			}
			cursor = skipTo
		}
	}
	return nil
}

// backoff is the wait after the n-th failed attempt at an event: exponential with
// full jitter, and no shorter than a Retry-After the receiver sent.
func (d *Deliverer) backoff(n int, retryAfter time.Duration) time.Duration {
	ceiling := d.o.BackoffBase
	for i := 1; i < n && ceiling < d.o.BackoffMax; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, d.o.BackoffMax)
	wait := time.Duration(d.o.Rand(int64(ceiling)))
	if floor := d.o.BackoffBase / 10; wait < floor {
		wait = floor
	}
	if retryAfter > wait {
		wait = min(retryAfter, d.o.BackoffMax)
	}
	return wait
}

// result is what one attempt got.
type result struct {
	start, finish time.Time
	status        int
	err           string // why the attempt failed; "" for a 2xx
	retryAfter    time.Duration
}

func (r result) ok() bool { return r.err == "" && r.status >= 200 && r.status < 300 }

func (r result) delivery(c store.ClaimedWebhook, e core.AuditEvent, attempt int) store.WebhookDelivery {
	out := store.OutcomeFailed
	if r.ok() {
		out = store.OutcomeDelivered
	}
	return store.WebhookDelivery{OrgID: c.OrgID, WebhookID: c.ID, Seq: e.Seq, EventID: e.ID, EventType: events.TypeOf(e.Action),
		Attempt: attempt, Outcome: out, StartedAt: r.start, FinishedAt: r.finish, Status: r.status, Error: r.err}
}

// send makes one attempt to deliver e. Its error is errCrashed (the hook) or a
// failure to render the event; a failed delivery is a result.
func (t *turnState) send(ctx context.Context, e core.AuditEvent) (result, error) {
	body, err := events.Marshal(e)
	if err != nil {
		return result{}, fmt.Errorf("render event %d: %w", e.Seq, err)
	}
	r := t.post(ctx, e.ID, body)
	if h := t.d.o.AfterSend; h != nil {
		if err := h(ctx, t.c.ID, e.Seq); err != nil {
			return r, errCrashed
		}
	}
	return r, nil
}

// post sends one signed request and reads at most responseLimit of the answer.
func (t *turnState) post(ctx context.Context, id string, body []byte) result {
	o := t.d.o
	r := result{start: o.Now()}
	fail := func(format string, args ...any) result {
		r.finish, r.err = o.Now(), fmt.Sprintf(format, args...)
		return r
	}
	if t.keyErr != nil {
		return fail("%v", t.keyErr)
	}
	u, err := o.Policy.checkForm(t.c.URL)
	if err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.AttemptTimeout)
	defer cancel()
	if u.Scheme == "http" {
		ctx = netpolicy.LoopbackOnly(ctx, plainHTTPOnly)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.c.URL, bytes.NewReader(body))
	if err != nil {
		return fail("%v", err)
	}
	ts := r.start.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Webhooks/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(t.keys, id, ts, body))
	resp, err := t.d.client.Do(req)
	if err != nil {
		return fail("%s", describe(err, o.AttemptTimeout))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, responseLimit))
	resp.Body.Close()
	r.finish, r.status = o.Now(), resp.StatusCode
	switch {
	case r.status >= 200 && r.status < 300:
	case r.status >= 300 && r.status < 400:
		r.err = fmt.Sprintf("%s: redirect to %q not followed; update the webhook URL", resp.Status, resp.Header.Get("Location"))
	default:
		r.err = resp.Status
		r.retryAfter = retryAfter(resp.Header.Get("Retry-After"), r.finish)
	}
	return r
}

// describe says why a request failed, without the URL (which may hold a token).
func describe(err error, timeout time.Duration) string {
	var pe *netpolicy.Error
	if errors.As(err, &pe) {
		return pe.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("no answer within %s", timeout)
		}
		err = ue.Err
	}
	return err.Error()
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
