// Package faults holds the fault tests: they build the real gatehouse binary, run
// `gatehouse serve` as a subprocess and hurt it the way production does — SIGKILL
// in the middle of a SCIM provisioning load on SQLite, PostgreSQL going away and
// coming back, SIGTERM while requests are in flight, a flood of bad input, SIGKILL
// between sending a webhook delivery and recording it — then check that nothing
// acknowledged was lost and nothing half-written was kept. Two serve processes
// on one PostgreSQL show that webhooks are delivered once between them.
//
// `go test ./internal/faults` runs a CI-sized version; scripts/faults.sh (make
// faults) runs the same tests longer, with flags documented in docs/operations.md.
package faults
