package auth

import "strings"

// The permissions of a trust configuration, as npm trust sends them.
const (
	// PermCreatePackage lets an exchanged token publish (npm publish).
	PermCreatePackage = "createPackage"
	// PermCreateStagedPackage lets an exchanged token stage (npm stage publish).
	PermCreateStagedPackage = "createStagedPackage"
)

// Trust is the grant of a token exchanged for a CI job's OIDC identity
// (trusted publishing): one package, and whether it may publish, stage or
// both. It acts with the rights of the user who made the trust
// configuration, bounded by this grant. Stored as the token's grants.
type Trust struct {
	// Package is the one package the token may touch.
	Package string `json:"package"`
	// Permissions are the trust configuration's: PermCreatePackage,
	// PermCreateStagedPackage.
	Permissions []string `json:"permissions"`
	// ConfigID is the trust configuration the token was exchanged under.
	ConfigID string `json:"config_id"`
	// Issuer and Subject name the OIDC identity (for lists and the audit log).
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
}

// Publishes reports whether the token may publish its package directly.
func (t *Trust) Publishes() bool { return t != nil && t.has(PermCreatePackage) }

// Stages reports whether the token may stage versions of its package.
func (t *Trust) Stages() bool { return t != nil && t.has(PermCreateStagedPackage) }

// Covers reports whether the token's package is name.
func (t *Trust) Covers(name string) bool { return t != nil && t.Package == name }

// Summary says what the token may do, for token lists: "trusted
// publishing: publish lib (ISSUER SUBJECT)".
func (t *Trust) Summary() string {
	if t == nil {
		return "trusted publishing"
	}
	var what []string
	if t.Publishes() {
		what = append(what, "publish")
	}
	if t.Stages() {
		what = append(what, "stage")
	}
	return "trusted publishing: " + strings.Join(what, " and ") + " " + t.Package + " (" + t.Issuer + " " + t.Subject + ")"
}

func (t *Trust) has(perm string) bool {
	for _, p := range t.Permissions {
		if p == perm {
			return true
		}
	}
	return false
}
