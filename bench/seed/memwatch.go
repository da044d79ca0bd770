package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// MemResult is the peak memory of a server's processes during a run.
type MemResult struct {
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// Method is "VmHWM" when the kernel's peak counters were reset at the
	// start and read at the end (exact), or "sampled" when only the
	// periodic VmRSS samples were available.
	Method  string `json:"method"`
	Samples int    `json:"samples"`
	PIDs    []int  `json:"pids"`
	// CPUSeconds is the CPU time (user and system) the processes used
	// while watched.
	CPUSeconds float64 `json:"cpu_seconds"`
}

// memwatchCommand watches the resident memory of a process and its
// descendants until it is interrupted (or -max passes), then writes the
// peak. On start it resets each process's peak counter (writing 5 to
// /proc/PID/clear_refs), so VmHWM at the end is the peak of this run alone;
// it also samples VmRSS, which is what counts when the reset is refused.
func memwatchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("memwatch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pid := fs.Int("pid", 0, "process to watch, with its descendants (required)")
	interval := fs.Duration("interval", 100*time.Millisecond, "sampling interval")
	limit := fs.Duration("max", 10*time.Minute, "stop by itself after this long")
	out := fs.String("out", "", "file to write the result JSON to (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pid <= 0 {
		return errors.New("memwatch: -pid is required")
	}
	const proc = "/proc"
	pids, err := Descendants(proc, *pid)
	if err != nil {
		return fmt.Errorf("memwatch: %w", err)
	}
	resetOK := true
	for _, p := range pids {
		if err := os.WriteFile(filepath.Join(proc, strconv.Itoa(p), "clear_refs"), []byte("5"), 0); err != nil {
			resetOK = false
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *limit)
	defer cancel()
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	res := MemResult{Method: "sampled"}
	ticks := cpuTicks(proc, pids)
	for n := 0; ; n++ {
		if n > 0 && n%10 == 0 {
			if p, err := Descendants(proc, *pid); err == nil {
				pids = p
			}
		}
		if rss := sumStatus(proc, pids, "VmRSS"); rss > 0 {
			res.Samples++
			res.PeakRSSBytes = max(res.PeakRSSBytes, rss)
		}
		select {
		case <-ctx.Done():
			if hwm := sumStatus(proc, pids, "VmHWM"); resetOK && hwm > 0 {
				res.PeakRSSBytes, res.Method = max(res.PeakRSSBytes, hwm), "VmHWM"
			}
			res.PIDs = pids
			res.CPUSeconds = float64(cpuTicks(proc, pids)-ticks) / clockTicks
			return writeJSON(*out, stdout, res)
		case <-tick.C:
		}
	}
}

// sumStatus adds up a kB field of /proc/PID/status over pids, in bytes;
// processes that are gone count nothing.
func sumStatus(proc string, pids []int, field string) int64 {
	var total int64
	for _, p := range pids {
		data, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(p), "status"))
		if err != nil {
			continue
		}
		if kb, err := StatusKB(string(data), field); err == nil {
			total += kb * 1024
		}
	}
	return total
}

// StatusKB reads a field given in kB ("VmRSS:   1234 kB") from the text of
// /proc/PID/status.
func StatusKB(status, field string) (int64, error) {
	for line := range strings.Lines(status) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected value %q", field, strings.TrimSpace(rest))
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("%s: not in status", field)
}

// statFields splits the text of /proc/PID/stat after the command name,
// which may itself hold spaces and parentheses: f[0] is field 3 (state).
func statFields(stat string) ([]string, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, errors.New("stat: no command name")
	}
	return strings.Fields(stat[i+1:]), nil
}

// StatPPID reads the parent pid from the text of /proc/PID/stat. The
// command name in parentheses may itself hold spaces and parentheses, so
// the fields are counted from its last closing parenthesis.
func StatPPID(stat string) (int, error) {
	f, err := statFields(stat)
	if err != nil {
		return 0, err
	}
	if len(f) < 2 {
		return 0, errors.New("stat: too few fields")
	}
	return strconv.Atoi(f[1])
}

// Descendants is pid followed by all its descendants, read from the proc
// file system at root.
func Descendants(root string, pid int) ([]int, error) {
	if _, err := os.Stat(filepath.Join(root, strconv.Itoa(pid))); err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, e.Name(), "stat"))
		if err != nil {
			continue // gone since the listing
		}
		if pp, err := StatPPID(string(data)); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}
