package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

func TestStatusKB(t *testing.T) {
	status := "Name:\tgatehouse\nVmPeak:\t 1300000 kB\nVmHWM:\t   52340 kB\nVmRSS:\t   41000 kB\nThreads:\t9\n"
	if kb, err := StatusKB(status, "VmRSS"); err != nil || kb != 41000 {
		t.Errorf("VmRSS = %d, %v", kb, err)
	}
	if kb, err := StatusKB(status, "VmHWM"); err != nil || kb != 52340 {
		t.Errorf("VmHWM = %d, %v", kb, err)
	}
	if _, err := StatusKB(status, "VmSwap"); err == nil {
		t.Error("a missing field gave no error")
	}
	if _, err := StatusKB(status, "Threads"); err == nil {
		t.Error("a field without kB gave no error")
	}
}

func TestStatPPID(t *testing.T) {
	for stat, want := range map[string]int{
		"4242 (gatehouse) S 4200 4242 4200 0 -1":      4200,
		"77 (nginx: worker) S 76 76 76 0 -1":          76,
		"99 (odd) name) with (parens) R 1 99 99 0 -1": 1,
	} {
		if got, err := StatPPID(stat); err != nil || got != want {
			t.Errorf("StatPPID(%q) = %d, %v; want %d", stat, got, err, want)
		}
	}
	for _, bad := range []string{"", "12 no-parens S 1", "12 (x)"} {
		if _, err := StatPPID(bad); err == nil {
			t.Errorf("StatPPID(%q): no error", bad)
		}
	}
}

func TestDescendants(t *testing.T) {
	root := t.TempDir()
	// 10 is the server; 11 and 12 its workers; 13 a worker's child; 20 unrelated.
	for pid, ppid := range map[int]int{10: 1, 11: 10, 12: 10, 13: 12, 20: 1} {
		testkit.WriteFile(t, filepath.Join(root, strconv.Itoa(pid), "stat"), strconv.Itoa(pid)+" (p) S "+strconv.Itoa(ppid)+" 0 0")
	}
	testkit.WriteFile(t, filepath.Join(root, "self", "stat"), "not a pid folder")
	got, err := Descendants(root, 10)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int{10, 11, 12, 13}) {
		t.Errorf("Descendants = %v", got)
	}
	if _, err := Descendants(root, 99); err == nil {
		t.Error("a missing process gave no error")
	}
}

func TestSumStatus(t *testing.T) {
	root := t.TempDir()
	testkit.WriteFile(t, filepath.Join(root, "10", "status"), "VmRSS:\t 1000 kB\n")
	testkit.WriteFile(t, filepath.Join(root, "11", "status"), "VmRSS:\t 500 kB\n")
	if got := sumStatus(root, []int{10, 11, 12}, "VmRSS"); got != 1500*1024 {
		t.Errorf("sumStatus = %d", got)
	}
}

func TestMemwatchOwnProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	out := filepath.Join(t.TempDir(), "mem.json")
	var stdout, stderr strings.Builder
	code := run(t.Context(), []string{"memwatch", "-pid", strconv.Itoa(os.Getpid()), "-interval", "10ms", "-max", "50ms", "-out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("memwatch: %d %s", code, stderr.String())
	}
	var m MemResult
	if ok, err := readJSON(out, &m); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if m.PeakRSSBytes < 1<<20 || m.Samples < 1 || m.PIDs[0] != os.Getpid() {
		t.Errorf("memwatch result %+v", m)
	}
}
