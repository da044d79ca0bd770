package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// fakeRegistry answers the requests seed sends, in process, and records
// them. It checks what a registry would: tokens on writes, versions in order.
type fakeRegistry struct {
	mu       sync.Mutex
	users    []string
	tokens   []map[string]any
	versions map[string][]string
	failAt   int // fail the n-th publish (1-based); 0 never
	publishN int
	// Once the failAt-th publish has failed, later publishes are held until
	// the client gives them up (or heldFor passes, then answered): a client
	// that stops at a failure cancels them, and none completes.
	failed    bool
	completed int // publishes answered 201 after the failure
}

// heldFor bounds how long the fake holds a publish that arrives after the
// failure it was told to make.
const heldFor = 10 * time.Second

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if r.Method == "PUT" && f.failed && !strings.HasPrefix(r.URL.Path, "/-/") {
		f.publishN++
		f.mu.Unlock()
		// Read to the end: only then does the server notice the client leave.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
			return
		case <-time.After(heldFor):
		}
		f.mu.Lock()
		f.completed++
		f.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		return
	}
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	auth := r.Header.Get("Authorization")
	switch {
	case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/-/user/org.couchdb.user:"):
		var u map[string]any
		if json.Unmarshal(body, &u) != nil || u["password"] == "" {
			http.Error(w, `{"error":"bad user"}`, http.StatusBadRequest)
			return
		}
		f.users = append(f.users, u["name"].(string))
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"token": "session-" + u["name"].(string)})
	case r.Method == "POST" && r.URL.Path == "/-/npm/v1/tokens":
		var req map[string]any
		if !strings.HasPrefix(auth, "Bearer session-") || json.Unmarshal(body, &req) != nil {
			http.Error(w, `{"error":"no"}`, http.StatusUnauthorized)
			return
		}
		f.tokens = append(f.tokens, req)
		json.NewEncoder(w).Encode(map[string]string{"token": "granular-" + strconv.Itoa(len(f.tokens))})
	case r.Method == "PUT":
		f.publishN++
		if auth != "Bearer session-bench" || f.publishN == f.failAt {
			f.failed = f.failed || f.publishN == f.failAt
			http.Error(w, `{"error":"forbidden"}`, http.StatusForbidden)
			return
		}
		var doc struct {
			Name     string                    `json:"name"`
			Versions map[string]map[string]any `json:"versions"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || len(doc.Versions) != 1 {
			http.Error(w, `{"error":"bad body"}`, http.StatusBadRequest)
			return
		}
		for v := range doc.Versions {
			f.versions[doc.Name] = append(f.versions[doc.Name], v)
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"ok":true}`)
	default:
		http.NotFound(w, r)
	}
}

// runAgainst runs the command args[0] with -registry naming a server of
// fake (up until the test ends) and the rest of args as its flags. It
// returns the exit code and what the command printed.
func runAgainst(t *testing.T, fake *fakeRegistry, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errs strings.Builder
	args = append([]string{args[0], "-registry", testkit.Serve(t, fake)}, args[1:]...)
	code = run(t.Context(), args, &out, &errs)
	return code, out.String(), errs.String()
}

