package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// noOTP lets every change through: the principals here have no 2FA.
type noOTP struct{}

func (noOTP) RequireOTP(context.Context, *auth.Principal, policy.OTPOp, *store.PackageMFA) error {
	return nil
}

func (noOTP) ChallengeOTP(context.Context, *auth.Principal, policy.OTPOp) error { return nil }

// newTestService is a registry on a fresh SQLite store and blob folder,
// with the clock stopped at now, and a user who may publish.
func newTestService(t testing.TB, now time.Time) (*Service, *auth.Principal) {
	t.Helper()
	svc, p, _ := newTestServiceWith(t, now, nil)
	return svc, p
}

// newTestServiceWith is newTestService with an observer (nil for none),
// returning the store's change feed too (not started: what follows it
// hears nothing until the caller starts it).
func newTestServiceWith(t testing.TB, now time.Time, obs Observer) (*Service, *auth.Principal, *store.Feed) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := blob.OpenFolder(filepath.Join(dir, "tarballs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	feed := store.NewFeed(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { feed.Close() })
	u, err := st.Q().CreateUser(t.Context(), store.User{Name: "alice", Email: "alice@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	p := &auth.Principal{UserID: u.ID, UserName: u.Name, Email: u.Email, Kind: auth.KindSession}
	svc := NewService(st, blobs, noOTP{}, feed, func() time.Time { return now }, obs, nil)
	t.Cleanup(svc.Close)
	return svc, p, feed
}

// TestImportMatchesPublish imports a package and publishes the same one
// into another registry: the stored documents must be the same bytes, and
// the imported tarball link must serve the tarball its integrity names.
func TestImportMatchesPublish(t *testing.T) {
	now := time.Date(2026, 11, 29, 1, 2, 3, 0, time.UTC)
	ctx := t.Context()
	const name, version = "left-pad", "1.3.0"
	manifest := map[string]any{"name": name, "version": version, "description": "pads strings",
		"keywords": []string{"Pad", "string"}, "dependencies": map[string]string{"dep": "^1.0.0"},
		"scripts": map[string]string{"postinstall": "node x.js"}, "readme": "# left-pad\n", "_secret": "dropped"}
	pkgJSON, _ := json.Marshal(map[string]string{"name": name, "version": version})
	data := tgz(t, file("package/package.json", string(pkgJSON)), file("package/index.js", "module.exports = 1\n"))

	published, alice := newTestService(t, now)
	withDist := map[string]any{}
	for k, v := range manifest {
		withDist[k] = v
	}
	withDist["dist"] = map[string]string{"shasum": sha1Hex(data), "integrity": IntegrityOf(data)}
	raw, _ := json.Marshal(withDist)
	n := int64(len(data))
	err := published.Publish(ctx, alice, name, PublishDocument{Name: name,
		Versions:    map[string]json.RawMessage{version: raw},
		Attachments: map[string]Attachment{name + "-" + version + ".tgz": {Data: base64.StdEncoding.EncodeToString(data), Length: &n}}})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}

	imported, alice2 := newTestService(t, now.Add(time.Hour))
	digest, err := imported.ImportTarball(ctx, data)
	if err != nil {
		t.Fatalf("import tarball: %v", err)
	}
	raw, _ = json.Marshal(manifest)
	err = imported.Import(ctx, []ImportedPackage{{Name: name,
		Owners:   []store.Owner{{UserID: alice2.UserID, Name: alice2.UserName, Email: alice2.Email}},
		Versions: []ImportedVersion{{Version: version, Manifest: raw, Tarball: digest, PublishedAt: now.UnixMilli()}}}})
	if err != nil {
		t.Fatalf("import: %v", err)
	}

	for _, abbreviated := range []bool{true, false} {
		want, err := published.Packument(ctx, nil, name, abbreviated, "http://r.test")
		if err != nil {
			t.Fatal(err)
		}
		got, err := imported.Packument(ctx, nil, name, abbreviated, "http://r.test")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Body, want.Body) {
			t.Errorf("abbreviated=%v: imported packument\n%s\nwant (as published)\n%s", abbreviated, got.Body, want.Body)
		}
	}
	var doc struct {
		Versions map[string]struct {
			Dist struct{ Tarball, Integrity, Shasum string }
		}
	}
	body, _ := imported.Packument(ctx, nil, name, true, "http://r.test")
	if err := json.Unmarshal(body.Body, &doc); err != nil {
		t.Fatal(err)
	}
	dist := doc.Versions[version].Dist
	if dist.Tarball != "http://r.test/left-pad/-/left-pad-1.3.0.tgz" || dist.Integrity != IntegrityOf(data) {
		t.Fatalf("dist = %+v", dist)
	}
	tb, err := imported.Tarball(ctx, nil, name, "left-pad-1.3.0.tgz")
	if err != nil {
		t.Fatal(err)
	}
	if IntegrityOf(tb.Data) != dist.Integrity {
		t.Errorf("the tarball served does not match the packument's integrity")
	}
	// Imported versions count as published.
	err = imported.Publish(ctx, alice2, name, PublishDocument{Name: name,
		Versions:    map[string]json.RawMessage{version: raw},
		Attachments: map[string]Attachment{"x.tgz": {Data: base64.StdEncoding.EncodeToString(data)}}})
	if !fault.Is(err, fault.Forbidden) && !fault.Is(err, fault.Invalid) {
		t.Errorf("publishing over an imported version: %v, want a refusal", err)
	}
}

// TestImportRefuses checks the packages Import will not write, and that a
// refused batch writes nothing.
func TestImportRefuses(t *testing.T) {
	ctx := t.Context()
	svc, alice := newTestService(t, time.Now())
	data := tgz(t, file("package/package.json", `{"name":"other","version":"9.9.9"}`))
	digest, err := svc.ImportTarball(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	owner := []store.Owner{{UserID: alice.UserID, Name: alice.UserName, Email: alice.Email}}
	good := func(name string) ImportedPackage {
		return ImportedPackage{Name: name, Owners: owner, Versions: []ImportedVersion{{Version: "1.0.0",
			Manifest: json.RawMessage(`{"name":"` + name + `","version":"1.0.0"}`), Tarball: digest, PublishedAt: 1}}}
	}
	cases := []struct {
		name string
		pkg  func() ImportedPackage
	}{
		{"bad name", func() ImportedPackage { return good("Bad Name") }},
		{"no versions", func() ImportedPackage { p := good("a"); p.Versions = nil; return p }},
		{"no owners", func() ImportedPackage { p := good("a"); p.Owners = nil; return p }},
		{"manifest name differs", func() ImportedPackage { p := good("a"); p.Name = "b"; return p }},
		{"bad version", func() ImportedPackage { p := good("a"); p.Versions[0].Version = "v1"; return p }},
		{"tag to a missing version", func() ImportedPackage {
			p := good("a")
			p.DistTags = map[string]string{"next": "2.0.0"}
			return p
		}},
		{"restricted unscoped", func() ImportedPackage { p := good("a"); p.Access = "restricted"; return p }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := svc.Import(ctx, []ImportedPackage{good("first"), c.pkg()})
			if err == nil {
				t.Fatal("Import accepted it")
			}
			if _, err := svc.Packument(ctx, nil, "first", true, ""); !fault.Is(err, fault.NotFound) {
				t.Errorf("a refused batch left its first package behind: %v", err)
			}
		})
	}
	if _, err := svc.ImportTarball(ctx, []byte("not a tarball")); err == nil {
		t.Error("ImportTarball accepted bytes that are not a tarball")
	}
}

// TestImportLatest: without a latest dist-tag, an import tags the highest
// release, or the highest prerelease when there is no release, as the
// registry does after an unpublish.
func TestImportLatest(t *testing.T) {
	ctx := t.Context()
	svc, alice := newTestService(t, time.Now())
	data := tgz(t, file("package/package.json", `{"name":"x","version":"1.0.0"}`))
	digest, err := svc.ImportTarball(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	owner := []store.Owner{{UserID: alice.UserID, Name: alice.UserName, Email: alice.Email}}
	cases := []struct {
		name     string
		versions []string
		want     string
	}{
		{"releases", []string{"1.2.0", "1.10.0", "1.9.3"}, "1.10.0"},
		{"a higher prerelease", []string{"1.0.0", "2.0.0-beta.1"}, "1.0.0"},
		{"prereleases only", []string{"1.0.0-rc.1", "1.0.0-rc.2"}, "1.0.0-rc.2"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("latest-%d", i)
			p := ImportedPackage{Name: name, Owners: owner}
			for _, v := range c.versions {
				p.Versions = append(p.Versions, ImportedVersion{Version: v, Tarball: digest, PublishedAt: 1,
					Manifest: json.RawMessage(`{"name":"` + name + `","version":"` + v + `"}`)})
			}
			if err := svc.Import(ctx, []ImportedPackage{p}); err != nil {
				t.Fatal(err)
			}
			tags, err := svc.DistTags(ctx, nil, name)
			if err != nil {
				t.Fatal(err)
			}
			if tags["latest"] != c.want {
				t.Fatalf("latest = %q, want %q", tags["latest"], c.want)
			}
		})
	}
}
