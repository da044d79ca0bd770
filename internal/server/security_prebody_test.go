package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// onEachStore runs fn on a registry with its metadata in SQLite, and again
// in PostgreSQL when GATEHOUSE_TEST_POSTGRES names a server (on CI, a
// missing server fails the test).
func onEachStore(t *testing.T, fn func(t *testing.T, tr *testRegistry), mutate ...func(*config.Config)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newTestRegistry(t, mutate...)) })
	t.Run("postgres", func(t *testing.T) {
		dbURL, _ := pgtest.NewDatabase(t, pgtest.AdminURL(t, "the security tests on PostgreSQL"), "gatehouse_security")
		fn(t, newTestRegistry(t, append(mutate, func(c *config.Config) { c.Database = dbURL })...))
	})
}

// answerBeforeBody sends a request's head, declaring a body of length
// bytes, and only the first bytes of that body, then waits up to 10 s for
// the answer without sending the rest: a registry that reads the body
// before deciding never answers. It returns the status and the answer's
// body and headers.
func (tr *testRegistry) answerBeforeBody(method, path, tok string, length int, first []byte, headers ...string) response {
	tr.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(tr.url, "http://"))
	if err != nil {
		tr.t.Fatal(err)
	}
	defer conn.Close()
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: registry\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, path, length)
	if tok != "" {
		fmt.Fprintf(&head, "Authorization: Bearer %s\r\n", tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&head, "%s: %s\r\n", headers[i], headers[i+1])
	}
	head.WriteString("\r\n")
	head.Write(first)
	if _, err := conn.Write(head.Bytes()); err != nil {
		tr.t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tr.t.Fatalf("%s %s: no answer before the body was sent: %v", method, path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, body}
}

// publishHead is the start of the body npm sends to publish name@version
// with a tarball of size bytes: the document, in npm's order, up to the
// first bytes of the tarball's data.
func publishHead(name, version string, size int) []byte {
	return []byte(fmt.Sprintf(`{"_id":%q,"name":%q,"dist-tags":{"latest":%q},"versions":{%q:{"name":%q,"version":%q,`+
		`"dist":{"shasum":"%040d"}}},"access":null,"_attachments":{"%s-%s.tgz":{"content_type":"application/octet-stream",`+
		`"length":%d,"data":"H4sIAAAAAAAA`, name, name, version, version, name, version, 0, name, version, size))
}

// TestAnonymousPublishRefusedBeforeBody: a publish is refused (401, 403,
// 404 or the OTP challenge) before a byte of its body beyond the
// document's head is read, when the URL and the credential decide it: an
// anonymous client, a stranger to the package, a read-only token, a user
// who owes a one-time password. Before, a 100 MB body was decoded,
// base64-decoded, hashed and unpacked before the 401.
func TestAnonymousPublishRefusedBeforeBody(t *testing.T) {
	onEachStore(t, func(t *testing.T, tr *testRegistry) {
		alice, mallory := tr.user("alice"), tr.user("mallory")
		for _, name := range []string{"demo", "@alice/secret"} {
			if res := tr.do("PUT", "/"+escape(name), alice, publishBody(t, name, "1.0.0")); res.status != 201 {
				t.Fatalf("publish %s: %d %s", name, res.status, res.body)
			}
		}
		readOnly := tr.mustToken(alice, map[string]any{"password": "password-alice", "readonly": true})
		const size = 50 << 20
		tests := []struct {
			who, path, tok string
			status         int
			challenge      string
		}{
			{"anonymous, a new name", "/fresh", "", 401, ""},
			{"anonymous, an existing package", "/demo", "", 401, ""},
			{"anonymous, a revision update", "/demo/-rev/1-abc", "", 401, ""},
			{"a stranger, someone's public package", "/demo", mallory, 403, ""},
			{"a stranger, someone's private package", "/@alice%2fsecret", mallory, 404, ""},
			{"a stranger, someone's scope", "/@alice%2fnew", mallory, 404, ""},
			{"a stranger, a revision update of a private package", "/@alice%2fsecret/-rev/1-abc", mallory, 404, ""},
			{"a read-only token", "/demo", readOnly, 403, ""},
		}
		for _, tt := range tests {
			res := tr.answerBeforeBody("PUT", tt.path, tt.tok, size, publishHead("demo", "2.0.0", size))
			if res.status != tt.status {
				t.Errorf("%s: %d %s, want %d before the body", tt.who, res.status, res.body, tt.status)
			}
		}

		// A user in auth-and-writes mode who sends no one-time password is
		// challenged at once.
		tr.enable2FA(alice, "password-alice", "auth-and-writes")
		res := tr.answerBeforeBody("PUT", "/demo", alice, size, publishHead("demo", "2.0.0", size))
		if res.status != 401 || res.header.Get("WWW-Authenticate") != "OTP" {
			t.Errorf("a publish owing a one-time password: %d %v %s, want the OTP challenge before the body",
				res.status, res.header, res.body)
		}
		// A wrong one is refused once the document's head is read, before
		// the tarball's data.
		res = tr.answerBeforeBody("PUT", "/demo", alice, size, publishHead("demo", "2.0.0", size), "npm-otp", "000000")
		if res.status != 401 || res.header.Get("WWW-Authenticate") != "OTP" {
			t.Errorf("a publish with a wrong one-time password: %d %v %s, want the OTP challenge before the tarball",
				res.status, res.header, res.body)
		}
	}, func(c *config.Config) { c.MaxBodySize = 100 << 20 })
}

