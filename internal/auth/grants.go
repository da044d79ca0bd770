package auth

import "strings"

// Permission is a granular token's level of access to packages or organizations.
type Permission string

// The permissions of spec/tokens.md section 3.
const (
	NoAccess           Permission = "no-access"
	ReadOnly           Permission = "read-only"
	ReadWrite          Permission = "read-write"
	ReadWriteStageOnly Permission = "read-write-stage-only"
)

// CanRead reports whether p allows reading.
func (p Permission) CanRead() bool { return p == ReadOnly || p == ReadWrite || p == ReadWriteStageOnly }

// CanWrite reports whether p allows direct writes (publish, dist-tags, ...).
func (p Permission) CanWrite() bool { return p == ReadWrite }

// Grants are what a granular token may touch. The zero value grants nothing.
type Grants struct {
	PackagesAll bool       `json:"packages_all,omitempty"`
	Packages    []string   `json:"packages,omitempty"` // exact package names
	Scopes      []string   `json:"scopes,omitempty"`   // scope names without "@"
	PackagePerm Permission `json:"packages_and_scopes_permission,omitempty"`
	Orgs        []string   `json:"orgs,omitempty"`
	OrgPerm     Permission `json:"orgs_permission,omitempty"`
}

// CoversPackage reports whether the grants select package name: all packages,
// the name itself, or its scope.
func (g *Grants) CoversPackage(name string) bool {
	if g.PackagesAll {
		return true
	}
	for _, p := range g.Packages {
		if p == name {
			return true
		}
	}
	return g.CoversScopeOf(name)
}

// CoversScopeOf reports whether a scope grant covers name (so a new package
// under that scope may be created).
func (g *Grants) CoversScopeOf(name string) bool {
	if g.PackagesAll {
		return true
	}
	if !strings.HasPrefix(name, "@") {
		return false
	}
	scope, _, ok := strings.Cut(name[1:], "/")
	if !ok {
		return false
	}
	for _, s := range g.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// CoversOrg reports whether the grants select organization org.
func (g *Grants) CoversOrg(org string) bool {
	for _, o := range g.Orgs {
		if o == org {
			return true
		}
	}
	return false
}
