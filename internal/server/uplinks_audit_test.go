package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

const bulkPath = "/-/npm/v1/security/advisories/bulk"

// auditUpstream answers the bulk audit as the public registry does and
// keeps every body it was sent.
type auditUpstream struct {
	*fakeUpstream
	mu     sync.Mutex
	asked  []map[string][]string
	status int
}

func startAuditUpstream(t *testing.T) *auditUpstream {
	t.Helper()
	a := &auditUpstream{fakeUpstream: startFake(t), status: http.StatusOK}
	a.handle(bulkPath, func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("the bulk audit's body is not gzip: %v", err)
				return
			}
			body = zr
		}
		var asked map[string][]string
		if err := json.NewDecoder(body).Decode(&asked); err != nil {
			t.Errorf("the bulk audit's body: %v", err)
		}
		a.mu.Lock()
		a.asked = append(a.asked, asked)
		status := a.status
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		// Advisories for what was asked, and one for a name it was not
		// asked about, which gatehouse must not pass on.
		_, _ = io.WriteString(w, `{"lodash":[{"id":1523,"url":"https://example.com/a/1523","title":"Prototype Pollution",`+
			`"severity":"high","vulnerable_versions":"<4.17.12","cwe":["CWE-471"],"cvss":{"score":7.4,"vectorString":"CVSS:3.1/AV:N"}}],`+
			`"internal-tool":[{"id":9,"title":"made up","severity":"critical","vulnerable_versions":"*"}]}`)
	})
	return a
}