// gzipBomb is a body whose tarball unpacks to more than 1 GiB: gzip members
// of 64 MiB of zeros each, one after another.
func gzipBomb(t *testing.T) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 64 {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	return bytes.Repeat(member.Bytes(), 17)
}

// TestAnonymousGzipBombAnswered401: an anonymous gzip bomb gets 401, not
// the 400 that tells the registry unpacked it.
func TestAnonymousGzipBombAnswered401(t *testing.T) {
	tr := newTestRegistry(t, func(c *config.Config) { c.MaxBodySize = 64 << 20 })
	bomb := gzipBomb(t)
	body := testkit.PublishBody(nil, "bomb", "1.0.0", bomb)
	res := tr.do("PUT", "/bomb", "", body)
	if res.status != 401 {
		t.Fatalf("an anonymous gzip bomb: %d %s, want 401", res.status, res.body)
	}
	// Signed in, it is read and refused for what it is.
	alice := tr.user("alice")
	res = tr.do("PUT", "/bomb", alice, body)
	if res.status != 400 || !strings.Contains(res.errorText(t), "unpacks to more than") {
		t.Fatalf("a gzip bomb from a user: %d %s, want 400", res.status, res.body)
	}
}

// TestSmallEndpointsBoundTheirBodies: the endpoints that need kilobytes
// refuse a large body with 413 (and an anonymous caller with 401 before
// reading it), whatever --max-body-size allows a publish.
func TestSmallEndpointsBoundTheirBodies(t *testing.T) {
	tr := newTestRegistry(t, func(c *config.Config) { c.MaxBodySize = 100 << 20 })
	alice := tr.user("alice")
	if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	big := map[string]any{"name": "x", "padding": strings.Repeat("x", 1<<20)}
	bigString, _ := json.Marshal(strings.Repeat("x", 1<<20))
	tests := []struct {
		method, path, tok string
		body              any
	}{
		{"PUT", "/-/user/org.couchdb.user:bob", "", big},
		{"POST", "/-/v1/login", "", big},
		{"POST", "/-/npm/v1/tokens", alice, big},
		{"POST", "/-/npm/v1/user", alice, big},
		{"PUT", "/-/org/acme/user", alice, big},
		{"PUT", "/-/org/acme/team", alice, big},
		{"PUT", "/-/team/acme/developers/package", alice, big},
		{"POST", "/-/package/demo/access", alice, big},
		{"PUT", "/-/package/demo/dist-tags/beta", alice, string(bigString)},
	}
	for _, tt := range tests {
		res := tr.do(tt.method, tt.path, tt.tok, tt.body)
		if res.status != 413 {
			t.Errorf("%s %s with a 1 MiB body: %d %s, want 413", tt.method, tt.path, res.status, res.body)
		}
	}
	for _, path := range []string{"/-/npm/v1/tokens", "/-/npm/v1/user"} {
		if res := tr.answerBeforeBody("POST", path, "", 1<<20, []byte(`{"password":"`)); res.status != 401 {
			t.Errorf("anonymous POST %s: %d %s, want 401 before the body", path, res.status, res.body)
		}
	}
}

// TestPublishBodyOfAnyOrder: the streamed reading takes a publish whatever
// the order of its keys (npm sends the tarball last, Go's encoder first),
// with a tarball whose base64 is split over lines.
func TestPublishBodyOfAnyOrder(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	tgz := testkit.PackageTarball(t, `{"name":"order","version":"1.0.0"}`)
	data := base64.StdEncoding.EncodeToString(tgz)
	lines := data[:20] + "\n" + data[20:]
	npmOrder := fmt.Sprintf(`{"_id":"order","name":"order","dist-tags":{"latest":"1.0.0"},"versions":{"1.0.0":{"name":"order",`+
		`"version":"1.0.0","dist":{"shasum":%q,"integrity":%q}}},"access":null,"_attachments":{"order-1.0.0.tgz":`+
		`{"content_type":"application/octet-stream","data":%q,"length":%d}}}`, testkit.Shasum(tgz), testkit.Integrity(tgz), lines, len(tgz))
	if res := tr.do("PUT", "/order", alice, npmOrder); res.status != 201 {
		t.Fatalf("npm's order: %d %s", res.status, res.body)
	}
	got := tr.do("GET", "/order/-/order-1.0.0.tgz", "", nil)
	if got.status != 200 || !bytes.Equal(got.body, tgz) {
		t.Fatalf("the tarball published: %d, %d bytes, want the %d sent", got.status, len(got.body), len(tgz))
	}
}
