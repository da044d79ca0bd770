// Package testkit holds what the tests of several packages (e2e, server,
// web, registry, the benchmark's seeding) share: JSON requests and their
// answers (Do, Send, Response), reading Prometheus metrics (Scrape,
// Metrics), npm package tarballs and publish documents (Tarball,
// PackageTarball, PublishBody) and throwaway HTTP servers (Serve). It
// imports no gatehouse package, so any package's tests may use it; only
// tests import it. A throwaway gatehouse in process is servertest's.
package testkit
