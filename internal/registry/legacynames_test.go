package registry

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// publishVersion publishes name@version as p, as npm would send it.
func publishVersion(t *testing.T, svc *Service, p *auth.Principal, name, version string) error {
	t.Helper()
	return publishVersionWith(t, svc, p, name, version, nil)
}

// publishVersionWith is publishVersion with more fields in the version's
// manifest.
func publishVersionWith(t *testing.T, svc *Service, p *auth.Principal, name, version string, fields map[string]any) error {
	t.Helper()
	data := tgz(t, file("package/package.json", fmt.Sprintf(`{"name":%q,"version":%q}`, name, version)))
	manifest := map[string]any{"name": name, "version": version,
		"dist": map[string]string{"shasum": sha1Hex(data), "integrity": IntegrityOf(data)}}
	maps.Copy(manifest, fields)
	raw, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(data))
	return svc.Publish(t.Context(), p, name, PublishDocument{Name: name,
		Versions:    map[string]json.RawMessage{version: raw},
		Attachments: map[string]Attachment{name + "-" + version + ".tgz": {Data: base64.StdEncoding.EncodeToString(data), Length: &n}}})
}

// versionsOf lists the versions in name's packument as p sees it.
func versionsOf(t *testing.T, svc *Service, p *auth.Principal, name string) []string {
	t.Helper()
	doc, err := svc.Packument(t.Context(), p, name, false, "")
	if err != nil {
		t.Fatalf("packument of %s: %v", name, err)
	}
	var m struct {
		Name     string                     `json:"name"`
		Versions map[string]json.RawMessage `json:"versions"`
	}
	if err := json.Unmarshal(doc.Body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != name {
		t.Fatalf("packument of %s names %q", name, m.Name)
	}
	return slices.Sorted(maps.Keys(m.Versions))
}

// TestLegacyNames: a package whose name npm gives no new package any more
// (JSONStream, with capital letters) arrives through Import, as from another
// registry; it reads, and its owner publishes new versions to it, as npm
// allows. Creating a package of such a name is still refused in npm's words,
// and names npm has always refused stay out of Import too.
func TestLegacyNames(t *testing.T) {
	ctx := t.Context()
	svc, alice := newTestService(t, time.Now())
	data := tgz(t, file("package/package.json", `{"name":"JSONStream","version":"1.0.0"}`))
	digest, err := svc.ImportTarball(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	owner := []store.Owner{{UserID: alice.UserID, Name: alice.UserName, Email: alice.Email}}
	legacy := func(name string) ImportedPackage {
		return ImportedPackage{Name: name, Owners: owner, Versions: []ImportedVersion{{Version: "1.0.0",
			Manifest: json.RawMessage(`{"name":"` + name + `","version":"1.0.0"}`), Tarball: digest, PublishedAt: 1}}}
	}
	if err := svc.Import(ctx, []ImportedPackage{legacy("JSONStream")}); err != nil {
		t.Fatalf("import JSONStream: %v", err)
	}
	if got := versionsOf(t, svc, nil, "JSONStream"); !slices.Equal(got, []string{"1.0.0"}) {
		t.Fatalf("JSONStream versions %v, want [1.0.0]", got)
	}
	if tb, err := svc.Tarball(ctx, nil, "JSONStream", "JSONStream-1.0.0.tgz"); err != nil || tb.Size != int64(len(data)) {
		t.Fatalf("JSONStream tarball: size %d, %v", tb.Size, err)
	}
	// Names are exact: the lowercase name is another package, which does
	// not exist.
	if _, err := svc.Packument(ctx, nil, "jsonstream", false, ""); !fault.Is(err, fault.NotFound) {
		t.Errorf("packument of jsonstream: %v, want NotFound", err)
	}

	// Decoding a publish knows no store: the legacy name passes it.
	data11 := packageTarball(t, "JSONStream", "1.1.0")
	if _, err := DecodePublish("JSONStream", publishDoc(t, "JSONStream", "1.1.0", data11, nil)); err != nil {
		t.Fatalf("DecodePublish of JSONStream@1.1.0: %v", err)
	}
	if err := publishVersion(t, svc, alice, "JSONStream", "1.1.0"); err != nil {
		t.Fatalf("publish JSONStream@1.1.0: %v", err)
	}
	if got := versionsOf(t, svc, nil, "JSONStream"); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
		t.Fatalf("JSONStream versions after a publish %v, want [1.0.0 1.1.0]", got)
	}

	err = publishVersion(t, svc, alice, "NewStream", "1.0.0")
	wantInvalid(t, err, `invalid package name "NewStream": name can no longer contain capital letters`)
	if _, err := svc.Packument(ctx, alice, "NewStream", false, ""); !fault.Is(err, fault.NotFound) {
		t.Errorf("a refused create left NewStream behind: %v", err)
	}
	// What npm has always refused is refused before anything else, for
	// existing names too.
	wantInvalid(t, publishVersion(t, svc, alice, ".JSONStream", "1.0.0"), "name cannot start with a period")

	for _, name := range []string{".JSONStream", "Node_Modules", "JSON Stream"} {
		if err := svc.Import(ctx, []ImportedPackage{legacy(name)}); !fault.Is(err, fault.Invalid) {
			t.Errorf("Import of %q: %v, want Invalid", name, err)
		}
	}
}
