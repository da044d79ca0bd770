package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what the harness keeps from one wrk run with --latency.
type WrkResult struct {
	Requests       int64
	Duration       time.Duration
	RequestsPerSec float64
	// TransferPerSec is in bytes per second.
	TransferPerSec float64
	// Percentiles maps 50, 75, 90 and 99 to latencies.
	Percentiles map[int]time.Duration
	// Non2xx counts answers outside 2xx and 3xx.
	Non2xx int64
	// SocketErrors adds up connect, read, write and timeout errors.
	SocketErrors int64
	Timeouts     int64
}

// ParseWrk reads the report wrk prints with --latency:
//
//	  Latency Distribution
//	     50%  250.00us
//	     99%    5.80ms
//	  2246 requests in 10.00s, 17.76MB read
//	  Socket errors: connect 0, read 0, write 0, timeout 0
//	  Non-2xx or 3xx responses: 100
//	Requests/sec:   2246.64
//	Transfer/sec:      1.78MB
func ParseWrk(out string) (WrkResult, error) {
	r := WrkResult{Percentiles: map[int]time.Duration{}}
	var sawRate, sawTotal bool
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && (f[0] == "50%" || f[0] == "75%" || f[0] == "90%" || f[0] == "99%"):
			p, err := strconv.Atoi(strings.TrimSuffix(f[0], "%"))
			if err != nil {
				return r, fmt.Errorf("wrk: percentile %q", f[0])
			}
			d, err := ParseWrkDuration(f[1])
			if err != nil {
				return r, fmt.Errorf("wrk: %d%% latency: %w", p, err)
			}
			r.Percentiles[p] = d
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk: request count %q", f[0])
			}
			d, err := ParseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, fmt.Errorf("wrk: run time: %w", err)
			}
			r.Requests, r.Duration, sawTotal = n, d, true
		case strings.HasPrefix(line, "Socket errors:"):
			for _, part := range strings.Split(strings.TrimPrefix(line, "Socket errors:"), ",") {
				kv := strings.Fields(part)
				if len(kv) != 2 {
					return r, fmt.Errorf("wrk: socket errors %q", line)
				}
				n, err := strconv.ParseInt(kv[1], 10, 64)
				if err != nil {
					return r, fmt.Errorf("wrk: socket errors %q", line)
				}
				r.SocketErrors += n
				if kv[0] == "timeout" {
					r.Timeouts = n
				}
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk: %q", line)
			}
			r.Non2xx = n
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk: requests/sec %q", f[1])
			}
			r.RequestsPerSec, sawRate = v, true
		case len(f) == 2 && f[0] == "Transfer/sec:":
			v, err := ParseWrkBytes(f[1])
			if err != nil {
				return r, fmt.Errorf("wrk: transfer/sec: %w", err)
			}
			r.TransferPerSec = v
		}
	}
	if !sawRate || !sawTotal {
		return r, errors.New("wrk: no Requests/sec or request total in the output")
	}
	for _, p := range []int{50, 99} {
		if _, ok := r.Percentiles[p]; !ok {
			return r, fmt.Errorf("wrk: no %d%% latency (was wrk run with --latency?)", p)
		}
	}
	return r, nil
}

// ParseWrkDuration reads a time as wrk prints it: 250.00us, 5.80ms, 1.02s,
// 2.00m, 1.00h.
func ParseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("duration %q", s)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("duration %q: unknown unit", s)
}

// ParseWrkBytes reads a size as wrk prints it (binary units): 512.00B,
// 1.78MB, 2.10GB.
func ParseWrkBytes(s string) (float64, error) {
	mult := 1.0
	num := s
	for i, u := range []string{"KB", "MB", "GB", "TB"} {
		if n, ok := strings.CutSuffix(s, u); ok {
			num, mult = n, float64(uint64(1)<<(10*(i+1)))
			break
		}
	}
	if num == s {
		n, ok := strings.CutSuffix(s, "B")
		if !ok {
			return 0, fmt.Errorf("size %q: unknown unit", s)
		}
		num = n
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q", s)
	}
	return v * mult, nil
}
