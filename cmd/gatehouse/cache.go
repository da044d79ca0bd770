package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/server"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/units"
)

// cacheCommand lists and removes what is cached of packages served from
// uplinks (docs/uplinks.md), against the database as the other admin
// commands do; safe while gatehouse serves (the nodes hear of a purge
// through the change feed). The blobs of purged tarballs stay until
// gatehouse gc finds them unreferenced.
func cacheCommand(args []string, stdout, stderr io.Writer) error {
	const use = `usage:
  gatehouse cache ls [--data DIR] [--database URL] [--config FILE]
  gatehouse cache purge NAME [--data DIR] [--database URL] [--config FILE]
  gatehouse cache prune --older-than DURATION [--dry-run] [--data DIR] [--database URL] [--config FILE]
  (DURATION as Go writes it, 72h, or a number of days, 30d)`
	if len(args) == 0 {
		return errors.New(use)
	}
	fs := flag.NewFlagSet("gatehouse cache "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	storage := addStorageFlags(fs)
	var name string
	var olderThan *string
	var dryRun *bool
	switch args[0] {
	case "ls", "list":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return errors.New(use)
		}
	case "purge":
		var err error
		if name, err = parseWithName(fs, args[1:]); err != nil {
			return err
		}
		if name == "" || fs.NArg() > 0 {
			return errors.New(use)
		}
		if err := registry.ValidateLegacyPackageName(name); err != nil {
			return fmt.Errorf("%q: %w", name, err)
		}
	case "prune":
		olderThan = fs.String("older-than", "", "remove the packages nothing of which was fetched or revalidated for this long (required)")
		dryRun = fs.Bool("dry-run", false, "list what would be removed, remove nothing")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 || *olderThan == "" {
			return errors.New(use)
		}
	default:
		return errors.New(use)
	}
	var age time.Duration
	if olderThan != nil {
		var err error
		if age, err = parseAge(*olderThan); err != nil {
			return fmt.Errorf("--older-than %s: %w", *olderThan, err)
		}
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
	switch args[0] {
	case "purge":
		scope, _ := registry.SplitName(name)
		if err := st.PurgeCachedPackage(ctx, name, scope); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "purged %s: its tarballs' blobs are removed by the next gatehouse gc\n", name)
		return nil
	case "prune":
		return pruneCache(ctx, st, time.Now().Add(-age), *dryRun, stdout)
	}
	list, err := st.Q().CachedPackages(ctx)
	if err != nil {
		return err
	}
	var total int64
	for _, c := range list {
		fmt.Fprintf(stdout, "%s\tuplink %s\t%d tarballs\t%s\tfetched %s\n", c.Name, c.Uplink, c.Tarballs,
			units.ApproxSize(c.Bytes), time.UnixMilli(c.FetchedAt).UTC().Format(time.RFC3339))
		total += c.Bytes
	}
	fmt.Fprintf(stdout, "%d cached packages, %s of tarballs\n", len(list), units.ApproxSize(total))
	return nil
}

// pruneCache purges the cached packages nothing of which was fetched or
// revalidated since before. A name that has become local is left alone:
// purge refuses it, and prune never removes a local package.
func pruneCache(ctx context.Context, st *store.Store, before time.Time, dryRun bool, stdout io.Writer) error {
	list, err := st.Q().CachedPackages(ctx)
	if err != nil {
		return err
	}
	verb := "purged"
	if dryRun {
		verb = "would purge"
	}
	n := 0
	for _, c := range list {
		if c.FetchedAt >= before.UnixMilli() {
			continue
		}
		if !dryRun {
			scope, _ := registry.SplitName(c.Name)
			err := st.PurgeCachedPackage(ctx, c.Name, scope)
			switch {
			case fault.Is(err, fault.Invalid):
				fmt.Fprintf(stdout, "kept %s: a local name\n", c.Name)
				continue
			case fault.Is(err, fault.NotFound):
				continue // purged meanwhile
			case err != nil:
				return err
			}
		}
		n++
		fmt.Fprintf(stdout, "%s %s (last fetched %s)\n", verb, c.Name, time.UnixMilli(c.FetchedAt).UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "%s %d of %d cached packages\n", verb, n, len(list))
	return nil
}

// parseAge reads a duration as Go writes it (72h) or a number of days
// (30d); it must be positive.
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, errors.New("want a duration such as 72h or 30d")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New("want a duration such as 72h or 30d")
		}
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}
