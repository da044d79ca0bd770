package policy

import (
	"fmt"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// ReadAccess is who may read the registry: its packages, documents,
// tarballs, search, audits and website pages (the setting read_access).
type ReadAccess string

// The read access modes.
const (
	// PublicReads lets anyone read what is not restricted: today's
	// registry, and npm's. It is also what the zero value means.
	PublicReads ReadAccess = "public"
	// AuthenticatedReads is a private registry: nothing is read without a
	// valid credential, and a credential reads only what it reaches (a
	// granular token the packages and scopes it names).
	AuthenticatedReads ReadAccess = "authenticated"
)

// ParseReadAccess returns the mode s names.
func ParseReadAccess(s string) (ReadAccess, error) {
	switch m := ReadAccess(s); m {
	case PublicReads, AuthenticatedReads:
		return m, nil
	}
	return "", fmt.Errorf("policy: unknown read access %q (want public or authenticated)", s)
}

// private reports whether m asks for a credential on every read.
func (m ReadAccess) private() bool { return m == AuthenticatedReads }

// DecideRegistryRead returns nil when p may read the registry at all under
// mode m, before any one package is looked at: always on a public registry;
// on a private one (AuthenticatedReads) only with a valid credential of any
// kind, else the 401 whose challenge makes npm ask for a login. What that
// credential may read of each package is Decide's (Read) business: this
// is the gate of the reads that are not about one existing package (a
// search, an audit, a website page, a name that does not exist), so that an
// anonymous caller learns nothing, not even which names exist.
//
// The few things that must stay open for anyone to log in or be probed (the
// logins, the sign-in and sign-up pages and their assets, /-/ping,
// /-/ready) do not ask.
//
// A disabled account's credentials never reach here: the authenticator
// refuses them first, so their caller is anonymous or refused outright.
func DecideRegistryRead(p *auth.Principal, m ReadAccess) error {
	if m.private() && !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	return nil
}

// ReadReach is which packages p's credential may read under mode m, for
// the listings that filter in the store (search): CredentialReach, which
// on a private registry limits public packages too, as Decide does one
// package at a time.
func ReadReach(p *auth.Principal, m ReadAccess) store.Reach {
	r := CredentialReach(p)
	r.Private = m.private()
	return r
}
