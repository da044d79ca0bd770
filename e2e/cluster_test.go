package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha512"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// The cluster tests run several gatehouse processes on one PostgreSQL
// database, one blob store and one server key, as nodes behind a load
// balancer would, and check that what is done through one node shows on the
// others within a second.

const (
	// clusterPostgresEnv holds the URL of a PostgreSQL role that may create
	// databases; each test makes a database of its own and drops it.
	clusterPostgresEnv = "GATEHOUSE_TEST_POSTGRES"
	// clusterS3Env holds the s3:// URL of a bucket (credentials in
	// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); each test uses a prefix
	// of its own.
	clusterS3Env = "GATEHOUSE_TEST_S3"
	// propagation is the promise: a change made through one node shows on
	// every other within it.
	propagation = time.Second
	// propagationPoll is how often a test looks for the change meanwhile.
	propagationPoll = 50 * time.Millisecond
)

// cluster is a set of gatehouse nodes sharing one database, one blob store
// and one key file.
type cluster struct {
	nodes   []*server
	dbURL   string  // holds a password: never in a log or a process list
	db      *sql.DB // the test's own connection to the nodes' database
	keyFile string
}

// clusterSetups prepares n nodes on a new database (dropped when the test
// ends, after the nodes have stopped), a shared blob store and a shared key
// file that does not exist yet (the first node to start creates it).
func clusterSetups(t *testing.T, n int) ([]serverSetup, *cluster) {
	t.Helper()
	adminURL := os.Getenv(clusterPostgresEnv)
	if adminURL == "" {
		unavailable(t, "%s is empty: the cluster tests need PostgreSQL (.ci/run starts one)", clusterPostgresEnv)
	}
	s3 := os.Getenv(clusterS3Env)
	if s3 == "" {
		unavailable(t, "%s is empty: the cluster tests need an S3 server (.ci/run starts one)", clusterS3Env)
	}

	dbURL, _ := pgtest.NewDatabase(t, adminURL, "gatehouse_e2e")
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	keyFile := filepath.Join(t.TempDir(), "secrets", "server.key")
	args := []string{"--key-file", keyFile}
	u, err := url.Parse(s3)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", clusterS3Env, err)
	}
	q := u.Query()
	q.Set("prefix", "gatehouse-e2e-"+randomHex(t, 6)+"/")
	u.RawQuery = q.Encode()
	args = append(args, "--blobs", u.String())
	setups := make([]serverSetup, n)
	for i := range setups {
		dataDir := t.TempDir()
		// The URL holds a password: it goes in the environment, not in
		// the process list.
		setups[i] = serverSetup{dataDir: dataDir, env: []string{"GATEHOUSE_DATABASE=" + dbURL}, args: args}
	}
	return setups, &cluster{dbURL: dbURL, db: db, keyFile: keyFile}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// run runs the gatehouse binary with args against the cluster's database
// (given in the environment) and returns its output and exit code.
func (c *cluster) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatehouseBin, args...)
	cmd.Env = append(gatehouseEnv(), "GATEHOUSE_DATABASE="+c.dbURL)
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("run gatehouse %s: %v", strings.Join(args, " "), err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// startCluster starts n nodes one after the other.
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	setups, c := clusterSetups(t, n)
	for _, s := range setups {
		c.nodes = append(c.nodes, startServerWith(t, s))
	}
	return c
}

