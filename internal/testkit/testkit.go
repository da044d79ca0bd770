// Package testkit holds what the tests of several packages (e2e, server,
// web, the benchmark's seeding) share: JSON requests and their answers (Do,
// Send, Response, DecodeJSON), reading Prometheus metrics (Scrape,
// ScrapeUntil, Metrics), npm package tarballs and publish documents
// (Tarball, PackageTarball, PublishBody) and dependencies that make them
// larger (Dependencies), throwaway HTTP servers (Serve),
// a buffer a server may log to while the test reads it (SyncBuffer),
// files written with the folders they need (WriteFile), random bytes
// (RandomBytes), and waiting out the end of a one-time password's step
// (WaitOutStepEnd).
// It imports no gatehouse package, so any package's tests may use it; only
// tests import it. A whole gatehouse in process is servertest's.
package testkit
