package main

import (
	"strings"
	"testing"
	"time"
)

const wrkOK = `Running 10s test @ http://127.0.0.1:4873/bench-stream-0000
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.14ms    1.76ms  17.70ms   73.32%
    Req/Sec     8.25k   640.37     9.28k    66.67%
  Latency Distribution
     50%  250.00us
     75%    1.88ms
     90%    4.24ms
     99%    1.02s
  164327 requests in 10.01s, 2.21GB read
Requests/sec:  16408.88
Transfer/sec:    225.69MB
`

const wrkErrors = `Running 10s test @ http://127.0.0.1:4873/nothing
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    17.44ms    3.76ms  47.70ms   73.32%
    Req/Sec   849.97    145.64     1.01k    76.67%
  Latency Distribution
     50%   17.44ms
     75%   19.53ms
     90%   23.53ms
     99%   44.64ms
  17004 requests in 10.00s, 3.14MB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 17004
Requests/sec:   1700.40
Transfer/sec:    321.50KB
`

func TestParseWrk(t *testing.T) {
	r, err := ParseWrk(wrkOK)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 164327 || r.Duration != 10010*time.Millisecond || r.RequestsPerSec != 16408.88 {
		t.Errorf("totals %+v", r)
	}
	want := map[int]time.Duration{50: 250 * time.Microsecond, 75: 1880 * time.Microsecond, 90: 4240 * time.Microsecond, 99: 1020 * time.Millisecond}
	for p, d := range want {
		if got := r.Percentiles[p]; got != d {
			t.Errorf("p%d = %v, want %v", p, got, d)
		}
	}
	if r.Non2xx != 0 || r.SocketErrors != 0 {
		t.Errorf("errors %d %d", r.Non2xx, r.SocketErrors)
	}
	if r.TransferPerSec != 225.69*(1<<20) {
		t.Errorf("transfer %v", r.TransferPerSec)
	}
}

func TestParseWrkErrors(t *testing.T) {
	r, err := ParseWrk(wrkErrors)
	if err != nil {
		t.Fatal(err)
	}
	if r.Non2xx != 17004 || r.SocketErrors != 15 || r.Timeouts != 12 {
		t.Errorf("non-2xx %d, socket errors %d, timeouts %d", r.Non2xx, r.SocketErrors, r.Timeouts)
	}
	if r.Percentiles[99] != 44640*time.Microsecond || r.TransferPerSec != 321.5*1024 {
		t.Errorf("p99 %v transfer %v", r.Percentiles[99], r.TransferPerSec)
	}
}

func TestParseWrkRefusesIncompleteOutput(t *testing.T) {
	noLatency := strings.Replace(wrkOK, "     50%  250.00us\n", "", 1)
	for name, out := range map[string]string{
		"empty":        "",
		"no latency":   noLatency,
		"no rate":      strings.Replace(wrkOK, "Requests/sec:  16408.88\n", "", 1),
		"bad unit":     strings.Replace(wrkOK, "250.00us", "250.00xs", 1),
		"bad count":    strings.Replace(wrkOK, "164327 requests", "many requests", 1),
		"connect fail": "unable to connect to 127.0.0.1:1 Connection refused\n",
	} {
		if _, err := ParseWrk(out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseWrkUnits(t *testing.T) {
	durations := map[string]time.Duration{"0.00us": 0, "999.00us": 999 * time.Microsecond, "5.80ms": 5800 * time.Microsecond,
		"2.00s": 2 * time.Second, "1.50m": 90 * time.Second, "1.00h": time.Hour}
	for s, want := range durations {
		if got, err := ParseWrkDuration(s); err != nil || got != want {
			t.Errorf("ParseWrkDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "ms", "-1.00ms", "12", "3.0d"} {
		if _, err := ParseWrkDuration(s); err == nil {
			t.Errorf("ParseWrkDuration(%q): no error", s)
		}
	}
	sizes := map[string]float64{"512.00B": 512, "1.50KB": 1536, "2.00MB": 2 << 20, "1.00GB": 1 << 30}
	for s, want := range sizes {
		if got, err := ParseWrkBytes(s); err != nil || got != want {
			t.Errorf("ParseWrkBytes(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "12", "1.0XB", "MB"} {
		if _, err := ParseWrkBytes(s); err == nil {
			t.Errorf("ParseWrkBytes(%q): no error", s)
		}
	}
}
