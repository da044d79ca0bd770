package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
)

func TestStatCPUTicks(t *testing.T) {
	cases := []struct {
		name, stat string
		want       int64
		ok         bool
	}{
		{"plain", "123 (wrk) S 1 123 123 0 -1 4194304 97 0 0 0 250 40 0 0 20 0 3 0 4610475", 290, true},
		{"name with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0", 11, true},
		{"no name", "123 wrk S 1", 0, false},
		{"too short", "123 (wrk) S 1 2 3", 0, false},
		{"not a number", "123 (wrk) S 1 123 123 0 -1 4194304 97 0 0 0 x 40 0 0", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := StatCPUTicks(tc.stat)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("StatCPUTicks = %d, %v; want %d (ok=%v)", got, err, tc.want, tc.ok)
			}
		})
	}
	// This process has used some CPU by now, as /proc tells.
	if n := cpuTicks("/proc", []int{os.Getpid()}); n < 0 {
		t.Errorf("this process's CPU ticks = %d", n)
	}
}

func TestCPUTimeCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cpu.json")
	var stdout, stderr strings.Builder
	// A shell loop that burns some CPU, and prints through to stdout.
	err := cputimeCommand(t.Context(), []string{"-out", out, "--", "sh", "-c",
		"i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("cputime: %v (%s)", err, stderr.String())
	}
	if stdout.String() != "done\n" {
		t.Errorf("the command's output = %q, want it passed through", stdout.String())
	}
	var res CPUResult
	if ok, err := readJSON(out, &res); !ok || err != nil {
		t.Fatalf("no result: %v", err)
	}
	if res.UserSeconds+res.SystemSeconds <= 0 || res.WallSeconds <= 0 {
		t.Errorf("a busy loop used %+v", res)
	}
	if err := cputimeCommand(t.Context(), []string{"-out", out, "--", "sh", "-c", "exit 3"}, &stdout, &stderr); err == nil {
		t.Error("a command that failed was reported as a success")
	}
	if err := cputimeCommand(t.Context(), []string{"--", "true"}, &stdout, &stderr); err == nil {
		t.Error("cputime without -out was accepted")
	}
}

func TestLargestTables(t *testing.T) {
	in := []TableSize{{"a", 10, 5}, {"b", 1, 100}, {"c", 15, 0}, {"d", 3, 0}, {"e", 50, 50}}
	got := LargestTables(in, 3)
	names := make([]string, len(got))
	for i, tb := range got {
		names[i] = tb.Name
	}
	// Data and indexes together: b 101, e 100, a 15 = c 15 (by name: a).
	if strings.Join(names, " ") != "b e a" {
		t.Errorf("LargestTables = %v, want b e a", names)
	}
	if len(LargestTables(in[:2], 4)) != 2 {
		t.Error("asking for more tables than there are did not give them all")
	}
	if in[0].Name != "a" {
		t.Error("LargestTables reordered its argument")
	}
}

// TestMeasureDBSQLite measures a seeded SQLite store: the tokens table and
// its indexes are among the largest, and the database holds them.
func TestMeasureDBSQLite(t *testing.T) {
	c := smallScale()
	c.Tokens = 3000
	cfg := smallConfig(t)
	var progress strings.Builder
	if _, err := SeedScale(t.Context(), cfg, c, &progress); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	s, err := MeasureDB(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var tokens *TableSize
	for i := range s.Tables {
		if s.Tables[i].Name == "tokens" {
			tokens = &s.Tables[i]
		}
	}
	if s.Store != "sqlite" || tokens == nil || tokens.Bytes <= 0 || tokens.IndexBytes <= 0 ||
		s.DatabaseBytes < tokens.Bytes+tokens.IndexBytes || s.SharedBuffersBytes != 0 {
		t.Errorf("sizes = %+v", s)
	}
	if !strings.Contains(s.String(), "tokens ") {
		t.Errorf("String() = %q", s.String())
	}
	if _, err := MeasureDB(t.Context(), smallConfig(t)); err == nil {
		t.Error("measuring a data folder that does not exist made a store")
	}
}

// smallConfig is a data folder that does not exist yet.
func smallConfig(t *testing.T) config.Config {
	return config.Config{DataDir: filepath.Join(t.TempDir(), "data")}
}
