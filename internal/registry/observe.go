package registry

import "github.com/gatehouse-registry/gatehouse/internal/fault"

// Observer hears how each publish ends and whether the in-memory caches held
// what was asked for: "packument" (packages' documents and rows, kept between
// changes) and "tarball" (small tarballs' bytes). internal/metrics counts them.
type Observer interface {
	// Publish is told PublishResult of the publish's error.
	Publish(result string)
	CacheLookup(cache string, hit bool)
}

type silentObserver struct{}

func (silentObserver) Publish(string)           {}
func (silentObserver) CacheLookup(string, bool) {}

// PublishResult names how a publish ended, from a fixed set: ok, or the
// label of the error's kind (fault.Kind.Label): invalid (a malformed or
// rule-breaking publish), unauthorized (no login, or a second factor to
// give), forbidden (not allowed, or a version published before), not_found,
// conflict, too_large, locked, or error (a failure of the registry itself).
func PublishResult(err error) string {
	if err == nil {
		return "ok"
	}
	return fault.KindOf(err).Label()
}
