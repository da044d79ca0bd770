package policy

import (
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// decideProxied decides an action on a package served from an uplink
// (pkg.Proxied): a package of another registry that gatehouse caches.
//
// It is read as a public package is, so it follows every rule public reads
// follow (a private-registry mode that refuses anonymous reads of public
// packages applies to it through that same Decide), with one more: a
// granular token reads it only when its package grants cover the name, as
// they would a local package's (packages_all does; a token limited to
// @acme/* does not read express).
//
// Every write is refused: a proxied package changes only in the registry
// it comes from.
func decideProxied(p *auth.Principal, a Action, pkg Package) error {
	if err := Decide(p, Read, Package{Name: pkg.Name, Scope: pkg.Scope, Exists: true, ReadAccess: pkg.ReadAccess}); err != nil {
		return err
	}
	if p.Kind == auth.KindGranular && !credentialReads(p, pkg.Name) {
		return notFound()
	}
	if a == Read {
		return nil
	}
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	return fault.Forbiddenf("%s is served from uplink %s, read-only: publishing, dist-tags, deprecation, "+
		"unpublishing, owners and access are changed in the registry it comes from, not here", pkg.Name, pkg.Uplink)
}

// shadowsUplink refuses to create a local package whose name an uplink
// already has: installs of that name would get the local package instead
// of the one everybody else means (dependency confusion), by accident or
// by intent. The registry asks only when its setting publish_uplink_names
// is refuse (the default).
func shadowsUplink(pkg Package) error {
	return fault.Forbiddenf("%s exists on uplink %s: a local package of that name would shadow it for everyone "+
		"installing from this registry (dependency confusion), so it cannot be published here: publish it under "+
		"a scope of yours (@you/%s), or ask an administrator to allow such names (publish_uplink_names)",
		pkg.Name, pkg.Uplink, pkg.Name)
}
