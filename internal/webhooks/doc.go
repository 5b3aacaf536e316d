// Package webhooks delivers each org's event stream to its webhooks: signed, at
// least once, in stream order per webhook, from the durable outbox that the change
// log already is.
//
// There is no second log. Every change writes its audit event with the org's next
// Seq in the change's own transaction (store.Audit.Changes); a webhook keeps a
// cursor into that log, the last seq delivered or passed over. A Deliverer (one
// per server instance) loops:
//
//  1. claim due webhooks: a lease per webhook, taken by one conditional UPDATE,
//     so several instances on one PostgreSQL share the webhooks and never both
//     serve one (store.Webhooks.ClaimWebhooks);
//  2. for each, first any dead letter an admin asked to redeliver (one attempt
//     each, out of order), then the events after the cursor: those the webhook
//     does not subscribe to are passed over; the others are posted one at a time;
//  3. a 2xx answer is recorded and only then does the cursor move past the event,
//     in a write that succeeds only while the lease is held. A crash between
//     sending and recording leaves the cursor where it was: the event is sent
//     again (same webhook-id), never lost;
//  4. any other outcome (an error status, a redirect, a timeout, a refused
//     connection) is recorded and the same event is retried, with exponential
//     backoff and full jitter, until RetryWindow (24 h) has passed since its
//     first failure; then it becomes a dead letter (visible, redeliverable) and
//     the cursor moves on, so one bad event does not hold the stream forever.
//
// Each request is a POST of the event's JSON (events.Marshal) with the Standard
// Webhooks headers (https://www.standardwebhooks.com): webhook-id (the event id,
// an idempotency key), webhook-timestamp (Unix seconds of the attempt) and
// webhook-signature, "v1," + base64 of HMAC-SHA256 over id.timestamp.body under
// the secret's decoded bytes ("whsec_" + base64); after a rotation the previous
// secret signs too, for its overlap, space-separated.
//
// Policy keeps webhooks from reaching the server's own network: https only (http
// to loopback when the operator allows it), no private, loopback, link-local,
// CGNAT, ULA, multicast or unspecified targets unless allowed, checked when a
// webhook is saved (CheckURL) and again against the addresses dialed. Redirects
// are never followed; answers are read to at most 4 KiB.
package webhooks
