// Command gatehouse is a self-hosted npm registry: one binary, SQLite and a
// folder by default.
//
//	gatehouse serve [flags]                 run the registry (gatehouse serve --help)
//	gatehouse user add NAME --email E       create an account; the password is read from stdin
//	gatehouse org create NAME --owner USER  create an organization
//	gatehouse token list|revoke|check       administer access tokens
//	gatehouse keys list|rotate|sign-backlog the registry's signing keys
//	gatehouse migrate                       apply database migrations and exit
//	gatehouse gc [--grace 1h] [--dry-run]   remove tarball blobs no version references
//	gatehouse version                       print the version
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/admin"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/gc"
	"github.com/gatehouse-registry/gatehouse/internal/heapfloor"
	"github.com/gatehouse-registry/gatehouse/internal/logqueue"
	"github.com/gatehouse-registry/gatehouse/internal/memsize"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/server"
	"github.com/gatehouse-registry/gatehouse/internal/signing"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
	"github.com/gatehouse-registry/gatehouse/internal/units"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise
// it comes from the module's build information.
var version = ""

func main() {
	code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	os.Exit(code)
}

const usage = `gatehouse: a self-hosted npm registry

Usage:
  gatehouse serve [flags]              run the registry (see gatehouse serve --help)
  gatehouse user add NAME --email E [--admin]   create an account; reads the password from stdin
  gatehouse user promote|demote NAME   make an account a site administrator, or not
  gatehouse user disable|enable NAME   refuse every credential and sign-in of an account, or stop
  gatehouse user list [--search S]     list the accounts: email, created, last sign-in, 2FA, admin, disabled
  gatehouse user reset-password NAME   end the password and sessions of an account; prints a reset link to hand over
  gatehouse user reset-2fa NAME        turn off the 2FA of an account that lost its device (it must enable 2FA again)
  gatehouse user revoke-tokens NAME    revoke every token and session of an account
  gatehouse user delete NAME [--heir USER|ORG]   delete an account; its packages go to the heir
  gatehouse package add-owner PKG USER make USER an owner of PKG (an administrator taking a package over)
  gatehouse audit export [--since T]   write the audit log as JSON lines (docs/audit.md)
  gatehouse org create NAME --owner U  create an organization (scope @NAME) owned by user U
  gatehouse token list --user NAME     list a user's access tokens
  gatehouse token revoke KEY           revoke a token by key, unique key prefix, or whole token
  gatehouse token check TOKEN          say offline whether TOKEN is well formed (checksum)
  gatehouse keys list                  list the registry's signing keys (dist.signatures)
  gatehouse keys rotate                sign new versions with a new key; the old one expires now
  gatehouse keys sign-backlog          sign the versions published before registry signatures now
  gatehouse migrate                    apply pending database migrations and exit
  gatehouse gc [--grace D] [--dry-run]  remove tarball blobs no version references (safe while serving)
  gatehouse cache ls|purge NAME|prune --older-than D   list or remove packages cached from uplinks
  gatehouse version                    print the version
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stderr)
	case "user":
		err = userCommand(args[1:], stdin, stdout, stderr)
	case "token":
		err = tokenCommand(args[1:], stdout, stderr)
	case "org":
		err = orgCommand(args[1:], stdout, stderr)
	case "audit":
		err = auditCommand(args[1:], stdout, stderr)
	case "package":
		err = packageCommand(args[1:], stdout, stderr)
	case "keys":
		err = keysCommand(args[1:], stdout, stderr)
	case "migrate":
		err = migrateCommand(args[1:], stdout, stderr)
	case "gc":
		err = gcCommand(args[1:], stdout, stderr)
	case "cache":
		err = cacheCommand(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "gatehouse", versionString())
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "gatehouse:", err)
		return 1
	}
	return 0
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func serve(args []string, stderr io.Writer) error {
	cfg, err := config.Load(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	// Log lines go through a bounded buffer written by a goroutine of its
	// own, so that no request waits for stderr; when the buffer is full a
	// line is dropped and counted (gatehouse_log_lines_dropped_total).
	// Closing it, after the server has drained and closed, writes every line
	// still buffered: a clean stop loses nothing.
	logs := logqueue.New(stderr, int(cfg.LogBuffer))
	defer logs.Close()
	log := server.NewLogger(logs, cfg.LogLevel, cfg.LogFormat == "json")
	// The collector's pace: see --gc-percent and --memory-limit, and
	// docs/operations.md for the measurements behind the default. While
	// the live heap is small and collections come more than once a second,
	// the heap may grow to a floor before it is collected, so that a small
	// heap under load is not collected many times a second.
	sized := sizeMemory(&cfg, memsize.Read(os.DirFS("/")))
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	floor := heapfloor.Start(cfg.GCPercent, heapFloor(cfg.MemoryLimit))
	defer floor.Stop()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if sized {
		log.Info("memory sized from the machine (docs/operations.md)", slog.String("memory_limit", units.FormatSize(cfg.MemoryLimit)),
			slog.String("cache_size", units.FormatSize(cfg.CacheSize)))
	}
	srv, err := server.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.CountLogDrops(logs.Dropped, logs.Failed)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	var metricsLn net.Listener
	if cfg.MetricsListen != "" {
		metricsLn, err = net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("listen for metrics on %s: %w", cfg.MetricsListen, err)
		}
	}
	return srv.Serve(ctx, ln, metricsLn)
}

// storageFlags are the flags an admin command shares with serve to find the
// same data: --config, --data, --database, --key-file and --blobs.
type storageFlags struct {
	config, data, database, keyFile, blobs *string
}

func addStorageFlags(fs *flag.FlagSet) storageFlags {
	return storageFlags{
		config: fs.String("config", "", "config file (TOML or YAML), as for serve"),
		data:   fs.String("data", "", "data folder (default: what serve would use, from GATEHOUSE_DATA, the config file or ./gatehouse-data)"),
		database: fs.String("database", "", "PostgreSQL URL (default: what serve would use, from GATEHOUSE_DATABASE or the config file; "+
			"none means SQLite in the data folder)"),
		keyFile: fs.String("key-file", "", "server key file (default: what serve would use, from GATEHOUSE_KEY_FILE, "+
			"the config file, or server.key in the data folder)"),
		blobs: fs.String("blobs", "", "where the tarballs live: file:///path or s3://BUCKET?... (default: what serve would use, "+
			"from GATEHOUSE_BLOBS or the config file; none means the folder tarballs in the data folder)"),
	}
}

// load loads the configuration as serve would.
func (f storageFlags) load(stderr io.Writer) (config.Config, error) {
	var args []string
	if *f.config != "" {
		args = append(args, "--config", *f.config)
	}
	if *f.data != "" {
		args = append(args, "--data", *f.data)
	}
	if *f.database != "" {
		args = append(args, "--database", *f.database)
	}
	if *f.keyFile != "" {
		args = append(args, "--key-file", *f.keyFile)
	}
	if *f.blobs != "" {
		args = append(args, "--blobs", *f.blobs)
	}
	return config.Load(args, os.Getenv, stderr)
}

// open loads the configuration as serve would and opens the stores.
func (f storageFlags) open(stderr io.Writer) (*server.Server, config.Config, error) {
	cfg, err := f.load(stderr)
	if err != nil {
		return nil, cfg, err
	}
	srv, err := server.Open(context.Background(), cfg, server.NewLogger(io.Discard, "error", false))
	return srv, cfg, err
}

// migrateCommand applies pending migrations to the configured database and
// exits: run it once before starting new nodes on a shared PostgreSQL
// database (every node also migrates when it starts, one at a time).
func migrateCommand(args []string, stdout, stderr io.Writer) error {
	const use = "usage: gatehouse migrate [--database URL] [--data DIR] [--config FILE]"
	fs := flag.NewFlagSet("gatehouse migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storage := addStorageFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New(use)
	}
	cfg, err := storage.load(stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	st, err := server.OpenStore(ctx, cfg, server.NewLogger(io.Discard, "error", false))
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	where := "SQLite in " + cfg.DataDir
	if cfg.Database != "" {
		where = "PostgreSQL " + store.RedactURL(cfg.Database)
	}
	fmt.Fprintf(stdout, "database migrated: %s, schema version %d\n", where, v)
	return nil
}

// gcCommand removes tarball blobs that no version references and that were
// written before the grace period, printing each one and a summary. It is
// safe while nodes serve: see package gc.
func gcCommand(args []string, stdout, stderr io.Writer) error {
	const use = "usage: gatehouse gc [--grace DURATION] [--dry-run] [--data DIR] [--database URL] [--blobs URL] [--config FILE]"
	fs := flag.NewFlagSet("gatehouse gc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	grace := fs.Duration("grace", time.Hour, "keep unreferenced blobs written less than this long ago: longer than "+
		"any publish takes, plus the clock difference with the blob store")
	dryRun := fs.Bool("dry-run", false, "list what would be removed, remove nothing")
	storage := addStorageFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New(use)
	}
	if *grace < 0 {
		return fmt.Errorf("--grace %s: must not be negative", *grace)
	}
	cfg, err := storage.load(stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	quiet := server.NewLogger(io.Discard, "error", false)
	st, err := server.OpenStore(ctx, cfg, quiet)
	if err != nil {
		return err
	}
	defer st.Close()
	blobs, err := server.OpenBlobs(ctx, cfg, quiet)
	if err != nil {
		return err
	}
	defer blobs.Close()
	verb := "removed"
	if *dryRun {
		verb = "would remove"
	}
	c, err := gc.New(st, blobs, gc.Options{Grace: *grace, DryRun: *dryRun,
		Removed: func(key string, a blob.Attributes) {
			fmt.Fprintf(stdout, "%s %s (%d bytes, written %s)\n", verb, key, a.Size, a.ModTime.UTC().Format(time.RFC3339))
		}})
	if err != nil {
		return err
	}
	sum, err := c.Run(ctx)
	freed := "freed"
	if *dryRun {
		freed = "would be freed"
	}
	fmt.Fprintf(stdout, "blobs seen: %d (%s); referenced: %d; unreferenced but younger than %s, kept: %d; %s: %d (%s %s)\n",
		sum.Seen, units.ApproxSize(sum.SeenBytes), sum.Referenced, units.FormatDuration(*grace), sum.Young, verb, sum.Removed,
		units.ApproxSize(sum.Freed), freed)
	if sum.Foreign > 0 {
		fmt.Fprintf(stdout, "left alone: %d keys under %s that are not tarball content addresses\n", sum.Foreign, blob.KeyPrefix())
	}
	if err != nil {
		return fmt.Errorf("gc stopped: %w", err)
	}
	return nil
}

// parseWithName parses args that start with one positional NAME before the flags.
// openNamed parses args of a command that takes one name and storage
// flags (the name before or after the flags, nothing else), and opens the
// store; use is the usage error. The caller closes the server.
func (f storageFlags) openNamed(fs *flag.FlagSet, args []string, stderr io.Writer, use string) (string, *server.Server, config.Config, error) {
	name, err := parseWithName(fs, args)
	if err != nil {
		return "", nil, config.Config{}, err
	}
	if name == "" || fs.NArg() > 1 || (fs.NArg() == 1 && fs.Arg(0) != name) {
		return "", nil, config.Config{}, errors.New(use)
	}
	srv, cfg, err := f.open(stderr)
	if err != nil {
		return "", nil, cfg, err
	}
	return name, srv, cfg, nil
}

func parseWithName(fs *flag.FlagSet, args []string) (string, error) {
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	return name, nil
}

func userCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const use = "usage: gatehouse user add NAME --email E [--admin] (the password is read from stdin) | " +
		"gatehouse user promote|demote|disable|enable|reset-password|reset-2fa|revoke-tokens NAME | " +
		"gatehouse user delete NAME [--heir USER|ORG] | gatehouse user list [--search S] [--after NAME] [--per-page N] [--json]; " +
		"each takes [--data DIR] [--database URL] [--key-file FILE] [--config FILE]"
	if len(args) == 0 {
		return errors.New(use)
	}
	switch args[0] {
	case "add":
	case "promote", "demote", "disable", "enable":
		return userChange(args[0], args[1:], stdout, stderr, use)
	case "list":
		return userList(args[1:], stdout, stderr)
	case "reset-password", "reset-2fa", "revoke-tokens", "delete":
		return userAdmin(args[0], args[1:], stdout, stderr, use)
	default:
		return errors.New(use)
	}
	fs := flag.NewFlagSet("gatehouse user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the account's email address (required)")
	asAdmin := fs.Bool("admin", false, "make the account a site administrator")
	storage := addStorageFlags(fs)
	name, err := parseWithName(fs, args[1:])
	if err != nil {
		return err
	}
	if name == "" || *email == "" {
		return errors.New(use)
	}
	password, err := readPassword(stdin)
	if err != nil {
		return err
	}
	srv, _, err := storage.open(stderr)
	if err != nil {
		return err
	}
	defer srv.Close()
	// An administrator creates accounts whether registration is open or not.
	u, err := srv.Accounts.CreateUserAs(context.Background(), policy.AdminRegistration, audit.Operator(), name, *email, password, *asAdmin)
	if err != nil {
		return err
	}
	role := ""
	if u.Admin {
		role = ", a site administrator"
	}
	fmt.Fprintf(stdout, "created user %s <%s>%s\n", u.Name, u.Email, role)
	return nil
}

// userChange promotes, demotes, disables or enables the named account, as
// the operator (recorded so in the audit log).
func userChange(verb string, args []string, stdout, stderr io.Writer, use string) error {
	fs := flag.NewFlagSet("gatehouse user "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name, srv, _, err := addStorageFlags(fs).openNamed(fs, args, stderr, use)
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx, op := context.Background(), audit.Operator()
	switch verb {
	case "promote", "demote":
		err = srv.Admin.SetAdmin(ctx, op, admin.Confirm{}, name, verb == "promote")
	default:
		err = srv.Admin.SetDisabled(ctx, op, admin.Confirm{}, name, verb == "disable")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%sd %s\n", verb, name)
	return nil
}

// auditCommand writes the audit log out for a log collector or an
// archive: gatehouse audit export, as JSON lines, oldest first.
func auditCommand(args []string, stdout, stderr io.Writer) error {
	const use = "usage: gatehouse audit export [--since T] [--until T] [--user NAME] [--action A] [--outcome success|failure] " +
		"[--after ID] [--format jsonl] [--data DIR] [--database URL] [--key-file FILE] [--config FILE]"
	if len(args) == 0 || args[0] != "export" {
		return errors.New(use)
	}
	fs := flag.NewFlagSet("gatehouse audit export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	params := map[string]*string{}
	for _, k := range []string{"since", "until", "user", "action", "outcome"} {
		params[k] = fs.String(k, "", "keep the events whose "+k+" is this (times: RFC 3339, a date, Unix ms, or a span back such as 7d)")
	}
	after := fs.Int64("after", 0, "export the events after this id (the last id of a previous export)")
	format := fs.String("format", "jsonl", "jsonl: one JSON object a line")
	storage := addStorageFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New(use)
	}
	if *format != "jsonl" {
		return fmt.Errorf("--format %q: only jsonl is offered", *format)
	}
	f, err := audit.ParseFilter(func(k string) string { return *params[k] }, time.Now())
	if err != nil {
		return err
	}
	srv, _, err := storage.open(stderr)
	if err != nil {
		return err
	}
	defer srv.Close()
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	if _, err := srv.Audit.Export(context.Background(), audit.Operator(), f, *after, 0, func(e audit.Event) error {
		return enc.Encode(e)
	}); err != nil {
		return err
	}
	return w.Flush()
}

func orgCommand(args []string, stdout, stderr io.Writer) error {
	const use = "usage: gatehouse org create NAME --owner USER [--data DIR] [--database URL] [--key-file FILE] [--config FILE]"
	if len(args) == 0 || args[0] != "create" {
		return errors.New(use)
	}
	fs := flag.NewFlagSet("gatehouse org create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	owner := fs.String("owner", "", "the user who owns the new organization (required)")
	storage := addStorageFlags(fs)
	name, err := parseWithName(fs, args[1:])
	if err != nil {
		return err
	}
	if name == "" || *owner == "" {
		return errors.New(use)
	}
	srv, _, err := storage.open(stderr)
	if err != nil {
		return err
	}
	defer srv.Close()
	o, err := srv.Orgs.Create(context.Background(), audit.Operator(), name, *owner)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created organization %s (scope @%s) owned by %s\n", o.Name, o.Name, *owner)
	return nil
}

func tokenCommand(args []string, stdout, stderr io.Writer) error {
	const use = `usage:
  gatehouse token list --user NAME [--json] [--data DIR] [--database URL] [--key-file FILE] [--config FILE]
  gatehouse token revoke KEY-OR-TOKEN [--data DIR] [--database URL] [--key-file FILE] [--config FILE]
  gatehouse token check TOKEN [--token-prefix PREFIX] [--config FILE]   (offline: is it a well-formed token of this registry?)`
	if len(args) == 0 {
		return errors.New(use)
	}
	fs := flag.NewFlagSet("gatehouse token "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "list", "ls":
		user := fs.String("user", "", "the user whose tokens to list (required)")
		asJSON := fs.Bool("json", false, "print JSON")
		storage := addStorageFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *user == "" {
			return errors.New(use)
		}
		srv, _, err := storage.open(stderr)
		if err != nil {
			return err
		}
		defer srv.Close()
		tokens, err := srv.Accounts.AdminListTokens(context.Background(), *user)
		if err != nil {
			return err
		}
		return printTokens(stdout, tokens, *asJSON)
	case "revoke", "rm":
		ref, srv, _, err := addStorageFlags(fs).openNamed(fs, args[1:], stderr, use)
		if err != nil {
			return err
		}
		defer srv.Close()
		rec, err := srv.Accounts.AdminRevokeToken(context.Background(), audit.Operator(), ref)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked token %s (%s)\n", rec.Key, rec.Masked)
		return nil
	case "check":
		prefix := fs.String("token-prefix", "", "the registry's token prefix (default: what serve would use, "+
			"from GATEHOUSE_TOKEN_PREFIX, the config file's token_prefix, or npm_)")
		configFile := fs.String("config", "", "config file (TOML or YAML), as for serve")
		tok, err := parseWithName(fs, args[1:])
		if err != nil {
			return err
		}
		if tok == "" {
			return errors.New(use)
		}
		// The prefix serve would use: the flag, GATEHOUSE_TOKEN_PREFIX, the
		// config file (--config or GATEHOUSE_CONFIG), or the default.
		var settings []string
		if *configFile != "" {
			settings = append(settings, "--config", *configFile)
		}
		if *prefix != "" {
			settings = append(settings, "--token-prefix", *prefix)
		}
		cfg, err := config.Load(settings, os.Getenv, stderr)
		if err != nil {
			return err
		}
		f := token.NewFormat(cfg.TokenPrefix)
		if !f.Valid(tok) {
			return fmt.Errorf("not a well-formed %s token (wrong prefix, length, characters or checksum)", f.Prefix())
		}
		fmt.Fprintf(stdout, "well-formed %s token %s (checksum correct; whether it is live is known only to the registry)\n", f.Prefix(), token.Mask(tok))
		return nil
	}
	return errors.New(use)
}

func keysCommand(args []string, stdout, stderr io.Writer) error {
	const use = `usage:
  gatehouse keys list [--json] [--data DIR] [--database URL] [--key-file FILE] [--config FILE]
  gatehouse keys rotate [--data DIR] [--database URL] [--key-file FILE] [--config FILE]
  gatehouse keys sign-backlog [--data DIR] [--database URL] [--key-file FILE] [--config FILE]`
	if len(args) == 0 {
		return errors.New(use)
	}
	fs := flag.NewFlagSet("gatehouse keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	storage := addStorageFlags(fs)
	asJSON := false
	switch args[0] {
	case "list", "ls":
		fs.BoolVar(&asJSON, "json", false, "print the keys as GET /-/npm/v1/keys lists them")
	case "rotate", "sign-backlog":
	default:
		return errors.New(use)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New(use)
	}
	srv, _, err := storage.open(stderr)
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	switch args[0] {
	case "rotate":
		rot, err := srv.Signing.Rotate(ctx)
		if err != nil {
			return err
		}
		if rot.Old != nil {
			fmt.Fprintf(stdout, "old key %s expires %s: versions published before then keep verifying with it\n",
				rot.Old.KeyID, signing.ISOTime(rot.Old.Expires))
		}
		fmt.Fprintf(stdout, "new key %s signs every version published from now on\n", rot.New.KeyID)
		return nil
	case "sign-backlog":
		n, err := srv.Registry.SignBacklog(ctx)
		fmt.Fprintf(stdout, "signed the versions of %d packages\n", n)
		return err
	}
	keys, err := srv.Signing.List(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		pub := make([]signing.PublicKey, len(keys))
		for i, k := range keys {
			pub[i] = k.Public
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string][]signing.PublicKey{"keys": pub})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEYID\tCREATED\tEXPIRES\tLAST SIGNED")
	for _, k := range keys {
		exp := "in use"
		if !k.InUse() {
			exp = signing.ISOTime(k.Expires)
		}
		last := "never"
		if !k.LastSigned.IsZero() {
			last = signing.ISOTime(k.LastSigned)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.KeyID, signing.ISOTime(k.Created), exp, last)
	}
	return tw.Flush()
}

func printTokens(w io.Writer, tokens []account.TokenInfo, asJSON bool) error {
	type row struct {
		Key         string   `json:"key"`
		Token       string   `json:"token"`
		Type        string   `json:"type"`
		Name        string   `json:"name"`
		Created     string   `json:"created"`
		Expires     string   `json:"expires,omitempty"`
		CIDR        []string `json:"cidr_whitelist"`
		Permissions string   `json:"permissions"`
	}
	rows := make([]row, 0, len(tokens))
	for _, t := range tokens {
		r := row{Key: t.Record.Key, Token: t.Record.Masked, Type: t.Record.Kind, Name: t.Record.Name,
			Created: time.UnixMilli(t.Record.CreatedAt).UTC().Format(time.RFC3339), CIDR: t.CIDR,
			Permissions: t.Summary()}
		if t.Record.ExpiresAt.Valid {
			r.Expires = time.UnixMilli(t.Record.ExpiresAt.Int64).UTC().Format(time.RFC3339)
		}
		rows = append(rows, r)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tTOKEN\tTYPE\tNAME\tCREATED\tEXPIRES\tIP RANGES\tPERMISSIONS")
	for _, r := range rows {
		exp := r.Expires
		if exp == "" {
			exp = "never"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Key, r.Token, r.Type, r.Name, r.Created, exp,
			strings.Join(r.CIDR, ","), r.Permissions)
	}
	return tw.Flush()
}

// readPassword takes the first line of stdin as the password.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("no password on stdin")
	}
	return pw, nil
}

// sizeMemory sets cfg's memory limit and cache size from host's memory
// (internal/memsize) where they are left at their defaults; it reports
// whether it changed either.
func sizeMemory(cfg *config.Config, host memsize.Host) bool {
	l := memsize.Size(host, memsize.Settings{
		MemoryLimit: cfg.MemoryLimit, MemoryLimitSet: cfg.MemoryLimitSet,
		CacheSize: cfg.CacheSize, CacheSizeSet: cfg.CacheSizeSet,
		Uplinks: len(cfg.Uplinks) > 0,
	})
	changed := l.MemoryLimit != cfg.MemoryLimit || l.CacheSize != cfg.CacheSize
	cfg.MemoryLimit, cfg.CacheSize = l.MemoryLimit, l.CacheSize
	return changed
}

// heapFloor is the heap size below which serve does not collect garbage:
// 64 MiB, or a quarter of the memory limit when that is lower
// (docs/operations.md).
func heapFloor(memoryLimit int64) uint64 {
	const floor = 64 << 20
	if memoryLimit > 0 && memoryLimit/4 < floor {
		return uint64(memoryLimit / 4)
	}
	return floor
}
