package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// rbRelease is one version of a package, ready to publish: its tarball and
// the digests npm would send with it.
type rbRelease struct {
	name, version string
	tgz           []byte
	shasum        string // hex SHA-1 of tgz
	integrity     string // "sha512-" + base64 SHA-512 of tgz
	sha512hex     string // hex SHA-512 of tgz, the blob's content address
}

// rbMakeRelease builds a gzip tar holding package/package.json for
// name@version and package/pad.bin with pad random (incompressible) bytes
// drawn from seed, so the tarball is about pad bytes long.
func rbMakeRelease(name, version string, pad int, seed uint64) (rbRelease, error) {
	manifest, err := json.Marshal(map[string]string{
		"name":        name,
		"version":     version,
		"description": "gatehouse robustness test package",
		"license":     "MIT",
	})
	if err != nil {
		return rbRelease{}, err
	}
	var seedBytes [32]byte
	for i := 0; i < 8; i++ {
		seedBytes[i] = byte(seed >> (8 * i))
	}
	padding := make([]byte, pad)
	_, _ = rand.NewChaCha8(seedBytes).Read(padding)

	tgz, err := testkit.Tarball(testkit.File{Name: "package/package.json", Data: manifest},
		testkit.File{Name: "package/pad.bin", Data: padding})
	if err != nil {
		return rbRelease{}, err
	}
	s512 := sha512.Sum512(tgz)
	return rbRelease{
		name:      name,
		version:   version,
		tgz:       tgz,
		shasum:    testkit.Shasum(tgz),
		integrity: testkit.Integrity(tgz),
		sha512hex: hex.EncodeToString(s512[:]),
	}, nil
}

// rbMustRelease is rbMakeRelease for the test goroutine.
func rbMustRelease(t *testing.T, name, version string, pad int, seed uint64) rbRelease {
	t.Helper()
	rel, err := rbMakeRelease(name, version, pad, seed)
	if err != nil {
		t.Fatalf("build tarball of %s@%s: %v", name, version, err)
	}
	return rel
}

// rbPublishBody is the JSON document npm sends to publish rel.
func rbPublishBody(rel rbRelease) []byte {
	b, err := json.Marshal(testkit.PublishBody(nil, rel.name, rel.version, rel.tgz))
	if err != nil {
		// Only strings, maps and ints: this cannot fail.
		panic(fmt.Sprintf("encode publish body: %v", err))
	}
	return b
}

// rbPackagePath is the URL path (no leading slash) of a package: a scoped
// name has its slash escaped, as npm sends it.
func rbPackagePath(name string) string {
	return strings.Replace(name, "/", "%2f", 1)
}

// rbTarballPath is the URL path (no leading slash) of name@version's tarball.
func rbTarballPath(name, version string) string {
	bare := name
	if i := strings.LastIndex(name, "/"); i >= 0 {
		bare = name[i+1:]
	}
	return rbPackagePath(name) + "/-/" + bare + "-" + version + ".tgz"
}

// rbBlobPath is where the blob store keeps a tarball whose SHA-512 is hexSum.
func rbBlobPath(dataDir, hexSum string) string {
	return filepath.Join(dataDir, "tarballs", "sha512", hexSum[:2], hexSum[2:])
}

// rbHTTPClient is a client with its own connection pool, so connections to
// a killed server are never reused for its successor.
func rbHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16},
	}
}

// rbSend sends one request and reads the whole answer. length is the
// Content-Length to declare; -1 sends the body chunked. It is safe to call
// from any goroutine: it reports errors instead of failing the test.
func rbSend(c *http.Client, method, url, token string, body io.Reader, length int64) (int, []byte, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.ContentLength = length
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, b, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, b, nil
}

// rbSendPublish publishes rel with c, as rbSend sends it.
func rbSendPublish(c *http.Client, srv *server, token string, rel rbRelease) (int, []byte, error) {
	body := rbPublishBody(rel)
	return rbSend(c, http.MethodPut, srv.URL()+rbPackagePath(rel.name), token, bytes.NewReader(body), int64(len(body)))
}

// whenDone returns a channel that is closed once wg's goroutines have all
// returned.
func whenDone(wg *sync.WaitGroup) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// rbPublish publishes rel through the harness client.
func rbPublish(t *testing.T, srv *server, token string, rel rbRelease) httpResult {
	t.Helper()
	return srv.do(t, http.MethodPut, rbPackagePath(rel.name), token, json.RawMessage(rbPublishBody(rel)))
}

