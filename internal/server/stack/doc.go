// Package stack assembles the server that `gatehouse serve` runs: the SSO, SCIM and
// API edges built on one store, behind the server's middleware (request log,
// metrics, rate limits, body limit, panic recovery). It is one function so that the
// load tool measures exactly what serve serves.
package stack
