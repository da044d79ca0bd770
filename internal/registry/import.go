package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// ImportedPackage is a package written straight into the store by Import,
// without the HTTP API: tools that fill a registry in bulk (the scale
// benchmark's seeding) use it. The rows and documents it leaves are the ones
// the same versions would leave had they been published one by one.
type ImportedPackage struct {
	// Name is the package name; it must not exist yet, and be valid for an
	// existing package (ValidateLegacyPackageName): packages from another
	// registry may carry names npm no longer gives new packages, such as
	// JSONStream.
	Name string
	// Access is public or restricted; empty means what a first publish
	// would choose (public, or restricted for a scoped name).
	Access store.Access
	// Owners are the package's owners; the first is the _npmUser of every
	// version. At least one is required.
	Owners []store.Owner
	// Versions are the versions, in any order; at least one is required.
	Versions []ImportedVersion
	// DistTags map tags to versions of the package; "latest" defaults to the
	// highest version (the highest release when there is one, as after an
	// unpublish).
	DistTags map[string]string
	// CreatedAt is the package's creation time (Unix ms); zero means the
	// earliest version's PublishedAt.
	CreatedAt int64
}

// ImportedVersion is one version of an ImportedPackage.
type ImportedVersion struct {
	// Version is a strict semver version.
	Version string
	// Manifest is the version document as npm publishes it (package.json
	// fields, readme...), without dist: its name and version must match.
	Manifest json.RawMessage
	// Tarball is what ImportTarball returned for the version's tarball,
	// which must already be in the blob store.
	Tarball Digest
	// PublishedAt is the version's publish time (Unix ms).
	PublishedAt int64
}

// ImportTarball checks that data is a well-formed npm tarball (a gzip tar
// holding package/package.json, within the usual size bounds), writes it to
// the blob store under its content address and returns its Digest for
// ImportedVersion.Tarball. Unlike a publish it does not hold the tarball's
// package.json to a name and version, so one tarball may serve many
// imported versions, as content addressing allows.
func (s *Service) ImportTarball(ctx context.Context, data []byte) (Digest, error) {
	d := digestOf(data)
	contents, err := readTarball(data, defaultMaxUnpacked)
	if err != nil {
		return Digest{}, err
	}
	if contents.packageJSON == nil {
		return Digest{}, fault.Invalidf("the tarball has no package/package.json")
	}
	d.FileCount, d.UnpackedSize, d.PackageJSON = contents.files, contents.unpacked, contents.packageJSON
	if err := s.blobs.Put(ctx, blob.Key(d.SHA512), data); err != nil {
		return Digest{}, fmt.Errorf("import tarball: %w", err)
	}
	return d, nil
}

// Import writes packages straight into the store, all in one transaction
// (so a batch of thousands costs one commit): the package rows with their
// prebuilt documents, built by the same code as a publish's, the versions
// (also recorded as published, so they can never be published again), the
// dist-tags and the owners. Nothing is authorised: Import is for tools
// that own the store, never for requests.
func (s *Service) Import(ctx context.Context, pkgs []ImportedPackage) error {
	err := s.write(ctx, "", func(q store.Queries) error {
		for _, p := range pkgs {
			if err := s.importPackage(ctx, q, p); err != nil {
				return fmt.Errorf("import %s: %w", p.Name, err)
			}
		}
		return nil
	})
	if err == nil {
		for _, p := range pkgs {
			s.names.add(p.Name) // see knownNames
		}
	}
	return err
}

func (s *Service) importPackage(ctx context.Context, q store.Queries, p ImportedPackage) error {
	if err := ValidateLegacyPackageName(p.Name); err != nil {
		return err
	}
	if len(p.Versions) == 0 {
		return fault.Invalidf("a package needs at least one version")
	}
	if len(p.Owners) == 0 {
		return fault.Invalidf("a package needs at least one owner")
	}
	scope, _ := SplitName(p.Name)
	if err := checkAccess(p.Access, scope); err != nil {
		return err
	}
	access := p.Access
	if access == "" {
		access = defaultAccess(scope)
	}
	npmUser := Maintainer{Name: p.Owners[0].Name, Email: p.Owners[0].Email}
	versions := make([]store.Version, 0, len(p.Versions))
	created, modified := p.CreatedAt, int64(0)
	for _, v := range p.Versions {
		if err := ValidateVersion(v.Version); err != nil {
			return err
		}
		manifest, _, err := parseManifest(p.Name, v.Version, withDist(v.Manifest, v.Tarball))
		if err != nil {
			return err
		}
		doc, err := versionDocument(manifest, p.Name, v.Version, v.Tarball, npmUser, nil)
		if err != nil {
			return err
		}
		versions = append(versions, store.Version{Version: v.Version, Manifest: doc,
			BlobKey: blob.Key(v.Tarball.SHA512), Size: v.Tarball.Size, PublishedAt: v.PublishedAt})
		if created == 0 || v.PublishedAt < created {
			created = v.PublishedAt
		}
		modified = max(modified, v.PublishedAt)
	}
	tags := map[string]string{"latest": highest(versions)}
	for tag, v := range p.DistTags {
		if err := ValidateTag(tag); err != nil {
			return err
		}
		tags[tag] = v
	}
	pkg, err := q.CreatePackage(ctx, store.Package{Name: p.Name, Scope: scope, Access: access,
		CreatedAt: created, ModifiedAt: modified})
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(versions))
	for i := range versions {
		versions[i].PackageID = pkg.ID
		known[versions[i].Version] = true
		if versions[i].Manifest, err = s.signVersion(ctx, q, pkg.ID, p.Name, versions[i].Version, versions[i].Manifest,
			versions[i].PublishedAt); err != nil {
			return err
		}
		if err := q.MarkPublished(ctx, p.Name, versions[i].Version); err != nil {
			return err
		}
		if err := q.InsertVersion(ctx, versions[i]); err != nil {
			return err
		}
	}
	for tag, v := range tags {
		if !known[v] {
			return fault.Invalidf("dist-tag %q points at %q, which is not one of the versions", tag, v)
		}
		if err := q.SetDistTag(ctx, pkg.ID, tag, v); err != nil {
			return err
		}
	}
	owners := append([]store.Owner(nil), p.Owners...)
	for _, o := range owners {
		if err := q.AddOwner(ctx, pkg.ID, o.UserID); err != nil {
			return err
		}
	}
	// As Queries.Owners lists them.
	sort.Slice(owners, func(i, j int) bool { return owners[i].Name < owners[j].Name })
	return saveDocuments(ctx, q, pkg, modified, versions, tags, owners)
}

// withDist adds the tarball's digests to a manifest that has none, as npm's
// publish would have sent them.
func withDist(manifest json.RawMessage, d Digest) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(manifest, &m) != nil || m == nil {
		return manifest // parseManifest says what is wrong
	}
	if _, ok := m["dist"]; !ok {
		m["dist"] = mustJSON(map[string]string{"shasum": d.Shasum, "integrity": d.Integrity})
	}
	return mustJSON(m)
}
