package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/server"
)

// TestMissFloor times every probe on a small seeded store, one figure a
// round each, and refuses a store that holds no package.
func TestMissFloor(t *testing.T) {
	ctx := t.Context()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	var progress strings.Builder
	if _, err := SeedScale(ctx, cfg, smallScale(), &progress); err != nil {
		t.Fatalf("seed: %v\n%s", err, progress.String())
	}
	db, err := server.OpenStore(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	probes, err := MissFloor(ctx, db, false, 50, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) != 6 {
		t.Fatalf("%d probes, want 6", len(probes))
	}
	for _, p := range probes {
		if len(p.Micros) != 2 || p.Micros[0] <= 0 || p.Micros[1] <= 0 {
			t.Errorf("%s: %v, want two figures above zero", p.Name, p.Micros)
		}
	}

	var out strings.Builder
	if err := missFloorCommand(ctx, []string{"-data", cfg.DataDir, "-reads", "10", "-rounds", "1"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| gatehouse's abbreviated miss (PackageDocumentFunc) |") {
		t.Errorf("the command printed\n%s", out.String())
	}

	empty := config.Default()
	empty.DataDir = filepath.Join(t.TempDir(), "empty")
	edb, err := server.OpenStore(ctx, empty, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer edb.Close()
	if _, err := MissFloor(ctx, edb, false, 10, 1); err == nil || !strings.Contains(err.Error(), "no package") {
		t.Errorf("an empty store: %v, want an error naming it", err)
	}
}
