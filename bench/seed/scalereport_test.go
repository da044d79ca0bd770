package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wrkOutput is wrk's --latency report for the given figures.
func wrkOutput(requests int, rps float64, p50, p99 string, non2xx int, extra string) string {
	s := "Running 10s test @ http://127.0.0.1:1234\n" +
		"  2 threads and 32 connections\n" +
		"  Latency Distribution\n" +
		"     50%  " + p50 + "\n" +
		"     75%  " + p50 + "\n" +
		"     90%  " + p99 + "\n" +
		"     99%  " + p99 + "\n" +
		"  " + strconv.Itoa(requests) + " requests in 10.00s, 17.76MB read\n"
	if non2xx > 0 {
		s += "  Non-2xx or 3xx responses: " + strconv.Itoa(non2xx) + "\n"
	}
	s += "Requests/sec: " + strconv.FormatFloat(rps, 'f', 2, 64) + "\nTransfer/sec:      1.78MB\n" + extra
	return s
}

func writeResult(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// scaleResultsDir writes a results folder as bench/scale.sh would: the
// SQLite store's figures, and a PostgreSQL folder with the Zipf rows only.
func scaleResultsDir(t *testing.T) string {
	top := t.TempDir()
	writeResult(t, top, "versions.txt", "gatehouse: abc123\nwrk: 4.1.0\n")
	writeResult(t, top, "settings.txt", "load: wrk -t2 -c32\n")
	dir := filepath.Join(top, "sqlite")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeResult(t, dir, "settings.txt", "gatehouse store: SQLite (WAL) and a tarball folder\n")
	writeResult(t, dir, "seed-small.json", `{"packages":200,"versions":3,"users":100,"tokens":50000,"seconds":4.5,
		"package_seconds":0.5,"token_seconds":4,"sample":[{"user":"u","token":"npm_secret"}]}`)
	writeResult(t, dir, "seed-big.json", `{"packages":100000,"versions":3,"users":10000,"tokens":1000000,"seconds":150,
		"package_seconds":50,"token_seconds":100,"reused":true}`)
	writeResult(t, dir, "server-small.txt", "ready_ms: 40\nping_ms: 35\nidle_rss_kb: 20480\n"+
		"db_bytes: 10485760\nwal_bytes: 0\ntarball_bytes: 8192\n")
	writeResult(t, dir, "server-big.txt", "ready_ms: 80\nping_ms: 70\nidle_rss_kb: 30720\n"+
		"db_bytes: 2147483648\nwal_bytes: 1048576\ntarball_bytes: 8192\n")
	writeResult(t, dir, "dbsizes-small.json", `{"store":"sqlite","database_bytes":10485760,
		"tables":[{"name":"packages","bytes":8388608,"index_bytes":1048576},{"name":"tokens","bytes":1048576,"index_bytes":524288}]}`)
	writeResult(t, dir, "dbsizes-big.json", `{"store":"sqlite","database_bytes":2147483648,
		"tables":[{"name":"packages","bytes":1610612736,"index_bytes":10485760},{"name":"tokens","bytes":314572800,"index_bytes":104857600}]}`)
	writeResult(t, dir, "wrk-small-abbreviated.txt", wrkOutput(200000, 20000, "1.00ms", "5.00ms", 0, ""))
	writeResult(t, dir, "wrk-big-abbreviated.txt", wrkOutput(180000, 18000, "1.10ms", "5.50ms", 0, ""))
	writeResult(t, dir, "wrk-small-full.txt", wrkOutput(100000, 10000, "2.00ms", "9.00ms", 0, ""))
	writeResult(t, dir, "wrk-big-full.txt", wrkOutput(50000, 5000, "4.00ms", "20.00ms", 0, ""))
	writeResult(t, dir, "wrk-small-notfound.txt", wrkOutput(300000, 30000, "0.80ms", "3.00ms", 300000, ""))
	writeResult(t, dir, "wrk-big-notfound.txt", wrkOutput(290000, 29000, "0.80ms", "3.00ms", 289000, ""))
	writeResult(t, dir, "wrk-small-cold.txt", wrkOutput(20000, 2000, "10.00ms", "50.00ms", 0,
		"Cold requests/sec: 3000.00 (40000 requests in 13.333 s; 2 of 2 threads used up their tokens)\n"))
	writeResult(t, dir, "wrk-big-cold.txt", wrkOutput(19000, 1900, "11.00ms", "55.00ms", 0,
		"Cold requests/sec: 2700.00 (27000 requests in 10.000 s; 0 of 2 threads used up their tokens)\n"))
	// The Zipf rows: the big store at 0.95 of the small one, and its p99
	// over twice the small store's (no target for p99 under Zipf).
	writeResult(t, dir, "wrk-small-zipf-abbreviated.txt", wrkOutput(400000, 40000, "0.50ms", "2.00ms", 0, ""))
	writeResult(t, dir, "wrk-big-zipf-abbreviated.txt", wrkOutput(380000, 38000, "0.60ms", "5.00ms", 0, ""))
	writeResult(t, dir, "wrk-small-zipf-tarball.txt", wrkOutput(300000, 30000, "0.50ms", "2.00ms", 0, ""))
	writeResult(t, dir, "wrk-big-zipf-tarball.txt", wrkOutput(240000, 24000, "0.60ms", "3.00ms", 0, ""))
	writeResult(t, dir, "mem-big-abbreviated.json", `{"peak_rss_bytes": 104857600, "method": "VmHWM"}`)
	writeResult(t, dir, "mem-big-full.json", `{"peak_rss_bytes": 94857600, "method": "VmHWM"}`)
	writeResult(t, dir, "mem-small-full.json", `{"peak_rss_bytes": 52428800, "method": "VmHWM"}`)
	writeResult(t, dir, "mem-small-zipf-abbreviated.json", `{"peak_rss_bytes": 52428800, "method": "VmHWM", "cpu_seconds": 18}`)
	writeResult(t, dir, "mem-big-zipf-abbreviated.json", `{"peak_rss_bytes": 62428800, "method": "VmHWM", "cpu_seconds": 4}`)
	writeResult(t, dir, "cpu-small-zipf-abbreviated.json", `{"user_seconds": 3, "system_seconds": 1.5, "wall_seconds": 10}`)
	writeResult(t, dir, "cpu-big-zipf-abbreviated.json", `{"user_seconds": 2, "system_seconds": 1, "wall_seconds": 10}`)

	pg := filepath.Join(top, "postgres")
	if err := os.Mkdir(pg, 0o755); err != nil {
		t.Fatal(err)
	}
	writeResult(t, pg, "settings.txt", "gatehouse store: PostgreSQL 15\n")
	writeResult(t, pg, "dbsizes-big.json", `{"store":"postgres","database_bytes":3221225472,"shared_buffers_bytes":134217728,
		"tables":[{"name":"packages","bytes":2147483648,"index_bytes":10485760}]}`)
	writeResult(t, pg, "wrk-small-zipf-full.txt", wrkOutput(100000, 10000, "1.00ms", "4.00ms", 0, ""))
	writeResult(t, pg, "wrk-big-zipf-full.txt", wrkOutput(91000, 9100, "1.00ms", "4.00ms", 0, ""))
	writeResult(t, pg, "mem-big-zipf-full.json", `{"peak_rss_bytes": 209715200, "method": "VmHWM"}`)
	return top
}

func TestLoadAndRenderScale(t *testing.T) {
	r, err := LoadScaleResults(scaleResultsDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Stores, []string{"sqlite", "postgres"}) {
		t.Fatalf("stores %v, want sqlite and postgres", r.Stores)
	}
	sq := r.ByStore["sqlite"]
	if sq.Seed["small"].Sample != nil {
		t.Error("the report kept the seed's plaintext tokens")
	}
	if got := sq.Server["big"].IdleRSSBytes; got != 30<<20 {
		t.Errorf("big store's idle RSS = %d, want %d (idle_rss_kb is in KiB)", got, 30<<20)
	}
	if sq.Load["tarball"]["small"] != nil {
		t.Error("a scenario with no wrk file has a result")
	}
	if x := sq.Load["zipf-abbreviated"]["small"].WrkShare(); x != 0.25 {
		t.Errorf("wrk's share of the CPU = %v, want 4.5 s / 18 s = 0.25", x)
	}
	r.Date = time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	r.Machine = Machine{CPUs: 2, CPUModel: "AMD EPYC", MemBytes: 24 << 30, Kernel: "6.1.0"}
	out := RenderScale(r)
	assertReportHas(t, out,
		"Last run: 2026-11-29 03:00 UTC, on 2 × AMD EPYC, 24.0 GiB memory, Linux 6.1.0.",
		"Versions: gatehouse abc123, wrk 4.1.0.",
		"Peak resident memory of gatehouse over the whole run: 200.0 MiB (PostgreSQL, big store).",
		"**SQLite** (gatehouse store SQLite (WAL) and a tarball folder)",
		"**PostgreSQL** (gatehouse store PostgreSQL 15)",
		"| packages × versions | 200 × 3 | 100,000 × 3 | 500× |",
		"| tokens | 50,000 | 1,000,000 | 20× |",
		"| seeding time (packages + tokens) | 4.5 s (0.5 + 4.0) | 150.0 s (50.0 + 100.0), reused | 33× |",
		"| database file (+ WAL) | 10.0 MiB | 2.0 GiB | 205× |",
		"| table packages: data + indexes | 8.0 MiB + 1.0 MiB | 1.5 GiB + 10.0 MiB | 172× |",
		"| table tokens: data + indexes | 1.0 MiB + 512.0 KiB | 300.0 MiB + 100.0 MiB | 267× |",
		"| database (pg_database_size) | – | 3.0 GiB | – |",
		"| PostgreSQL shared_buffers | – | 128.0 MiB | – |",
		"| start-up: start to /-/ready (to /-/ping) | 40 ms (35 ms) | 80 ms (70 ms) | 2.00× |",
		"| resident memory after start-up | 20.0 MiB | 30.0 MiB | 1.50× |",
		"| peak resident memory under load (all scenarios; target: big ≤ 2× small) | 50.0 MiB | 100.0 MiB | 2.00× |",
		"| abbreviated packument | 20,000 | 18,000 | 0.90 | 1.00 / 5.00 | 1.10 / 5.50 | – | 100.0 MiB | – / – | yes (≥ 0.7, p99 ≤ 2×) |",
		"| full packument | 10,000 | 5,000 | 0.50 | 2.00 / 9.00 | 4.00 / 20.0 | 50.0 MiB | 90.5 MiB | – / – | **no** (≥ 0.7, p99 ≤ 2×) |",
		"| abbreviated packument, Zipf | 40,000 | 38,000 | 0.95 | 0.50 / 2.00 | 0.60 / 5.00 | 50.0 MiB | 59.5 MiB | 0.25 / 0.75 | yes (≥ 0.9) |",
		"| tarball, Zipf | 30,000 | 24,000 | 0.80 |",
		"| full packument, Zipf | 10,000 | 9,100 | 0.91 |",
		"| 404 | 30,000 | 29,000 | 0.97 |",
		"| cold tokens (abbreviated) † | 3,000 | 2,700 | 0.90 | 10.0 / 50.0 | 11.0 / 55.0 | – | – | – / – | yes (≥ 0.7) |",
		"- big store, 404: 1,000 of 290,000 answers were 2xx/3xx",
		"- big store, abbreviated packument, Zipf: wrk used 0.75× gatehouse's CPU time",
	)
	if !strings.Contains(out, "| tarball, Zipf | 30,000 | 24,000 | 0.80 | 0.50 / 2.00 | 0.60 / 3.00 | – | – | – / – | **no** (≥ 0.9) |") {
		t.Errorf("the Zipf tarball row at 0.80 does not miss its 0.9 target:\n%s", out)
	}
	if strings.Contains(out, "store, cold") {
		t.Errorf("a cold run with a timed rate is flagged:\n%s", out)
	}
	if strings.Contains(out, "small store, abbreviated packument, Zipf: wrk") {
		t.Errorf("a load generator at 0.25 of gatehouse's CPU is flagged:\n%s", out)
	}
	if l := sq.Load["cold"]["small"]; l.ColdRequests != 40000 || l.ColdStopped != 2 || l.ColdThreads != 2 {
		t.Errorf("small cold run = %+v, want 40000 requests, 2 of 2 threads used up", l)
	}
	if strings.Contains(out, "| tarball |") {
		t.Errorf("the report has a tarball row with no results:\n%s", out)
	}
	if strings.Contains(out, "npm_secret") {
		t.Error("the report shows a plaintext token")
	}
}

func TestScaleTarget(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		id              string
		ratio           float64
		smallP99, bigP9 time.Duration
		ok              bool
	}{
		{"abbreviated", 0.7, 5 * ms, 10 * ms, true},
		{"abbreviated", 0.69, 5 * ms, 5 * ms, false},
		{"full", 0.9, 5 * ms, 11 * ms, false}, // p99 over 2×
		{"tarball", 1.2, 0, 1 * ms, false},    // no small p99 to compare with
		{"notfound", 0.8, 5 * ms, 6 * ms, true},
		{"zipf-full", 0.9, 5 * ms, 50 * ms, true}, // no p99 target under Zipf
		{"zipf-tarball", 0.89, 5 * ms, 5 * ms, false},
		{"cold", 0.7, 5 * ms, 50 * ms, true},
		{"cold", 0.6, 5 * ms, 5 * ms, false},
	}
	for _, tc := range cases {
		if ok, want := scaleTarget(tc.id).Meets(tc.ratio, tc.smallP99, tc.bigP9); ok != tc.ok {
			t.Errorf("%s at %.2f, p99 %v against %v: ok=%v (%s), want %v", tc.id, tc.ratio, tc.bigP9, tc.smallP99, ok, want, tc.ok)
		}
	}
}

