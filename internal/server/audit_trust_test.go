package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/idtoken"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestAuditTrustAndStage: trusted publishing and staged publishing write the
// audit log: a trust configuration made and revoked by its owner, an
// exchange (and a replayed one, refused) with the CI job's OIDC subject as
// the actor, a publish with the exchanged token under that subject, and a
// version staged, approved, staged and rejected.
func TestAuditTrustAndStage(t *testing.T) {
	is := testkit.NewIssuer(t)
	tr := newTestRegistry(t, func(c *config.Config) {
		c.URL = "http://127.0.0.1/"
		c.TrustedIssuers = []idtoken.Issuer{{URL: is.URL, Kind: idtoken.GitHub}}
	})
	alice, bob := tr.user("alice"), tr.user("bob")
	for _, p := range []struct{ tok, name string }{{alice, "lib"}, {bob, "blib"}} {
		if res := tr.do("PUT", "/"+p.name, p.tok, publishBody(t, p.name, "1.0.0")); res.status != http.StatusCreated {
			t.Fatalf("publish %s: %d %s", p.name, res.status, res.body)
		}
	}
	secret, _ := tr.enable2FA(alice, "password-alice", "auth-only")
	config := []map[string]any{{"type": "github", "claims": map[string]any{"repository": "o/r",
		"workflow_ref": map[string]string{"file": "publish.yml"}}, "permissions": []string{"createPackage"}}}
	res := tr.do("POST", "/-/package/lib/trust", alice, config, "npm-otp", otpAt(secret, 0))
	if res.status != http.StatusOK {
		t.Fatalf("trust: %d %s", res.status, res.body)
	}
	var made []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(res.body, &made); err != nil || len(made) != 1 {
		t.Fatalf("trust answered %s", res.body)
	}
	const subject = "repo:o/r:ref:refs/heads/main"
	idToken := is.Sign(is.Claims("npm:127.0.0.1", map[string]any{"sub": subject, "repository": "o/r",
		"workflow_ref": "o/r/.github/workflows/publish.yml@refs/heads/main"}))
	res = tr.do("POST", exchangePath+"lib", idToken, nil)
	if res.status != http.StatusCreated {
		t.Fatalf("exchange: %d %s", res.status, res.body)
	}
	tok := res.json(t)["token"].(string)
	if res := tr.do("POST", exchangePath+"lib", idToken, nil); res.status != http.StatusUnauthorized {
		t.Fatalf("replayed exchange: %d %s, want 401", res.status, res.body)
	}
	if res := tr.do("PUT", "/lib", tok, publishBody(t, "lib", "1.1.0")); res.status != http.StatusCreated {
		t.Fatalf("publish with the exchanged token: %d %s", res.status, res.body)
	}
	if res := tr.do("DELETE", "/-/package/lib/trust/"+made[0].ID, alice, nil, "npm-otp", otpAt(secret, 1)); res.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", res.status, res.body)
	}

	stage := func(version string) string {
		t.Helper()
		res := tr.do("POST", "/-/stage/package/blib", bob, publishBody(t, "blib", version))
		if res.status != http.StatusCreated && res.status != http.StatusOK {
			t.Fatalf("stage %s: %d %s", version, res.status, res.body)
		}
		id, _ := res.json(t)["stageId"].(string)
		if id == "" {
			t.Fatalf("stage %s answered %s, want a stageId", version, res.body)
		}
		return id
	}
	approved := stage("2.0.0")
	if res := tr.do("POST", "/-/stage/"+approved+"/approve", bob, nil); res.status != http.StatusCreated {
		t.Fatalf("approve: %d %s", res.status, res.body)
	}
	rejected := stage("2.1.0")
	if res := tr.do("DELETE", "/-/stage/"+rejected, bob, nil); res.status/100 != 2 {
		t.Fatalf("reject: %d %s", res.status, res.body)
	}

	ctx := t.Context()
	if err := tr.srv.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var events []audit.Event
	if _, err := tr.srv.Audit.Export(ctx, audit.Operator(), audit.Filter{}, 0, 0, func(e audit.Event) error {
		events = append(events, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	find := func(a audit.Action, o audit.Outcome, pkg, version string) audit.Event {
		t.Helper()
		for _, e := range events {
			if e.Action == a && e.Outcome == o && e.Target.Package == pkg && (version == "" || e.Target.Version == version) {
				return e
			}
		}
		t.Fatalf("no %s %s event for %s %s in the log:\n%v", o, a, pkg, version, events)
		return audit.Event{}
	}
	tests := []struct {
		name                  string
		action                audit.Action
		outcome               audit.Outcome
		pkg, version          string
		user, kind, oidcActor string
	}{
		{"trust configured by its owner", audit.TrustCreate, audit.Success, "lib", "", "alice", "session", ""},
		{"exchange, by the CI job", audit.TrustExchange, audit.Success, "lib", "", "alice", "oidc", subject},
		{"replayed exchange refused", audit.TrustExchange, audit.Failure, "lib", "", "", "", subject},
		{"publish with the exchanged token", audit.PackagePublish, audit.Success, "lib", "1.1.0", "alice", "oidc", subject},
		{"trust revoked by its owner", audit.TrustRevoke, audit.Success, "lib", "", "alice", "session", ""},
		{"staged", audit.PackageStage, audit.Success, "blib", "2.0.0", "bob", "session", ""},
		{"approved", audit.StageApprove, audit.Success, "blib", "2.0.0", "bob", "session", ""},
		{"published by the approval", audit.PackagePublish, audit.Success, "blib", "2.0.0", "bob", "session", ""},
		{"staged again", audit.PackageStage, audit.Success, "blib", "2.1.0", "bob", "session", ""},
		{"rejected", audit.StageReject, audit.Success, "blib", "2.1.0", "bob", "session", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := find(tt.action, tt.outcome, tt.pkg, tt.version)
			if e.Actor.User != tt.user || e.Actor.TokenKind != tt.kind || e.Actor.OIDCSubject != tt.oidcActor {
				t.Errorf("actor %+v, want user %q, kind %q, OIDC subject %q", e.Actor, tt.user, tt.kind, tt.oidcActor)
			}
			if tt.action == audit.TrustExchange && tt.outcome == audit.Success && e.Target.Token == "" {
				t.Errorf("the exchange names no token: %+v", e.Target)
			}
		})
	}
	// Nothing secret: neither the ID token nor the token it was exchanged for.
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{idToken, tok} {
			if strings.Contains(string(b), s) {
				t.Errorf("event %s holds a secret: %s", e.Action, b)
			}
		}
	}
}
