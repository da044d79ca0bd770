package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/signing"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Signer makes a version's registry signatures (dist.signatures); package
// signing's Service is the one gatehouse uses.
type Signer interface {
	// Sign signs name@version:integrity for a version published at
	// publishedAt (Unix ms), reading the key in use through q, the
	// transaction that stores the version.
	Sign(ctx context.Context, q store.Queries, name, version, integrity string, publishedAt int64) ([]signing.Signature, error)
}

// SetSigner makes every version written from now on carry registry
// signatures; call it before serving. Without a signer (tools and tests
// that build a registry of their own), versions are written unsigned and
// their package goes on the signing backlog, which SignBacklog signs.
func (s *Service) SetSigner(sg Signer) { s.signer = sg }

// signVersion returns a new version's document with its registry
// signatures added to dist, or, without a signer, unchanged with its
// package put on the signing backlog.
func (s *Service) signVersion(ctx context.Context, q store.Queries, pkgID int64, name, version string,
	manifest []byte, publishedAt int64) ([]byte, error) {
	if s.signer == nil {
		return manifest, q.AddSigningBacklog(ctx, pkgID)
	}
	doc, _, err := s.addSignatures(ctx, q, name, version, manifest, publishedAt)
	return doc, err
}

// addSignatures signs a version document that has no dist.signatures and
// returns it with them; signed is false (and the document unchanged) when
// it had some already.
func (s *Service) addSignatures(ctx context.Context, q store.Queries, name, version string,
	manifest []byte, publishedAt int64) (doc []byte, signed bool, err error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, false, fmt.Errorf("decode manifest %s@%s: %w", name, version, err)
	}
	var dist map[string]json.RawMessage
	if err := json.Unmarshal(m["dist"], &dist); err != nil || dist == nil {
		return nil, false, fmt.Errorf("manifest %s@%s has no dist to sign", name, version)
	}
	if len(dist["signatures"]) > 0 && string(dist["signatures"]) != "null" && string(dist["signatures"]) != "[]" {
		return manifest, false, nil
	}
	var integrity, shasum string
	_ = json.Unmarshal(dist["integrity"], &integrity)
	_ = json.Unmarshal(dist["shasum"], &shasum)
	subject, ok := signing.Integrity(integrity, shasum)
	if !ok {
		// Nothing to sign: clients check no signature of a version
		// without integrity (gatehouse always writes both digests).
		return manifest, false, nil
	}
	sigs, err := s.signer.Sign(ctx, q, name, version, subject, publishedAt)
	if err != nil {
		return nil, false, err
	}
	dist["signatures"] = mustJSON(sigs)
	m["dist"] = mustJSON(dist)
	doc, err = json.Marshal(m)
	if err != nil {
		return nil, false, fmt.Errorf("encode manifest %s@%s: %w", name, version, err)
	}
	return doc, true, nil
}

// signBacklogBatch is how many package names one look-up of the signing
// backlog takes.
const signBacklogBatch = 100

// ErrNoSigner is SignBacklog's answer on a registry without a signer.
var ErrNoSigner = errors.New("registry: no signer to sign the backlog with")

// SignBacklog signs the versions left unsigned: those of the packages that
// existed before registry signatures (migration 0019 lists them) and those
// written without a signer. Each package is signed in a transaction of its
// own, which takes it off the backlog, signs every version without
// signatures and rebuilds its documents; several processes may run it
// together, each package being signed once. A package that fails stays on
// the backlog for the next run, and the others are still signed. It returns
// how many packages it signed, and stops early, with ctx's error, when ctx
// ends.
func (s *Service) SignBacklog(ctx context.Context) (int, error) {
	if s.signer == nil {
		return 0, ErrNoSigner
	}
	done := 0
	var failed []error
	after := int64(0)
	for {
		batch, err := s.store.Q().SigningBacklog(ctx, after, signBacklogBatch)
		if err != nil {
			return done, errors.Join(append(failed, err)...)
		}
		if len(batch) == 0 {
			return done, errors.Join(failed...)
		}
		for _, p := range batch {
			if err := ctx.Err(); err != nil {
				return done, err
			}
			after = p.ID
			took, err := s.signPackage(ctx, p.Name)
			switch {
			case err != nil:
				failed = append(failed, fmt.Errorf("sign the versions of %s: %w", p.Name, err))
			case took:
				done++
			}
		}
	}
}

// signPackage signs the unsigned versions of one package of the backlog;
// took is false when another process took it first.
func (s *Service) signPackage(ctx context.Context, name string) (took bool, err error) {
	err = s.write(ctx, name, func(q store.Queries) error {
		pkg, err := q.PackageByName(ctx, name)
		if fault.Is(err, fault.NotFound) {
			return nil // removed since it was listed: its backlog row went with it
		}
		if err != nil {
			return err
		}
		if took, err = q.TakeSigningBacklog(ctx, pkg.ID); err != nil || !took {
			return err
		}
		versions, err := q.Versions(ctx, pkg.ID)
		if err != nil {
			return err
		}
		changed := false
		for i, v := range versions {
			doc, signed, err := s.addSignatures(ctx, q, name, v.Version, v.Manifest, v.PublishedAt)
			if err != nil {
				return err
			}
			if signed {
				if err := q.UpdateVersionManifest(ctx, pkg.ID, v.Version, doc); err != nil {
					return err
				}
				versions[i].Manifest, changed = doc, true
			}
		}
		if !changed {
			return nil
		}
		return saveVersions(ctx, q, pkg, s.now().UnixMilli(), versions)
	})
	return took, err
}
