package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAudit(t *testing.T) {
	t.Parallel()
	srv, _, alice := startWithUser(t, "alice")
	npm := alice.tool
	alice.publishSpec(pkgSpec{Name: "e2e-leaf", Version: "1.0.0"})
	alice.publishSpec(pkgSpec{Name: "e2e-audited", Version: "1.0.0", Deps: map[string]string{"e2e-leaf": "^1.0.0"}})

	anon := newClient(t, srv, npm)
	project := makeProject(t, nil)
	res := anon.mustRun(project, "install", "--audit", "e2e-audited")
	if !strings.Contains(res.Stdout, "found 0 vulnerabilities") {
		t.Errorf("npm install --audit does not report 0 vulnerabilities:\n%s", res)
	}
	assertInstalled(t, project, "e2e-leaf", "1.0.0")

	res = anon.mustRun(project, "audit", "--json")
	var report struct {
		AuditReportVersion int                        `json:"auditReportVersion"`
		Vulnerabilities    map[string]json.RawMessage `json:"vulnerabilities"`
		Metadata           struct {
			Vulnerabilities map[string]int `json:"vulnerabilities"`
			Dependencies    map[string]int `json:"dependencies"`
		} `json:"metadata"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &report); err != nil {
		t.Fatalf("npm audit --json printed invalid JSON: %v\n%s", err, res)
	}
	if report.Error != nil {
		t.Fatalf("npm audit --json reports an error: %s", report.Error)
	}
	if report.AuditReportVersion != 2 {
		t.Errorf("auditReportVersion = %d, want 2", report.AuditReportVersion)
	}
	if len(report.Vulnerabilities) != 0 {
		t.Errorf("vulnerabilities = %v, want none", report.Vulnerabilities)
	}
	if total, ok := report.Metadata.Vulnerabilities["total"]; !ok || total != 0 {
		t.Errorf("metadata.vulnerabilities = %v, want total 0", report.Metadata.Vulnerabilities)
	}
	if got := report.Metadata.Dependencies["total"]; got != 2 {
		t.Errorf("metadata.dependencies.total = %d, want 2 (e2e-audited and e2e-leaf)", got)
	}

	res = anon.mustRun(project, "audit")
	if !strings.Contains(res.Stdout, "found 0 vulnerabilities") {
		t.Errorf("npm audit does not report 0 vulnerabilities:\n%s", res)
	}
}
