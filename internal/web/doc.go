// Package web serves Gatehouse's admin pages under /admin/: server-rendered HTML
// (html/template, no script) for people signed in through SSO. An overview, the
// mappings table (IdP group → user group → workspace/environment → role) with
// filters, users with their effective access and a "why" form that explains any
// decision, user groups, the SCIM and SSO setup values to paste into Okta and Entra
// (a new token's secret shown once), the audit log, the event log (the stream
// applications read, filtered by type and paged by seq cursors) and webhooks:
// created with their secret shown once, edited, paused, rotated, deleted behind
// a confirmation page, with each one's deliveries and dead letters to redeliver,
// and change management:
// proposals (list, detail with the application's payload shown as a diff,
// approve / reject / withdraw), environments' approval rules and the org's four
// eyes on access changes. The governance pages: workspaces with their promotion
// path of environments (added, renamed, reordered, deleted, each with its approval
// rule), spaces and the user groups
// that see them, and grants, managed by org admins and by the workspace's own
// Admins, as the authorizer decides; a workspace's resources, registered, renamed,
// moved and deleted as core.Decide allows each person; custom roles, their rules
// edited as a table (per resource type or per single resource); user groups' direct
// members (and the groups renamed, or deleted behind a page that says what
// goes); org admins (add, remove, transfer, under the store's last-admin rule);
// mappings from SCIM directories and SSO connections alike. Their forms keep what was typed when they
// refuse it and say what was wrong next to the field (forms.go); destructive
// actions ask to confirm on a page that says what they remove. Every access change a page makes (a mapping, the
// four-eyes setting) shows its preview first (what roles and decisions it would
// change, measured by making it and taking it back) and is made, or proposed to a
// second org admin, only when confirmed.
//
// Every page is a row of one table (routes.go) saying what it requires of the
// person; handlers live in one file per area and render templates/*.html inside
// layout.html. The adapter (web.go) authenticates the browser session
// (httpx.Sessions; bearer tokens do not open pages), checks forms' CSRF token
// (double submit) on top of http.CrossOriginProtection, sets a strict CSP and the
// other browser headers, and renders errors as a page. Pages ask the same
// authorizer as the API (decisions.Engine) and change things through the same
// operations (package ops).
package web