// rbPackument is the part of a full packument the tests read.
type rbPackument struct {
	Name     string            `json:"name"`
	DistTags map[string]string `json:"dist-tags"`
	Versions map[string]struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Dist    struct {
			Shasum    string `json:"shasum"`
			Integrity string `json:"integrity"`
			Tarball   string `json:"tarball"`
		} `json:"dist"`
	} `json:"versions"`
	Time map[string]string `json:"time"`
}

// rbGetPackument fetches name's packument; ok is false on 404.
func rbGetPackument(t *testing.T, srv *server, token, name string) (rbPackument, bool) {
	t.Helper()
	res := srv.do(t, http.MethodGet, rbPackagePath(name), token, nil)
	if res.Status == http.StatusNotFound {
		return rbPackument{}, false
	}
	if res.Status != http.StatusOK {
		t.Fatalf("GET %s: got %s, want 200", name, res)
	}
	var doc rbPackument
	decodeJSON(t, res.Body, &doc)
	if doc.Name != name {
		t.Fatalf("GET %s: packument is named %q", name, doc.Name)
	}
	return doc, true
}

// rbCheckTarball downloads name@version and checks that it is exactly the
// tarball whose SHA-1 is shasum.
func rbCheckTarball(t *testing.T, srv *server, token, name, version, shasum string) {
	t.Helper()
	res := srv.do(t, http.MethodGet, rbTarballPath(name, version), token, nil)
	if res.Status != http.StatusOK {
		t.Errorf("GET tarball of %s@%s: got %d (%s), want 200", name, version, res.Status, tail(string(res.Body), 300))
		return
	}
	sum := sha1.Sum(res.Body)
	if got := hex.EncodeToString(sum[:]); got != shasum {
		t.Errorf("tarball of %s@%s: %d bytes with shasum %s, want %s", name, version, len(res.Body), got, shasum)
	}
}

// rbSignal sends sig to the running server process.
func rbSignal(t *testing.T, srv *server, sig os.Signal) {
	t.Helper()
	srv.mu.Lock()
	cmd := srv.cmd
	srv.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %v to gatehouse: %v", sig, err)
	}
}

// rbWaitExit waits up to d for the server process to end and returns how it
// ended (nil for exit status 0). Past d it kills the process and fails.
func rbWaitExit(t *testing.T, srv *server, d time.Duration) error {
	t.Helper()
	srv.mu.Lock()
	cmd, exited := srv.cmd, srv.exited
	srv.mu.Unlock()
	select {
	case <-exited:
		return srv.exitErr()
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("gatehouse did not exit within %v", d)
		return nil
	}
}

// rbWaitLog waits up to d for the server log to contain every one of want.
func rbWaitLog(t *testing.T, srv *server, d time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if countLines(srv.Logs(), want) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server log line with all of %q within %v", want, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rbCheckBlobFolder checks that every file in the blob folder under a final
// name (not a *.tmp temporary) holds exactly the content its name addresses:
// a half-written blob never sits under its final name.
func rbCheckBlobFolder(t *testing.T, dataDir string) (blobs, temps int) {
	t.Helper()
	root := filepath.Join(dataDir, "tarballs")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if strings.HasSuffix(d.Name(), ".tmp") {
			temps++
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 3 || parts[0] != "sha512" || len(parts[1]) != 2 {
			t.Errorf("unexpected file in the blob folder: %s", rel)
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha512.Sum512(data)
		if got := hex.EncodeToString(sum[:]); got != parts[1]+parts[2] {
			t.Errorf("blob %s holds %d bytes whose SHA-512 is %s: a partial blob under its final name", rel, len(data), got)
		}
		blobs++
		return nil
	})
	if err != nil {
		t.Fatalf("walk the blob folder: %v", err)
	}
	return blobs, temps
}

// rbDescribeExit says how a process ended, for messages.
func rbDescribeExit(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ProcessState.String()
	}
	return err.Error()
}

