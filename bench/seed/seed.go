package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// State is what a seeding run leaves for the rest of the harness: the
// tokens to read and publish with, and what to read.
type State struct {
	Registry string `json:"registry"`
	Kind     string `json:"kind"`
	// ReadToken is the token the load test sends: on gatehouse a granular
	// token of the bench user with packages_all; on Verdaccio the JWT of
	// its login.
	ReadToken string `json:"read_token"`
	// PublishToken may publish: the bench user's session token.
	PublishToken string `json:"publish_token"`
	// HotPackage is package 0, the one with the most versions.
	HotPackage  string `json:"hot_package"`
	HotVersions int    `json:"hot_versions"`
	// TarballPath is the URL path of the hot package's latest tarball.
	TarballPath string `json:"tarball_path"`
	Packages    int    `json:"packages"`
	Versions    int    `json:"versions"`
	ReadmeBytes int    `json:"readme_bytes"`
	Users       int    `json:"users"`
	Tokens      int    `json:"tokens"`
	Publishes   int    `json:"publishes"`
	// PublishSeconds is the time the publishes took; Seconds is the whole
	// seeding, accounts and tokens included.
	PublishSeconds float64 `json:"publish_seconds"`
	Seconds        float64 `json:"seconds"`
}

// benchUser is the account that owns every seeded package.
const benchUser = "bench"

// password is every seeded account's password; the servers are throwaway
// and listen on loopback only.
func password(user string) string { return "pw-" + user + "-not-secret" }

// seedCommand creates users, tokens and packages on a registry through its
// HTTP API, then writes a State.
func seedCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	registry := fs.String("registry", "", "registry URL (required)")
	kind := fs.String("kind", "gatehouse", "gatehouse or verdaccio: how tokens are made")
	c := Corpus{}
	fs.StringVar(&c.Prefix, "prefix", "bench", "package name prefix")
	fs.IntVar(&c.Packages, "packages", 200, "number of packages")
	fs.IntVar(&c.Versions, "versions", 10, "versions of each package")
	fs.IntVar(&c.HotVersions, "hot-versions", 100, "versions of package 0, the one under load (0: as -versions)")
	fs.IntVar(&c.ReadmeBytes, "readme-bytes", 4096, "approximate README size of each version")
	users := fs.Int("users", 10, "accounts to create besides the bench user")
	tokens := fs.Int("tokens", 3, "granular tokens per account (gatehouse only)")
	concurrency := fs.Int("concurrency", 4, "packages published at once")
	out := fs.String("out", "", "file to write the state JSON to (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *registry == "" {
		return errors.New("seed: -registry is required")
	}
	if *kind != "gatehouse" && *kind != "verdaccio" {
		return fmt.Errorf("seed: -kind %q: want gatehouse or verdaccio", *kind)
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	start := time.Now()
	cl := NewClient(*registry)
	st := State{Registry: cl.Base, Kind: *kind, Packages: c.Packages, Versions: c.Versions,
		ReadmeBytes: c.ReadmeBytes, HotPackage: c.Name(0), HotVersions: c.VersionCount(0)}

	session, err := cl.AddUser(ctx, benchUser, password(benchUser), benchUser+"@example.com")
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	st.PublishToken, st.ReadToken = session, session
	st.Users = 1
	sessions := make([]string, 0, *users)
	for u := range *users {
		name := userName(u)
		s, err := cl.AddUser(ctx, name, password(name), name+"@example.com")
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		sessions = append(sessions, s)
		st.Users++
	}
	fmt.Fprintf(stderr, "seed %s: %d users in %.1fs\n", *kind, st.Users, time.Since(start).Seconds())

	publishStart := time.Now()
	n, err := publishCorpus(ctx, cl, session, c, *concurrency, stderr)
	st.Publishes, st.PublishSeconds = n, time.Since(publishStart).Seconds()
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(stderr, "seed %s: %d publishes in %.1fs\n", *kind, n, st.PublishSeconds)

	// Tokens come after the packages, so grants can name them.
	if *kind == "gatehouse" {
		st.ReadToken, err = cl.CreateToken(ctx, session, password(benchUser), "bench", map[string]any{"packages_all": true})
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		st.Tokens++
		for u, s := range sessions {
			name := userName(u)
			for t := range *tokens {
				fields := map[string]any{"packages_all": true, "expires": 30}
				if t%2 == 1 {
					fields = map[string]any{"packages": []string{c.Name((u + t) % c.Packages)}, "packages_and_scopes_permission": "read-only", "expires": 7}
				}
				if _, err := cl.CreateToken(ctx, s, password(name), fmt.Sprintf("%s-token-%d", name, t), fields); err != nil {
					return fmt.Errorf("seed: %w", err)
				}
				st.Tokens++
			}
		}
	}
	last, err := c.Release(0, c.VersionCount(0)-1)
	if err != nil {
		return err
	}
	st.TarballPath = last.TarballPath()
	st.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(stderr, "seed %s: done in %.1fs (%d tokens)\n", *kind, st.Seconds, st.Tokens)
	return writeJSON(*out, stdout, st)
}

// userName is the name of the u-th extra account.
func userName(u int) string { return fmt.Sprintf("user%03d", u) }

// publishCorpus publishes every version of every package, concurrency
// packages at a time and the versions of one package in order. It returns
// how many publishes succeeded.
func publishCorpus(ctx context.Context, cl *Client, token string, c Corpus, concurrency int, progress io.Writer) (int, error) {
	total := 0
	for i := range c.Packages {
		total += c.VersionCount(i)
	}
	var done atomic.Int64
	var printing sync.Mutex // progress may be any writer
	err := inParallel(ctx, c.Packages, concurrency, func(ctx context.Context, i int) error {
		for k := range c.VersionCount(i) {
			if err := publishOne(ctx, cl, token, c, i, k); err != nil {
				return err
			}
			if d := done.Add(1); d%int64(max(total/10, 1)) == 0 {
				printing.Lock()
				fmt.Fprintf(progress, "  %d/%d publishes\n", d, total)
				printing.Unlock()
			}
		}
		return nil
	})
	return int(done.Load()), err
}

func publishOne(ctx context.Context, cl *Client, token string, c Corpus, i, k int) error {
	r, err := c.Release(i, k)
	if err != nil {
		return err
	}
	return cl.Publish(ctx, token, r)
}

// writeJSON writes v, indented, to the file path, or to w when path is empty.
func writeJSON(path string, w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if path == "" {
		_, err = w.Write(data)
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
