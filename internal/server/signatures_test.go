package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/signing"
)

// signedVersions returns, for each version of name's full packument, its
// signature when it has one that verifies with the key in use.
func signedVersions(t *testing.T, tr *testRegistry, name string) map[string]bool {
	t.Helper()
	res := tr.do("GET", "/"+name, "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET /%s: %d %s", name, res.status, res.body)
	}
	var doc struct {
		Versions map[string]struct {
			Dist struct {
				Integrity  string              `json:"integrity"`
				Signatures []signing.Signature `json:"signatures"`
			} `json:"dist"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(res.body, &doc); err != nil {
		t.Fatal(err)
	}
	info, _, err := tr.srv.Signing.Ensure(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	spki, err := base64.StdEncoding.DecodeString(info.Public.Key)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for v, m := range doc.Versions {
		out[v] = len(m.Dist.Signatures) == 1 &&
			signing.Verify(spki, signing.Message(name, v, m.Dist.Integrity), m.Dist.Signatures[0])
	}
	return out
}

// TestServeSignsBacklog: versions stored unsigned, as before registry
// signatures, are signed in the background once the server serves, and
// then served signed; the backlog is empty after.
func TestServeSignsBacklog(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	tr.srv.Registry.SetSigner(nil) // as a gatehouse from before signatures
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if res := tr.do("PUT", "/old-pkg", alice, publishBody(t, "old-pkg", v)); res.status != http.StatusCreated {
			t.Fatalf("publish %s: %d %s", v, res.status, res.body)
		}
	}
	if got := signedVersions(t, tr, "old-pkg"); len(got) != 2 || got["1.0.0"] || got["1.1.0"] {
		t.Fatalf("signed before the backlog ran: %v", got)
	}
	if n, err := tr.srv.store.Q().SigningBacklogSize(t.Context()); err != nil || n != 1 {
		t.Fatalf("backlog %d (%v), want 1", n, err)
	}

	tr.srv.Registry.SetSigner(tr.srv.Signing)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- tr.srv.Serve(ctx, ln, nil) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := signedVersions(t, tr, "old-pkg")
		if got["1.0.0"] && got["1.1.0"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not signed in the background: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, err := tr.srv.store.Q().SigningBacklogSize(t.Context()); err != nil || n != 0 {
		t.Errorf("backlog %d (%v) after signing, want 0", n, err)
	}
}

// TestKeysEndpoint: GET /-/npm/v1/keys answers anyone with npm's shape: the
// key in use with "expires": null, its key id that of its SPKI.
func TestKeysEndpoint(t *testing.T) {
	tr := newTestRegistry(t)
	info, _, err := tr.srv.Signing.Ensure(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	res := tr.do("GET", "/-/npm/v1/keys", "", nil)
	if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /-/npm/v1/keys: %d %s %s", res.status, res.header.Get("Content-Type"), res.body)
	}
	spki, err := base64.StdEncoding.DecodeString(info.Public.Key)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"keys":[{"expires":null,"keyid":"` + signing.KeyID(spki) +
		`","keytype":"ecdsa-sha2-nistp256","scheme":"ecdsa-sha2-nistp256","key":"` + info.Public.Key + `"}]}`
	if got := string(bytes.TrimSpace(res.body)); got != want {
		t.Errorf("keys:\n got %s\nwant %s", got, want)
	}
}