// TestCrashKeepsAcknowledgedPublishes publishes concurrently, SIGKILLs the
// server partway, and checks that every acknowledged publish survived whole
// and nothing half-written became visible.
func TestCrashKeepsAcknowledgedPublishes(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	token := srv.createUser(t, "alice")
	packages := []string{"rb-crash-a", "rb-crash-b", "@alice/rb-crash-c"}

	const total = 240
	const workers = 8
	type outcome struct {
		rel       rbRelease
		attempted bool
		status    int
		body      []byte
		err       error
	}
	outcomes := make([]outcome, total)
	jobs := make(chan int, total)
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)

	var completed atomic.Int64
	var killed atomic.Bool
	killNow := make(chan struct{})
	var killOnce sync.Once
	var wg sync.WaitGroup
	client := rbHTTPClient(time.Minute)
	defer client.CloseIdleConnections()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if killed.Load() {
					continue
				}
				o := &outcomes[i]
				name := packages[i%len(packages)]
				version := fmt.Sprintf("1.0.%d", i/len(packages))
				// Between 2 KiB and about 300 KiB, so some are still
				// being sent when the server dies.
				pad := 2<<10 + int(uint64(i)*7919%(298<<10))
				rel, err := rbMakeRelease(name, version, pad, uint64(i)+1)
				if err != nil {
					o.err = err
					continue
				}
				o.rel, o.attempted = rel, true
				o.status, o.body, o.err = rbSendPublish(client, srv, token, rel)
				if completed.Add(1) >= total*2/5 {
					killOnce.Do(func() { close(killNow) })
				}
			}
		}()
	}
	allDone := whenDone(&wg)
	select {
	case <-killNow:
	case <-allDone:
		t.Fatal("every publish finished before the server was killed")
	case <-time.After(3 * time.Minute):
		t.Fatal("publishes did not get 40% done within 3 minutes")
	}
	srv.Kill(t)
	killed.Store(true)
	select {
	case <-allDone:
	case <-time.After(2 * time.Minute):
		t.Fatal("publishing goroutines did not finish within 2 minutes of the kill")
	}

	acked := map[string]map[string]rbRelease{}    // name → version → release
	attempts := map[string]map[string]rbRelease{} // every publish sent
	for _, name := range packages {
		acked[name] = map[string]rbRelease{}
		attempts[name] = map[string]rbRelease{}
	}
	var nAcked, nFailed, nSkipped int
	for i, o := range outcomes {
		switch {
		case !o.attempted && o.err != nil:
			t.Fatalf("publish %d: build tarball: %v", i, o.err)
		case !o.attempted:
			nSkipped++
			continue
		}
		attempts[o.rel.name][o.rel.version] = o.rel
		switch {
		case o.err == nil && o.status == http.StatusCreated:
			acked[o.rel.name][o.rel.version] = o.rel
			nAcked++
		case o.err == nil:
			// The server answered, so it was not the kill: concurrent
			// publishes of distinct versions must all succeed.
			t.Errorf("publish %s@%s answered %d %s before the kill, want 201",
				o.rel.name, o.rel.version, o.status, bytes.TrimSpace(o.body))
			nFailed++
		default:
			nFailed++
		}
	}
	t.Logf("%d publishes acknowledged, %d failed, %d not sent after the kill", nAcked, nFailed, nSkipped)
	if nAcked == 0 {
		t.Fatal("no publish was acknowledged before the kill")
	}
	if nAcked+nFailed == 0 || nAcked == total {
		t.Fatal("the kill did not land partway through the publishes")
	}
	if nFailed == 0 {
		t.Fatal("no publish was cut off by the kill; nothing was in flight")
	}

	// Right after the crash, before the server can tidy anything up, the
	// blob folder holds no partial blob under a final name.
	blobs, temps := rbCheckBlobFolder(t, srv.DataDir())
	t.Logf("after the kill: %d blobs, %d temporary files", blobs, temps)
	if blobs < nAcked {
		t.Errorf("%d blobs on disk, fewer than the %d acknowledged publishes", blobs, nAcked)
	}

	srv.Start(t)
	for _, name := range packages {
		doc, ok := rbGetPackument(t, srv, token, name)
		if !ok {
			if len(acked[name]) > 0 {
				t.Errorf("%s: 404 after the crash, but %d of its versions were acknowledged", name, len(acked[name]))
			}
			continue
		}
		for v, rel := range acked[name] {
			pv, ok := doc.Versions[v]
			if !ok {
				t.Errorf("%s@%s was acknowledged (201) but is missing after the crash", name, v)
				continue
			}
			if pv.Dist.Shasum != rel.shasum || pv.Dist.Integrity != rel.integrity {
				t.Errorf("%s@%s: packument dist %s / %s, want %s / %s", name, v,
					pv.Dist.Shasum, pv.Dist.Integrity, rel.shasum, rel.integrity)
			}
			if doc.Time[v] == "" {
				t.Errorf("%s@%s: no time entry in the packument", name, v)
			}
		}
		for v, pv := range doc.Versions {
			rel, sent := attempts[name][v]
			if !sent {
				t.Errorf("%s@%s is in the packument but was never published", name, v)
				continue
			}
			if pv.Version != v || pv.Name != name {
				t.Errorf("%s@%s: version document names %s@%s", name, v, pv.Name, pv.Version)
			}
			if pv.Dist.Shasum != rel.shasum {
				t.Errorf("%s@%s: packument shasum %s, want %s", name, v, pv.Dist.Shasum, rel.shasum)
			}
			if _, ok := acked[name][v]; !ok {
				t.Logf("%s@%s was not acknowledged but committed before the kill", name, v)
			}
			// Acknowledged or not, a visible version is complete.
			rbCheckTarball(t, srv, token, name, v, rel.shasum)
		}
		if latest := doc.DistTags["latest"]; latest == "" {
			t.Errorf("%s: no latest dist-tag after the crash", name)
		} else if _, ok := doc.Versions[latest]; !ok {
			t.Errorf("%s: latest is %s, which is not in the packument", name, latest)
		}
		if len(doc.Time) != len(doc.Versions)+2 {
			t.Errorf("%s: %d time entries for %d versions, want versions + created + modified",
				name, len(doc.Time), len(doc.Versions))
		}

		// An acknowledged version stays immutable after the crash.
		if len(acked[name]) > 0 {
			v := slices.Sorted(maps.Keys(acked[name]))[0]
			if res := rbPublish(t, srv, token, acked[name][v]); res.Status != http.StatusForbidden {
				t.Errorf("re-publish %s@%s after the crash: got %s, want 403", name, v, res)
			}
		}
		// And the package still takes new versions.
		rel := rbMustRelease(t, name, "2.0.0", 8<<10, 424242)
		if res := rbPublish(t, srv, token, rel); res.Status != http.StatusCreated {
			t.Errorf("publish %s@2.0.0 after the crash: got %s, want 201", name, res)
			continue
		}
		doc, ok = rbGetPackument(t, srv, token, name)
		if !ok {
			t.Errorf("%s: 404 right after publishing 2.0.0", name)
			continue
		}
		if _, ok := doc.Versions["2.0.0"]; !ok || doc.DistTags["latest"] != "2.0.0" {
			t.Errorf("%s after publishing 2.0.0: versions %v, latest %q", name, slices.Sorted(maps.Keys(doc.Versions)), doc.DistTags["latest"])
		}
		rbCheckTarball(t, srv, token, name, "2.0.0", rel.shasum)
	}
}

