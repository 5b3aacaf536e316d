// Package events is the public vocabulary of Gatehouse's event stream and webhooks.
//
// Every change to an org writes an audit event in the change's own transaction, and
// every audit event carries the org's next Seq (see store.Audit.Changes): that
// ordered, gapless log is the stream. This package names what each entry means to
// an application — a public type in the past tense ("user.deactivated",
// "membership.added") for each audit action — and renders an entry as the one JSON
// object that the events API and webhook deliveries both send:
//
//	{"id": "<audit event id>", "seq": 42, "type": "user.deactivated",
//	 "at": "2026-12-01T10:00:00.123456Z", "org_id": "…",
//	 "actor":  {"kind": "scim", "id": "<directory id>", "name": "okta"},
//	 "source": {"kind": "scim_directory", "id": "<directory id>", "name": "okta"},
//	 "target": {"kind": "user", "id": "…"},
//	 "data":   {…the audit details…}}
//
// The id is the audit event's id, stable across redeliveries (webhook-id, an
// idempotency key). An action with no entry in the table still becomes an event,
// with a type derived from the action: nothing in the log is ever dropped.
//
// Subscriptions name exact types or a prefix ("user.*"); ValidateTypes checks what
// a client asks for, Filter matches. Change management's events are proposal.*
// (proposal.created, proposal.approved, proposal.applied, …): an application that
// applies approved changes subscribes to proposal.approved. This package is pure:
// no I/O.
package events
