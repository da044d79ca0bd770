package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/server"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// ScaleCorpus describes a store seeded straight into the database by
// `seed scale`, for the scale benchmark (bench/scale.sh).
type ScaleCorpus struct {
	// Prefix starts every package and user name.
	Prefix string
	// Packages, Versions (of each package), Users and Tokens are the sizes.
	Packages, Versions, Users, Tokens int
	// Tarballs is how many distinct tarballs the versions share.
	Tarballs int
	// ReadmeBytes is the approximate size of each version's README.
	ReadmeBytes int
	// Sample and Cold are how many plaintext tokens that may read every
	// package to keep for the load tool: Sample for the warm scenarios,
	// Cold (other tokens) for the one where every request brings a token
	// not used before.
	Sample, Cold int
	// Batch is how many packages (and ten times as many tokens) one
	// transaction writes.
	Batch int
	// TokenPrefix is the server's token prefix (empty: npm_).
	TokenPrefix string
}

// Validate reports sizes that cannot make a store.
func (c ScaleCorpus) Validate() error {
	switch {
	case c.Prefix == "" || strings.ToLower(c.Prefix) != c.Prefix || strings.ContainsAny(c.Prefix, "/@ "):
		return fmt.Errorf("prefix %q: want a lowercase unscoped name", c.Prefix)
	case c.Packages < 1 || c.Users < 1 || c.Tarballs < 1 || c.Batch < 1:
		return errors.New("packages, users, tarballs and batch must be at least 1")
	case c.Versions < 1 || c.Versions > maxVersions:
		return fmt.Errorf("versions must be between 1 and %d, not %d", maxVersions, c.Versions)
	case c.Tokens < 0 || c.Sample < 0 || c.Cold < 0 || c.ReadmeBytes < 0:
		return errors.New("tokens, sample, cold and readme bytes must not be negative")
	case c.Sample+c.Cold > c.ReadTokens():
		return fmt.Errorf("sample (%d) and cold (%d) tokens exceed the %d tokens that may read every package",
			c.Sample+c.Cold, c.ReadTokens(), c.ReadTokens())
	}
	return nil
}

// PackageName is the name of package i.
func (c ScaleCorpus) PackageName(i int) string {
	return fmt.Sprintf("%s-%s-%06d", c.Prefix, words[i%len(words)], i)
}

// UserName is the name of user u.
func (c ScaleCorpus) UserName(u int) string { return fmt.Sprintf("%s-user-%05d", c.Prefix, u) }

// The kinds of seeded token, by index modulo 10: mostly tokens that read
// every package (granular read-only on all packages, legacy read-only,
// automation), some granular ones limited to three packages.
const (
	tokenKindsCycle = 10
	tokenLimited    = 8 // index%10 == 8: granular on three packages
)

// tokenMayReadAll reports whether token t may read every package.
func tokenMayReadAll(t int) bool { return t%tokenKindsCycle != tokenLimited }

// ReadTokens is how many tokens may read every package.
func (c ScaleCorpus) ReadTokens() int {
	full, rest := c.Tokens/tokenKindsCycle, c.Tokens%tokenKindsCycle
	n := full * (tokenKindsCycle - 1)
	if rest > tokenLimited {
		rest--
	}
	return n + rest
}

// SeededToken is a plaintext token kept for the load tool, with its user.
type SeededToken struct {
	User  string `json:"user"`
	Token string `json:"token"`
}

// ScaleState is what `seed scale` leaves for the harness. It holds
// plaintext tokens: it belongs in a temporary folder, never in a commit.
type ScaleState struct {
	Store       string  `json:"store"` // sqlite or postgres
	Packages    int     `json:"packages"`
	Versions    int     `json:"versions"`
	Users       int     `json:"users"`
	Tokens      int     `json:"tokens"`
	Tarballs    int     `json:"tarballs"`
	ReadmeBytes int     `json:"readme_bytes"`
	Batch       int     `json:"batch"`
	Seconds     float64 `json:"seconds"`
	// UserSeconds, PackageSeconds and TokenSeconds time the three steps.
	UserSeconds    float64 `json:"user_seconds"`
	PackageSeconds float64 `json:"package_seconds"`
	TokenSeconds   float64 `json:"token_seconds"`
	// Reused is true when the store was copied from the seeded-store cache
	// (the times are then those of the seeding that made it).
	Reused bool `json:"reused"`
	// HotPackage is package 0 and TarballPath its latest tarball's path.
	HotPackage  string        `json:"hot_package"`
	TarballPath string        `json:"tarball_path"`
	Sample      []SeededToken `json:"sample"`
	Cold        []SeededToken `json:"cold"`
}

