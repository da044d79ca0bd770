package e2e

import (
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// stagedID finds the id npm stage publish prints: "+ name@ver (staged with id <uuid>)".
var stagedID = regexp.MustCompile(`staged with id ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`)

func stageOf(t *testing.T, c *npmClient, spec pkgSpec) string {
	t.Helper()
	res := c.mustRun(makePackage(t, spec), "stage", "publish")
	m := stagedID.FindStringSubmatch(res.Output())
	if m == nil || !strings.Contains(res.Output(), spec.Name+"@"+spec.Version) {
		t.Fatalf("npm stage publish printed no staged id for %s@%s:\n%s", spec.Name, spec.Version, res)
	}
	return m[1]
}

// TestStagedPublishingNPM12 walks staged publishing with the real npm 12:
// a stage-only token created with npm token create stages (and cannot
// publish directly), list, view and download show the staged version,
// installs do not see it, the owner approves it with a one-time password
// and installs see it, a reject removes another; a second stage of a
// version, a publish of a staged version and another user's look at it
// are refused.
func TestStagedPublishingNPM12(t *testing.T) {
	t.Parallel()
	npm := npm12(t)
	srv := startServer(t)
	session := srv.createUser(t, "alice")
	auth := enableTFA(t, srv, "alice", session, "auth-and-writes")
	alice := newClient(t, srv, npm).login(session)
	const pkg = "@alice/staged"

	res := alice.run("", "token", "create", "--name", "ci", "--packages-all",
		"--packages-and-scopes-permission", "read-write-stage-only", "--password", passwordOf("alice"), "--otp", auth.anyCode(t))
	stageToken := createdToken(t, res)
	ci := newClient(t, srv, npm).login(stageToken)
	t.Run("token list shows the permission", func(t *testing.T) {
		r := srv.do(t, http.MethodGet, "-/npm/v1/tokens", session, nil)
		var doc struct {
			Objects []struct {
				Name       string `json:"name"`
				Permission string `json:"packages_and_scopes_permission"`
				Readonly   bool   `json:"readonly"`
			} `json:"objects"`
		}
		decodeJSON(t, r.Body, &doc)
		found := false
		for _, o := range doc.Objects {
			if o.Name == "ci" {
				found = o.Permission == "read-write-stage-only" && !o.Readonly
			}
		}
		if !found {
			t.Errorf("GET /-/npm/v1/tokens does not show ci as a read-write-stage-only token: %s", r)
		}
	})

	id := stageOf(t, ci, pkgSpec{Name: pkg, Version: "1.0.0"})

	t.Run("stage-only token cannot publish", func(t *testing.T) {
		res := ci.run(makePackage(t, pkgSpec{Name: pkg, Version: "1.0.1"}), "publish")
		assertFailed(t, res, "E403", "E_STAGE_REQUIRED", "npm stage publish")
	})

	t.Run("installs do not see it", func(t *testing.T) {
		if r := srv.do(t, http.MethodGet, "@alice%2fstaged", session, nil); r.Status != http.StatusNotFound {
			t.Fatalf("GET the packument of a package staged only: %s, want 404", r)
		}
		project := makeProject(t, map[string]string{pkg: "1.0.0"})
		assertFailed(t, alice.run(project, "install"), "E404")
	})

	t.Run("list view download", func(t *testing.T) {
		res := alice.mustRun("", "stage", "list")
		for _, want := range []string{id, pkg, "1.0.0", "alice (user)"} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("npm stage list lacks %q:\n%s", want, res)
			}
		}
		res = alice.mustRun("", "stage", "view", id)
		if !strings.Contains(res.Stdout, pkg) || !strings.Contains(res.Stdout, "staged") {
			t.Errorf("npm stage view %s:\n%s", id, res)
		}
		dir := t.TempDir()
		alice.mustRun(dir, "stage", "download", id)
		if _, err := os.Stat(filepath.Join(dir, "alice-staged-1.0.0-"+id+".tgz")); err != nil {
			t.Errorf("npm stage download wrote no tarball: %v", err)
		}
	})

	t.Run("second stage of a version is a conflict", func(t *testing.T) {
		res := ci.run(makePackage(t, pkgSpec{Name: pkg, Version: "1.0.0"}), "stage", "publish")
		assertFailed(t, res, "409", "is staged already")
	})

	t.Run("another user sees nothing", func(t *testing.T) {
		bob := srv.createUser(t, "bob")
		for _, r := range []httpResult{
			srv.do(t, http.MethodGet, "-/stage/"+id, bob, nil),
			srv.do(t, http.MethodGet, "-/stage/"+id+"/tarball", bob, nil),
			srv.do(t, http.MethodPost, "-/stage/"+id+"/approve", bob, nil),
			srv.do(t, http.MethodDelete, "-/stage/"+id, bob, nil),
		} {
			if r.Status != http.StatusNotFound {
				t.Errorf("bob on alice's staged version: %s, want 404", r)
			}
		}
		bobClient := newClient(t, srv, npm).login(bob)
		res := bobClient.mustRun("", "stage", "list")
		if strings.Contains(res.Stdout, id) || !strings.Contains(res.Stdout, "No staged packages found.") {
			t.Errorf("bob's npm stage list:\n%s", res)
		}
		assertFailed(t, bobClient.run("", "stage", "view", id), "404")
	})

	t.Run("stage-only token cannot approve", func(t *testing.T) {
		assertFailed(t, ci.run("", "stage", "approve", id, "--otp", auth.anyCode(t)), "403", "stage-only token cannot approve")
	})

	t.Run("approve", func(t *testing.T) {
		assertFailed(t, alice.run("", "stage", "approve", id), "EOTP")
		res := alice.mustRun("", "stage", "approve", id, "--otp", auth.anyCode(t))
		if !strings.Contains(res.Stdout, "Staged package "+id+" approved and published successfully.") {
			t.Errorf("npm stage approve:\n%s", res)
		}
		project := makeProject(t, map[string]string{pkg: "1.0.0"})
		alice.mustRun(project, "install")
		assertInstalled(t, project, pkg, "1.0.0")
		if r := srv.do(t, http.MethodGet, "-/stage/"+id, session, nil); r.Status != http.StatusNotFound {
			t.Errorf("the approved staged version is still there: %s", r)
		}
		assertFailed(t, alice.run("", "stage", "approve", id, "--otp", auth.anyCode(t)), "404")
	})

	t.Run("publish of a staged version and reject", func(t *testing.T) {
		id2 := stageOf(t, ci, pkgSpec{Name: pkg, Version: "1.1.0"})
		res := alice.run(makePackage(t, pkgSpec{Name: pkg, Version: "1.1.0"}), "publish", "--otp", auth.anyCode(t))
		assertFailed(t, res, "409", "is staged")
		res = alice.mustRun("", "stage", "list", pkg, "--json")
		if !strings.Contains(res.Stdout, id2) {
			t.Errorf("npm stage list %s --json lacks %s:\n%s", pkg, id2, res)
		}
		res = alice.mustRun("", "stage", "reject", id2, "--otp", auth.anyCode(t))
		if !strings.Contains(res.Stdout, "has been rejected") {
			t.Errorf("npm stage reject:\n%s", res)
		}
		res = alice.mustRun("", "stage", "list", pkg)
		if !strings.Contains(res.Stdout, `No staged versions of package name "`+pkg+`".`) {
			t.Errorf("npm stage list after the reject:\n%s", res)
		}
		if got := alice.viewList(pkg, "versions"); len(got) != 1 || got[0] != "1.0.0" {
			t.Errorf("versions after the reject: %v, want 1.0.0", got)
		}
	})
}

