package registry

import (
	"context"
	"io"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
)

// MaxPublishDocument bounds what of a publish's body is kept in memory: the
// document without its tarball (one version's manifest, its README among
// it, the dist-tags, the access), which npm keeps to a few kilobytes for
// most packages. The tarball itself is streamed, whatever its size.
const MaxPublishDocument = 16 << 20

// Put serves PUT /:pkg (rev "") and PUT /:pkg/-rev/:rev, whose body is a
// package document: a publish when it carries an attachment, else a change
// (Update: deprecations, and with a revision, unpublished versions and
// owners). It reports whether it published.
//
// Nothing of the body is read before the request is authorised as far as
// the URL and the credential allow: a login is needed, the caller must be
// allowed the least of the writes the route can carry on the package (a
// deprecation of an existing package; creating a package the name does not
// name yet), and a one-time password must come with the request when the
// user's two-factor settings ask for one. Once the body shows an
// attachment, before its data is read, the publish is authorised in full
// (policy and the one-time password) and what came of the document before
// it is checked. The tarball is then decoded, hashed, checked and spooled
// while it is read (ReadDocument), so memory stays bounded whatever its size.
func (s *Service) Put(ctx context.Context, p *auth.Principal, name, rev string, body io.Reader) (published bool, err error) {
	// A refusal is an audit event: a publish's for PUT /:pkg (as the
	// metrics count it: npm deprecate sends the same request, told apart
	// only by the body) or once the body showed a publish; a package
	// change's for a revision update refused before what it changes is
	// known. Update records its own.
	updating := false
	defer func() {
		if updating {
			return
		}
		act := audit.PackageChange
		if published || rev == "" {
			act = audit.PackagePublish
		}
		s.refused(ctx, p, act, name, &err)
	}()
	if err := s.authorisePut(ctx, p, name, rev); err != nil {
		// PUT /:pkg is npm's publish (and its deprecate): a refusal before
		// the body is counted as a publish's, as it was when the body came
		// first; a revision update (unpublish, owners) is not a publish.
		if rev == "" {
			s.obs.Publish(PublishResult(err))
		}
		return false, err
	}
	scope, _ := SplitName(name)
	authorised := false
	doc, err := ReadDocument(body, ReadOptions{
		MaxPublishDocument: MaxPublishDocument,
		SpoolDir:           s.spoolDir,
		BeforeAttachment: func(_ string, sofar PublishDocument) error {
			if rev != "" {
				return fault.Invalidf("attachments are not accepted on a revision update")
			}
			published = true
			if err := checkHead(name, sofar); err != nil {
				return err
			}
			if !authorised {
				if err := s.authorisePublish(ctx, s.store.Q(), p, name, scope); err != nil {
					return err
				}
				authorised = true
			}
			return nil
		},
	})
	defer func() {
		if published {
			s.obs.Publish(PublishResult(err))
		}
	}()
	if err != nil {
		return published, err
	}
	defer doc.Close()
	if len(doc.Attachments) == 0 {
		updating = true
		return false, s.Update(ctx, p, name, rev, doc, doc.Versions != nil)
	}
	published = true
	if rev != "" {
		return true, fault.Invalidf("attachments are not accepted on a revision update")
	}
	pub, err := DecodePublish(name, doc)
	if err != nil {
		return true, err
	}
	if !authorised {
		// An attachment without data: nothing was read past the check above.
		if err := s.authorisePublish(ctx, s.store.Q(), p, name, scope); err != nil {
			return true, err
		}
	}
	return true, s.commitPublication(ctx, p, pub)
}

// authorisePut is what Put decides before reading a byte of the body: see
// Put. Every refusal answers as the full decision would (401, 404 for a
// package the caller may not see or that a revision update needs, 403),
// so it tells the caller nothing more.
func (s *Service) authorisePut(ctx context.Context, p *auth.Principal, name, rev string) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	q := s.store.Q()
	pkg, err := q.PackageByName(ctx, name)
	switch {
	case fault.Is(err, fault.NotFound) && rev != "":
		// loadFor answers a missing package, and names the uplink of a
		// proxied one, as the update itself would.
		_, err := s.loadFor(ctx, q, p, name, policy.Deprecate)
		return err
	case fault.Is(err, fault.NotFound):
		scope, _ := SplitName(name)
		if _, err := s.decideCreate(ctx, q, p, name, scope); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		// The least of the writes the route carries: PUT /:pkg also
		// publishes, PUT /:pkg/-rev/:rev also unpublishes and changes
		// owners; each is decided again once the body says which. A
		// trusted publishing token may only publish (or stage): its least
		// write here is the publish.
		least := policy.Deprecate
		if p.Kind == auth.KindOIDC {
			least = policy.Publish
		}
		if err := s.decide(ctx, q, p, pkg, least); err != nil {
			return err
		}
	}
	return s.tfa.ChallengeOTP(ctx, p, policy.OTPPackageWrite)
}

// SetSpoolDir sets the folder where a publish's tarball is written while it
// is read, before it goes to the blob store; "" (the default) is the
// system's temporary folder. Call it before serving.
func (s *Service) SetSpoolDir(dir string) { s.spoolDir = dir }