// TestSIGTERMDrainsInFlight sends SIGTERM while a publish body is still
// arriving: the publish completes, new connections are refused meanwhile,
// and the server exits 0 with the version stored.
func TestSIGTERMDrainsInFlight(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--shutdown-timeout", "10s")
	token := srv.createUser(t, "alice")
	rel := rbMustRelease(t, "rb-drain", "1.0.0", 96<<10, 7)
	body := rbPublishBody(rel)

	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pr.Close() })
	halfSent := make(chan struct{})
	// The second half waits until new connections are seen refused, not for
	// a fixed time that a slow machine could outlast.
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseRest := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseRest)
	go func() {
		if _, err := pw.Write(body[:len(body)/2]); err != nil {
			return
		}
		close(halfSent)
		<-release
		_, err := pw.Write(body[len(body)/2:])
		_ = pw.CloseWithError(err) // nil: a normal end of body
	}()

	type result struct {
		status int
		body   []byte
		err    error
	}
	resc := make(chan result, 1)
	done := make(chan struct{})
	client := rbHTTPClient(30 * time.Second)
	defer client.CloseIdleConnections()
	go func() {
		defer close(done)
		status, b, err := rbSend(client, http.MethodPut, srv.URL()+rbPackagePath(rel.name), token, pr, int64(len(body)))
		resc <- result{status, b, err}
	}()

	select {
	case <-halfSent:
	case r := <-resc:
		t.Fatalf("publish ended before half its body was sent: %d %s %v", r.status, r.body, r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("half the publish body was not taken within 10s")
	}
	// Let the server read the headers and start on the body.
	time.Sleep(300 * time.Millisecond)
	select {
	case <-done:
		r := <-resc
		t.Fatalf("publish ended before SIGTERM although half its body is missing: %d %s %v", r.status, r.body, r.err)
	default:
	}
	rbSignal(t, srv, syscall.SIGTERM)

	// The listener closes at once, while the publish is still in flight.
	refused := false
	inFlight := false
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		conn, err := net.DialTimeout("tcp", srv.addr, 500*time.Millisecond)
		if err != nil {
			refused = true
			select {
			case <-done:
			default:
				inFlight = true
			}
			break
		}
		_ = conn.Close()
		time.Sleep(20 * time.Millisecond)
	}
	releaseRest()
	if !refused {
		t.Errorf("new connections were still accepted 3s after SIGTERM")
	} else if !inFlight {
		t.Errorf("new connections were refused only after the in-flight publish had finished")
	}
	if res, err := rbHTTPClient(2 * time.Second).Get(srv.URL() + "-/ping"); err == nil {
		res.Body.Close()
		t.Errorf("GET /-/ping on a new connection after SIGTERM answered %d, want the connection refused", res.StatusCode)
	}

	select {
	case r := <-resc:
		if r.err != nil {
			t.Fatalf("in-flight publish failed during the drain: %v", r.err)
		}
		if r.status != http.StatusCreated {
			t.Fatalf("in-flight publish during the drain: got %d %s, want 201", r.status, bytes.TrimSpace(r.body))
		}
	case <-time.After(15 * time.Second):
		t.Fatal("in-flight publish got no answer within 15s of SIGTERM")
	}
	if err := rbWaitExit(t, srv, stopTimeout); err != nil {
		t.Errorf("gatehouse ended with %s after draining, want exit status 0", rbDescribeExit(err))
	}

	srv.Start(t)
	doc, ok := rbGetPackument(t, srv, token, rel.name)
	if !ok {
		t.Fatalf("%s is missing after the drain and a restart", rel.name)
	}
	if v, ok := doc.Versions[rel.version]; !ok || v.Dist.Shasum != rel.shasum {
		t.Errorf("after restart %s has versions %v (shasum %q), want %s with shasum %s",
			rel.name, slices.Sorted(maps.Keys(doc.Versions)), v.Dist.Shasum, rel.version, rel.shasum)
	}
	rbCheckTarball(t, srv, token, rel.name, rel.version, rel.shasum)
}

