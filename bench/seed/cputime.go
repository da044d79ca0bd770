package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// CPUResult is the CPU time a command used, as its rusage tells.
type CPUResult struct {
	UserSeconds   float64 `json:"user_seconds"`
	SystemSeconds float64 `json:"system_seconds"`
	WallSeconds   float64 `json:"wall_seconds"`
}

// cputimeCommand runs a command (its output is this command's), then
// writes the CPU time it used: bench/scale.sh runs wrk so, to show that
// the load generator is not what limits a run.
func cputimeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cputime", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "file to write the JSON to (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return errors.New("cputime: want -out FILE -- COMMAND [ARGS]")
	}
	cmd := exec.CommandContext(ctx, fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	start := time.Now()
	runErr := cmd.Run()
	if cmd.ProcessState == nil {
		return fmt.Errorf("cputime: %w", runErr)
	}
	res := CPUResult{UserSeconds: cmd.ProcessState.UserTime().Seconds(),
		SystemSeconds: cmd.ProcessState.SystemTime().Seconds(), WallSeconds: time.Since(start).Seconds()}
	if err := writeJSON(*out, nil, res); err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("cputime: %s: %w", fs.Arg(0), runErr)
	}
	return nil
}

// clockTicks is the unit of /proc/PID/stat's CPU times (USER_HZ, 100 on
// every Linux architecture gatehouse is built for).
const clockTicks = 100

// StatCPUTicks reads utime + stime (fields 14 and 15) from the text of
// /proc/PID/stat, counted after the command name as StatPPID does.
func StatCPUTicks(stat string) (int64, error) {
	f, err := statFields(stat)
	if err != nil {
		return 0, err
	}
	// f[0] is field 3 (state): utime is field 14, f[11]; stime f[12].
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	u, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: utime: %w", err)
	}
	s, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: stime: %w", err)
	}
	return u + s, nil
}

// cpuTicks adds up the CPU ticks of pids; processes that are gone count
// nothing.
func cpuTicks(proc string, pids []int) int64 {
	var total int64
	for _, p := range pids {
		data, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(p), "stat"))
		if err != nil {
			continue
		}
		if n, err := StatCPUTicks(string(data)); err == nil {
			total += n
		}
	}
	return total
}
