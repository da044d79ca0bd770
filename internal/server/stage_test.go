package server

import (
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
)

// TestStageRefusedBeforeBody: staging is authorised before a byte of the
// body past the document's head is read, as a publish is: an anonymous
// client, a stranger to the package or to its scope, and a read-only token
// are refused at once.
func TestStageRefusedBeforeBody(t *testing.T) {
	onEachStore(t, func(t *testing.T, tr *testRegistry) {
		alice, mallory := tr.user("alice"), tr.user("mallory")
		if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0")); res.status != 201 {
			t.Fatalf("publish demo: %d %s", res.status, res.body)
		}
		readOnly := tr.mustToken(alice, map[string]any{"password": "password-alice", "readonly": true})
		const size = 50 << 20
		tests := []struct {
			who, path, tok string
			status         int
		}{
			{"anonymous, a new name", "/-/stage/package/fresh", "", 401},
			{"anonymous, an existing package", "/-/stage/package/demo", "", 401},
			{"a stranger, someone's package", "/-/stage/package/demo", mallory, 403},
			{"a stranger, someone's scope", "/-/stage/package/@alice%2fnew", mallory, 404},
			{"a read-only token", "/-/stage/package/demo", readOnly, 403},
		}
		for _, tt := range tests {
			res := tr.answerBeforeBody("POST", tt.path, tt.tok, size, publishHead("demo", "2.0.0", size))
			if res.status != tt.status {
				t.Errorf("%s: %d %s, want %d before the body", tt.who, res.status, res.body, tt.status)
			}
		}
	}, func(c *config.Config) { c.MaxBodySize = 100 << 20 })
}

// TestStageBadBodies: a staged upload is checked as a publish is, and a
// refused one leaves nothing staged.
func TestStageBadBodies(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	good := func() map[string]any { return publishBody(t, "demo", "1.0.0") }
	tests := []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"not JSON", "not json", 400, "invalid JSON body"},
		{"no tarball", map[string]any{"name": "demo", "versions": map[string]any{}}, 400, "must carry its tarball"},
		{"name mismatch", func() map[string]any { b := good(); b["name"] = "other"; return b }(), 400, "does not match the URL"},
		{"wrong shasum", func() map[string]any {
			b := good()
			b["versions"].(map[string]any)["1.0.0"].(map[string]any)["dist"] = map[string]any{"shasum": strings.Repeat("0", 40)}
			return b
		}(), 400, "shasum"},
	}
	for _, tt := range tests {
		res := tr.do("POST", "/-/stage/package/demo", alice, tt.body)
		if res.status != tt.status || !strings.Contains(string(res.body), tt.want) {
			t.Errorf("%s: %d %s, want %d with %q", tt.name, res.status, res.body, tt.status, tt.want)
		}
	}
	list := tr.do("GET", "/-/stage", alice, nil)
	if !strings.Contains(string(list.body), `"total":0`) {
		t.Errorf("refused uploads left staged versions: %s", list.body)
	}
}

// TestStageOnlyTokenAndTwoFactor: a stage-only token stages without a
// one-time password whatever the user's 2FA mode, and approving with a
// session asks for one; a publish with the token is refused with
// E_STAGE_REQUIRED once the one-time password every package write needs
// in auth-and-writes mode is given.
func TestStageOnlyTokenAndTwoFactor(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	stageOnly := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "ci", "packages_all": true,
		"packages_and_scopes_permission": "read-write-stage-only"})
	secret, _ := tr.enable2FA(alice, "password-alice", "auth-and-writes")
	res := tr.do("POST", "/-/stage/package/demo", stageOnly, publishBody(t, "demo", "1.0.0"))
	if res.status != 201 {
		t.Fatalf("stage with a stage-only token: %d %s", res.status, res.body)
	}
	id, _ := res.json(t)["stageId"].(string)
	wantOTPChallenge(t, tr.do("POST", "/-/stage/"+id+"/approve", alice, nil))
	res = tr.do("PUT", "/demo", stageOnly, publishBody(t, "demo", "1.0.1"), "npm-otp", otpAt(secret, 0))
	if res.status != 403 || !strings.Contains(res.errorText(t), "E_STAGE_REQUIRED") {
		t.Errorf("publish with a stage-only token: %d %s, want 403 E_STAGE_REQUIRED", res.status, res.body)
	}
	res = tr.do("POST", "/-/stage/"+id+"/approve", alice, nil, "npm-otp", otpAt(secret, 1))
	if res.status != 201 || !strings.Contains(string(res.body), "approved and published") {
		t.Fatalf("approve with a one-time password: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/demo/1.0.0", "", nil); res.status != 200 {
		t.Errorf("the approved version: %d %s", res.status, res.body)
	}
}