// rbStartHalfPublish opens a raw connection and sends a publish of rel with
// its full Content-Length but only the first half of its body.
func rbStartHalfPublish(t *testing.T, srv *server, token string, rel rbRelease) net.Conn {
	t.Helper()
	body := rbPublishBody(rel)
	conn, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial gatehouse: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	head := fmt.Sprintf("PUT /%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: %d\r\n\r\n",
		rbPackagePath(rel.name), srv.addr, token, len(body))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatalf("send publish headers: %v", err)
	}
	if _, err := conn.Write(body[:len(body)/2]); err != nil {
		t.Fatalf("send half the publish body: %v", err)
	}
	return conn
}

// rbAssertNothingStored checks that rel left neither a package nor a blob.
func rbAssertNothingStored(t *testing.T, srv *server, token string, rel rbRelease) {
	t.Helper()
	if res := srv.do(t, http.MethodGet, rbPackagePath(rel.name), token, nil); res.Status != http.StatusNotFound {
		t.Errorf("GET %s after a half-received publish: got %s, want 404", rel.name, res)
	}
	if res := srv.do(t, http.MethodGet, rbTarballPath(rel.name, rel.version), token, nil); res.Status != http.StatusNotFound {
		t.Errorf("GET tarball of %s@%s after a half-received publish: got %d, want 404", rel.name, rel.version, res.Status)
	}
	path := rbBlobPath(srv.DataDir(), rel.sha512hex)
	if _, err := os.Stat(path); err == nil {
		t.Errorf("a finished blob of the half-received %s@%s exists at %s", rel.name, rel.version, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat %s: %v", path, err)
	}
}

// TestHalfReceivedPublishIsNeverStored cuts publishes off halfway, by a
// shutdown that times out and by the client going away, and checks that
// neither leaves anything behind.
func TestHalfReceivedPublishIsNeverStored(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--shutdown-timeout", "1s")
	token := srv.createUser(t, "alice")

	rel := rbMustRelease(t, "rb-half", "1.0.0", 128<<10, 11)
	conn := rbStartHalfPublish(t, srv, token, rel)
	// Let the server read the headers and start on the body, which never
	// finishes: the connection stays open.
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	rbSignal(t, srv, syscall.SIGTERM)
	exitErr := rbWaitExit(t, srv, 6*time.Second)
	took := time.Since(start)
	t.Logf("gatehouse ended %v after SIGTERM with %s", took.Round(time.Millisecond), rbDescribeExit(exitErr))
	if took < 900*time.Millisecond {
		t.Errorf("gatehouse exited %v after SIGTERM, before the 1s drain: the half-sent publish was not in flight", took)
	}
	var exit *exec.ExitError
	if exitErr != nil && (!errors.As(exitErr, &exit) || !exit.Exited()) {
		t.Errorf("gatehouse did not exit by itself after SIGTERM: %s", rbDescribeExit(exitErr))
	}
	// Whatever came back on the cut-off connection is not a success.
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 300 {
			t.Errorf("half-sent publish was answered %d", resp.StatusCode)
		}
	}

	srv.Start(t)
	rbAssertNothingStored(t, srv, token, rel)

	// A client that goes away mid-body, without any shutdown.
	gone := rbMustRelease(t, "rb-half-gone", "1.0.0", 128<<10, 12)
	conn = rbStartHalfPublish(t, srv, token, gone)
	time.Sleep(200 * time.Millisecond)
	if err := conn.Close(); err != nil {
		t.Fatalf("close the half-sent publish: %v", err)
	}
	// Wait until the server has finished with the request (its access log
	// line), so nothing can still land afterwards.
	rbWaitLog(t, srv, 10*time.Second, "msg=request", "method=PUT", "path=/"+gone.name+" ")
	rbAssertNothingStored(t, srv, token, gone)
	if res := srv.do(t, http.MethodGet, "-/ping", "", nil); res.Status != http.StatusOK {
		t.Errorf("GET /-/ping after a client went away mid-publish: got %s, want 200", res)
	}

	// Both names are still free to publish, complete this time.
	for _, r := range []rbRelease{rel, gone} {
		if res := rbPublish(t, srv, token, r); res.Status != http.StatusCreated {
			t.Errorf("publish %s@%s in full after the cut-off attempt: got %s, want 201", r.name, r.version, res)
			continue
		}
		rbCheckTarball(t, srv, token, r.name, r.version, r.shasum)
	}
}

