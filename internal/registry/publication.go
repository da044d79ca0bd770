package registry

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// PublishDocument is the body npm sends to PUT /:package: a packument with one
// new version and its tarball attached, or (without attachments) a changed
// packument for deprecation, unpublishing or owners.
type PublishDocument struct {
	ID          string                     `json:"_id"`
	Rev         string                     `json:"_rev"`
	Name        string                     `json:"name"`
	DistTags    map[string]string          `json:"dist-tags"`
	Versions    map[string]json.RawMessage `json:"versions"`
	Access      *string                    `json:"access"`
	Attachments map[string]Attachment      `json:"_attachments"`
	Maintainers []Maintainer               `json:"maintainers"`
}

// Attachment is a base64 tarball inside a publish document.
type Attachment struct {
	ContentType string `json:"content_type"`
	Data        string `json:"data"`
	Length      *int64 `json:"length"`
	// Received, when set, is the tarball as ReadDocument received it
	// (decoded, checked as an archive and spooled to a file); Data is then
	// empty.
	Received *ReceivedTarball `json:"-"`
}

// Maintainer names an owner in a packument.
type Maintainer struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// Publication is a publish document decoded and checked, before anything is
// authorised or written: the parts Service.Publish stores.
type Publication struct {
	// Name is the package's name (the URL's) and Scope its scope, without
	// "@" ("" for an unscoped name).
	Name, Scope string
	// Version is the one version published.
	Version string
	// Manifest is the version's document as sent, without npm's bookkeeping
	// fields (those starting with "_", but for the few clients read); the
	// registry adds its own (dist, _id, _npmUser) when it stores it.
	Manifest map[string]json.RawMessage
	// Tarball is the attached tarball, decoded from base64; nil when the
	// document was read by ReadDocument, whose received tarball is Received.
	Tarball []byte
	// Received is the attached tarball as ReadDocument received it, or nil.
	Received *ReceivedTarball
	// Check is what the document says of the tarball (name, version,
	// dist.shasum, dist.integrity, the attachment's declared length), which
	// Tarball matches.
	Check TarballCheck
	// Digest is what the registry records of Tarball: its content address,
	// checksums, size and contents.
	Digest Digest
	// Tags are the dist-tags to point at Version: the document's, or latest
	// when it names none. (Publish also points latest at Version when the
	// package has no latest yet.)
	Tags map[string]string
	// Access is public, restricted, or "" when the document asks for
	// neither (the default for a new package, unchanged for an existing one).
	Access store.Access
	// Provenance is the provenance bundle the document carried
	// (<name>-<version>.sigstore), checked against the tarball; nil when
	// none came.
	Provenance *Provenance
}

// DecodePublish decodes and checks the document npm sends to publish one
// version of the package name (the name in the URL), with no store, no
// principal and no I/O. In this order, it checks the body's name against
// the URL's, the name (by npm's rules for an existing package, so that a
// legacy name such as JSONStream passes; Publish applies the rules for a
// new one when it creates the package), that there is exactly one version
// and exactly one attachment, the version, the version's manifest, the
// attachment's base64 and the tarball against the manifest and the
// attachment (VerifyTarball), then the dist-tags and the access. The first
// problem found is returned as an Invalid fault.
func DecodePublish(name string, doc PublishDocument) (Publication, error) {
	if doc.Name != "" && doc.Name != name {
		return Publication{}, fault.Invalidf("the package name in the body (%q) does not match the URL (%q)", doc.Name, name)
	}
	if err := ValidateLegacyPackageName(name); err != nil {
		return Publication{}, err
	}
	if len(doc.Versions) != 1 {
		return Publication{}, fault.Invalidf("a publish must carry exactly one version, got %d", len(doc.Versions))
	}
	att, sigstore, err := splitAttachments(doc.Attachments)
	if err != nil {
		return Publication{}, err
	}
	pub := Publication{Name: name}
	pub.Scope, _ = SplitName(name)
	var raw json.RawMessage
	for pub.Version, raw = range doc.Versions {
	}
	if err := ValidateVersion(pub.Version); err != nil {
		return Publication{}, err
	}
	if pub.Manifest, pub.Check, err = parseManifest(name, pub.Version, raw); err != nil {
		return Publication{}, err
	}
	pub.Check.Length = -1
	if att.Length != nil {
		pub.Check.Length = *att.Length
	}
	if att.Received != nil {
		pub.Received = att.Received
		if pub.Digest, err = att.Received.verify(pub.Check); err != nil {
			return Publication{}, err
		}
	} else {
		if pub.Tarball, err = base64.StdEncoding.DecodeString(att.Data); err != nil {
			return Publication{}, fault.Invalidf("the attached tarball is not valid base64")
		}
		if pub.Digest, err = VerifyTarball(pub.Tarball, pub.Check); err != nil {
			return Publication{}, err
		}
	}
	if sigstore != nil {
		if key := pub.Name + "-" + pub.Version + ".sigstore"; sigstore.key != key {
			return Publication{}, fault.Invalidf("the provenance attachment must be named %q, not %q", key, sigstore.key)
		}
		if pub.Provenance, err = checkProvenance(name, pub.Version, []byte(sigstore.Data), pub.Digest.SHA512); err != nil {
			return Publication{}, err
		}
	}
	if pub.Tags, err = publishTags(doc.DistTags, pub.Version); err != nil {
		return Publication{}, err
	}
	if doc.Access != nil {
		pub.Access = store.Access(*doc.Access)
	}
	if err := checkAccess(pub.Access, pub.Scope); err != nil {
		return Publication{}, err
	}
	return pub, nil
}