func TestParseScaleLua(t *testing.T) {
	cases := []struct {
		name, out string
		rate      float64
		ok        bool
	}{
		{"none", "Requests/sec: 12.00\n", 0, true},
		{"cold", "  Cold requests/sec: 1234.50 (100 requests in 0.081 s; 1 of 2 threads used up their tokens)\n", 1234.5, true},
		{"garbled", "Cold requests/sec: fast\n", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var l ScaleLoad
			err := ParseScaleLua(c.out, &l)
			if (err == nil) != c.ok || l.ColdRate != c.rate {
				t.Errorf("ParseScaleLua = %v, rate %v; want ok=%v, rate %v", err, l.ColdRate, c.ok, c.rate)
			}
		})
	}
}

func TestParseScaleServerRefusesText(t *testing.T) {
	if _, err := ParseScaleServer([]KV{{"ready_ms", "soon"}}); err == nil {
		t.Error("a value that is not a number was accepted")
	}
	s, err := ParseScaleServer([]KV{{"ready_ms", "12"}, {"unknown", "x"}})
	if err != nil || s.ReadyMillis != 12 {
		t.Errorf("ParseScaleServer = %+v, %v", s, err)
	}
}

func TestReplaceScaleSection(t *testing.T) {
	cases := []struct {
		name, doc, want string
		ok              bool
	}{
		{"appends", "# Bench\n", "# Bench\n\n" + ScaleBeginMarker + "\nnew\n" + ScaleEndMarker + "\n", true},
		{"replaces", "a\n" + ScaleBeginMarker + "\nold\n" + ScaleEndMarker + "\nb\n",
			"a\n" + ScaleBeginMarker + "\nnew\n" + ScaleEndMarker + "\nb\n", true},
		{"leaves run.sh's section", BeginMarker + "\nx\n" + EndMarker + "\n" + ScaleBeginMarker + "\nold\n" + ScaleEndMarker,
			BeginMarker + "\nx\n" + EndMarker + "\n" + ScaleBeginMarker + "\nnew\n" + ScaleEndMarker, true},
		{"end only", "a " + ScaleEndMarker, "", false},
		{"out of order", ScaleEndMarker + ScaleBeginMarker, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReplaceScaleSection(c.doc, "new\n")
			if (err == nil) != c.ok || got != c.want {
				t.Errorf("ReplaceScaleSection = %q, %v; want %q (ok=%v)", got, err, c.want, c.ok)
			}
		})
	}
}
