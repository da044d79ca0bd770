package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// verifyScript checks registry signatures as npm does, with the npm CLI's
// own pacote: the keys are read from the registry's /-/npm/v1/keys and
// given to pacote as npm audit signatures gives them (lib/utils/
// verify-signatures.js, setKeys and buildRegistryConfig), and each spec is resolved with verifySignatures.
// It prints one JSON result per spec.
const verifyScript = `
const [pacoteDir, registry, cache, ...specs] = process.argv.slice(2)
const pacote = require(pacoteDir)
;(async () => {
  const res = await fetch(new URL('-/npm/v1/keys', registry))
  if (res.status !== 200) throw new Error('GET /-/npm/v1/keys: ' + res.status)
  const { keys } = await res.json()
  const registryKeys = keys.map(k => ({ ...k,
    pemkey: '-----BEGIN PUBLIC KEY-----\n' + k.key + '\n-----END PUBLIC KEY-----' }))
  // pacote takes a registry's keys under '//host/path:_keys', as npm
  // audit signatures passes them (buildRegistryConfig).
  const { host, pathname } = new URL(registry)
  const regKey = '//' + host + pathname
  const out = []
  for (const spec of specs) {
    try {
      const m = await pacote.manifest(spec, { registry, cache, verifySignatures: true, preferOnline: true,
        [regKey + ':_keys']: registryKeys })
      out.push({ spec, ok: true, time: m._time || '', signatures: m._signatures || [] })
    } catch (err) {
      out.push({ spec, ok: false, code: err.code || '', message: err.message })
    }
  }
  console.log(JSON.stringify(out))
})().catch(err => { console.error(err); process.exit(2) })
`

