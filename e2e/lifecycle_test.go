package e2e

import (
	"net/http"
	"slices"
	"testing"
)

// TestRestartAndCrash checks that accounts, tokens and packages outlive a
// clean restart and a SIGKILL.
func TestRestartAndCrash(t *testing.T) {
	t.Parallel()
	srv, token, alice := startWithUser(t, "alice")
	npm := alice.tool
	alice.publishSpec(pkgSpec{Name: "e2e-durable", Version: "1.0.0"})
	alice.publishSpec(pkgSpec{Name: "@alice/durable", Version: "1.0.0"})

	srv.Restart(t) // SIGTERM must exit 0; the cleanup checks that again at the end
	if got := whoamiName(t, srv.whoami(t, token)); got != "alice" {
		t.Errorf("whoami after restart = %q, want alice", got)
	}
	project := makeProject(t, nil)
	alice.mustRun(project, "install", "e2e-durable", "@alice/durable")
	assertInstalled(t, project, "e2e-durable", "1.0.0")
	assertInstalled(t, project, "@alice/durable", "1.0.0")
	if res := srv.do(t, http.MethodGet, "@alice%2fdurable", "", nil); res.Status != http.StatusNotFound {
		t.Errorf("restricted package after restart, anonymous: got %d, want 404", res.Status)
	}

	alice.publishSpec(pkgSpec{Name: "e2e-durable", Version: "1.1.0"})
	srv.Kill(t)
	srv.Start(t)
	alice.publishSpec(pkgSpec{Name: "e2e-durable", Version: "1.2.0"})
	anon := newClient(t, srv, npm)
	if got, want := anon.viewList("e2e-durable", "versions"), []string{"1.0.0", "1.1.0", "1.2.0"}; !slices.Equal(got, want) {
		t.Errorf("versions after SIGKILL and restart = %v, want %v", got, want)
	}
	project = makeProject(t, nil)
	anon.mustRun(project, "install", "e2e-durable@1.1.0")
	assertInstalled(t, project, "e2e-durable", "1.1.0")
	if srv.Logs() == "" {
		t.Errorf("the server logged nothing to stderr")
	}
}
