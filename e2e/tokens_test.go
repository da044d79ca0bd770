package e2e

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// These tests drive `npm token` of real npm clients against gatehouse: the
// legacy create path of npm 10 (the user's reference page), the granular
// create path of npm 11 and 12, list and revoke, what the tokens may then do,
// the admin commands, and that no secret is left at rest or in the log.
// internal/server/tokens_test.go covers the HTTP API itself in process.

// tokenPattern matches a whole token string of the default npm_ prefix.
var tokenPattern = regexp.MustCompile(`npm_[0-9A-Za-z]{36}`)

// tokenObj is the part of a token object in `npm token list --json` (and
// the API) the tests look at.
type tokenObj struct {
	Key            string   `json:"key"`
	ID             string   `json:"id"` // added by npm's list from the key
	Token          string   `json:"token"`
	Masked         string   `json:"masked"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	Type           string   `json:"type"`
	Readonly       bool     `json:"readonly"`
	Bypass2FA      bool     `json:"bypass_2fa"`
	CIDRWhitelist  []string `json:"cidr_whitelist"`
	Expires        *string  `json:"expires"`
	Packages       []string `json:"packages"`
	Scopes         []string `json:"scopes"`
	Orgs           []string `json:"orgs"`
	PackagePerm    string   `json:"packages_and_scopes_permission"`
	OrgsPermission string   `json:"orgs_permission"`
}

// runInput runs the CLI like run, with stdin as its standard input (npm 10
// reads the password for `npm token create` from a prompt).
func (c *npmClient) runInput(stdin, dir string, args ...string) cmdResult {
	c.t.Helper()
	return c.runWith(strings.NewReader(stdin), dir, args...)
}

// createdToken returns the one whole token a `npm token create` printed.
func createdToken(t *testing.T, res cmdResult) string {
	t.Helper()
	if res.Code != 0 {
		t.Fatalf("npm token create failed:\n%s", res)
	}
	found := tokenPattern.FindAllString(res.Stdout, -1)
	if len(found) != 1 {
		t.Fatalf("npm token create printed %d whole tokens, want 1:\n%s", len(found), res)
	}
	return found[0]
}

// assertFailed checks that res failed with every one of want in its output.
func assertFailed(t *testing.T, res cmdResult, want ...string) {
	t.Helper()
	if res.Code == 0 {
		t.Errorf("succeeded, want a failure with %q:\n%s", want, res)
		return
	}
	for _, w := range want {
		if !strings.Contains(res.Output(), w) {
			t.Errorf("output lacks %q:\n%s", w, res)
		}
	}
}

// assertNoWholeToken checks that a listing shows none of secrets, nor any
// other whole token.
func assertNoWholeToken(t *testing.T, res cmdResult, secrets ...string) {
	t.Helper()
	out := res.Output()
	if m := tokenPattern.FindString(out); m != "" {
		t.Errorf("output shows a whole token %s...:\n%s", m[:8], res)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output shows the whole token %s...:\n%s", s[:8], res)
		}
	}
}

// listJSON runs `npm token list --json` and decodes it.
func listJSON(t *testing.T, c *npmClient, secrets ...string) []tokenObj {
	t.Helper()
	res := c.mustRun("", "token", "list", "--json")
	assertNoWholeToken(t, res, secrets...)
	var list []tokenObj
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatalf("decode npm token list --json: %v\n%s", err, res)
	}
	return list
}

// byPrefix finds the listed token whose whole string is tok.
func byPrefix(t *testing.T, list []tokenObj, tok string) tokenObj {
	t.Helper()
	for _, o := range list {
		if o.Token == tok[:8] {
			return o
		}
	}
	t.Fatalf("no listed token with token %q among %d", tok[:8], len(list))
	return tokenObj{}
}

// assertUnauthorized checks that npm refuses tok with E401, and that the
// server answers 401 to it.
func assertUnauthorized(t *testing.T, srv *server, c *npmClient, tok string) {
	t.Helper()
	assertFailed(t, c.run("", "whoami"), "E401")
	if res := srv.whoami(t, tok); res.Status != http.StatusUnauthorized {
		t.Errorf("GET /-/whoami with a revoked token: %s, want 401", res)
	}
}

// assertWhoami checks that `npm whoami` with c's token says user.
func assertWhoami(t *testing.T, c *npmClient, user string) {
	t.Helper()
	if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != user {
		t.Errorf("npm whoami = %q, want %q", got, user)
	}
}

// serverTokens lists the user's tokens straight from the API (all pages).
func serverTokens(t *testing.T, srv *server, session string) []tokenObj {
	t.Helper()
	res := srv.do(t, http.MethodGet, "-/npm/v1/tokens?perPage=100", session, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET /-/npm/v1/tokens: %s", res)
	}
	var page struct {
		Objects []tokenObj `json:"objects"`
		Total   int        `json:"total"`
	}
	decodeJSON(t, res.Body, &page)
	if page.Total != len(page.Objects) {
		t.Fatalf("GET /-/npm/v1/tokens?perPage=100: total %d, %d objects", page.Total, len(page.Objects))
	}
	return page.Objects
}

// assertListed checks that list (from npm token list --json) shows exactly
// the tokens of want (key → first 8 characters of the token). npm 11 and
// later print each key as "***" (their output redacts UUIDs) and add an id,
// a unique key prefix; npm 10 prints the key and no id.
func assertListed(t *testing.T, who string, list []tokenObj, want map[string]string) {
	t.Helper()
	if len(list) != len(want) {
		t.Errorf("%s token list --json shows %d tokens, want %d", who, len(list), len(want))
	}
	seen := map[string]bool{}
	for _, o := range list {
		key := ""
		for k, p := range want {
			if p == o.Token {
				key = k
			}
		}
		switch {
		case key == "":
			t.Errorf("%s token list --json shows unknown token %q (%s)", who, o.Token, o.Key)
			continue
		case seen[key]:
			t.Errorf("%s token list --json shows %s twice", who, o.Token)
		case o.Key != key && o.Key != "***":
			t.Errorf("%s token list --json shows %s with key %q, want %q", who, o.Token, o.Key, key)
		case o.Key == "***" && (len(o.ID) < 6 || !strings.HasPrefix(key, o.ID)):
			t.Errorf("%s token list --json shows %s with id %q, want a prefix of %q", who, o.Token, o.ID, key)
		}
		seen[key] = true
	}
}

// keysOf maps the server's keys of the user's tokens to their first 8
// characters.
func keysOf(t *testing.T, srv *server, session string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, o := range serverTokens(t, srv, session) {
		m[o.Key] = o.Token
	}
	return m
}

// assertNoSecrets reads every file under the server's data folder and its
// log and fails on any of secrets found there.
func assertNoSecrets(t *testing.T, srv *server, secrets []string) {
	t.Helper()
	check := func(where string, b []byte) {
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds the secret %q... in plain text", where, s[:8])
			}
		}
	}
	files := 0
	err := filepath.WalkDir(srv.DataDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		check(path, b)
		return nil
	})
	if err != nil {
		t.Fatalf("read the data folder: %v", err)
	}
	if files == 0 {
		t.Fatalf("the data folder %s holds no file", srv.DataDir())
	}
	check("the server log", []byte(srv.Logs()))
}

// assertNoSecretsBeforeAndAfterStop checks the data folder while the server
// runs (its write-ahead log included), then stops it and checks again.
func assertNoSecretsBeforeAndAfterStop(t *testing.T, srv *server, secrets []string) {
	t.Helper()
	if len(secrets) == 0 {
		t.Fatal("no secret to look for")
	}
	assertNoSecrets(t, srv, secrets)
	srv.Stop(t)
	assertNoSecrets(t, srv, secrets)
}

// TestTokenLegacyCLI follows the user's reference page with npm 10: create
// publish and read-only tokens, with and without CIDR ranges, use them,
// list them, revoke them.
func TestTokenLegacyCLI(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	npm := npm10(t)
	session := srv.createUser(t, "alice")
	password := passwordOf("alice")
	alice := newClient(t, srv, npm).login(session)
	const secret = "@alice/secret"
	alice.publishSpec(pkgSpec{Name: secret, Version: "1.0.0"})
	secrets := []string{session, password}

	create := func(args ...string) (string, cmdResult) {
		t.Helper()
		res := alice.runInput(password+"\n", "", append([]string{"token", "create"}, args...)...)
		tok := createdToken(t, res)
		secrets = append(secrets, tok)
		return tok, res
	}

	publishTok, res := create()
	if !strings.Contains(res.Stdout, "Created publish token "+publishTok) {
		t.Errorf("npm token create printed no \"Created publish token\" line:\n%s", res)
	}
	readTok, res := create("--read-only")
	if !strings.Contains(res.Stdout, "Created read only token "+readTok) {
		t.Errorf("npm token create --read-only printed no \"Created read only token\" line:\n%s", res)
	}
	farTok, res := create("--cidr=10.0.0.0/8")
	if !strings.Contains(res.Stdout, "Created publish token "+farTok) || !strings.Contains(res.Stdout, "with IP whitelist: 10.0.0.0/8") {
		t.Errorf("npm token create --cidr=10.0.0.0/8 printed no publish token with its IP whitelist:\n%s", res)
	}
	localReadTok, res := create("--read-only", "--cidr=127.0.0.0/8,10.0.0.0/8")
	if !strings.Contains(res.Stdout, "Created read only token "+localReadTok) ||
		!strings.Contains(res.Stdout, "with IP whitelist: 127.0.0.0/8,10.0.0.0/8") {
		t.Errorf("npm token create --read-only --cidr=... printed no read-only token with its IP whitelist:\n%s", res)
	}
	localTok, _ := create("--cidr=127.0.0.0/8")
	jsonTok, res := create("--read-only", "--json")
	var created tokenObj
	if i := strings.Index(res.Stdout, "{"); i < 0 || json.Unmarshal([]byte(res.Stdout[i:]), &created) != nil {
		t.Errorf("npm token create --json printed no JSON object:\n%s", res)
	} else if !created.Readonly || created.Type != "read-only" {
		t.Errorf("npm token create --read-only --json: readonly %v, type %q, want true, read-only", created.Readonly, created.Type)
	}

	// The reference page's example of an invalid range.
	res = alice.runInput(password+"\n", "", "token", "create", "--cidr=X.X.X.X./YY")
	assertFailed(t, res, "EINVALIDCIDR", "CIDR whitelist contains invalid CIDR entry: X.X.X.X./YY")

	// What the server holds: six tokens of the right kinds and ranges.
	want := map[string]struct {
		kind string
		cidr []string
	}{
		publishTok:   {"publish", nil},
		readTok:      {"read-only", nil},
		farTok:       {"publish", []string{"10.0.0.0/8"}},
		localReadTok: {"read-only", []string{"127.0.0.0/8", "10.0.0.0/8"}},
		localTok:     {"publish", []string{"127.0.0.0/8"}},
		jsonTok:      {"read-only", nil},
	}
	held := serverTokens(t, srv, session)
	if len(held) != len(want) {
		t.Errorf("the server lists %d tokens, want %d", len(held), len(want))
	}
	for tok, w := range want {
		o := byPrefix(t, held, tok)
		if o.Type != w.kind || o.Readonly != (w.kind == "read-only") || !slices.Equal(o.CIDRWhitelist, w.cidr) {
			t.Errorf("token %s: type %q readonly %v cidr_whitelist %v, want %s %v", o.Masked, o.Type, o.Readonly, o.CIDRWhitelist, w.kind, w.cidr)
		}
		if want := tok[:8] + "..." + tok[len(tok)-4:]; o.Masked != want {
			t.Errorf("token masked as %q, want %q", o.Masked, want)
		}
		if o.Expires != nil {
			t.Errorf("legacy token %s expires %s, want never", o.Masked, *o.Expires)
		}
	}

	t.Run("read-only token installs a private package but cannot publish", func(t *testing.T) {
		c := newClient(t, srv, npm).login(readTok)
		assertWhoami(t, c, "alice")
		project := makeProject(t, nil)
		c.mustRun(project, "install", secret)
		assertInstalled(t, project, secret, "1.0.0")
		res := c.run(makePackage(t, pkgSpec{Name: secret, Version: "1.1.0"}), "publish")
		assertFailed(t, res, "E403", "This token is read-only")
		res = c.run(makePackage(t, pkgSpec{Name: "alice-new", Version: "1.0.0"}), "publish")
		assertFailed(t, res, "E403", "This token is read-only")
	})

	t.Run("token limited to 10.0.0.0/8 is refused from 127.0.0.1", func(t *testing.T) {
		c := newClient(t, srv, npm).login(farTok)
		assertFailed(t, c.run("", "whoami"), "EAUTHIP", "Login is not allowed from your IP address")
		project := makeProject(t, nil)
		assertFailed(t, c.run(project, "install", secret), "EAUTHIP")
		assertNotInstalled(t, project, secret)
		res := srv.whoami(t, farTok)
		if res.Status != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != "ipaddress" {
			t.Errorf("GET /-/whoami from outside the range: %s, WWW-Authenticate %q; want 401, ipaddress",
				res, res.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("tokens limited to 127.0.0.0/8 work from 127.0.0.1", func(t *testing.T) {
		c := newClient(t, srv, npm).login(localTok)
		assertWhoami(t, c, "alice")
		c.publishSpec(pkgSpec{Name: secret, Version: "1.1.0"})
		r := newClient(t, srv, npm).login(localReadTok)
		project := makeProject(t, nil)
		r.mustRun(project, "install", secret+"@1.1.0")
		assertInstalled(t, project, secret, "1.1.0")
		assertFailed(t, r.run(makePackage(t, pkgSpec{Name: secret, Version: "1.2.0"}), "publish"), "E403")
	})

	t.Run("publish token publishes", func(t *testing.T) {
		c := newClient(t, srv, npm).login(publishTok)
		c.publishSpec(pkgSpec{Name: secret, Version: "1.2.0"})
		if got := alice.viewList(secret, "versions"); !slices.Equal(got, []string{"1.0.0", "1.1.0", "1.2.0"}) {
			t.Errorf("versions = %v, want 1.0.0 1.1.0 1.2.0", got)
		}
	})

	// npm token list, in its three shapes, shows ids and token prefixes only.
	res = alice.mustRun("", "token", "list")
	assertNoWholeToken(t, res, secrets...)
	ids := map[string]string{} // token prefix → id
	line := regexp.MustCompile(`(?m)^(Publish token|Read only token) (npm_[0-9A-Za-z]{4})… with id ([0-9a-f-]{6,}) created (\d{4}-\d\d-\d\d)$`)
	for _, m := range line.FindAllStringSubmatch(res.Stdout, -1) {
		ids[m[2]] = m[3]
	}
	if len(ids) != len(want) {
		t.Errorf("npm token list shows %d tokens, want %d:\n%s", len(ids), len(want), res)
	}
	for tok, w := range want {
		level := map[string]string{"publish": "Publish token", "read-only": "Read only token"}[w.kind]
		if !strings.Contains(res.Stdout, level+" "+tok[:8]+"…") {
			t.Errorf("npm token list lacks %q:\n%s", level+" "+tok[:8]+"…", res)
		}
	}
	if !strings.Contains(res.Stdout, "with IP whitelist: 127.0.0.0/8,10.0.0.0/8") {
		t.Errorf("npm token list does not show the IP whitelist of a ranged token:\n%s", res)
	}
	if n := strings.Count(res.Stdout, "with IP whitelist:"); n != 3 {
		t.Errorf("npm token list shows %d IP whitelists, want 3 (tokens without ranges show none):\n%s", n, res)
	}

	list := listJSON(t, alice, secrets...)
	if len(list) != len(want) {
		t.Errorf("npm token list --json shows %d tokens, want %d", len(list), len(want))
	}
	for tok := range want {
		o := byPrefix(t, list, tok)
		if id := ids[tok[:8]]; id == "" || !strings.HasPrefix(o.Key, id) {
			t.Errorf("token %s: plain list id %q is not a prefix of its key %q", o.Masked, id, o.Key)
		}
	}

	res = alice.mustRun("", "token", "list", "--parseable")
	assertNoWholeToken(t, res, secrets...)
	rows := strings.Split(strings.TrimRight(res.Stdout, "\n"), "\n")
	if len(rows) != len(want)+1 || rows[0] != "key\ttoken\tcreated\treadonly\tCIDR whitelist" {
		t.Errorf("npm token list --parseable: want a header and %d rows:\n%s", len(want), res)
	}
	for tok, w := range want {
		o := byPrefix(t, list, tok)
		row := strings.Join([]string{o.Key, tok[:8]}, "\t") + "\t"
		tailWant := "\t" + map[bool]string{true: "true", false: "false"}[w.kind == "read-only"] + "\t" + strings.Join(w.cidr, ",")
		found := false
		for _, r := range rows {
			if strings.HasPrefix(r, row) && strings.HasSuffix(r, tailWant) {
				found = true
			}
		}
		if !found {
			t.Errorf("npm token list --parseable has no row %q...%q:\n%s", row, tailWant, res)
		}
	}

	// Revoke by the id npm token list printed, then by the whole token.
	res = alice.mustRun("", "token", "revoke", ids[readTok[:8]])
	if strings.TrimSpace(res.Stdout) != "Removed 1 token" {
		t.Errorf("npm token revoke <id> printed %q, want Removed 1 token", res.Stdout)
	}
	assertUnauthorized(t, srv, newClient(t, srv, npm).login(readTok), readTok)

	res = alice.mustRun("", "token", "revoke", publishTok)
	if strings.TrimSpace(res.Stdout) != "Removed 1 token" {
		t.Errorf("npm token revoke <token> printed %q, want Removed 1 token", res.Stdout)
	}
	assertNoWholeToken(t, res, secrets...)
	c := newClient(t, srv, npm).login(publishTok)
	assertUnauthorized(t, srv, c, publishTok)
	// A publish needs a login: a revoked token must get 401, not the 404
	// an anonymous reader gets for a private package.
	assertFailed(t, c.run(makePackage(t, pkgSpec{Name: secret, Version: "9.0.0"}), "publish"), "E401")

	assertFailed(t, alice.run("", "token", "revoke", "ffffffffff"), `Unknown token id or value "ffffffffff"`)

	list = listJSON(t, alice, secrets...)
	if len(list) != len(want)-2 {
		t.Errorf("after two revokes npm token list --json shows %d tokens, want %d", len(list), len(want)-2)
	}
	for _, o := range list {
		if o.Token == readTok[:8] || o.Token == publishTok[:8] {
			t.Errorf("revoked token %s is still listed", o.Token)
		}
	}
	// The others still work.
	assertWhoami(t, newClient(t, srv, npm).login(localTok), "alice")

	assertNoSecretsBeforeAndAfterStop(t, srv, secrets)
}

// TestTokenGranularCLI creates granular tokens with npm 11 and npm 12 and
// checks that each can do exactly what it was granted.
func TestTokenGranularCLI(t *testing.T) {
	t.Parallel()
	for name, get := range map[string]func(*testing.T) tool{"npm11": npm11, "npm12": npm12} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testGranularCLI(t, get(t))
		})
	}
}

func testGranularCLI(t *testing.T, npm tool) {
	srv := startServer(t)
	session := srv.createUser(t, "alice")
	password := passwordOf("alice")
	alice := newClient(t, srv, npm).login(session)
	const private = "@alice/private"
	alice.publishSpec(pkgSpec{Name: "pkg-a", Version: "1.0.0"})
	alice.publishSpec(pkgSpec{Name: "pkg-b", Version: "1.0.0"})
	alice.publishSpec(pkgSpec{Name: private, Version: "1.0.0"})
	secrets := []string{session, password}

	create := func(args ...string) string {
		t.Helper()
		res := alice.run("", append(append([]string{"token", "create"}, args...), "--password", password)...)
		tok := createdToken(t, res)
		if !strings.Contains(res.Stdout, "Created token "+tok) {
			t.Errorf("npm token create printed no \"Created token\" line:\n%s", res)
		}
		if !strings.Contains(res.Stdout, "expires: ") {
			t.Errorf("npm token create printed no expiry for a granular token:\n%s", res)
		}
		secrets = append(secrets, tok)
		return tok
	}
	tokenCount := func() int { return len(serverTokens(t, srv, session)) }

	ciTok := create("--name", "ci", "--packages", "pkg-a", "--packages-and-scopes-permission", "read-write")
	ci := newClient(t, srv, npm).login(ciTok)
	t.Run("package grant", func(t *testing.T) {
		assertWhoami(t, ci, "alice")
		ci.publishSpec(pkgSpec{Name: "pkg-a", Version: "1.1.0"})
		res := ci.run(makePackage(t, pkgSpec{Name: "pkg-b", Version: "1.1.0"}), "publish")
		assertFailed(t, res, "E403", "This token has no write access to pkg-b")
		if got := alice.viewList("pkg-b", "versions"); !slices.Equal(got, []string{"1.0.0"}) {
			t.Errorf("pkg-b versions = %v after the refused publish, want 1.0.0", got)
		}
		if got := alice.viewList("pkg-a", "versions"); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
			t.Errorf("pkg-a versions = %v, want 1.0.0 1.1.0", got)
		}
	})

	t.Run("refused creations", func(t *testing.T) {
		before := tokenCount()
		res := alice.run("", "token", "create", "--name", "long", "--packages", "pkg-a",
			"--packages-and-scopes-permission", "read-write", "--expires", "120", "--password", password)
		assertFailed(t, res, "E400", "Read-write tokens cannot have expiration longer than 90 days")
		res = alice.run("", "token", "create", "--packages", "pkg-a", "--password", password)
		assertFailed(t, res, "E400", "Token name is required")
		// npm 11 and later no longer send --read-only: a nameless body
		// must not become a read-write token.
		res = alice.run("", "token", "create", "--read-only", "--password", password)
		assertFailed(t, res, "E400", "Token name is required")
		res = alice.run("", "token", "create", "--name", "wrong", "--packages", "pkg-a", "--password", "not the password")
		assertFailed(t, res, "E401")
		if after := tokenCount(); after != before {
			t.Errorf("refused creations changed the token count from %d to %d", before, after)
		}
	})

	readerTok := create("--name", "reader", "--scopes", "@alice", "--packages-and-scopes-permission", "read-only")
	reader := newClient(t, srv, npm).login(readerTok)
	t.Run("read-only scope grant", func(t *testing.T) {
		project := makeProject(t, nil)
		reader.mustRun(project, "install", private)
		assertInstalled(t, project, private, "1.0.0")
		res := reader.run(makePackage(t, pkgSpec{Name: private, Version: "1.1.0"}), "publish")
		assertFailed(t, res, "E403")
		// pkg-a is outside the grant.
		assertFailed(t, reader.run(makePackage(t, pkgSpec{Name: "pkg-a", Version: "2.0.0"}), "publish"), "E403")
	})

	allTok := create("--name", "all", "--packages-all", "--packages-and-scopes-permission", "read-write")
	t.Run("all packages grant publishes a new package", func(t *testing.T) {
		c := newClient(t, srv, npm).login(allTok)
		c.publishSpec(pkgSpec{Name: "pkg-new", Version: "1.0.0"})
		c.publishSpec(pkgSpec{Name: "pkg-b", Version: "1.1.0"})
		// A package grant does not stretch to names that do not exist yet.
		assertFailed(t, ci.run(makePackage(t, pkgSpec{Name: "pkg-other", Version: "1.0.0"}), "publish"), "E403")
	})

	extrasTok := create("--name", "extras", "--token-description", "deploy bot",
		"--packages", "pkg-a", "--packages", "pkg-b", "--packages-and-scopes-permission", "read-write",
		"--cidr", "127.0.0.0/8", "--orgs", "acme", "--orgs-permission", "read-only",
		"--bypass-2fa", "--expires", "30")
	t.Run("extras work", func(t *testing.T) {
		c := newClient(t, srv, npm).login(extrasTok)
		c.publishSpec(pkgSpec{Name: "pkg-b", Version: "1.2.0"})
	})

	list := listJSON(t, alice, secrets...)
	assertListed(t, npm.name, list, keysOf(t, srv, session))
	for _, o := range list {
		if o.Type != "granular" || o.Expires == nil || len(o.Token) != 8 {
			t.Errorf("listed token %+v: want a granular token with an expiry and an 8-character token", o)
		}
	}
	ciObj := byPrefix(t, list, ciTok)
	if ciObj.Name != "ci" || !slices.Equal(ciObj.Packages, []string{"pkg-a"}) || ciObj.PackagePerm != "read-write" || ciObj.Readonly {
		t.Errorf("ci token listed as %+v", ciObj)
	}
	readerObj := byPrefix(t, list, readerTok)
	if readerObj.Name != "reader" || !slices.Equal(readerObj.Scopes, []string{"@alice"}) && !slices.Equal(readerObj.Scopes, []string{"alice"}) ||
		readerObj.PackagePerm != "read-only" || !readerObj.Readonly {
		t.Errorf("reader token listed as %+v", readerObj)
	}
	extras := byPrefix(t, list, extrasTok)
	if extras.Name != "extras" || extras.Description != "deploy bot" ||
		!slices.Equal(extras.CIDRWhitelist, []string{"127.0.0.0/8"}) ||
		!slices.Equal(extras.Orgs, []string{"acme"}) || extras.OrgsPermission != "read-only" ||
		!extras.Bypass2FA || !slices.Equal(extras.Packages, []string{"pkg-a", "pkg-b"}) {
		t.Errorf("extras token listed as %+v", extras)
	}
	if extras.Expires != nil {
		exp, err := time.Parse(time.RFC3339, *extras.Expires)
		if d := time.Until(exp); err != nil || d < 29*24*time.Hour || d > 31*24*time.Hour {
			t.Errorf("extras token expires %q, want in 30 days", *extras.Expires)
		}
	}

	res := alice.mustRun("", "token", "list")
	assertNoWholeToken(t, res, secrets...)
	for _, o := range list {
		want := "Token " + o.Token + "… with id " + o.ID + " name " + o.Name + " created "
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("npm token list lacks %q:\n%s", want, res)
		}
	}
	if !strings.Contains(res.Stdout, "with IP whitelist: 127.0.0.0/8") {
		t.Errorf("npm token list does not show the extras token's IP range:\n%s", res)
	}

	// A granular token may not manage tokens.
	assertFailed(t, ci.run("", "token", "list"), "E403")

	// Revoke by id, then by whole token.
	res = alice.mustRun("", "token", "revoke", ciObj.ID)
	if strings.TrimSpace(res.Stdout) != "Removed 1 token" {
		t.Errorf("npm token revoke <id> printed %q, want Removed 1 token", res.Stdout)
	}
	assertUnauthorized(t, srv, ci, ciTok)
	assertFailed(t, ci.run(makePackage(t, pkgSpec{Name: "pkg-a", Version: "1.5.0"}), "publish"), "E401")
	res = alice.mustRun("", "token", "revoke", readerTok)
	if strings.TrimSpace(res.Stdout) != "Removed 1 token" {
		t.Errorf("npm token revoke <token> printed %q, want Removed 1 token", res.Stdout)
	}
	assertUnauthorized(t, srv, reader, readerTok)
	project := makeProject(t, nil)
	// gatehouse treats a stale token on a read as no token (so public
	// reads keep working), and an anonymous reader gets 404 for a private
	// package.
	if res := reader.run(project, "install", private); res.Code == 0 ||
		!strings.Contains(res.Output(), "E401") && !strings.Contains(res.Output(), "E404") {
		t.Errorf("install of a private package with a revoked token: want E401 or E404:\n%s", res)
	}
	assertNotInstalled(t, project, private)
	if list := listJSON(t, alice, secrets...); len(list) != 2 {
		t.Errorf("after two revokes npm token list --json shows %d tokens, want 2", len(list))
	}
	assertWhoami(t, newClient(t, srv, npm).login(allTok), "alice")

	assertNoSecretsBeforeAndAfterStop(t, srv, secrets)
}

// TestTokenLosesOwnership checks that a token is worth no more than its user:
// once alice is no longer an owner of pkg-c, her token for it stops working.
func TestTokenLosesOwnership(t *testing.T) {
	t.Parallel()
	srv, _, alice := startWithUser(t, "alice")
	npm := alice.tool
	bob := userClient(t, srv, npm, "bob")
	const pkg = "pkg-c"
	alice.publishSpec(pkgSpec{Name: pkg, Version: "1.0.0"})
	res := alice.mustRun("", "token", "create", "--name", "pkg-c", "--packages", pkg,
		"--packages-and-scopes-permission", "read-write", "--password", passwordOf("alice"))
	tok := createdToken(t, res)
	ci := newClient(t, srv, npm).login(tok)
	ci.publishSpec(pkgSpec{Name: pkg, Version: "1.1.0"})

	alice.mustRun("", "owner", "add", "bob", pkg)
	res = bob.mustRun("", "owner", "rm", "alice", pkg)
	if !strings.Contains(res.Stdout, "- alice ("+pkg+")") {
		t.Errorf("npm owner rm printed %q, want - alice (%s)", res.Stdout, pkg)
	}
	res = ci.run(makePackage(t, pkgSpec{Name: pkg, Version: "1.2.0"}), "publish")
	assertFailed(t, res, "E403")
	if got := bob.viewList(pkg, "versions"); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
		t.Errorf("versions = %v, want 1.0.0 1.1.0", got)
	}
	// The token itself is still valid: it just has nothing left to write.
	assertWhoami(t, ci, "alice")
	bob.publishSpec(pkgSpec{Name: pkg, Version: "1.2.0"})
}

// TestTokenListPagination checks that npm follows urls.next through every
// page of a long token list.
func TestTokenListPagination(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	session := srv.createUser(t, "alice")
	const n = 12
	keys := map[string]string{} // key → token prefix
	for i := range n {
		body := map[string]any{"password": passwordOf("alice"), "readonly": i%2 == 0}
		if i%3 == 0 {
			body = map[string]any{"password": passwordOf("alice"), "name": "t" + string(rune('a'+i)),
				"packages_all": true, "packages_and_scopes_permission": "read-only"}
		}
		res := srv.do(t, http.MethodPost, "-/npm/v1/tokens", session, body)
		if res.Status != http.StatusCreated {
			t.Fatalf("create token %d: %s", i, res)
		}
		var o tokenObj
		decodeJSON(t, res.Body, &o)
		keys[o.Key] = o.Token[:8]
	}
	if len(keys) != n {
		t.Fatalf("created %d distinct keys, want %d", len(keys), n)
	}
	res := srv.do(t, http.MethodGet, "-/npm/v1/tokens", session, nil)
	var first struct {
		Objects []tokenObj        `json:"objects"`
		URLs    map[string]string `json:"urls"`
	}
	decodeJSON(t, res.Body, &first)
	if len(first.Objects) >= n || first.URLs["next"] == "" {
		t.Fatalf("the first page holds %d tokens and next %q: the list is not paginated, so npm's paging goes untested",
			len(first.Objects), first.URLs["next"])
	}
	for _, tl := range []struct {
		name string
		get  func(*testing.T) tool
	}{{"npm10", npm10}, {"npm11", npm11}, {"npm12", npm12}} {
		t.Run(tl.name, func(t *testing.T) {
			npm := tl.get(t)
			c := newClient(t, srv, npm).login(session)
			assertListed(t, npm.name, listJSON(t, c), keys)
		})
	}
}

// TestTokenAdminCommands runs `gatehouse token` next to a running server.
func TestTokenAdminCommands(t *testing.T) {
	t.Parallel()
	srv, session, alice := startWithUser(t, "alice")
	npm := alice.tool
	tok := createdToken(t, alice.mustRun("", "token", "create", "--name", "deploy", "--packages-all",
		"--packages-and-scopes-permission", "read-only", "--password", passwordOf("alice")))
	other := createdToken(t, alice.mustRun("", "token", "create", "--name", "other", "--packages-all",
		"--packages-and-scopes-permission", "read-only", "--password", passwordOf("alice")))
	masked := tok[:8] + "..." + tok[len(tok)-4:]
	c := newClient(t, srv, npm).login(tok)
	assertWhoami(t, c, "alice")

	out, code := runGatehouse(t, "", "token", "list", "--user", "alice", "--data", srv.DataDir())
	if code != 0 {
		t.Fatalf("gatehouse token list: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, masked) || !strings.Contains(out, "deploy") {
		t.Errorf("gatehouse token list does not show %s (deploy):\n%s", masked, out)
	}
	if m := tokenPattern.FindString(out); m != "" || strings.Contains(out, tok) || strings.Contains(out, session) {
		t.Errorf("gatehouse token list shows a whole token:\n%s", out)
	}
	out, code = runGatehouse(t, "", "token", "list", "--user", "alice", "--json", "--data", srv.DataDir())
	if code != 0 {
		t.Fatalf("gatehouse token list --json: exit %d\n%s", code, out)
	}
	var rows []struct {
		Key   string `json:"key"`
		Token string `json:"token"`
		Name  string `json:"name"`
	}
	decodeJSON(t, []byte(out), &rows)
	key := ""
	for _, r := range rows {
		if r.Token == masked {
			key = r.Key
		}
		if tokenPattern.MatchString(r.Token) {
			t.Errorf("gatehouse token list --json shows a whole token for %s", r.Key)
		}
	}
	if len(rows) != 2 || key == "" {
		t.Fatalf("gatehouse token list --json: want 2 rows, one of them %s:\n%s", masked, out)
	}

	out, code = runGatehouse(t, "", "token", "revoke", key, "--data", srv.DataDir())
	if code != 0 || !strings.Contains(out, key) || strings.Contains(out, tok) {
		t.Fatalf("gatehouse token revoke %s: exit %d\n%s", key, code, out)
	}
	deadline := time.Now().Add(time.Second)
	for {
		res := srv.whoami(t, tok)
		if res.Status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a second after gatehouse token revoke, the running server still answers %s to the token", res)
		}
		time.Sleep(50 * time.Millisecond)
	}
	assertFailed(t, c.run("", "whoami"), "E401")
	assertWhoami(t, newClient(t, srv, npm).login(other), "alice")
	out, code = runGatehouse(t, "", "token", "revoke", key, "--data", srv.DataDir())
	if code == 0 {
		t.Errorf("revoking the revoked token again succeeded:\n%s", out)
	}

	out, code = runGatehouse(t, "", "token", "check", other)
	if code != 0 || !strings.Contains(out, "well-formed") || strings.Contains(out, other) {
		t.Errorf("gatehouse token check <real token>: exit %d\n%s", code, out)
	}
	// Change one character of the random part.
	b := []byte(other)
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	out, code = runGatehouse(t, "", "token", "check", string(b))
	if code == 0 || !strings.Contains(out, "not a well-formed") {
		t.Errorf("gatehouse token check <changed token>: exit %d, want a failure saying not well-formed\n%s", code, out)
	}

	assertNoSecretsBeforeAndAfterStop(t, srv, []string{session, tok, other, passwordOf("alice")})
}
