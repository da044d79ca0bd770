package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"github.com/gatehouse-registry/gatehouse/internal/signing"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// newSigner is the signing keys of svc's store.
func newSigner(t testing.TB, svc *Service) *signing.Service {
	t.Helper()
	sg, err := signing.NewService(svc.store, keyring.New(bytes.Repeat([]byte{7}, 32)), signing.Options{Now: svc.now})
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

type signedDist struct {
	Integrity  string              `json:"integrity"`
	Shasum     string              `json:"shasum"`
	Signatures []signing.Signature `json:"signatures"`
}

// distsIn returns the dist of each version in a packument or, with a
// version document, of that one version.
func distsIn(t *testing.T, doc []byte) map[string]signedDist {
	t.Helper()
	var p struct {
		Versions map[string]struct {
			Dist signedDist `json:"dist"`
		} `json:"versions"`
		Version string      `json:"version"`
		Dist    *signedDist `json:"dist"`
	}
	if err := json.Unmarshal(doc, &p); err != nil {
		t.Fatalf("decode %s: %v", doc, err)
	}
	out := map[string]signedDist{}
	for v, m := range p.Versions {
		out[v] = m.Dist
	}
	if p.Dist != nil {
		out[p.Version] = *p.Dist
	}
	return out
}

// checkSigned fails unless every version in doc carries one signature that
// verifies with a key of sg.
func checkSigned(t *testing.T, sg *signing.Service, name string, doc []byte, versions ...string) {
	t.Helper()
	keys, err := sg.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	dists := distsIn(t, doc)
	for _, v := range versions {
		d, ok := dists[v]
		if !ok {
			t.Fatalf("%s@%s is not in the document", name, v)
		}
		if len(d.Signatures) != 1 {
			t.Fatalf("%s@%s has %d signatures: %s", name, v, len(d.Signatures), doc)
		}
		ok = false
		for _, k := range keys {
			spki := mustDecode(t, k.Public.Key)
			if signing.Verify(spki, signing.Message(name, v, d.Integrity), d.Signatures[0]) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s@%s: signature %+v does not verify over %q", name, v, d.Signatures[0], d.Integrity)
		}
	}
}

func mustDecode(t *testing.T, b64 string) []byte {
	t.Helper()
	var b []byte
	if err := json.Unmarshal([]byte(`"`+b64+`"`), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPublishSigns: a published version carries its registry signature in
// every document that serves it, and a publisher cannot bring its own.
func TestPublishSigns(t *testing.T) {
	svc, alice := newTestService(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	sg := newSigner(t, svc)
	svc.SetSigner(sg)
	ctx := t.Context()
	const name = "@alice/signed"
	data := packageTarball(t, name, "1.0.0")
	// The publisher's own dist.signatures, made with a key of its own, are
	// dropped: dist is the registry's.
	forged := []signing.Signature{{KeyID: "SHA256:forged", Sig: "MEUCIQ=="}}
	doc := publishDoc(t, name, "1.0.0", data, map[string]any{"dist": map[string]any{
		"shasum": sha1Hex(data), "integrity": IntegrityOf(data), "signatures": forged}})
	if err := svc.Publish(ctx, alice, name, doc); err != nil {
		t.Fatal(err)
	}
	if err := svc.Publish(ctx, alice, name, publishDoc(t, name, "1.1.0", packageTarball(t, name, "1.1.0"), nil)); err != nil {
		t.Fatal(err)
	}
	for _, abbreviated := range []bool{false, true} {
		d, err := svc.Packument(ctx, alice, name, abbreviated, "")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(d.Body, []byte("forged")) {
			t.Fatalf("the publisher's signature is served: %s", d.Body)
		}
		checkSigned(t, sg, name, d.Body, "1.0.0", "1.1.0")
	}
	m, err := svc.Manifest(ctx, alice, name, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	checkSigned(t, sg, name, m, "1.0.0")
	if n, err := svc.store.Q().SigningBacklogSize(ctx); err != nil || n != 0 {
		t.Errorf("signed versions left %d packages on the backlog (%v)", n, err)
	}
}

// TestSignBacklog: versions written without a signer (as before registry
// signatures) are signed by SignBacklog, once, with their documents
// rebuilt; versions signed already keep their signatures.
func TestSignBacklog(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	svc, alice := newTestService(t, now)
	ctx := t.Context()
	if _, err := svc.SignBacklog(ctx); !errors.Is(err, ErrNoSigner) {
		t.Fatalf("SignBacklog without a signer: %v", err)
	}
	names := []string{"old-a", "old-b", "@alice/old-c"}
	for _, n := range names {
		for _, v := range []string{"1.0.0", "2.0.0"} {
			if err := publishVersion(t, svc, alice, n, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	before, _ := svc.Packument(ctx, alice, "old-a", false, "")
	if bytes.Contains(before.Body, []byte(`"signatures"`)) {
		t.Fatalf("signed without a signer: %s", before.Body)
	}
	if n, _ := svc.store.Q().SigningBacklogSize(ctx); n != len(names) {
		t.Fatalf("backlog holds %d packages, want %d", n, len(names))
	}

	sg := newSigner(t, svc)
	svc.SetSigner(sg)
	// One version signed since: the backlog leaves its signature alone.
	if err := publishVersion(t, svc, alice, "old-b", "3.0.0"); err != nil {
		t.Fatal(err)
	}
	b3, _ := svc.Manifest(ctx, alice, "old-b", "3.0.0")
	n, err := svc.SignBacklog(ctx)
	if err != nil || n != len(names) {
		t.Fatalf("signed %d packages (%v), want %d", n, err, len(names))
	}
	for _, name := range names {
		for _, abbreviated := range []bool{false, true} {
			d, err := svc.Packument(ctx, alice, name, abbreviated, "")
			if err != nil {
				t.Fatal(err)
			}
			checkSigned(t, sg, name, d.Body, "1.0.0", "2.0.0")
		}
	}
	if after, _ := svc.Manifest(ctx, alice, "old-b", "3.0.0"); !bytes.Equal(after, b3) {
		t.Errorf("a signed version was signed again:\n%s\n%s", b3, after)
	}
	if n, err := svc.SignBacklog(ctx); err != nil || n != 0 {
		t.Errorf("a second run signed %d packages (%v)", n, err)
	}
}

// TestSignBacklogGoesPastFailure: a package that cannot be signed stays on
// the backlog and is reported; the others are signed.
func TestSignBacklogGoesPastFailure(t *testing.T) {
	svc, alice := newTestService(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	ctx := t.Context()
	for _, n := range []string{"good-1", "broken", "good-2"} {
		if err := publishVersion(t, svc, alice, n, "1.0.0"); err != nil {
			t.Fatal(err)
		}
	}
	broken, err := svc.store.Q().PackageByName(ctx, "broken")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.store.Q().UpdateVersionManifest(ctx, broken.ID, "1.0.0", []byte(`{"dist":"not an object"}`)); err != nil {
		t.Fatal(err)
	}
	sg := newSigner(t, svc)
	svc.SetSigner(sg)
	n, err := svc.SignBacklog(ctx)
	if n != 2 || err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("signed %d, error %v; want 2 and an error naming broken", n, err)
	}
	left, err := svc.store.Q().SigningBacklog(ctx, 0, 10)
	if err != nil || len(left) != 1 || left[0].Name != "broken" {
		t.Fatalf("backlog after the run: %+v %v", left, err)
	}
	for _, name := range []string{"good-1", "good-2"} {
		d, _ := svc.Packument(ctx, alice, name, false, "")
		checkSigned(t, sg, name, d.Body, "1.0.0")
	}
}

// TestImportSigns: imported versions are signed as published ones are.
func TestImportSigns(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	svc, alice := newTestService(t, now)
	sg := newSigner(t, svc)
	svc.SetSigner(sg)
	ctx := t.Context()
	data := packageTarball(t, "imported", "1.0.0")
	digest, err := svc.ImportTarball(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	owner := []store.Owner{{UserID: alice.UserID, Name: alice.UserName, Email: alice.Email}}
	err = svc.Import(ctx, []ImportedPackage{{Name: "imported", Owners: owner, Versions: []ImportedVersion{
		{Version: "1.0.0", Manifest: json.RawMessage(`{"name":"imported","version":"1.0.0"}`), Tarball: digest,
			PublishedAt: now.Add(-48 * time.Hour).UnixMilli()},
		{Version: "1.1.0", Manifest: json.RawMessage(`{"name":"imported","version":"1.1.0"}`), Tarball: digest,
			PublishedAt: now.Add(-24 * time.Hour).UnixMilli()}}}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := svc.Packument(ctx, nil, "imported", false, "")
	if err != nil {
		t.Fatal(err)
	}
	checkSigned(t, sg, "imported", d.Body, "1.0.0", "1.1.0")
	keys, _ := sg.List(ctx)
	if len(keys) != 1 || !keys[0].LastSigned.Equal(now.Add(-24*time.Hour)) {
		t.Errorf("keys after the import: %+v", keys)
	}
}

var _ Signer = (*signing.Service)(nil)

// failingSigner fails every signature.
type failingSigner struct{}

func (failingSigner) Sign(context.Context, store.Queries, string, string, string, int64) ([]signing.Signature, error) {
	return nil, errors.New("no key")
}

// TestPublishFailsWhenSigningFails: a version is never stored unsigned by a
// registry that signs: the publish fails whole.
func TestPublishFailsWhenSigningFails(t *testing.T) {
	svc, alice := newTestService(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	svc.SetSigner(failingSigner{})
	if err := publishVersion(t, svc, alice, "unsignable", "1.0.0"); err == nil {
		t.Fatal("published without a signature")
	}
	if _, err := svc.Packument(t.Context(), alice, "unsignable", false, ""); err == nil {
		t.Fatal("the failed publish left a package")
	}
}
