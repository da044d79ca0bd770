package registry

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// publishDoc is the document npm publish sends for name@version: manifest
// holds the version's fields beside name, version and dist (computed from
// data unless manifest sets dist), and data is attached with its length.
func publishDoc(t *testing.T, name, version string, data []byte, manifest map[string]any) PublishDocument {
	t.Helper()
	m := map[string]any{"name": name, "version": version,
		"dist": map[string]string{"shasum": sha1Hex(data), "integrity": IntegrityOf(data)}}
	maps.Copy(m, manifest)
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(data))
	return PublishDocument{ID: name, Name: name, DistTags: map[string]string{"latest": version},
		Versions: map[string]json.RawMessage{version: raw},
		Attachments: map[string]Attachment{name + "-" + version + ".tgz": {ContentType: "application/octet-stream",
			Data: base64.StdEncoding.EncodeToString(data), Length: &n}}}
}

// packageTarball is a tarball holding package/package.json for name@version.
func packageTarball(t *testing.T, name, version string) []byte {
	t.Helper()
	return tgz(t, file("package/package.json", fmt.Sprintf(`{"name":%q,"version":%q}`, name, version)),
		file("package/index.js", "module.exports = 1\n"))
}

// TestDecodePublishRefuses holds every way Service.Publish refused a body
// before it was decoded apart, with the message the client gets, and which
// problem is named when a body has more than one.
func TestDecodePublishRefuses(t *testing.T) {
	data := packageTarball(t, "demo", "1.0.0")
	other := packageTarball(t, "other", "1.0.0")
	n := len(data)
	tests := []struct {
		name   string
		url    string // the package name in the URL; "demo" when empty
		change func(d *PublishDocument)
		want   string
	}{
		{"body names another package", "", func(d *PublishDocument) { d.Name = "other" },
			`the package name in the body ("other") does not match the URL ("demo")`},
		{"invalid package name", ".demo", func(d *PublishDocument) { d.Name = "" },
			`invalid package name ".demo": name cannot start with a period`},
		{"no version", "", func(d *PublishDocument) { d.Versions = nil },
			"a publish must carry exactly one version, got 0"},
		{"two versions", "", func(d *PublishDocument) { d.Versions["1.0.1"] = d.Versions["1.0.0"] },
			"a publish must carry exactly one version, got 2"},
		{"no attachment", "", func(d *PublishDocument) { d.Attachments = nil },
			"a publish must carry exactly one tarball attachment, got 0"},
		{"a second attachment", "", func(d *PublishDocument) {
			d.Attachments["demo-2.0.0.tgz"] = d.Attachments["demo-1.0.0.tgz"]
		}, "a publish must carry exactly one tarball attachment, got 2"},
		{"a provenance attachment that is no Sigstore bundle", "", func(d *PublishDocument) {
			d.Attachments["demo-1.0.0.sigstore"] = Attachment{Data: "{}"}
		}, `the provenance attachment is not a Sigstore bundle (mediaType "")`},
		{"a provenance attachment of another version", "", func(d *PublishDocument) {
			d.Attachments["demo-1.0.1.sigstore"] = Attachment{Data: "{}"}
		}, `the provenance attachment must be named "demo-1.0.0.sigstore", not "demo-1.0.1.sigstore"`},
		{"two provenance attachments", "", func(d *PublishDocument) {
			d.Attachments["demo-1.0.0.sigstore"] = Attachment{Data: "{}"}
			d.Attachments["x.sigstore"] = Attachment{Data: "{}"}
		}, "a publish may carry at most one provenance attachment"},
		{"version not semver", "", func(d *PublishDocument) { d.Versions = map[string]json.RawMessage{"1.0": d.Versions["1.0.0"]} },
			`Invalid version: "1.0"`},
		{"manifest not an object", "", func(d *PublishDocument) { d.Versions["1.0.0"] = json.RawMessage(`"1.0.0"`) },
			"version 1.0.0 is not a JSON object"},
		{"manifest null", "", func(d *PublishDocument) { d.Versions["1.0.0"] = json.RawMessage(`null`) },
			"version 1.0.0 is not a JSON object"},
		{"manifest field of the wrong type", "", func(d *PublishDocument) {
			d.Versions["1.0.0"] = json.RawMessage(`{"name":"demo","version":"1.0.0","dist":{"shasum":1}}`)
		}, "version 1.0.0 has fields of the wrong type: dist.shasum must be string"},
		{"manifest names another package", "", func(d *PublishDocument) {
			d.Versions["1.0.0"] = json.RawMessage(`{"name":"other","version":"1.0.0","dist":{"shasum":"x"}}`)
		}, `the name in version 1.0.0 ("other") does not match the package ("demo")`},
		{"manifest names another version", "", func(d *PublishDocument) {
			d.Versions["1.0.0"] = json.RawMessage(`{"name":"demo","version":"1.0.1","dist":{"shasum":"x"}}`)
		}, `the version field ("1.0.1") does not match the version key ("1.0.0")`},
		{"manifest without dist", "", func(d *PublishDocument) {
			d.Versions["1.0.0"] = json.RawMessage(`{"name":"demo","version":"1.0.0"}`)
		}, "version 1.0.0 has no dist.shasum or dist.integrity"},
		{"attachment not base64", "", func(d *PublishDocument) { d.Attachments["demo-1.0.0.tgz"] = Attachment{Data: "not base64!"} },
			"the attached tarball is not valid base64"},
		{"declared length wrong", "", func(d *PublishDocument) {
			wrong := int64(n + 1)
			d.Attachments["demo-1.0.0.tgz"] = Attachment{Data: base64.StdEncoding.EncodeToString(data), Length: &wrong}
		}, fmt.Sprintf("attached tarball length mismatch: declared %d bytes, got %d", n+1, n)},
		{"shasum mismatch", "", func(d *PublishDocument) {
			*d = publishDoc(t, "demo", "1.0.0", data, map[string]any{"dist": map[string]string{"shasum": strings.Repeat("0", 40)}})
		}, "shasum mismatch for the attached tarball: expected " + strings.Repeat("0", 40) + ", got " + sha1Hex(data)},
		{"integrity mismatch", "", func(d *PublishDocument) {
			*d = publishDoc(t, "demo", "1.0.0", data, map[string]any{"dist": map[string]string{"integrity": IntegrityOf(other)}})
		}, "integrity mismatch for the attached tarball: expected " + IntegrityOf(other) + ", got " + IntegrityOf(data)},
		{"not a gzip file", "", func(d *PublishDocument) {
			*d = publishDoc(t, "demo", "1.0.0", []byte("not a tarball"), nil)
		}, "attached tarball is not a gzip file"},
		{"tarball of another package", "", func(d *PublishDocument) { *d = publishDoc(t, "demo", "1.0.0", other, nil) },
			`name in package/package.json ("other") does not match the published name ("demo")`},
		{"tag that is a range", "", func(d *PublishDocument) { d.DistTags = map[string]string{"1.x": "1.0.0"} },
			"Tag name must not be a valid SemVer range: 1.x"},
		{"tag at another version", "", func(d *PublishDocument) { d.DistTags = map[string]string{"latest": "2.0.0"} },
			`dist-tag "latest" must point at the published version 1.0.0, not "2.0.0"`},
		{"unknown access", "", func(d *PublishDocument) { d.Access = new("private") },
			`access must be public or restricted, not "private"`},
		{"restricted unscoped package", "", func(d *PublishDocument) { d.Access = new("restricted") },
			"Can't restrict access to unscoped packages."},
		// Several problems: the first in the order above is named.
		{"counts before the version", "", func(d *PublishDocument) {
			d.Versions = map[string]json.RawMessage{"1.0": d.Versions["1.0.0"]}
			d.Attachments = nil
		}, "a publish must carry exactly one tarball attachment, got 0"},
		{"tarball before tags and access", "", func(d *PublishDocument) {
			*d = publishDoc(t, "demo", "1.0.0", other, nil)
			d.DistTags = map[string]string{"latest": "2.0.0"}
			d.Access = new("private")
		}, `name in package/package.json ("other") does not match the published name ("demo")`},
		{"tags before access", "", func(d *PublishDocument) {
			d.DistTags = map[string]string{"latest": "2.0.0"}
			d.Access = new("private")
		}, `dist-tag "latest" must point at the published version 1.0.0, not "2.0.0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			if url == "" {
				url = "demo"
			}
			doc := publishDoc(t, url, "1.0.0", data, nil)
			tt.change(&doc)
			pub, err := DecodePublish(url, doc)
			fe, ok := fault.As(err)
			if !ok || fe.Kind != fault.Invalid {
				t.Fatalf("DecodePublish = %+v, %v; want an Invalid fault", pub, err)
			}
			if fe.Message != tt.want {
				t.Fatalf("message %q, want %q", fe.Message, tt.want)
			}
		})
	}
}

// TestDecodePublish checks the parts a valid publish decodes to.
func TestDecodePublish(t *testing.T) {
	data := packageTarball(t, "demo", "1.0.0")
	scoped := packageTarball(t, "@acme/web", "2.0.0-beta.1")
	tests := []struct {
		name string
		doc  func() PublishDocument
		want Publication // Manifest, Tarball and Digest are checked apart
		// keys are the manifest's keys after decoding.
		keys []string
	}{
		{"dist-tags default to latest", func() PublishDocument {
			d := publishDoc(t, "demo", "1.0.0", data, map[string]any{"description": "d", "_id": "demo@1.0.0",
				"_npmUser": "someone", "_hasShrinkwrap": false, "_nodeVersion": "24.0.0", "_npmVersion": "11.0.0"})
			d.DistTags = nil
			return d
		}, Publication{Name: "demo", Version: "1.0.0", Tags: map[string]string{"latest": "1.0.0"},
			Check: TarballCheck{Name: "demo", Version: "1.0.0", Shasum: sha1Hex(data), Integrity: IntegrityOf(data),
				Length: int64(len(data))}},
			[]string{"_hasShrinkwrap", "_nodeVersion", "_npmVersion", "description", "dist", "name", "version"}},
		{"scoped, restricted, a tag of its own, no name in the body, no length", func() PublishDocument {
			d := publishDoc(t, "@acme/web", "2.0.0-beta.1", scoped, nil)
			d.Name, d.Access, d.DistTags = "", new("restricted"), map[string]string{"beta": "2.0.0-beta.1"}
			for k, a := range d.Attachments {
				a.Length = nil
				d.Attachments[k] = a
			}
			return d
		}, Publication{Name: "@acme/web", Scope: "acme", Version: "2.0.0-beta.1", Access: "restricted",
			Tags: map[string]string{"beta": "2.0.0-beta.1"},
			Check: TarballCheck{Name: "@acme/web", Version: "2.0.0-beta.1", Shasum: sha1Hex(scoped),
				Integrity: IntegrityOf(scoped), Length: -1}},
			[]string{"dist", "name", "version"}},
		{"public", func() PublishDocument {
			d := publishDoc(t, "demo", "1.0.0", data, nil)
			d.Access = new("public")
			return d
		}, Publication{Name: "demo", Version: "1.0.0", Access: "public", Tags: map[string]string{"latest": "1.0.0"},
			Check: TarballCheck{Name: "demo", Version: "1.0.0", Shasum: sha1Hex(data), Integrity: IntegrityOf(data),
				Length: int64(len(data))}},
			[]string{"dist", "name", "version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.doc()
			sentTags := maps.Clone(doc.DistTags)
			pub, err := DecodePublish(tt.want.Name, doc)
			if err != nil {
				t.Fatal(err)
			}
			wantData := data
			if tt.want.Scope != "" {
				wantData = scoped
			}
			if !bytes.Equal(pub.Tarball, wantData) {
				t.Errorf("Tarball is %d bytes, not the %d attached", len(pub.Tarball), len(wantData))
			}
			if pub.Digest.Shasum != sha1Hex(wantData) || pub.Digest.Integrity != IntegrityOf(wantData) ||
				pub.Digest.Size != int64(len(wantData)) || pub.Digest.FileCount != 2 {
				t.Errorf("Digest = %+v", pub.Digest)
			}
			if keys := slices.Sorted(maps.Keys(pub.Manifest)); !slices.Equal(keys, tt.keys) {
				t.Errorf("manifest keys %v, want %v", keys, tt.keys)
			}
			got := pub
			got.Manifest, got.Tarball, got.Digest = nil, nil, Digest{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodePublish =\n%+v\nwant\n%+v", got, tt.want)
			}
			// The tags are the publication's own: changing them leaves the document alone.
			pub.Tags["extra"] = pub.Version
			if !maps.Equal(doc.DistTags, sentTags) {
				t.Errorf("the document's dist-tags changed to %v", doc.DistTags)
			}
		})
	}
}
