package e2e

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// auditFront stands in front of an upstream gatehouse as the public
// registry would: it answers the bulk audit itself, with an advisory for
// uplink-audited below 1.1.0, logging every body it is sent, and passes
// everything else to the registry behind it.
type auditFront struct {
	mu    sync.Mutex
	asked []map[string][]string
	hs    *httptest.Server
}

func startAuditFront(t *testing.T, target string) *auditFront {
	t.Helper()
	to, err := url.Parse(strings.TrimRight(target, "/"))
	if err != nil {
		t.Fatal(err)
	}
	f := &auditFront{}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(to)
		r.Out.Host = r.In.Host
	}}
	f.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/-/npm/v1/security/advisories/bulk" {
			proxy.ServeHTTP(w, r)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, "not gzip", http.StatusBadRequest)
				return
			}
			body = zr
		}
		var asked map[string][]string
		if err := json.NewDecoder(body).Decode(&asked); err != nil {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.asked = append(f.asked, asked)
		f.mu.Unlock()
		answer := map[string]any{}
		if _, ok := asked["uplink-audited"]; ok {
			answer["uplink-audited"] = []map[string]any{{
				"id": 1100001, "url": "https://example.com/advisories/1100001", "title": "Command injection in uplink-audited",
				"severity": "high", "vulnerable_versions": "<1.1.0", "cwe": []string{"CWE-78"},
				"cvss": map[string]any{"score": 8.1, "vectorString": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"},
			}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(f.hs.Close)
	return f
}

func (f *auditFront) requests() []map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string][]string(nil), f.asked...)
}

// TestUplinkAudit is `npm audit` (npm 11) through gatehouse: the
// uplink's advisory for a public dependency is reported, and the uplink
// hears only of public names, never of the local package, the local
// scope's package, or the local name it has a package of too.
func TestUplinkAudit(t *testing.T) {
	t.Parallel()
	npm := npm11(t)
	up := startServer(t)
	front := startAuditFront(t, up.URL())
	pub := up.createUser(t, "pub")
	for _, spec := range []pkgSpec{
		{Name: "uplink-audited", Version: "1.0.0"},
		{Name: "uplink-audited", Version: "1.1.0"},
		{Name: "uplink-clean", Version: "2.0.0"},
	} {
		publishHTTP(t, up.URL(), pub, spec)
	}
	proxy := startServer(t, writeUplinkConfig(t, fmt.Sprintf("[[uplinks]]\nname = \"public\"\nurl = %q\n", front.hs.URL))...)
	acme := proxy.createUser(t, "acme")
	publishHTTP(t, proxy.URL(), acme, pkgSpec{Name: "@acme/secret-sauce", Version: "1.0.0"})
	publishHTTP(t, proxy.URL(), acme, pkgSpec{Name: "internal-billing", Version: "1.0.0"})
	// The upstream has internal-billing too, later: a local name all the same.
	publishHTTP(t, up.URL(), pub, pkgSpec{Name: "internal-billing", Version: "9.0.0"})

	c := newClient(t, proxy, npm)
	project := makeProject(t, map[string]string{
		"uplink-audited": "1.0.0", "uplink-clean": "^2.0.0", "@acme/secret-sauce": "^1.0.0", "internal-billing": "^1.0.0",
	})
	c.mustRun(project, "install", "--no-audit")
	assertInstalled(t, project, "uplink-audited", "1.0.0")
	assertInstalled(t, project, "internal-billing", "1.0.0")

	res := c.run(project, "audit", "--json")
	var report struct {
		Vulnerabilities map[string]struct {
			Severity string `json:"severity"`
			Via      []struct {
				Title string `json:"title"`
				Range string `json:"range"` // the advisory's vulnerable_versions
			} `json:"via"`
		} `json:"vulnerabilities"`
		Metadata struct {
			Vulnerabilities map[string]int `json:"vulnerabilities"`
		} `json:"metadata"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &report); err != nil {
		t.Fatalf("npm audit --json printed invalid JSON: %v\n%s", err, res)
	}
	if res.Code == 0 || report.Error != nil {
		t.Errorf("npm audit should exit non-zero for a high advisory, without an error:\n%s", res)
	}
	v, ok := report.Vulnerabilities["uplink-audited"]
	if !ok || v.Severity != "high" || len(v.Via) != 1 || v.Via[0].Range != "<1.1.0" || v.Via[0].Title != "Command injection in uplink-audited" {
		t.Errorf("uplink-audited's vulnerability: %+v\n%s", v, res)
	}
	if len(report.Vulnerabilities) != 1 || report.Metadata.Vulnerabilities["high"] != 1 {
		t.Errorf("vulnerabilities %v, metadata %v: want uplink-audited's alone", report.Vulnerabilities, report.Metadata.Vulnerabilities)
	}

	asked := front.requests()
	if len(asked) == 0 {
		t.Fatal("the upstream was never sent the audit")
	}
	for _, a := range asked {
		for _, local := range []string{"@acme/secret-sauce", "internal-billing"} {
			if _, ok := a[local]; ok {
				t.Errorf("the upstream was told of the local package %s: %v", local, a)
			}
		}
		if got := strings.Join(a["uplink-audited"], ","); got != "1.0.0" || len(a["uplink-clean"]) != 1 || len(a) != 2 {
			t.Errorf("the upstream was sent %v, want uplink-audited 1.0.0 and uplink-clean", a)
		}
	}

	// The human report, and npm audit fix --force moves to the fixed version (outside the exact
	// range the project asked for).
	res = c.run(project, "audit")
	if !strings.Contains(res.Stdout, "Command injection in uplink-audited") || !strings.Contains(res.Stdout, "1 high severity vulnerability") {
		t.Errorf("npm audit:\n%s", res)
	}
	c.mustRun(project, "audit", "fix", "--force")
	assertInstalled(t, project, "uplink-audited", "1.1.0")
}
