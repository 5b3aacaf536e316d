// Package server is Gatehouse's HTTP plumbing: one http.Server with safe timeouts
// and a request body limit, the /healthz and /readyz probes, one structured log line
// per request with its request id, and a graceful shutdown that drains in-flight
// requests (a request that waits on purpose, such as a long poll, watches
// Draining and answers at once).
//
// Protocol edges (SCIM, SSO, the admin API) are Mounters: each registers its own
// routes on the shared http.ServeMux. cmd/gatehouse builds them and hands them to New.
package server