// TestStagedPublishingNPM11 stages, lists and approves with the machine's
// npm 11 (npm stage came in 11.15), with a stage-only token created over
// HTTP (npm 11.19's token create does not offer it yet).
func TestStagedPublishingNPM11(t *testing.T) {
	t.Parallel()
	npm := npm11(t)
	srv := startServer(t)
	session := srv.createUser(t, "alice")
	tok := createTokenHTTP(t, srv, session, "", map[string]any{"name": "ci", "password": passwordOf("alice"),
		"packages_all": true, "packages_and_scopes_permission": "read-write-stage-only"})
	ci := newClient(t, srv, npm).login(tok)
	alice := newClient(t, srv, npm).login(session)
	id := stageOf(t, ci, pkgSpec{Name: "staged-eleven", Version: "2.0.0"})
	assertFailed(t, ci.run(makePackage(t, pkgSpec{Name: "staged-eleven", Version: "2.0.1"}), "publish"), "E_STAGE_REQUIRED")
	res := alice.mustRun("", "stage", "list", "staged-eleven")
	if !strings.Contains(res.Stdout, id) {
		t.Errorf("npm stage list:\n%s", res)
	}
	alice.mustRun("", "stage", "approve", id)
	project := makeProject(t, map[string]string{"staged-eleven": "2.0.0"})
	alice.mustRun(project, "install")
	assertInstalled(t, project, "staged-eleven", "2.0.0")
}