// checkHead checks what of a publish document can be checked before its
// tarball is read, with DecodePublish's messages: the body's name against
// the URL's, the name, and, when the document read so far holds them, the
// one version and its manifest, the dist-tags and the access. ReadDocument's
// callers run it before the tarball, so that a bad document is refused
// before the tarball is read; DecodePublish checks it all again.
func checkHead(name string, doc PublishDocument) error {
	if doc.Name != "" && doc.Name != name {
		return fault.Invalidf("the package name in the body (%q) does not match the URL (%q)", doc.Name, name)
	}
	if err := ValidateLegacyPackageName(name); err != nil {
		return err
	}
	if doc.Versions == nil {
		return nil // not read yet
	}
	if len(doc.Versions) != 1 {
		return fault.Invalidf("a publish must carry exactly one version, got %d", len(doc.Versions))
	}
	for version, raw := range doc.Versions {
		if err := ValidateVersion(version); err != nil {
			return err
		}
		if _, _, err := parseManifest(name, version, raw); err != nil {
			return err
		}
		if doc.DistTags != nil {
			if _, err := publishTags(doc.DistTags, version); err != nil {
				return err
			}
		}
	}
	var access store.Access
	if doc.Access != nil {
		access = store.Access(*doc.Access)
	}
	scope, _ := SplitName(name)
	return checkAccess(access, scope)
}

// sideAttachment is a publish's provenance attachment and its key.
type sideAttachment struct {
	key string
	Attachment
}

// splitAttachments returns the tarball among a publish's attachments, of
// which there must be exactly one (its key is not checked), and the
// provenance bundle (the attachment whose key ends in ".sigstore"), of
// which there may be one, nil when there is none.
func splitAttachments(atts map[string]Attachment) (Attachment, *sideAttachment, error) {
	var tarball Attachment
	var sigstore *sideAttachment
	tarballs := 0
	for key, att := range atts {
		if strings.HasSuffix(key, ".sigstore") {
			if sigstore != nil {
				return Attachment{}, nil, fault.Invalidf("a publish may carry at most one provenance attachment")
			}
			sigstore = &sideAttachment{key: key, Attachment: att}
			continue
		}
		tarball = att
		tarballs++
	}
	if tarballs != 1 {
		return Attachment{}, nil, fault.Invalidf("a publish must carry exactly one tarball attachment, got %d", tarballs)
	}
	return tarball, sigstore, nil
}

// publishTags checks the dist-tags of a publish of version: valid names, each
// pointing at version. None means latest. The map returned is a copy.
func publishTags(sent map[string]string, version string) (map[string]string, error) {
	if len(sent) > MaxPublishTags {
		return nil, fault.Invalidf("a publish may set at most %d dist-tags, got %d", MaxPublishTags, len(sent))
	}
	tags := maps.Clone(sent)
	if len(tags) == 0 {
		tags = map[string]string{"latest": version}
	}
	for tag, v := range tags {
		if err := ValidateTag(tag); err != nil {
			return nil, err
		}
		if v != version {
			return nil, fault.Invalidf("dist-tag %q must point at the published version %s, not %q", tag, version, v)
		}
	}
	return tags, nil
}

// checkAccess refuses an access setting other than public and restricted
// (empty: unchanged, or the default for a new package), and restricted for
// an unscoped package.
func checkAccess(access store.Access, scope string) error {
	switch access {
	case "", store.Public, store.Restricted:
	default:
		return fault.Invalidf("access must be public or restricted, not %q", access)
	}
	if scope == "" && access == store.Restricted {
		return fault.Invalidf("Can't restrict access to unscoped packages.")
	}
	return nil
}

// parseManifest checks a version document from a publish and returns it with
// what the tarball must match.
func parseManifest(name, version string, raw json.RawMessage) (map[string]json.RawMessage, TarballCheck, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, TarballCheck{}, fault.Invalidf("version %s is not a JSON object", version)
	}
	var head struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Dist    struct {
			Shasum    string `json:"shasum"`
			Integrity string `json:"integrity"`
		} `json:"dist"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, TarballCheck{}, fault.Invalidf("version %s has fields of the wrong type: %v", version, jsonProblem(err))
	}
	if head.Name != name {
		return nil, TarballCheck{}, fault.Invalidf("the name in version %s (%q) does not match the package (%q)", version, head.Name, name)
	}
	if head.Version != version {
		return nil, TarballCheck{}, fault.Invalidf("the version field (%q) does not match the version key (%q)", head.Version, version)
	}
	if head.Dist.Shasum == "" && head.Dist.Integrity == "" {
		return nil, TarballCheck{}, fault.Invalidf("version %s has no dist.shasum or dist.integrity", version)
	}
	if err := checkKeywords(version, m["keywords"]); err != nil {
		return nil, TarballCheck{}, err
	}
	// Keys starting with "_" are npm's bookkeeping; keep only the ones clients read.
	for k := range m {
		if strings.HasPrefix(k, "_") && k != "_hasShrinkwrap" && k != "_nodeVersion" && k != "_npmVersion" {
			delete(m, k)
		}
	}
	return m, TarballCheck{Name: name, Version: version, Shasum: head.Dist.Shasum, Integrity: head.Dist.Integrity}, nil
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if e, ok := err.(*json.UnmarshalTypeError); ok {
		te = e
		return fmt.Sprintf("%s must be %s", te.Field, te.Type)
	}
	return "malformed JSON"
}