func TestSeedCommand(t *testing.T) {
	fake := &fakeRegistry{versions: map[string][]string{}}
	out := filepath.Join(t.TempDir(), "state.json")
	code, _, stderr := runAgainst(t, fake, "seed", "-packages", "6", "-versions", "3", "-hot-versions", "12",
		"-readme-bytes", "1000", "-users", "2", "-tokens", "2", "-out", out)
	if code != 0 {
		t.Fatalf("seed: %d %s", code, stderr)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	var st State
	if ok, err := readJSON(out, &st); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if st.Publishes != 12+5*3 || st.Users != 3 || st.Tokens != 1+2*2 || st.HotPackage != "bench-stream-0000" ||
		st.ReadToken != "granular-1" || st.PublishToken != "session-bench" || st.TarballPath != "/bench-stream-0000/-/bench-stream-0000-1.1.1.tgz" {
		t.Fatalf("state %+v", st)
	}
	if len(fake.users) != 3 || fake.users[0] != "bench" || len(fake.tokens) != 5 || fake.tokens[0]["packages_all"] != true {
		t.Fatalf("users %v tokens %v", fake.users, fake.tokens)
	}
	for i := range 6 {
		name := testCorpus.Name(i)
		got := fake.versions[name]
		want := 3
		if i == 0 {
			want = 12
		}
		if len(got) != want {
			t.Fatalf("%s: %d versions", name, len(got))
		}
		for k, v := range got {
			if v != VersionString(k) {
				t.Fatalf("%s: versions published out of order: %v", name, got)
			}
		}
	}
}

func TestSeedVerdaccioUsesLoginToken(t *testing.T) {
	fake := &fakeRegistry{versions: map[string][]string{}}
	code, stdout, stderr := runAgainst(t, fake, "seed", "-kind", "verdaccio", "-packages", "2", "-versions", "1",
		"-hot-versions", "0", "-users", "1")
	if code != 0 {
		t.Fatalf("seed: %d %s", code, stderr)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	var st State
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.ReadToken != "session-bench" || st.Tokens != 0 || len(fake.tokens) != 0 || st.Publishes != 2 {
		t.Fatalf("state %+v, tokens %v", st, fake.tokens)
	}
}

func TestSeedStopsAtAFailedPublish(t *testing.T) {
	fake := &fakeRegistry{versions: map[string][]string{}, failAt: 5}
	code, _, stderr := runAgainst(t, fake, "seed", "-packages", "10", "-versions", "3", "-users", "0")
	if code != 1 || !strings.Contains(stderr, "status 403") {
		t.Fatalf("seed: %d %s", code, stderr)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	// The other three workers may each have sent one publish before the
	// failure was seen; those are held, and must be given up, not answered.
	if fake.publishN > 5+3 || fake.completed != 0 {
		t.Errorf("%d publishes in all, %d completed after the failure", fake.publishN, fake.completed)
	}
}

func TestPublishCommand(t *testing.T) {
	fake := &fakeRegistry{versions: map[string][]string{}}
	out := filepath.Join(t.TempDir(), "publish.json")
	code, _, stderr := runAgainst(t, fake, "publish", "-token", "session-bench", "-count", "9",
		"-packages", "3", "-size", "4096", "-out", out)
	if code != 0 {
		t.Fatalf("publish: %d %s", code, stderr)
	}
	var res PublishResult
	if ok, err := readJSON(out, &res); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if res.Count != 9 || res.P50ms <= 0 || res.P99ms < res.P50ms || res.TarballBytes < 4000 || res.TarballBytes > 4200 {
		t.Fatalf("result %+v", res)
	}
	fake.mu.Lock()
	got := fake.versions["pub-0002"]
	fake.mu.Unlock()
	if len(got) != 3 || got[2] != "1.0.2" {
		t.Fatalf("pub-0002 versions %v", got)
	}
	if code, _, _ := runAgainst(t, fake, "publish", "-token", "wrong", "-count", "2"); code != 1 {
		t.Fatalf("a refused publish exited %d", code)
	}
}

func TestSmallCommands(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "state.json")
	testkit.WriteFile(t, file, `{"read_token": "npm_abc", "publishes": 42}`)
	var stdout, stderr strings.Builder
	if code := run(t.Context(), []string{"field", file, "read_token"}, &stdout, &stderr); code != 0 || stdout.String() != "npm_abc\n" {
		t.Errorf("field: %d %q %s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := run(t.Context(), []string{"field", file, "publishes"}, &stdout, &stderr); code != 0 || stdout.String() != "42\n" {
		t.Errorf("field number: %d %q", code, stdout.String())
	}
	if code := run(t.Context(), []string{"field", file, "nope"}, &stdout, &stderr); code != 1 {
		t.Errorf("missing field exited %d", code)
	}
	stdout.Reset()
	if code := run(t.Context(), []string{"freeport"}, &stdout, &stderr); code != 0 {
		t.Fatalf("freeport: %d", code)
	}
	if port, err := strconv.Atoi(strings.TrimSpace(stdout.String())); err != nil || port <= 0 || port > 65535 {
		t.Errorf("freeport printed %q", stdout.String())
	}
	proj := filepath.Join(dir, "project")
	if code := run(t.Context(), []string{"project", "-packages", "5", "-deps", "5", "-dir", proj}, &stdout, &stderr); code != 0 {
		t.Fatalf("project: %d %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(proj, "package.json")); err != nil {
		t.Error(err)
	}
	for _, args := range [][]string{{}, {"nope"}, {"seed"}, {"seed", "-registry", "http://127.0.0.1:1", "-kind", "npm"},
		{"publish"}, {"memwatch"}, {"report"}, {"project", "-deps", "5", "-packages", "4", "-dir", proj}} {
		if code := run(t.Context(), args, &stdout, &stderr); code == 0 {
			t.Errorf("%v exited 0", args)
		}
	}
	if code := run(t.Context(), []string{"help"}, &stdout, &stderr); code != 0 {
		t.Errorf("help exited %d", code)
	}
}
