// Package mail sends Gatehouse's few emails (invitations) through an SMTP relay
// the operator configures (serve's --smtp-* flags). It is optional: without it,
// the admin who invites someone is shown the invitation link to pass on.
//
// The relay is reached with net/smtp: STARTTLS whenever the server offers it
// (required when a user name is set, since PLAIN would otherwise send the
// password in the clear to anything but a loopback relay), then one message per
// call. Message headers are built here; a recipient or subject that would inject
// headers (CR or LF) is refused.
package mail
