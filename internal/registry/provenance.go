package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Provenance is a version's provenance as a publish carried it: the
// Sigstore bundle of the attachment <name>-<version>.sigstore (raw JSON
// text) and the predicate type of its in-toto statement.
type Provenance struct {
	PredicateType string
	Bundle        []byte
}

// inTotoPayloadType is the DSSE payload type of an in-toto statement.
const inTotoPayloadType = "application/vnd.in-toto+json"

// ProvenanceSubject is the in-toto subject name that provenance for
// name@version must carry: a package URL, "pkg:npm/<name>@<version>" with
// the "@" of a scope written %40, as npm writes it.
func ProvenanceSubject(name, version string) string {
	if strings.HasPrefix(name, "@") {
		name = "%40" + name[1:]
	}
	return "pkg:npm/" + name + "@" + version
}

// AttestationsPath is the path that serves a version's attestations:
// /-/npm/v1/attestations/<name>@<version>, a scoped name's "/" written
// %2f as npm escapes it (names and versions hold no other character a path
// must escape).
func AttestationsPath(name, version string) string {
	return "/-/npm/v1/attestations/" + strings.Replace(name, "/", "%2f", 1) + "@" + version
}

// checkProvenance checks a provenance bundle sent with name@version whose
// tarball has the SHA-512 sum: a Sigstore bundle holding a DSSE envelope
// of an in-toto statement with exactly one subject, which names this
// package and version and whose sha512 digest is the tarball's. The
// bundle's signatures and certificate chain are not verified here (that
// needs the public Sigstore trust roots; docs/publishing.md).
func checkProvenance(name, version string, bundle []byte, sum [64]byte) (*Provenance, error) {
	var b struct {
		MediaType    string `json:"mediaType"`
		DSSEEnvelope *struct {
			Payload     string `json:"payload"`
			PayloadType string `json:"payloadType"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, fault.Invalidf("the provenance bundle is not valid JSON")
	}
	if !strings.HasPrefix(b.MediaType, "application/vnd.dev.sigstore.bundle") {
		return nil, fault.Invalidf("the provenance attachment is not a Sigstore bundle (mediaType %q)", b.MediaType)
	}
	if b.DSSEEnvelope == nil || b.DSSEEnvelope.Payload == "" {
		return nil, fault.Invalidf("the provenance bundle has no DSSE envelope with a payload")
	}
	if b.DSSEEnvelope.PayloadType != inTotoPayloadType {
		return nil, fault.Invalidf("the provenance bundle's payload is %q, not an in-toto statement", b.DSSEEnvelope.PayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload)
	if err != nil {
		return nil, fault.Invalidf("the provenance bundle's payload is not valid base64")
	}
	var st struct {
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fault.Invalidf("the provenance statement is not valid JSON")
	}
	if st.PredicateType == "" {
		return nil, fault.Invalidf("the provenance statement has no predicateType")
	}
	if len(st.Subject) != 1 {
		return nil, fault.Invalidf("the provenance statement must have exactly one subject, got %d", len(st.Subject))
	}
	want := ProvenanceSubject(name, version)
	if got := st.Subject[0].Name; got != want {
		return nil, fault.Invalidf("the provenance subject %q does not match the package: %s", got, want)
	}
	digest, err := hex.DecodeString(st.Subject[0].Digest["sha512"])
	if err != nil || !bytes.Equal(digest, sum[:]) {
		return nil, fault.Invalidf("the provenance subject's sha512 digest does not match the tarball")
	}
	return &Provenance{PredicateType: st.PredicateType, Bundle: bytes.Clone(bundle)}, nil
}

// Attestations returns the provenance of name@version, if p may read the
// package; a version without provenance is NotFound.
func (s *Service) Attestations(ctx context.Context, p *auth.Principal, name, version string) (store.Attestation, error) {
	if err := s.MayRead(p); err != nil {
		return store.Attestation{}, err
	}
	q := s.store.Q()
	pkg, err := s.loadFor(ctx, q, p, name, policy.Read)
	if err != nil {
		return store.Attestation{}, err
	}
	return q.AttestationOf(ctx, pkg.ID, version)
}
