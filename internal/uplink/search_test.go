package uplink

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

func TestSearch(t *testing.T) {
	const one = `{"package":{"name":"@types/node","scope":"types","version":"1.0.0","description":"d","keywords":["k"],` +
		`"date":"2026-01-02T03:04:05.000Z","maintainers":[{"username":"u","email":"u@example.com"}]}}`
	tests := []struct {
		name      string
		status    int
		answer    string
		wantNames string
		wantTotal int
		wantErr   string
	}{
		{name: "results", status: 200, answer: `{"objects":[` + one + `],"total":41}`, wantNames: "@types/node", wantTotal: 41},
		{name: "none", status: 200, answer: `{"objects":[],"total":0}`, wantTotal: 0},
		{name: "a result that is no package name is dropped", status: 200,
			answer: `{"objects":[{"package":{"name":"../etc"}},{"package":{"name":"@/x"}},` + one + `],"total":3}`, wantNames: "@types/node", wantTotal: 3},
		{name: "error status", status: 503, answer: `down`, wantErr: "answered 503 Service Unavailable for a search"},
		{name: "not JSON", status: 200, answer: `<html>`, wantErr: "unusable answer to a search"},
		{name: "no total", status: 200, answer: `{"objects":[]}`, wantErr: "unusable answer to a search"},
		{name: "too large", status: 200, answer: `{"objects":[` + strings.Repeat(" ", MaxSearchSize) + `],"total":0}`, wantErr: "larger than the 8MiB limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				if r.URL.Path != "/npm/-/v1/search" || q.Get("text") != "node types" || q.Get("from") != "20" || q.Get("size") != "5" {
					t.Errorf("asked %s", r.URL)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.answer)
			})
			page, err := uplinkTo(t, up.URL+"/npm").Search(t.Context(), "node types", 20, 5)
			if tt.wantErr != "" {
				if err == nil || !fault.Is(err, fault.Upstream) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want an upstream fault saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range page.Results {
				names = append(names, r.Name)
			}
			if strings.Join(names, " ") != tt.wantNames || page.Total != tt.wantTotal {
				t.Fatalf("got %v of %d", names, page.Total)
			}
			if len(page.Results) == 1 {
				r := page.Results[0]
				if r.Scope != "types" || r.Version != "1.0.0" || r.Maintainers[0].Username != "u" || r.Date.Year() != 2026 {
					t.Errorf("result %+v", r)
				}
			}
		})
	}
}