// TestConcurrentVersionsAllLand publishes 30 versions of one package from
// three clients at once: every one must be stored.
func TestConcurrentVersionsAllLand(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	token := srv.createUser(t, "alice")
	const name = "rb-concurrent"
	const clients, perClient = 3, 10

	type result struct {
		rel    rbRelease
		status int
		body   []byte
		err    error
	}
	results := make([][]result, clients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		results[c] = make([]result, perClient)
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := rbHTTPClient(time.Minute)
			defer client.CloseIdleConnections()
			<-start
			for v := 0; v < perClient; v++ {
				r := &results[c][v]
				rel, err := rbMakeRelease(name, fmt.Sprintf("1.%d.%d", c, v), 4<<10+v*512, uint64(100*c+v))
				if err != nil {
					r.err = err
					continue
				}
				r.rel = rel
				r.status, r.body, r.err = rbSendPublish(client, srv, token, rel)
			}
		}()
	}
	close(start)
	finished := whenDone(&wg)
	select {
	case <-finished:
	case <-time.After(3 * time.Minute):
		t.Fatal("concurrent publishes did not finish within 3 minutes")
	}

	want := map[string]rbRelease{}
	for c := range results {
		for _, r := range results[c] {
			switch {
			case r.err != nil:
				t.Errorf("client %d: publish %s: %v", c, r.rel.version, r.err)
			case r.status != http.StatusCreated:
				t.Errorf("client %d: publish %s@%s: got %d %s, want 201", c, name, r.rel.version, r.status, bytes.TrimSpace(r.body))
			}
			want[r.rel.version] = r.rel
		}
	}
	doc, ok := rbGetPackument(t, srv, token, name)
	if !ok {
		t.Fatalf("%s: 404 after 30 publishes", name)
	}
	if len(doc.Versions) != clients*perClient {
		t.Errorf("packument lists %d versions, want %d: %v", len(doc.Versions), clients*perClient,
			slices.Sorted(maps.Keys(doc.Versions)))
	}
	if len(doc.Time) != clients*perClient+2 {
		t.Errorf("packument has %d time entries, want %d (created, modified and one per version): %v",
			len(doc.Time), clients*perClient+2, slices.Sorted(maps.Keys(doc.Time)))
	}
	for _, k := range []string{"created", "modified"} {
		if doc.Time[k] == "" {
			t.Errorf("packument time has no %q", k)
		}
	}
	for _, v := range slices.Sorted(maps.Keys(want)) {
		rel := want[v]
		pv, ok := doc.Versions[v]
		if !ok {
			t.Errorf("%s@%s is missing from the packument", name, v)
			continue
		}
		if pv.Dist.Shasum != rel.shasum {
			t.Errorf("%s@%s: shasum %s, want %s", name, v, pv.Dist.Shasum, rel.shasum)
		}
		if doc.Time[v] == "" {
			t.Errorf("%s@%s has no time entry", name, v)
		}
		rbCheckTarball(t, srv, token, name, v, rel.shasum)
	}
	if latest := doc.DistTags["latest"]; want[latest].version == "" {
		t.Errorf("latest is %q, not one of the published versions", latest)
	}
}

