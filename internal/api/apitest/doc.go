// Package apitest runs the JSON API over a real store for tests: an org with its
// API token (Env), the issue-1 world of a mapped IdP group with a grant (World),
// requests and decoded responses (Call, Resp), browser sessions without the
// sso package (FakeSessions), and an Env that can make webhooks (NewWebhookEnv). The API's own tests and the admin pages' tests use it.
package apitest