// provenanceAttachment is the <name>-<version>.sigstore attachment npm
// publish --provenance sends: a Sigstore bundle (raw JSON text) whose DSSE
// envelope holds an in-toto statement naming subject with the SHA-512 hex
// digest. Its signature is empty: gatehouse does not verify the Sigstore
// chain here (docs/publishing.md).
func provenanceAttachment(t *testing.T, subject, digest string) (map[string]any, string) {
	t.Helper()
	statement, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []map[string]any{{"name": subject, "digest": map[string]string{"sha512": digest}}},
		"predicateType": "https://slsa.dev/provenance/v1",
		"predicate":     map[string]any{"buildDefinition": map[string]any{"buildType": "e2e"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := json.Marshal(map[string]any{
		"mediaType":            "application/vnd.dev.sigstore.bundle.v0.3+json",
		"verificationMaterial": map[string]any{"tlogEntries": []any{}},
		"dsseEnvelope": map[string]any{"payload": base64.StdEncoding.EncodeToString(statement),
			"payloadType": "application/vnd.in-toto+json", "signatures": []map[string]string{{"sig": "", "keyid": ""}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"content_type": "application/vnd.dev.sigstore.bundle.v0.3+json", "data": string(bundle),
		"length": len(bundle)}, string(bundle)
}

// publishBodyWith is a publish document for name@version carrying a
// provenance bundle for subject and digest ("" for the tarball's own).
func publishBodyWith(t *testing.T, name, version, subject, digest string) (map[string]any, string) {
	t.Helper()
	tgz := testkit.PackageTarball(t, fmt.Sprintf(`{"name":%q,"version":%q}`, name, version))
	sum := sha512.Sum512(tgz)
	if digest == "" {
		digest = hex.EncodeToString(sum[:])
	}
	body := testkit.PublishBody(nil, name, version, tgz)
	att, bundle := provenanceAttachment(t, subject, digest)
	body["_attachments"].(map[string]any)[name+"-"+version+".sigstore"] = att
	return body, bundle
}

// TestStagedAndProvenanceHTTP covers over HTTP what npm checks before it
// asks the server (so the CLI cannot show it) and what needs a Sigstore
// bundle (npm signs provenance only in a CI with the public Sigstore):
// staging a published version is a 409; the list's total is exact and its
// pages add up; provenance with a wrong subject digest or name is refused,
// a right one is served at the attestations URL that dist.attestations
// names, and carried through stage and approve.
func TestStagedAndProvenanceHTTP(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	alice := srv.createUser(t, "alice")
	bob := srv.createUser(t, "bob")

	t.Run("a published version cannot be staged", func(t *testing.T) {
		tgz := testkit.PackageTarball(t, `{"name":"pub-then-stage","version":"1.0.0"}`)
		if r := srv.do(t, http.MethodPut, "pub-then-stage", alice, testkit.PublishBody(nil, "pub-then-stage", "1.0.0", tgz)); r.Status != http.StatusCreated {
			t.Fatalf("publish: %s", r)
		}
		r := srv.do(t, http.MethodPost, "-/stage/package/pub-then-stage", alice, testkit.PublishBody(nil, "pub-then-stage", "1.0.0", tgz))
		if r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "was published already") {
			t.Fatalf("stage of a published version: %s, want 409", r)
		}
	})

	t.Run("paging", func(t *testing.T) {
		ids := map[string]bool{}
		for i := range 3 {
			v := fmt.Sprintf("1.0.%d", i)
			tgz := testkit.PackageTarball(t, fmt.Sprintf(`{"name":"paged","version":%q}`, v))
			r := srv.do(t, http.MethodPost, "-/stage/package/paged", alice, testkit.PublishBody(nil, "paged", v, tgz))
			if r.Status != http.StatusCreated {
				t.Fatalf("stage paged@%s: %s", v, r)
			}
			var doc struct{ StageID string }
			decodeJSON(t, r.Body, &doc)
			ids[doc.StageID] = true
		}
		seen := map[string]bool{}
		for page := range 3 {
			r := srv.do(t, http.MethodGet, fmt.Sprintf("-/stage?package=paged&perPage=2&page=%d", page), alice, nil)
			var doc struct {
				Items []struct{ ID string }
				Total int
			}
			decodeJSON(t, r.Body, &doc)
			if r.Status != http.StatusOK || doc.Total != 3 {
				t.Fatalf("page %d: %s, want total 3", page, r)
			}
			if want := []int{2, 1, 0}[page]; len(doc.Items) != want {
				t.Fatalf("page %d has %d items, want %d", page, len(doc.Items), want)
			}
			for _, it := range doc.Items {
				seen[it.ID] = true
			}
		}
		if len(seen) != 3 || !mapsEqual(seen, ids) {
			t.Errorf("pages listed %v, want %v", seen, ids)
		}
		r := srv.do(t, http.MethodGet, "-/stage?package=paged", bob, nil)
		if !strings.Contains(string(r.Body), `"total":0`) {
			t.Errorf("bob's list of alice's staged versions: %s, want total 0", r)
		}
		if r := srv.do(t, http.MethodGet, "-/stage?perPage=1000", alice, nil); r.Status != http.StatusBadRequest {
			t.Errorf("perPage 1000: %s, want 400", r)
		}
		if r := srv.do(t, http.MethodGet, "-/stage/not-a-uuid", alice, nil); r.Status != http.StatusNotFound {
			t.Errorf("a malformed id: %s, want 404", r)
		}
		if r := srv.do(t, http.MethodGet, "-/stage", "", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("anonymous list: %s, want 401", r)
		}
	})

	t.Run("provenance refused", func(t *testing.T) {
		for name, body := range map[string]map[string]any{
			"wrong digest":  first(publishBodyWith(t, "@alice/prov", "1.0.0", "pkg:npm/%40alice/prov@1.0.0", strings.Repeat("ab", 64))),
			"wrong subject": first(publishBodyWith(t, "@alice/prov", "1.0.0", "pkg:npm/%40alice/other@1.0.0", "")),
		} {
			r := srv.do(t, http.MethodPut, "@alice%2fprov", alice, body)
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "provenance subject") {
				t.Errorf("%s: %s, want 400 naming the provenance subject", name, r)
			}
		}
		if r := srv.do(t, http.MethodGet, "@alice%2fprov", alice, nil); r.Status != http.StatusNotFound {
			t.Errorf("a refused publish left a package: %s", r)
		}
	})

	checkServed := func(t *testing.T, name, escaped, version, bundle string) {
		t.Helper()
		r := srv.do(t, http.MethodGet, escaped, alice, nil)
		var doc struct {
			Versions map[string]struct {
				Dist struct {
					Signatures []struct {
						Keyid string `json:"keyid"`
						Sig   string `json:"sig"`
					} `json:"signatures"`
					Attestations struct {
						URL        string `json:"url"`
						Provenance struct {
							PredicateType string `json:"predicateType"`
						} `json:"provenance"`
					} `json:"attestations"`
				} `json:"dist"`
			} `json:"versions"`
		}
		decodeJSON(t, r.Body, &doc)
		if sigs := doc.Versions[version].Dist.Signatures; len(sigs) == 0 || sigs[0].Sig == "" {
			t.Errorf("%s@%s carries no registry signature", name, version)
		}
		att := doc.Versions[version].Dist.Attestations
		wantURL := srv.URL() + "-/npm/v1/attestations/" + escaped + "@" + version
		if att.URL != wantURL || att.Provenance.PredicateType != "https://slsa.dev/provenance/v1" {
			t.Fatalf("dist.attestations of %s@%s = %+v, want url %s", name, version, att, wantURL)
		}
		r = srv.do(t, http.MethodGet, strings.TrimPrefix(att.URL, srv.URL()), alice, nil)
		var served struct {
			Attestations []struct {
				PredicateType string          `json:"predicateType"`
				Bundle        json.RawMessage `json:"bundle"`
			} `json:"attestations"`
		}
		decodeJSON(t, r.Body, &served)
		if r.Status != http.StatusOK || len(served.Attestations) != 1 ||
			served.Attestations[0].PredicateType != "https://slsa.dev/provenance/v1" ||
			string(served.Attestations[0].Bundle) != bundle {
			t.Fatalf("GET %s: %s, want the bundle sent", att.URL, r)
		}
		if r := srv.do(t, http.MethodGet, strings.TrimPrefix(att.URL, srv.URL()), bob, nil); r.Status != http.StatusNotFound {
			t.Errorf("bob reads the attestations of a private package: %s, want 404", r)
		}
	}

	t.Run("provenance served", func(t *testing.T) {
		body, bundle := publishBodyWith(t, "@alice/prov", "1.0.0", "pkg:npm/%40alice/prov@1.0.0", "")
		if r := srv.do(t, http.MethodPut, "@alice%2fprov", alice, body); r.Status != http.StatusCreated {
			t.Fatalf("publish with provenance: %s", r)
		}
		checkServed(t, "@alice/prov", "@alice%2fprov", "1.0.0", bundle)
		if r := srv.do(t, http.MethodGet, "-/npm/v1/attestations/@alice%2fprov@9.9.9", alice, nil); r.Status != http.StatusNotFound {
			t.Errorf("attestations of a version that has none: %s, want 404", r)
		}
	})

	t.Run("provenance through stage and approve", func(t *testing.T) {
		body, bundle := publishBodyWith(t, "@alice/prov", "1.1.0", "pkg:npm/%40alice/prov@1.1.0", "")
		r := srv.do(t, http.MethodPost, "-/stage/package/@alice%2fprov", alice, body)
		var doc struct{ StageID string }
		decodeJSON(t, r.Body, &doc)
		if r.Status != http.StatusCreated || doc.StageID == "" {
			t.Fatalf("stage with provenance: %s", r)
		}
		if r := srv.do(t, http.MethodPost, "-/stage/"+doc.StageID+"/approve", alice, nil); r.Status != http.StatusCreated {
			t.Fatalf("approve: %s", r)
		}
		checkServed(t, "@alice/prov", "@alice%2fprov", "1.1.0", bundle)
		wrong, _ := publishBodyWith(t, "@alice/prov", "1.2.0", "pkg:npm/%40alice/prov@1.2.0", strings.Repeat("cd", 64))
		if r := srv.do(t, http.MethodPost, "-/stage/package/@alice%2fprov", alice, wrong); r.Status != http.StatusBadRequest {
			t.Errorf("stage with a wrong provenance digest: %s, want 400", r)
		}
	})
}

func first[A, B any](a A, _ B) A { return a }

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestStagedEdgesHTTP: staging a name does not reserve it (another user
// who creates the package first makes the approval fail, and the staged
// version stays), and gatehouse gc keeps a staged tarball until the staged
// version is rejected.
func TestStagedEdgesHTTP(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	carol := srv.createUser(t, "carol")
	dave := srv.createUser(t, "dave")
	stage := func(token, name, version string) (string, []byte) {
		t.Helper()
		tgz := testkit.PackageTarball(t, fmt.Sprintf(`{"name":%q,"version":%q}`, name, version))
		r := srv.do(t, http.MethodPost, "-/stage/package/"+name, token, testkit.PublishBody(nil, name, version, tgz))
		var doc struct{ StageID string }
		decodeJSON(t, r.Body, &doc)
		if r.Status != http.StatusCreated || doc.StageID == "" {
			t.Fatalf("stage %s@%s: %s", name, version, r)
		}
		return doc.StageID, tgz
	}

	t.Run("a name taken before approval", func(t *testing.T) {
		id, _ := stage(carol, "fresh-name", "1.0.0")
		tgz := testkit.PackageTarball(t, `{"name":"fresh-name","version":"2.0.0"}`)
		if r := srv.do(t, http.MethodPut, "fresh-name", dave, testkit.PublishBody(nil, "fresh-name", "2.0.0", tgz)); r.Status != http.StatusCreated {
			t.Fatalf("dave publishes the name: %s", r)
		}
		if r := srv.do(t, http.MethodPost, "-/stage/"+id+"/approve", carol, nil); r.Status != http.StatusForbidden {
			t.Errorf("carol approves into dave's package: %s, want 403", r)
		}
		if r := srv.do(t, http.MethodGet, "-/stage/"+id, carol, nil); r.Status != http.StatusOK {
			t.Errorf("the refused approval lost the staged version: %s", r)
		}
		if r := srv.do(t, http.MethodGet, "-/stage/"+id, dave, nil); r.Status != http.StatusOK {
			t.Errorf("dave, now the package's owner, cannot see what was staged for it: %s", r)
		}
		if r := srv.do(t, http.MethodDelete, "-/stage/"+id, carol, nil); r.Status != http.StatusNoContent {
			t.Errorf("carol rejects her own staged version: %s, want 204", r)
		}
	})

	t.Run("gc keeps a staged tarball", func(t *testing.T) {
		id, tgz := stage(carol, "gc-staged", "1.0.0")
		key := blob.KeyOf(tgz)
		blobs, _, err := blob.Open(t.Context(), "", srv.DataDir()+"/tarballs")
		if err != nil {
			t.Fatal(err)
		}
		defer blobs.Close()
		gc := func() string {
			t.Helper()
			out, code := runGatehouse(t, "", "gc", "--data", srv.DataDir(), "--grace", "0s")
			if code != 0 {
				t.Fatalf("gatehouse gc: exit %d\n%s", code, out)
			}
			return out
		}
		if out := gc(); strings.Contains(out, key) {
			t.Fatalf("gc removed a staged tarball:\n%s", out)
		}
		if ok, err := blobs.Exists(t.Context(), key); err != nil || !ok {
			t.Fatalf("the staged tarball is gone after gc: %v", err)
		}
		if r := srv.do(t, http.MethodDelete, "-/stage/"+id, carol, nil); r.Status != http.StatusNoContent {
			t.Fatalf("reject: %s", r)
		}
		if out := gc(); !strings.Contains(out, "removed "+key) {
			t.Errorf("gc kept a rejected staged version's tarball:\n%s", out)
		}
	})
}
