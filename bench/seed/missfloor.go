package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// MissProbe is one read a document cache's miss makes, or a part of it,
// timed on its own: Micros holds one figure a round (µs a read, over the
// round's reads of random names).
type MissProbe struct {
	Name   string    `json:"name"`
	Micros []float64 `json:"micros"`
}

// missFloorCommand times, one reader at a time and for names drawn at random
// from a store, gatehouse's own read of a packument miss and the smallest
// reads the database and its driver can make of the same rows: what a miss
// costs at the least, whatever gatehouse does around it.
func missFloorCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("missfloor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "gatehouse's data folder (SQLite)")
	database := fs.String("database", "", "PostgreSQL URL (default: SQLite in -data)")
	reads := fs.Int("reads", 20000, "names read a round, each probe")
	rounds := fs.Int("rounds", 3, "rounds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" && *database == "" {
		return errors.New("missfloor: want -data or -database")
	}
	if *reads < 1 || *rounds < 1 {
		return errors.New("missfloor: -reads and -rounds must be at least 1")
	}
	db, err := openExistingStore(ctx, config.Config{DataDir: *data, Database: *database})
	if err != nil {
		return fmt.Errorf("missfloor: %w", err)
	}
	defer db.Close()
	probes, err := MissFloor(ctx, db, *database != "", *reads, *rounds)
	if err != nil {
		return fmt.Errorf("missfloor: %w", err)
	}
	fmt.Fprintf(stdout, "| read (one reader, %d random names a round, %d rounds) | µs a read, median (range) |\n|---|---:|\n", *reads, *rounds)
	for _, p := range probes {
		lo, hi := slices.Min(p.Micros), slices.Max(p.Micros)
		fmt.Fprintf(stdout, "| %s | %.1f (%.1f–%.1f) |\n", p.Name, medianOf(p.Micros), lo, hi)
	}
	return nil
}

// MissFloor reads every package name of db, then times each probe over
// reads names drawn at random (a fresh draw each round and probe, so that a
// probe finds the pages its names need where the probe before left them,
// as a miss under a spread does): gatehouse's abbreviated and full
// document reads (Queries.PackageDocumentFunc, what a miss runs), a
// package's id by its name, the abbreviated document by the id alone (one
// b-tree descent) with ctx and with a context that cannot be cancelled,
// and a statement that reads no table (the driver's and database/sql's
// own cost a statement). postgres picks the placeholders.
func MissFloor(ctx context.Context, db *store.Store, postgres bool, reads, rounds int) ([]MissProbe, error) {
	// Every name with its id, read before any timing, so that the by-id
	// probe times its own read only.
	ids, names, err := packageIDs(ctx, db.DB())
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("the store holds no package")
	}
	ph := "?"
	if postgres {
		ph = "$1"
	}
	idOf, err := db.DB().PrepareContext(ctx, `SELECT id FROM packages WHERE name = `+ph)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	defer idOf.Close()
	docOf, err := db.DB().PrepareContext(ctx, `SELECT doc FROM package_abbreviated WHERE package_id = `+ph)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	defer docOf.Close()
	one, err := db.DB().PrepareContext(ctx, `SELECT 1`)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	defer one.Close()
	var seen int
	document := func(abbreviated bool) func(string) error {
		return func(name string) error {
			return db.Q().PackageDocumentFunc(ctx, name, abbreviated, func(_ store.Package, doc []byte) { seen += len(doc) })
		}
	}
	// byID reads the abbreviated document by the package's id on the main
	// pool, with ctx: a context that can be cancelled costs database/sql a
	// watcher goroutine a statement (what Queries.point avoids).
	byID := func(ctx context.Context) func(string) error {
		return func(name string) error {
			rows, err := docOf.QueryContext(ctx, ids[name])
			if err != nil {
				return err
			}
			defer rows.Close()
			if !rows.Next() {
				return fmt.Errorf("no abbreviated document for %q: %w", name, rows.Err())
			}
			var doc sql.RawBytes
			if err := rows.Scan(&doc); err != nil {
				return err
			}
			seen += len(doc)
			return rows.Close()
		}
	}
	probes := []struct {
		name string
		read func(name string) error
	}{
		{"gatehouse's abbreviated miss (PackageDocumentFunc)", document(true)},
		{"gatehouse's full miss (PackageDocumentFunc)", document(false)},
		{"a package's id by its name", func(name string) error {
			var id int64
			return idOf.QueryRowContext(ctx, name).Scan(&id)
		}},
		{"the abbreviated document by the id alone", byID(ctx)},
		{"the same, a context that cannot be cancelled", byID(context.WithoutCancel(ctx))},
		{"a statement that reads no table (SELECT 1)", func(string) error {
			var x int
			return one.QueryRowContext(ctx).Scan(&x)
		}},
	}
	out := make([]MissProbe, len(probes))
	for i, p := range probes {
		out[i].Name = p.name
	}
	for r := 0; r < rounds; r++ {
		for i, p := range probes {
			draw := make([]string, reads)
			for k := range draw {
				draw[k] = names[rand.IntN(len(names))]
			}
			start := time.Now()
			for _, n := range draw {
				if err := p.read(n); err != nil {
					return nil, fmt.Errorf("%s, %q: %w", p.name, n, err)
				}
			}
			out[i].Micros = append(out[i].Micros, float64(time.Since(start).Nanoseconds())/1e3/float64(reads))
		}
	}
	if seen == 0 {
		return nil, errors.New("every document read was empty")
	}
	return out, nil
}

// packageIDs reads every package's id by its name, and the names.
func packageIDs(ctx context.Context, db *sql.DB) (map[string]int64, []string, error) {
	rows, err := db.QueryContext(ctx, `SELECT name, id FROM packages`)
	if err != nil {
		return nil, nil, fmt.Errorf("read the packages' ids: %w", err)
	}
	defer rows.Close()
	ids := map[string]int64{}
	var names []string
	for rows.Next() {
		var name string
		var id int64
		if err := rows.Scan(&name, &id); err != nil {
			return nil, nil, fmt.Errorf("read the packages' ids: %w", err)
		}
		ids[name] = id
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read the packages' ids: %w", err)
	}
	return ids, names, nil
}

// medianOf is the median of xs (not empty).
func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