// verified is the script's result for one spec.
type verified struct {
	Spec       string `json:"spec"`
	OK         bool   `json:"ok"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Time       string `json:"time"`
	Signatures []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

// pacoteDir is the npm CLI's own pacote (under `npm root -g`).
func pacoteDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("npm", "root", "-g").Output()
	if err != nil {
		unavailable(t, "npm root -g: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "npm", "node_modules", "pacote")
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		unavailable(t, "the npm CLI's pacote is not at %s: %v", dir, err)
	}
	return dir
}

// verifySignatures runs verifyScript against registry for specs and
// returns its results by spec.
func verifySignatures(t *testing.T, registry string, specs ...string) map[string]verified {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable(t, "no node on PATH: %v", err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "verify.js")
	testkit.WriteFile(t, script, verifyScript)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script, pacoteDir(t), registry, filepath.Join(dir, "cache")}, specs...)...)
	cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1,localhost")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("verify script: %v\n%s\n%s", err, out, stderr.String())
	}
	var results []verified
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("verify script printed %s: %v", out, err)
	}
	bySpec := map[string]verified{}
	for _, r := range results {
		bySpec[r.Spec] = r
	}
	return bySpec
}

// wantVerified fails unless spec verified with one signature by keyID.
func wantVerified(t *testing.T, results map[string]verified, spec, keyID string) {
	t.Helper()
	r, ok := results[spec]
	switch {
	case !ok:
		t.Errorf("%s: not verified at all", spec)
	case !r.OK:
		t.Errorf("%s: verification failed: %s %s", spec, r.Code, r.Message)
	case len(r.Signatures) != 1 || r.Signatures[0].KeyID != keyID:
		// pacote passes a version without signatures: gatehouse must sign.
		t.Errorf("%s: signatures %+v, want one by %s", spec, r.Signatures, keyID)
	}
}

// wantRefused fails unless spec failed verification with code.
func wantRefused(t *testing.T, results map[string]verified, spec, code string) {
	t.Helper()
	if r := results[spec]; r.OK || r.Code != code {
		t.Errorf("%s: %+v, want refused with %s", spec, r, code)
	}
}

// registryKey is an entry of GET /-/npm/v1/keys.
type registryKey struct {
	Expires *string `json:"expires"`
	KeyID   string  `json:"keyid"`
	KeyType string  `json:"keytype"`
	Scheme  string  `json:"scheme"`
	Key     string  `json:"key"`
}

// registryKeys reads base's keys endpoint and checks each key's shape: the
// key id is computed here from the key's bytes, as npm's convention says.
func registryKeys(t *testing.T, base string) []registryKey {
	t.Helper()
	res := testkit.Do(t, "GET", strings.TrimRight(base, "/")+"/-/npm/v1/keys", "", nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET /-/npm/v1/keys: %s", res)
	}
	var doc struct {
		Keys []registryKey `json:"keys"`
	}
	testkit.DecodeJSON(t, res.Body, &doc)
	for _, k := range doc.Keys {
		der, err := base64.StdEncoding.DecodeString(k.Key)
		if err != nil {
			t.Fatalf("key %s is not base64: %v", k.KeyID, err)
		}
		sum := sha256.Sum256(der)
		if want := "SHA256:" + strings.TrimRight(base64.StdEncoding.EncodeToString(sum[:]), "="); k.KeyID != want {
			t.Errorf("key id %s, want %s (SHA-256 of the SPKI)", k.KeyID, want)
		}
		if k.KeyType != "ecdsa-sha2-nistp256" || k.Scheme != "ecdsa-sha2-nistp256" {
			t.Errorf("key %s: keytype %q scheme %q", k.KeyID, k.KeyType, k.Scheme)
		}
	}
	return doc.Keys
}

// tamperProxy is a reverse proxy in front of a registry that changes the
// full packuments it passes, as an attacker between a client and the
// registry (or in its storage) would.
type tamperProxy struct {
	hs *httptest.Server
	mu sync.Mutex
	// edit changes a packument of name; nil passes it unchanged.
	edit func(name string, doc map[string]any)
}

func newTamperProxy(t *testing.T, target string) *tamperProxy {
	t.Helper()
	to, err := url.Parse(strings.TrimRight(target, "/"))
	if err != nil {
		t.Fatal(err)
	}
	tp := &tamperProxy{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(to)
			r.Out.Header.Del("Accept-Encoding") // bodies in the clear, to edit
		},
		ModifyResponse: func(res *http.Response) error {
			tp.mu.Lock()
			edit := tp.edit
			tp.mu.Unlock()
			name, err := url.PathUnescape(strings.TrimPrefix(res.Request.URL.EscapedPath(), "/"))
			if edit == nil || err != nil || res.StatusCode != http.StatusOK || strings.HasPrefix(name, "-/") ||
				strings.Contains(strings.TrimPrefix(name, "@"), "/-/") {
				return nil
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				return err
			}
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				return err
			}
			edit(name, doc)
			body, err = json.Marshal(doc)
			if err != nil {
				return err
			}
			res.Body = io.NopCloser(bytes.NewReader(body))
			res.ContentLength = int64(len(body))
			res.Header.Set("Content-Length", strconv.Itoa(len(body)))
			res.Header.Del("ETag")
			return nil
		},
	}
	tp.hs = httptest.NewServer(proxy)
	t.Cleanup(tp.hs.Close)
	return tp
}

func (tp *tamperProxy) URL() string { return tp.hs.URL + "/" }

func (tp *tamperProxy) set(edit func(name string, doc map[string]any)) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.edit = edit
}

// dist is the dist of version v in a decoded packument.
func dist(doc map[string]any, v string) map[string]any {
	return doc["versions"].(map[string]any)[v].(map[string]any)["dist"].(map[string]any)
}

// TestRegistrySignatures: versions published with the real npm carry
// registry signatures that the npm CLI's own pacote verifies against
// GET /-/npm/v1/keys; a signature, an integrity or a publish time changed
// on the way is refused; after `gatehouse keys rotate` the old versions
// keep verifying with the old key (listed with its expiry) and new ones
// with the new key.
func TestRegistrySignatures(t *testing.T) {
	srv, _, npm := startWithUser(t, "sigalice")
	npm.publishSpec(pkgSpec{Name: "sig-one", Version: "1.0.0"})
	npm.publishSpec(pkgSpec{Name: "sig-one", Version: "1.1.0"})
	npm.publishSpec(pkgSpec{Name: "@sigalice/sig-two", Version: "1.0.0"}, "--access", "public")

	keys := registryKeys(t, srv.URL())
	if len(keys) != 1 || keys[0].Expires != nil {
		t.Fatalf("keys of a new registry: %+v, want one without expiry", keys)
	}
	first := keys[0].KeyID
	got := verifySignatures(t, srv.URL(), "sig-one@1.0.0", "sig-one@1.1.0", "@sigalice/sig-two@1.0.0")
	for _, spec := range []string{"sig-one@1.0.0", "sig-one@1.1.0", "@sigalice/sig-two@1.0.0"} {
		wantVerified(t, got, spec, first)
	}

	// Changed on the way: 1.0.0 given 1.1.0's signature, or 1.1.0's
	// integrity (the tarball of another version), or a key id the registry
	// does not list.
	tp := newTamperProxy(t, srv.URL())
	for _, tc := range []struct {
		name string
		edit func(doc map[string]any)
		code string
	}{
		{"another version's signature", func(doc map[string]any) {
			dist(doc, "1.0.0")["signatures"] = dist(doc, "1.1.0")["signatures"]
		}, "EINTEGRITYSIGNATURE"},
		{"another integrity", func(doc map[string]any) {
			dist(doc, "1.0.0")["integrity"] = dist(doc, "1.1.0")["integrity"]
		}, "EINTEGRITYSIGNATURE"},
		{"a signature byte flipped", func(doc map[string]any) {
			sigs := dist(doc, "1.0.0")["signatures"].([]any)
			sig := sigs[0].(map[string]any)
			raw, _ := base64.StdEncoding.DecodeString(sig["sig"].(string))
			raw[len(raw)-1] ^= 1
			sig["sig"] = base64.StdEncoding.EncodeToString(raw)
		}, "EINTEGRITYSIGNATURE"},
		{"an unknown key", func(doc map[string]any) {
			dist(doc, "1.0.0")["signatures"].([]any)[0].(map[string]any)["keyid"] = "SHA256:unknown"
		}, "EMISSINGSIGNATUREKEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp.set(func(name string, doc map[string]any) {
				if name == "sig-one" {
					tc.edit(doc)
				}
			})
			res := verifySignatures(t, tp.URL(), "sig-one@1.0.0", "@sigalice/sig-two@1.0.0")
			wantRefused(t, res, "sig-one@1.0.0", tc.code)
			wantVerified(t, res, "@sigalice/sig-two@1.0.0", first) // untouched
		})
	}

	// Rotation: the old key stays listed with an expiry; 1.x keep their
	// signatures and verify; 2.0.0 is signed with the new key.
	out, code := runGatehouse(t, "", "keys", "rotate", "--data", srv.DataDir())
	if code != 0 || !strings.Contains(out, first) {
		t.Fatalf("gatehouse keys rotate: exit %d\n%s", code, out)
	}
	npm.publishSpec(pkgSpec{Name: "sig-one", Version: "2.0.0"})
	keys = registryKeys(t, srv.URL())
	if len(keys) != 2 || keys[0].KeyID != first || keys[0].Expires == nil || keys[1].Expires != nil {
		t.Fatalf("keys after rotation: %+v, want the old one with an expiry, then the new one", keys)
	}
	second := keys[1].KeyID
	expires, err := time.Parse(time.RFC3339, *keys[0].Expires)
	if err != nil {
		t.Fatalf("expiry %q: %v", *keys[0].Expires, err)
	}
	got = verifySignatures(t, srv.URL(), "sig-one@1.0.0", "sig-one@1.1.0", "sig-one@2.0.0", "@sigalice/sig-two@1.0.0")
	wantVerified(t, got, "sig-one@1.0.0", first)
	wantVerified(t, got, "sig-one@1.1.0", first)
	wantVerified(t, got, "@sigalice/sig-two@1.0.0", first)
	wantVerified(t, got, "sig-one@2.0.0", second)
	for _, spec := range []string{"sig-one@1.0.0", "sig-one@1.1.0"} {
		if pub, err := time.Parse(time.RFC3339, got[spec].Time); err != nil || !pub.Before(expires) {
			t.Errorf("%s published %q, not before the old key's expiry %s", spec, got[spec].Time, expires)
		}
	}

	// A version claiming a publish time after the old key's expiry is
	// refused: a stolen old key cannot sign new versions.
	tp.set(func(name string, doc map[string]any) {
		if name == "sig-one" {
			doc["time"].(map[string]any)["1.0.0"] = expires.Add(time.Hour).Format(time.RFC3339)
		}
	})
	res := verifySignatures(t, tp.URL(), "sig-one@1.0.0")
	wantRefused(t, res, "sig-one@1.0.0", "EEXPIREDSIGNATUREKEY")

	out, code = runGatehouse(t, "", "keys", "list", "--data", srv.DataDir())
	if code != 0 || !strings.Contains(out, first) || !strings.Contains(out, second) ||
		!strings.Contains(out, "in use") || !strings.Contains(out, *keys[0].Expires) {
		t.Errorf("gatehouse keys list: exit %d\n%s", code, out)
	}
}

// TestRegistrySignaturesThroughUplink: a registry proxying another
// gatehouse serves the proxied versions with the upstream's signatures and
// lists the upstream's key beside its own, so that pacote verifies proxied
// and local versions alike; the upstream's keys stay listed after a restart
// while the upstream is down.
func TestRegistrySignaturesThroughUplink(t *testing.T) {
	up := startServer(t)
	publishHTTP(t, up.URL(), up.createUser(t, "upstream"), pkgSpec{Name: "sig-proxied", Version: "1.0.0"})
	upKeys := registryKeys(t, up.URL())
	if len(upKeys) != 1 {
		t.Fatalf("upstream keys %+v", upKeys)
	}
	proxy := startServer(t, writeUplinkConfig(t, fmt.Sprintf("[[uplinks]]\nname = \"up\"\nurl = %q\n", up.URL()))...)
	publishHTTP(t, proxy.URL(), proxy.createUser(t, "local"), pkgSpec{Name: "sig-local", Version: "1.0.0"})

	keys := registryKeys(t, proxy.URL())
	if len(keys) != 2 || keys[1] != upKeys[0] || keys[0].KeyID == upKeys[0].KeyID {
		t.Fatalf("keys of the proxy %+v, want its own then the upstream's %+v", keys, upKeys)
	}
	got := verifySignatures(t, proxy.URL(), "sig-proxied@1.0.0", "sig-local@1.0.0")
	wantVerified(t, got, "sig-proxied@1.0.0", upKeys[0].KeyID)
	wantVerified(t, got, "sig-local@1.0.0", keys[0].KeyID)

	up.Stop(t)
	proxy.Restart(t)
	if again := registryKeys(t, proxy.URL()); len(again) != 2 || again[1] != upKeys[0] {
		t.Fatalf("keys of the proxy with the upstream down: %+v", again)
	}
}