// startClusterTogether starts n nodes at the same moment.
func startClusterTogether(t *testing.T, n int) *cluster {
	t.Helper()
	setups, c := clusterSetups(t, n)
	for _, s := range setups {
		c.nodes = append(c.nodes, newServer(t, s))
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range c.nodes {
		wg.Go(func() {
			<-start
			errs[i] = s.launchOnFreePort()
		})
	}
	close(start)
	wg.Wait()
	for i, s := range c.nodes {
		if errs[i] == nil {
			s.stopAtEnd(t)
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d did not come up: %v\nits log:\n%s", i, err, tail(c.nodes[i].Logs(), 8<<10))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return c
}

// waitFor calls done every propagationPoll until it reports true, and returns
// how long after since that was; it fails the test, with the state done last
// reported, past propagation.
func waitFor(t *testing.T, what string, since time.Time, done func() (bool, string)) time.Duration {
	t.Helper()
	for {
		ok, state := done()
		if ok {
			return time.Since(since)
		}
		if time.Since(since) > propagation {
			t.Fatalf("%s: still not so %v later (%s)", what, time.Since(since).Round(time.Millisecond), state)
		}
		time.Sleep(propagationPoll)
	}
}

// get reads one document from a node with the given Accept header; it is
// safe to call from any goroutine.
func get(client *http.Client, url, accept string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// The Accept headers of npm's two packument reads.
const (
	acceptAbbreviated = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
	acceptFull        = "application/json"
)

// packumentVersions returns the versions (with their dist) a node serves
// for name, read with accept.
func packumentVersions(client *http.Client, node *server, name, accept string) (map[string]packumentDist, error) {
	status, body, err := get(client, node.URL()+rbPackagePath(name), accept)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", name, status, bytes.TrimSpace(body))
	}
	var doc struct {
		Versions map[string]struct {
			Dist packumentDist `json:"dist"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode packument of %s: %w", name, err)
	}
	out := map[string]packumentDist{}
	for v, m := range doc.Versions {
		out[v] = m.Dist
	}
	return out, nil
}

type packumentDist struct {
	Tarball   string `json:"tarball"`
	Integrity string `json:"integrity"`
}

// TestCluster runs three nodes on one database and one blob store: a package
// published with npm through one installs with npm through another; a token
// revoked through the third is refused by the other two within a second
// (they had it cached); 30 versions of one package published concurrently
// through all three are all kept and served whole by each; and a change
// through any node shows within a second on the others, which held the
// packument in memory.
func TestCluster(t *testing.T) {
	t.Parallel()
	npm := npm11(t)
	c := startCluster(t, 3)
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	client := &http.Client{Timeout: 30 * time.Second}

	// Publish through A, install through B with a fresh cache.
	session := a.createUser(t, "alice")
	const lib = "cluster-lib"
	newClient(t, a, npm).login(session).publishSpec(pkgSpec{Name: lib, Version: "1.0.0"})
	project := makeProject(t, nil)
	newClient(t, b, npm).mustRun(project, "install", lib)
	assertInstalled(t, project, lib, "1.0.0")
	lock := string(readFile(t, project, "package-lock.json"))
	if want := `"resolved": "` + b.URL() + lib + "/-/" + lib + `-1.0.0.tgz"`; !strings.Contains(lock, want) {
		t.Errorf("package-lock.json lacks %s:\n%s", want, lock)
	}

	// Tokens: created through A, used (and so cached) on every node, then
	// revoked through C: once with npm, once through the API.
	aliceA := newClient(t, a, npm).login(session)
	newToken := func(name string) string {
		return createdToken(t, aliceA.mustRun("", "token", "create", "--name", name, "--packages-all",
			"--packages-and-scopes-permission", "read-write", "--password", passwordOf("alice")))
	}
	viaNPM, viaAPI := newToken("revoked with npm"), newToken("revoked through the API")
	for _, tok := range []string{viaNPM, viaAPI} {
		for _, n := range c.nodes {
			if got := whoamiName(t, n.whoami(t, tok)); got != "alice" {
				t.Fatalf("whoami on %s = %q, want alice", n.addr, got)
			}
		}
	}
	assertWhoami(t, newClient(t, b, npm).login(viaNPM), "alice")
	assertWhoami(t, newClient(t, cc, npm).login(viaNPM), "alice")

	revocations := []struct {
		name   string
		tok    string
		revoke func()
	}{
		{"npm token revoke", viaNPM, func() {
			res := newClient(t, cc, npm).login(session).mustRun("", "token", "revoke", viaNPM)
			if !strings.Contains(res.Stdout, "Removed 1 token") {
				t.Errorf("npm token revoke printed %q, want Removed 1 token", res.Stdout)
			}
		}},
		{"DELETE /-/npm/v1/tokens/token/:token", viaAPI, func() {
			if res := cc.do(t, http.MethodDelete, "-/npm/v1/tokens/token/"+viaAPI, session, nil); res.Status != http.StatusNoContent && res.Status != http.StatusOK {
				t.Fatalf("revoke through the API: %s", res)
			}
		}},
	}
	for _, r := range revocations {
		r.revoke()
		revoked := time.Now()
		// The node that revoked refuses at once.
		if res := cc.whoami(t, r.tok); res.Status != http.StatusUnauthorized {
			t.Fatalf("%s: the revoking node answers %s right after, want 401", r.name, res)
		}
		for _, n := range []*server{a, b} {
			took := waitFor(t, r.name+": "+n.addr+" refuses the token", revoked, func() (bool, string) {
				res := n.whoami(t, r.tok)
				return res.Status == http.StatusUnauthorized, res.String()
			})
			t.Logf("%s: %s refused the token %v after the revocation returned", r.name, n.addr, took.Round(time.Millisecond))
		}
	}
	assertFailed(t, newClient(t, b, npm).login(viaNPM).run("", "whoami"), "E401")

	// Every node reads the packument now, so each holds it in memory.
	for _, n := range c.nodes {
		for _, accept := range []string{acceptAbbreviated, acceptFull} {
			got, err := packumentVersions(client, n, lib, accept)
			if err != nil || !slices.Equal(slices.Sorted(maps.Keys(got)), []string{"1.0.0"}) {
				t.Fatalf("%s serves versions %v (%v), want [1.0.0]", n.addr, slices.Sorted(maps.Keys(got)), err)
			}
		}
	}

	// 30 versions at once, 10 through each node: 9 as npm's PUT, one with npm.
	type release struct {
		version string
		node    *server
		body    []byte // nil: published with npm
		dir     string // the package folder npm publishes
	}
	var releases []release
	want := []string{"1.0.0"}
	for i := range 30 {
		v := fmt.Sprintf("2.%d.0", i)
		r := release{version: v, node: c.nodes[i%3]}
		if i < 3 {
			r.dir = makePackage(t, pkgSpec{Name: lib, Version: v})
		} else {
			r.body = rbPublishBody(rbMustRelease(t, lib, v, 256, uint64(i)))
		}
		releases = append(releases, r)
		want = append(want, v)
	}
	slices.Sort(want)
	publishers := map[*server]*npmClient{}
	for _, n := range c.nodes {
		publishers[n] = newClient(t, n, npm).login(session)
	}
	errs := make([]error, len(releases))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, r := range releases {
		wg.Go(func() {
			<-start
			if r.body == nil {
				ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
				defer cancel()
				// npm 11 will not move latest below a higher version,
				// which another publish may have made already.
				out, err := publishers[r.node].command(ctx, r.dir, "publish", "--tag", "burst").CombinedOutput()
				if err != nil {
					errs[i] = fmt.Errorf("npm publish %s through %s: %v\n%s", r.version, r.node.addr, err, out)
				}
				return
			}
			status, body, err := rbSend(client, http.MethodPut, r.node.URL()+rbPackagePath(lib), session,
				bytes.NewReader(r.body), int64(len(r.body)))
			if err != nil || status != http.StatusCreated {
				errs[i] = fmt.Errorf("PUT %s@%s through %s: %d %s %v", lib, r.version, r.node.addr, status, bytes.TrimSpace(body), err)
			}
		})
	}
	close(start)
	wg.Wait()
	published := time.Now()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	var stored int
	if err := c.db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM versions v JOIN packages p ON p.id = v.package_id
		WHERE p.name = $1`, lib).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != len(want) {
		t.Errorf("the database holds %d versions of %s, want %d", stored, lib, len(want))
	}

	// Every node serves every version: nothing was lost to the race. (Each
	// node's own publishes emptied its cache too; the rounds below show the
	// feed alone at work.)
	var last map[string]packumentDist
	for _, n := range c.nodes {
		for _, accept := range []string{acceptAbbreviated, acceptFull} {
			took := waitFor(t, n.addr+" serves all "+fmt.Sprint(len(want))+" versions", published, func() (bool, string) {
				got, err := packumentVersions(client, n, lib, accept)
				if err != nil {
					return false, err.Error()
				}
				last = got
				keys := slices.Sorted(maps.Keys(got))
				return slices.Equal(keys, want), fmt.Sprintf("%d versions: %v", len(keys), keys)
			})
			t.Logf("%s (%s) served all %d versions %v after the last publish returned",
				n.addr, strings.SplitN(accept, ";", 2)[0], len(want), took.Round(time.Millisecond))
		}
		// Every tarball, whichever node took it, comes whole from this one.
		for v, dist := range last {
			if !strings.HasPrefix(dist.Tarball, n.URL()) {
				t.Errorf("%s: %s@%s tarball %s is not on this node", n.addr, lib, v, dist.Tarball)
				continue
			}
			status, body, err := get(client, dist.Tarball, "application/octet-stream")
			sum := sha512.Sum512(body)
			if err != nil || status != http.StatusOK || "sha512-"+base64.StdEncoding.EncodeToString(sum[:]) != dist.Integrity {
				t.Errorf("%s: GET %s: %d, %d bytes, %v; want 200 with integrity %s", n.addr, dist.Tarball, status, len(body), err, dist.Integrity)
			}
		}
	}
	if got := newClient(t, cc, npm).viewList(lib, "versions"); !slices.Equal(got, semverSorted(want)) {
		t.Errorf("npm view %s versions through %s = %v, want %v", lib, cc.addr, got, semverSorted(want))
	}

	// Each node in turn changes the package while the other two hold its
	// packument in memory (they have just served it, and changed nothing
	// since): only the change feed can tell them. A publish through each
	// node, then a dist-tag set with npm.
	for i, n := range c.nodes {
		v := fmt.Sprintf("3.%d.0", i)
		rel := rbMustRelease(t, lib, v, 64, uint64(100+i))
		body := rbPublishBody(rel)
		if status, res, err := rbSend(client, http.MethodPut, n.URL()+rbPackagePath(lib), session,
			bytes.NewReader(body), int64(len(body))); err != nil || status != http.StatusCreated {
			t.Fatalf("PUT %s@%s through %s: %d %s %v", lib, v, n.addr, status, bytes.TrimSpace(res), err)
		}
		changed := time.Now()
		want = append(want, v)
		slices.Sort(want)
		for _, other := range c.nodes {
			if other == n {
				continue
			}
			for _, accept := range []string{acceptAbbreviated, acceptFull} {
				took := waitFor(t, other.addr+" serves "+v+", published through "+n.addr, changed, func() (bool, string) {
					got, err := packumentVersions(client, other, lib, accept)
					if err != nil {
						return false, err.Error()
					}
					keys := slices.Sorted(maps.Keys(got))
					return slices.Equal(keys, want), fmt.Sprintf("%d versions: %v", len(keys), keys)
				})
				t.Logf("%s (%s) served %s, published through %s, %v later",
					other.addr, strings.SplitN(accept, ";", 2)[0], v, n.addr, took.Round(time.Millisecond))
			}
		}
	}
	newClient(t, cc, npm).login(session).mustRun("", "dist-tag", "add", lib+"@2.7.0", "stable")
	tagged := time.Now()
	for _, n := range []*server{a, b} {
		took := waitFor(t, n.addr+" shows the dist-tag stable set through "+cc.addr, tagged, func() (bool, string) {
			status, body, err := get(client, n.URL()+lib, acceptAbbreviated)
			if err != nil || status != http.StatusOK {
				return false, fmt.Sprintf("%d %v", status, err)
			}
			var doc struct {
				DistTags map[string]string `json:"dist-tags"`
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				return false, err.Error()
			}
			return doc.DistTags["stable"] == "2.7.0", fmt.Sprintf("dist-tags %v", doc.DistTags)
		})
		t.Logf("%s showed the dist-tag %v after npm dist-tag add returned", n.addr, took.Round(time.Millisecond))
	}
}

// semverSorted sorts versions of the form MAJOR.MINOR.PATCH numerically, as
// npm view lists them.
func semverSorted(versions []string) []string {
	out := slices.Clone(versions)
	slices.SortFunc(out, func(x, y string) int {
		var a, b [3]int
		fmt.Sscanf(x, "%d.%d.%d", &a[0], &a[1], &a[2])
		fmt.Sscanf(y, "%d.%d.%d", &b[0], &b[1], &b[2])
		return slices.Compare(a[:], b[:])
	})
	return out
}

// TestClusterStartsTogether starts three nodes at the same moment on an
// empty database and a key file that does not exist yet: one migrates while
// the others wait for the migration lock, one creates the key and the others
// take it, and all three serve. A fourth node with a key of its own refuses
// to start.
func TestClusterStartsTogether(t *testing.T) {
	t.Parallel()
	c := startClusterTogether(t, 3)
	var migrations int
	if err := c.db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&migrations); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join("..", "internal", "store", "migrations", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if migrations != len(entries) {
		t.Errorf("%d migrations recorded, want %d (one each, applied once)", migrations, len(entries))
	}
	// The schema version is the highest migration's number: each issue has
	// its own range of numbers, so they need not be contiguous.
	latest := 0
	for _, e := range entries {
		n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s has no number", e.Name())
		}
		latest = max(latest, n)
	}
	key, err := os.ReadFile(c.keyFile)
	if err != nil || len(key) != 32 {
		t.Fatalf("shared key file: %d bytes, %v", len(key), err)
	}
	if dir, _ := os.ReadDir(filepath.Dir(c.keyFile)); len(dir) != 1 {
		t.Errorf("the key folder holds %d entries, want the key alone", len(dir))
	}

	// An account made through one node works through the others.
	session := c.nodes[0].createUser(t, "alice")
	for _, n := range c.nodes {
		if got := whoamiName(t, n.whoami(t, session)); got != "alice" {
			t.Errorf("whoami on %s = %q, want alice", n.addr, got)
		}
	}

	// gatehouse migrate beside the running nodes finds nothing to do.
	out, code := c.run(t, "migrate")
	u, _ := url.Parse(c.dbURL)
	password, _ := u.User.Password()
	if code != 0 || !strings.Contains(out, fmt.Sprintf("schema version %d", latest)) ||
		(password != "" && strings.Contains(out, password)) {
		t.Errorf("gatehouse migrate: exit %d, want 0 and schema version %d without the password:\n%s", code, latest, out)
	}

	other := filepath.Join(t.TempDir(), "other.key")
	out, code = c.run(t, "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--key-file", other)
	if code != 1 || !strings.Contains(out, "not the key this database was first used with") || !strings.Contains(out, other) {
		t.Errorf("a node with another key: exit %d, want 1 with a refusal naming %s:\n%s", code, other, out)
	}
	if strings.Contains(out, hex.EncodeToString(key)) {
		t.Error("the refusal shows the shared key")
	}
}