// scaleCommand seeds users, packages and tokens straight into a store, as
// bench/scale.sh needs them, and writes a ScaleState.
func scaleCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "gatehouse's data folder: SQLite database and tarballs (required)")
	database := fs.String("database", "", "PostgreSQL URL (default: GATEHOUSE_DATABASE; none means SQLite in the data folder)")
	c := ScaleCorpus{}
	fs.StringVar(&c.Prefix, "prefix", "scale", "package and user name prefix")
	fs.IntVar(&c.Packages, "packages", 100_000, "number of packages")
	fs.IntVar(&c.Versions, "versions", 3, "versions of each package")
	fs.IntVar(&c.Users, "users", 10_000, "accounts; they own the packages and the tokens in turn")
	fs.IntVar(&c.Tokens, "tokens", 1_000_000, "access tokens, spread over the accounts")
	fs.IntVar(&c.Tarballs, "tarballs", 8, "distinct tarballs the versions share")
	fs.IntVar(&c.ReadmeBytes, "readme-bytes", 512, "approximate README size of each version")
	fs.IntVar(&c.Sample, "sample", 10_000, "plaintext tokens to keep for the warm load scenarios")
	fs.IntVar(&c.Cold, "cold", 0, "further plaintext tokens to keep for the cold-token scenario")
	fs.IntVar(&c.Batch, "batch", 1000, "packages per transaction (tokens: ten times as many)")
	fs.StringVar(&c.TokenPrefix, "token-prefix", "", "the server's token prefix (default npm_)")
	out := fs.String("out", "", "file to write the state JSON to, plaintext tokens included (default: stdout)")
	lists := fs.String("lists", "", "folder to write tokens.txt, cold-tokens.txt, packages.txt and tarballs.txt to, for wrk")
	var cache ScaleCache
	fs.StringVar(&cache.Dir, "cache", "", "folder of kept seeded stores: reuse one with the same key, or keep a copy of this one")
	fs.StringVar(&cache.Migrations, "migrations", "internal/store/migrations", "the store's migration files (part of -cache's key)")
	fs.StringVar(&cache.Admin, "admin", "", "with -cache and PostgreSQL: URL of a role that may create databases on the server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" {
		return errors.New("scale: -data is required")
	}
	if *database == "" {
		*database = os.Getenv("GATEHOUSE_DATABASE")
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	cfg := config.Config{DataDir: *data, Database: *database}
	var st *ScaleState
	var err error
	if cache.Dir != "" {
		st, err = SeedScaleCached(ctx, cfg, c, cache, stderr)
	} else {
		st, err = SeedScale(ctx, cfg, c, stderr)
	}
	if err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	if *lists != "" {
		if err := writeLists(*lists, c, st); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
	}
	return writeJSON(*out, stdout, st)
}

// SeedScale opens the store cfg names (creating and migrating it) and
// writes c into it: users, then packages through registry.Import (so their
// documents are the ones a publish builds), then tokens through the store.
// The store must not hold c's users yet. Progress goes to progress.
func SeedScale(ctx context.Context, cfg config.Config, c ScaleCorpus, progress io.Writer) (*ScaleState, error) {
	start := time.Now()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	db, err := server.OpenStore(ctx, cfg, quiet)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	blobs, err := server.OpenBlobs(ctx, cfg, quiet)
	if err != nil {
		return nil, err
	}
	defer blobs.Close()
	feed := store.NewFeed(db, quiet)
	defer feed.Close()
	reg := registry.NewService(db, blobs, nil, feed, nil, nil, nil)
	// Sign as a publish does: a store seeded unsigned would spend its first
	// minutes of serving signing the backlog (a write per package), not in
	// the steady state the load is meant to measure.
	signer, err := server.OpenSigning(ctx, cfg, db, quiet)
	if err != nil {
		return nil, err
	}
	reg.SetSigner(signer)

	st := &ScaleState{Store: "sqlite", Packages: c.Packages, Versions: c.Versions, Users: c.Users, Tokens: c.Tokens,
		Tarballs: c.Tarballs, ReadmeBytes: c.ReadmeBytes, Batch: c.Batch, HotPackage: c.PackageName(0)}
	if cfg.Database != "" {
		st.Store = "postgres"
	}
	st.TarballPath = "/" + st.HotPackage + "/-/" + registry.TarballFilename(st.HotPackage, VersionString(c.Versions-1))

	step := time.Now()
	owners, err := seedUsers(ctx, db, c)
	if err != nil {
		return nil, err
	}
	st.UserSeconds = time.Since(step).Seconds()
	fmt.Fprintf(progress, "seed scale: %d users in %.1fs\n", c.Users, st.UserSeconds)

	step = time.Now()
	if err := seedPackages(ctx, reg, c, owners, progress); err != nil {
		return nil, err
	}
	st.PackageSeconds = time.Since(step).Seconds()
	fmt.Fprintf(progress, "seed scale: %d packages × %d versions in %.1fs\n", c.Packages, c.Versions, st.PackageSeconds)

	step = time.Now()
	if err := seedTokens(ctx, db, c, owners, st, cfg.Database != "", progress); err != nil {
		return nil, err
	}
	st.TokenSeconds = time.Since(step).Seconds()
	fmt.Fprintf(progress, "seed scale: %d tokens in %.1fs\n", c.Tokens, st.TokenSeconds)
	st.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(progress, "seed scale: done in %.1fs\n", st.Seconds)
	return st, nil
}

// scalePassword is every seeded account's password; the stores are
// throwaway benchmark stores.
const scalePassword = "pw-scale-not-secret"

// seedUsers creates c's users in one transaction and returns them as owners.
// They share one password hash: hashing is slow on purpose.
func seedUsers(ctx context.Context, db *store.Store, c ScaleCorpus) ([]store.Owner, error) {
	hash, err := account.HashPassword(scalePassword)
	if err != nil {
		return nil, err
	}
	owners := make([]store.Owner, 0, c.Users)
	err = db.InTx(ctx, func(q store.Queries) error {
		for u := range c.Users {
			name := c.UserName(u)
			user, err := q.CreateUser(ctx, store.User{Name: name, Email: name + "@example.com", PasswordHash: hash})
			if err != nil {
				return err
			}
			owners = append(owners, store.Owner{UserID: user.ID, Name: user.Name, Email: user.Email})
		}
		return nil
	})
	return owners, err
}

// seedPackages imports c's packages a batch per transaction. Version k of
// package i points at tarball (i+k) mod c.Tarballs.
func seedPackages(ctx context.Context, reg *registry.Service, c ScaleCorpus, owners []store.Owner, progress io.Writer) error {
	digests := make([]registry.Digest, c.Tarballs)
	for n := range digests {
		tgz, err := scaleTarball(c, n)
		if err != nil {
			return err
		}
		if digests[n], err = reg.ImportTarball(ctx, tgz); err != nil {
			return err
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	batch := make([]registry.ImportedPackage, 0, c.Batch)
	for i := range c.Packages {
		p, err := scalePackage(c, i, owners[i%len(owners)], digests, base)
		if err != nil {
			return err
		}
		batch = append(batch, p)
		if len(batch) == c.Batch || i == c.Packages-1 {
			if err := reg.Import(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
			if done := i + 1; done%max(c.Packages/10, 1) < c.Batch || done == c.Packages {
				fmt.Fprintf(progress, "  %d/%d packages\n", done, c.Packages)
			}
		}
	}
	return nil
}

// scaleTarball is the n-th shared tarball: package.json, README and code.
func scaleTarball(c ScaleCorpus, n int) ([]byte, error) {
	rng := rand.New(rand.NewPCG(uint64(n)+1, 0x5ca1e))
	name := fmt.Sprintf("%s-shared-%d", c.Prefix, n)
	pkg := packageJSON(name, "1.0.0", sentence(rng, 8), nil, rng)
	return Tarball([]tarFile{
		{"package/package.json", mustJSON(pkg)},
		{"package/README.md", []byte(Readme(rng, name, "1.0.0", c.ReadmeBytes))},
		{"package/index.js", []byte(indexJS(rng, name))},
		{"package/LICENSE", []byte(license)},
	})
}

// scalePackage is package i with its versions, as npm would publish them.
func scalePackage(c ScaleCorpus, i int, owner store.Owner, digests []registry.Digest, base int64) (registry.ImportedPackage, error) {
	name := c.PackageName(i)
	deps := map[string]string{}
	for _, j := range []int{i + 1, i + 7} {
		if j < c.Packages {
			deps[c.PackageName(j)] = "^1.0.0"
		}
	}
	p := registry.ImportedPackage{Name: name, Owners: []store.Owner{owner}}
	for k := range c.Versions {
		rng := rand.New(rand.NewPCG(uint64(i)+1, uint64(k)+1))
		version := VersionString(k)
		m := packageJSON(name, version, sentence(rng, 8), deps, rng)
		m["readme"] = Readme(rng, name, version, c.ReadmeBytes)
		m["readmeFilename"] = "README.md"
		raw, err := json.Marshal(m)
		if err != nil {
			return p, err
		}
		p.Versions = append(p.Versions, registry.ImportedVersion{Version: version, Manifest: raw,
			Tarball: digests[(i+k)%len(digests)], PublishedAt: base + int64(i)*1000 + int64(k)*60_000})
	}
	return p, nil
}

// seedTokens creates c's tokens, ten batches' worth per transaction, and
// keeps the plaintext of the first Sample tokens that may read every
// package (and of the Cold after them) in st. Token t belongs to user
// t mod Users; its kind cycles with t mod 10: 0-5 granular read-only on
// all packages, 6 legacy read-only, 7 automation, 8 granular read-only on
// three packages, 9 granular read-only on all packages with an IP range
// that lets the loopback in. On SQLite each batch goes through the store's
// CreateToken; on PostgreSQL (postgres true), where a round trip per row
// made 1,000,000 tokens take three minutes, through COPY (copyTokens).
func seedTokens(ctx context.Context, db *store.Store, c ScaleCorpus, owners []store.Owner, st *ScaleState,
	postgres bool, progress io.Writer) error {
	format := token.NewFormat(c.TokenPrefix)
	now := time.Now()
	expires := sql.NullInt64{Int64: now.AddDate(1, 0, 0).UnixMilli(), Valid: true}
	allGrants := string(mustCompactJSON(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadOnly}))
	per := c.Batch * 10
	kept := 0
	recs := make([]store.Token, 0, per)
	for from := 0; from < c.Tokens; from += per {
		recs = recs[:0]
		for t := from; t < min(from+per, c.Tokens); t++ {
			raw, err := format.Generate()
			if err != nil {
				return fmt.Errorf("generate token: %w", err)
			}
			h := token.Hash(raw)
			o := owners[t%len(owners)]
			rec := store.Token{Key: uuid.NewString(), Hash: h[:], UserID: o.UserID, Masked: token.Mask(raw),
				Name: fmt.Sprintf("scale-%d", t), CreatedAt: now.UnixMilli() - int64(c.Tokens-t), CIDR: "[]", Grants: "{}"}
			switch t % tokenKindsCycle {
			case 6:
				rec.Kind = string(auth.KindReadOnly)
			case 7:
				rec.Kind = string(auth.KindAutomation)
			case tokenLimited:
				rec.Kind, rec.ExpiresAt = string(auth.KindGranular), expires
				rec.Grants = string(mustCompactJSON(auth.Grants{PackagePerm: auth.ReadOnly,
					Packages: []string{c.PackageName(t % c.Packages), c.PackageName((t + 1) % c.Packages), c.PackageName((t + 2) % c.Packages)}}))
			case 9:
				rec.Kind, rec.ExpiresAt, rec.Grants = string(auth.KindGranular), expires, allGrants
				rec.CIDR = `["127.0.0.0/8","::1/128"]`
			default:
				rec.Kind, rec.ExpiresAt, rec.Grants = string(auth.KindGranular), expires, allGrants
			}
			recs = append(recs, rec)
			if tokenMayReadAll(t) && kept < c.Sample+c.Cold {
				kt := SeededToken{User: o.Name, Token: raw}
				if kept < c.Sample {
					st.Sample = append(st.Sample, kt)
				} else {
					st.Cold = append(st.Cold, kt)
				}
				kept++
			}
		}
		var err error
		if postgres {
			err = copyTokens(ctx, db.DB(), recs)
		} else {
			err = db.InTx(ctx, func(q store.Queries) error {
				for _, rec := range recs {
					if _, err := q.CreateToken(ctx, rec); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err != nil {
			return err
		}
		if done := min(from+per, c.Tokens); done%max(c.Tokens/10, 1) < per || done == c.Tokens {
			fmt.Fprintf(progress, "  %d/%d tokens\n", done, c.Tokens)
		}
	}
	return nil
}

// tokenCopyColumns are the columns copyTokens fills: those CreateToken
// writes; the rest take their defaults, as they do there.
var tokenCopyColumns = []string{"key", "hash", "user_id", "kind", "name", "description", "masked", "cidr", "grants",
	"bypass_2fa", "created_at", "expires_at"}

// copyTokens writes recs into a PostgreSQL store's tokens table with one
// COPY (pgx's CopyFrom on the connection under db), all or none.
func copyTokens(ctx context.Context, db *sql.DB, recs []store.Token) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("copy tokens: %w", err)
	}
	defer conn.Close()
	rows := make([][]any, len(recs))
	for i, t := range recs {
		var expires any
		if t.ExpiresAt.Valid {
			expires = t.ExpiresAt.Int64
		}
		bypass := 0
		if t.Bypass2FA {
			bypass = 1
		}
		rows[i] = []any{t.Key, t.Hash, t.UserID, t.Kind, t.Name, t.Description, t.Masked, t.CIDR, t.Grants,
			int32(bypass), t.CreatedAt, expires}
	}
	err = conn.Raw(func(driverConn any) error {
		pc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("not a PostgreSQL connection (%T)", driverConn)
		}
		n, err := pc.Conn().CopyFrom(ctx, pgx.Identifier{"tokens"}, tokenCopyColumns, pgx.CopyFromRows(rows))
		if err == nil && n != int64(len(rows)) {
			err = fmt.Errorf("copied %d rows of %d", n, len(rows))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("copy tokens: %w", err)
	}
	return nil
}

func mustCompactJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only grants reach here
	}
	return b
}

// writeLists writes the files the wrk script reads, one entry a line:
// tokens.txt (the warm sample), cold-tokens.txt, packages.txt (every
// package name) and tarballs.txt (every package's latest tarball path).
func writeLists(dir string, c ScaleCorpus, st *ScaleState) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var tokens, cold, names, tarballs strings.Builder
	for _, t := range st.Sample {
		tokens.WriteString(t.Token + "\n")
	}
	for _, t := range st.Cold {
		cold.WriteString(t.Token + "\n")
	}
	last := VersionString(c.Versions - 1)
	for i := range c.Packages {
		name := c.PackageName(i)
		names.WriteString("/" + name + "\n")
		tarballs.WriteString("/" + name + "/-/" + registry.TarballFilename(name, last) + "\n")
	}
	for file, body := range map[string]string{"tokens.txt": tokens.String(), "cold-tokens.txt": cold.String(),
		"packages.txt": names.String(), "tarballs.txt": tarballs.String()} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o600); err != nil {
			return err
		}
	}
	return nil
}