// TestBodyLimitOverHTTP checks --max-body-size on a real server: an
// oversized publish gets a 413 JSON error, whether or not it declares its
// length, and stores nothing; a small publish still works.
func TestBodyLimitOverHTTP(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--max-body-size", "64KiB")
	token := srv.createUser(t, "alice")

	big := rbMustRelease(t, "rb-too-big", "1.0.0", 148<<10, 21)
	body := rbPublishBody(big)
	if len(body) < 180_000 || len(body) > 220_000 {
		t.Fatalf("oversized publish body is %d bytes, want about 200 KB", len(body))
	}
	client := rbHTTPClient(30 * time.Second)
	defer client.CloseIdleConnections()
	for _, tc := range []struct {
		name   string
		body   io.Reader
		length int64
	}{
		{"with Content-Length", bytes.NewReader(body), int64(len(body))},
		// Hiding the length makes the client send the body chunked, so
		// only reading it can find it too large.
		{"chunked", struct{ io.Reader }{bytes.NewReader(body)}, -1},
	} {
		status, answer, err := rbSend(client, http.MethodPut, srv.URL()+big.name, token, tc.body, tc.length)
		if err != nil {
			t.Errorf("%s: oversized publish: %v", tc.name, err)
			continue
		}
		if status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: oversized publish got %d %s, want 413", tc.name, status, tail(string(answer), 300))
			continue
		}
		var doc struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(answer, &doc); err != nil || doc.Error == "" {
			t.Errorf("%s: 413 answer %q is not JSON {\"error\": \"...\"}", tc.name, answer)
			continue
		}
		if !strings.Contains(doc.Error, "limit") {
			t.Errorf("%s: 413 error %q does not mention the limit", tc.name, doc.Error)
		}
		t.Logf("%s: 413 %s", tc.name, doc.Error)
	}

	if res := srv.do(t, http.MethodGet, big.name, token, nil); res.Status != http.StatusNotFound {
		t.Errorf("GET %s after the refused publishes: got %s, want 404", big.name, res)
	}
	if blobs, temps := rbCheckBlobFolder(t, srv.DataDir()); blobs != 0 || temps != 0 {
		t.Errorf("refused publishes left %d blobs and %d temporary files", blobs, temps)
	}

	// The same name and version, small enough, goes through: the refused
	// attempts reserved nothing.
	small := rbMustRelease(t, big.name, big.version, 4<<10, 22)
	if res := rbPublish(t, srv, token, small); res.Status != http.StatusCreated {
		t.Fatalf("small publish under the limit: got %s, want 201", res)
	}
	doc, ok := rbGetPackument(t, srv, token, small.name)
	if !ok {
		t.Fatalf("%s: 404 after a successful small publish", small.name)
	}
	if v, ok := doc.Versions[small.version]; !ok || v.Dist.Shasum != small.shasum {
		t.Errorf("%s: versions %v, want %s with shasum %s", small.name, slices.Sorted(maps.Keys(doc.Versions)), small.version, small.shasum)
	}
	rbCheckTarball(t, srv, token, small.name, small.version, small.shasum)
}
