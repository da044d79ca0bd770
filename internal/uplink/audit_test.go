package uplink

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

func TestBulkAdvisories(t *testing.T) {
	const advisory = `[{"id":1,"url":"u","title":"t","severity":"high","vulnerable_versions":"<2"}]`
	tests := []struct {
		name    string
		status  int
		answer  string
		want    map[string]string // name -> advisories as sent
		wantErr string
	}{
		{name: "advisories", status: 200, answer: `{"lodash":` + advisory + `}`, want: map[string]string{"lodash": advisory}},
		{name: "nothing found", status: 200, answer: `{}`, want: map[string]string{}},
		{name: "a name not asked of is dropped", status: 200, answer: `{"lodash":[],"secret-thing":` + advisory + `}`, want: map[string]string{"lodash": `[]`}},
		{name: "error status", status: 500, answer: `oops`, wantErr: "uplink up answered 500 Internal Server Error for a bulk audit"},
		{name: "refused token", status: 401, answer: `{}`, wantErr: "check the uplink's token"},
		{name: "not JSON", status: 200, answer: `<html>`, wantErr: "unusable answer to a bulk audit"},
		{name: "not lists", status: 200, answer: `{"lodash":{"id":1}}`, wantErr: "unusable answer to a bulk audit"},
		{name: "too large", status: 200, answer: `{"lodash":[` + strings.Repeat(" ", MaxAdvisoriesSize) + `]}`, wantErr: "larger than the 32MiB limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string][]string
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/npm/-/npm/v1/security/advisories/bulk" ||
					r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Authorization") != "Bearer tok" {
					t.Errorf("asked %s %s %v", r.Method, r.URL.Path, r.Header)
				}
				zr, err := gzip.NewReader(r.Body)
				if err != nil {
					t.Errorf("body not gzipped: %v", err)
				} else if err := json.NewDecoder(zr).Decode(&got); err != nil {
					t.Errorf("body: %v", err)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.answer)
			})
			u := uplinkTo(t, up.URL+"/npm")
			asked := map[string][]string{"lodash": {"1.0.0", "1.2.0"}}
			adv, err := u.BulkAdvisories(t.Context(), asked)
			if len(got["lodash"]) != 2 || len(got) != 1 {
				t.Errorf("the uplink was sent %v", got)
			}
			if tt.wantErr != "" {
				if err == nil || !fault.Is(err, fault.Upstream) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want an upstream fault saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(adv) != len(tt.want) {
				t.Fatalf("got %v, want %v", adv, tt.want)
			}
			for name, list := range tt.want {
				if string(adv[name]) != list {
					t.Errorf("%s: got %s, want %s", name, adv[name], list)
				}
			}
		})
	}
}

func TestBulkAdvisoriesOffline(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {})
	u := uplinkTo(t, up.URL, func(s *Spec) { s.Offline = true })
	if _, err := u.BulkAdvisories(t.Context(), map[string][]string{"a": {"1.0.0"}}); err == nil || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("err = %v", err)
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("an offline uplink was sent %d requests", n)
	}
}