func (a *auditUpstream) requests() []map[string][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]map[string][]string(nil), a.asked...)
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUplinkAudit: npm's bulk audit is forwarded to the uplink without
// any local name (a local package, one unpublished, a local
// organization's or user's scope) or a name the caller's token may not
// read, and the uplink's advisories come back; an uplink that fails gives
// an empty answer with an npm-notice header; bad and oversized bodies are
// refused before the uplink is asked.
func TestUplinkAudit(t *testing.T) {
	up := startAuditUpstream(t)
	proxy := proxyTo(t, up.url)
	alice := proxy.user("alice")
	if _, err := proxy.srv.Orgs.Create(t.Context(), audit.Operator(), "acme", "alice"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"internal-tool", "gone-tool", "@acme/x"} {
		if res := proxy.do("PUT", "/"+escape(name), alice, publishBody(t, name, "1.0.0")); res.status != 201 {
			t.Fatalf("publish %s locally: %d %s", name, res.status, res.body)
		}
	}
	if res := proxy.do("DELETE", "/gone-tool/-rev/1", alice, nil); res.status != 200 {
		t.Fatalf("unpublish gone-tool: %d %s", res.status, res.body)
	}
	acmeOnly := proxy.mustToken(alice, map[string]any{"password": "password-alice", "name": "acme", "scopes": []string{"@acme"}})

	installed := map[string][]string{
		"lodash": {"4.17.11", "4.17.21"}, "left-pad": {"1.3.0"},
		"internal-tool": {"1.0.0"}, "gone-tool": {"1.0.0"}, "@acme/x": {"1.0.0"}, "@acme/not-yet": {"1.0.0"},
		"@alice/secret": {"2.0.0"}, "not a name!": {"1.0.0"},
	}
	plain, err := json.Marshal(installed)
	if err != nil {
		t.Fatal(err)
	}
	public := map[string][]string{"lodash": {"4.17.11", "4.17.21"}, "left-pad": {"1.3.0"}}

	tests := []struct {
		name      string
		token     string
		body      []byte
		gzip      bool
		wantAsked map[string][]string // nil: the uplink is not asked
	}{
		{name: "gzipped, as npm sends it", body: plain, gzip: true, wantAsked: public},
		{name: "plain JSON", body: plain, wantAsked: public},
		{name: "a session", token: alice, body: plain, gzip: true, wantAsked: public},
		{name: "a token limited to @acme/* reads no public name", token: acmeOnly, body: plain, gzip: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(up.requests())
			body, headers := tt.body, []string{}
			if tt.gzip {
				body, headers = gzipped(t, body), []string{"Content-Encoding", "gzip"}
			}
			res := proxy.do("POST", bulkPath, tt.token, body, headers...)
			if res.status != 200 {
				t.Fatalf("%d %s", res.status, res.body)
			}
			asked := up.requests()[before:]
			if tt.wantAsked == nil {
				if len(asked) != 0 || len(res.json(t)) != 0 {
					t.Errorf("the uplink was asked %v; answer %s, want {}", asked, res.body)
				}
				return
			}
			if len(asked) != 1 || !sameInstalled(asked[0], tt.wantAsked) {
				t.Fatalf("the uplink was asked %v, want once %v", asked, tt.wantAsked)
			}
			var answer map[string][]struct {
				ID       int    `json:"id"`
				Severity string `json:"severity"`
				Range    string `json:"vulnerable_versions"`
			}
			if err := json.Unmarshal(res.body, &answer); err != nil {
				t.Fatal(err)
			}
			if l := answer["lodash"]; len(answer) != 1 || len(l) != 1 || l[0].ID != 1523 || l[0].Severity != "high" || l[0].Range != "<4.17.12" {
				t.Errorf("answer %s, want lodash's advisory alone", res.body)
			}
			if res.header.Get("npm-notice") != "" {
				t.Errorf("npm-notice %q on a whole answer", res.header.Get("npm-notice"))
			}
		})
	}

	// The attacker's bodies: refused, and the uplink is not asked.
	bomb := gzipped(t, append(append([]byte(`{"lodash":["`), bytes.Repeat([]byte("1"), 17<<20)...), `"]}`...))
	bad := []struct {
		name   string
		body   []byte
		header []string
		status int
		says   string
	}{
		{"a gzip bomb", bomb, []string{"Content-Encoding", "gzip"}, 413, "once decompressed"},
		{"not gzip", []byte(`{"lodash":["1.0.0"]}`), []string{"Content-Encoding", "gzip"}, 400, "not valid gzip"},
		{"another encoding", []byte(`{}`), []string{"Content-Encoding", "br"}, 400, "not supported"},
		{"not JSON", []byte(`lodash@1`), nil, 400, "invalid JSON"},
		{"versions not a list", []byte(`{"lodash":"1.0.0"}`), nil, 400, "invalid JSON"},
	}
	before := len(up.requests())
	for _, tt := range bad {
		res := proxy.do("POST", bulkPath, "", tt.body, tt.header...)
		if res.status != tt.status || !strings.Contains(string(res.body), tt.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tt.name, res.status, res.body, tt.status, tt.says)
		}
	}
	if n := len(up.requests()) - before; n != 0 {
		t.Errorf("the uplink was asked %d times for refused audits", n)
	}

	// The uplink fails: an empty answer, and a notice npm prints.
	up.mu.Lock()
	up.status = http.StatusInternalServerError
	up.mu.Unlock()
	res := proxy.do("POST", bulkPath, "", gzipped(t, plain), "Content-Encoding", "gzip")
	if res.status != 200 || len(res.json(t)) != 0 || !strings.Contains(res.header.Get("npm-notice"), "may miss some") {
		t.Errorf("the uplink failing: %d %s, npm-notice %q", res.status, res.body, res.header.Get("npm-notice"))
	}
}

// TestUplinkAuditOffline: an offline uplink is not asked; the audit
// answers empty, with the notice.
func TestUplinkAuditOffline(t *testing.T) {
	up := startAuditUpstream(t)
	proxy := proxyTo(t, up.url, func(s *uplink.Spec, _ *config.Config) { s.Offline = true })
	res := proxy.do("POST", bulkPath, "", []byte(`{"lodash":["4.17.11"]}`))
	if res.status != 200 || len(res.json(t)) != 0 || res.header.Get("npm-notice") == "" {
		t.Errorf("%d %s, npm-notice %q", res.status, res.body, res.header.Get("npm-notice"))
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the offline uplink was asked %d times", n)
	}
}

func sameInstalled(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, ",") != strings.Join(b[k], ",") {
			return false
		}
	}
	return true
}
