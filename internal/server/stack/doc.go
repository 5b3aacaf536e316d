// Package stack assembles the server that `gatehouse serve` runs: the SSO, SCIM,
// JSON API and admin page edges built on one store, behind the server's middleware
// (request log, metrics, rate limits, body limit, panic recovery). It is one
// function so that the load tool measures exactly what serve serves.
//
// It is also the one place where edges meet: the API and the pages share one
// authorizer (decisions.Engine, with its cache) and one set of operations, and
// reach the sso edge only through the seams of package httpx that it wires here:
// the sso handler authenticates their browser sessions, and SSOSetup gives them
// each connection's setup values. No edge imports another.
//
// Build also starts the instance's webhook deliverer (one per instance; the
// instances share the webhooks through leases) with the same network policy the
// operations check webhook URLs against, and the close it returns stops it after
// the attempts in flight are recorded.
package stack
