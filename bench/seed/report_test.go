package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// load makes a LoadResult with the given rate, p50/p99 in milliseconds and
// peak memory in MB.
func load(rps, p50, p99, mb float64) *LoadResult {
	d := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return &LoadResult{
		Wrk: WrkResult{Requests: int64(rps * 10), Duration: 10 * time.Second, RequestsPerSec: rps,
			Percentiles: map[int]time.Duration{50: d(p50), 99: d(p99)}},
		Mem: &MemResult{PeakRSSBytes: int64(mb * 1e6), Method: "VmHWM"},
	}
}

func sampleResults() *Results {
	r := &Results{
		Date:     time.Date(2026, 5, 1, 12, 30, 0, 0, time.UTC),
		Machine:  Machine{CPUs: 2, CPUModel: "AMD EPYC", MemBytes: 24 << 30, Kernel: "6.1.0"},
		Versions: []KV{{"gatehouse", "v1.2.3"}, {"Verdaccio", "6.10.4 on Node v24.22.3"}},
		Settings: []KV{{"install dependencies", "200"}, {"publish", "300 × 10240 B"}},
		Load:     map[string]map[string]*LoadResult{},
		Install: map[string]*InstallResult{
			"gatehouse": {Mean: 4.0, Stddev: 0.1},
			"verdaccio": {Mean: 5.0, Stddev: 0.2},
		},
		Publish: map[string]*PublishResult{
			"gatehouse": {P50ms: 1.5, P99ms: 3},
			"verdaccio": {P50ms: 3, P99ms: 12},
		},
		Seed: map[string]*State{"gatehouse": {Publishes: 100, PublishSeconds: 2}},
	}
	r.Load["abbreviated"] = map[string]*LoadResult{
		"gatehouse": load(42000, 0.5, 4, 40),
		"verdaccio": load(2000, 15, 40, 300),
		"nginx":     load(70000, 0.3, 2, 17),
	}
	r.Load["tarball"] = map[string]*LoadResult{
		"gatehouse": load(30000, 0.8, 12.5, 45),
		"verdaccio": load(3000, 7, 30, 320),
		"nginx":     load(50000, 0.3, 2, 17),
	}
	nf := load(50000, 0.3, 1, 38)
	nf.Wrk.Non2xx = nf.Wrk.Requests
	r.Load["notfound"] = map[string]*LoadResult{"gatehouse": nf}
	return r
}

func TestRenderTable(t *testing.T) {
	out := Render(sampleResults())
	assertReportHas(t, out,
		"Last run: 2026-05-01 12:30 UTC, on 2 × AMD EPYC, 24.0 GiB memory, Linux 6.1.0.",
		"Versions: gatehouse v1.2.3, Verdaccio 6.10.4 on Node v24.22.3.",
		"- install dependencies: 200\n",
		"| measure | gatehouse | Verdaccio | nginx | gatehouse/Verdaccio | gatehouse/nginx |",
		"| abbreviated packument: requests/s | 42,000 | 2,000 | 70,000 | 21.0× | 0.60× |",
		"| abbreviated packument: p50 latency, ms | 0.50 | 15.0 | 0.30 | 0.03× | 1.67× |",
		"| abbreviated packument: peak server RSS, MB | 40.0 | 300.0 | 17.0 | 0.13× | 2.35× |",
		"| tarball: p99 latency, ms | 12.5 | 30.0 | 2.00 | 0.42× | 6.25× |",
		"| 404: requests/s | 50,000 | – | – | – | – |",
		"| `npm ci`, 200 dependencies, cold cache: mean s | 4.00 ± 0.10 | 5.00 ± 0.20 | – | 0.80× | – |",
		"| publish (300 × 10240 B): p99 latency, ms | 3.00 | 12.0 | – | 0.25× | – |",
		"| seeding: publishes/s, 4 packages at a time | 50.0 | – | – | – | – |",
	)
	if strings.Contains(out, "full packument") {
		t.Error("a scenario without results has rows")
	}
	if strings.Contains(out, "Anomalies") {
		t.Errorf("anomalies reported for clean runs:\n%s", out)
	}
}

func TestRenderTargets(t *testing.T) {
	out := Render(sampleResults())
	assertReportHas(t, out,
		"| authenticated abbreviated packument: ≥ 20× Verdaccio's requests/s | 21.0× | yes |",
		"| authenticated abbreviated packument: ≥ ½ nginx's requests/s | 0.60× | yes |",
		"| authenticated tarball: ≥ 20× Verdaccio's requests/s | 10.0× | no |",
		"| authenticated tarball: ≥ ½ nginx's requests/s | 0.60× | yes |",
		"| gatehouse p99 latency < 10 ms (every scenario) | abbreviated packument 4.00, tarball 12.5, 404 1.00 ms | no |",
		"| gatehouse memory < 100 MB | peak 45.0 MB | yes |",
		"| abbreviated packument: ≥ 0.8× nginx's requests/s | 0.60× | no |",
		"| abbreviated packument: p99 ≤ 2× nginx's | 4.00 vs 2.00 ms (2.00×) | yes |",
		"| tarball: ≥ 0.8× nginx's requests/s | 0.60× | no |",
		"| tarball: p99 ≤ 2× nginx's | 12.5 vs 2.00 ms (6.25×) | no |",
		"| `npm ci` at least as fast as from Verdaccio | 4.00 s vs 5.00 s (0.80×) | yes |",
	)
	empty := Render(&Results{Load: map[string]map[string]*LoadResult{}})
	if !strings.Contains(empty, "| gatehouse memory < 100 MB | – | not measured |") {
		t.Errorf("an empty run should say not measured:\n%s", empty)
	}
}

// TestRenderProxied: the proxied scenarios (gatehouse alone) get their rows,
// and each is checked against the local one's rate: within 10%.
func TestRenderProxied(t *testing.T) {
	r := sampleResults()
	r.Load["proxied-abbreviated"] = map[string]*LoadResult{"gatehouse": load(40000, 0.5, 4, 41)}
	r.Load["proxied-tarball"] = map[string]*LoadResult{"gatehouse": load(24000, 0.9, 9, 46)}
	out := Render(r)
	assertReportHas(t, out,
		"| proxied abbreviated packument (cached): requests/s | 40,000 | – | – | – | – |",
		"| proxied tarball (cached): p99 latency, ms | 9.00 | – | – | – | – |",
		"| proxied abbreviated packument (cached): ≥ 0.9× the local one's requests/s | 0.95× | yes |",
		"| proxied tarball (cached): ≥ 0.9× the local one's requests/s | 0.80× | no |",
	)
	if strings.Contains(out, "proxied full packument") {
		t.Errorf("a proxied scenario that was not run has rows or a target:\n%s", out)
	}
	if strings.Contains(Render(sampleResults()), "proxied") {
		t.Error("a run without the proxied scenarios mentions them")
	}
}

func TestRenderAnomalies(t *testing.T) {
	r := sampleResults()
	r.Load["abbreviated"]["verdaccio"].Wrk.Non2xx = 7
	r.Load["tarball"]["nginx"].Wrk.SocketErrors, r.Load["tarball"]["nginx"].Wrk.Timeouts = 5, 2
	r.Load["notfound"]["gatehouse"].Wrk.Non2xx = 10
	out := Render(r)
	assertReportHas(t, out,
		"- Verdaccio, abbreviated packument: 7 of 20000 answers were not 2xx/3xx",
		"- nginx, tarball: 5 socket errors (2 timeouts)",
		"- gatehouse, 404: 499990 of 500000 answers were 2xx/3xx, not 404",
	)
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 1234567.8: "1,234,568", -4200: "-4,200"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestReplaceSection(t *testing.T) {
	doc := "# Benchmarks\n\nOlder figures.\n"
	once, err := ReplaceSection(doc, "table one\n")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(once, doc) || !strings.HasSuffix(once, BeginMarker+"\ntable one\n"+EndMarker+"\n") {
		t.Fatalf("append:\n%s", once)
	}
	withTail := once + "\n## Later section\n"
	twice, err := ReplaceSection(withTail, "table two")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(twice, "table one") || !strings.Contains(twice, BeginMarker+"\ntable two\n"+EndMarker+"\n\n## Later section\n") {
		t.Fatalf("replace:\n%s", twice)
	}
	if !strings.HasPrefix(twice, doc) {
		t.Fatal("replace changed the text before the section")
	}
	again, _ := ReplaceSection(twice, "table two")
	if again != twice {
		t.Fatal("replacing with the same table is not idempotent")
	}
	for _, bad := range []string{EndMarker + "\n" + BeginMarker, "x " + BeginMarker, EndMarker} {
		if _, err := ReplaceSection(bad, "t"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestMachineParsing(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	if got := CPUModel(cpuinfo); got != "AMD EPYC 7B13" {
		t.Errorf("CPUModel = %q", got)
	}
	if got := CPUModel("processor : 0\n"); got != "unknown CPU" {
		t.Errorf("CPUModel without model = %q", got)
	}
	dir := t.TempDir()
	testkit.WriteFile(t, filepath.Join(dir, "cpuinfo"), cpuinfo)
	testkit.WriteFile(t, filepath.Join(dir, "meminfo"), "MemTotal:       24634720 kB\nMemFree:        1 kB\n")
	testkit.WriteFile(t, filepath.Join(dir, "sys/kernel/osrelease"), "6.1.0-18-amd64\n")
	m := ReadMachine(dir)
	if m.CPUModel != "AMD EPYC 7B13" || m.MemBytes != 24634720*1024 || m.Kernel != "6.1.0-18-amd64" || m.CPUs < 1 {
		t.Errorf("machine %+v", m)
	}
}

func TestParseKV(t *testing.T) {
	got := ParseKV("gatehouse: v1\n\nno colon here\nnginx: 1.22.1: extra\n : empty key\n")
	want := []KV{{"gatehouse", "v1"}, {"nginx", "1.22.1: extra"}}
	if len(got) != len(want) {
		t.Fatalf("ParseKV = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ParseKV[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestLoadResults(t *testing.T) {
	dir := t.TempDir()
	testkit.WriteFile(t, filepath.Join(dir, "versions.txt"), "gatehouse: v9\n")
	testkit.WriteFile(t, filepath.Join(dir, "settings.txt"), "install dependencies: 200\n")
	testkit.WriteFile(t, filepath.Join(dir, "wrk-gatehouse-abbreviated.txt"), wrkOK)
	testkit.WriteFile(t, filepath.Join(dir, "mem-gatehouse-abbreviated.json"), `{"peak_rss_bytes": 41000000, "method": "VmHWM"}`)
	testkit.WriteFile(t, filepath.Join(dir, "wrk-verdaccio-notfound.txt"), wrkErrors)
	testkit.WriteFile(t, filepath.Join(dir, "npm-gatehouse.json"), `{"results": [{"command": "npm ci", "mean": 3.5, "stddev": null, "times": [3.5]}]}`)
	testkit.WriteFile(t, filepath.Join(dir, "publish-verdaccio.json"), `{"count": 300, "p50_ms": 2.5, "p99_ms": 9}`)
	testkit.WriteFile(t, filepath.Join(dir, "seed-gatehouse.json"), `{"publishes": 2100, "publish_seconds": 30}`)
	r, err := LoadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := r.Load["abbreviated"]["gatehouse"]
	if g == nil || g.Wrk.RequestsPerSec != 16408.88 || g.Mem == nil || g.Mem.PeakRSSBytes != 41000000 {
		t.Fatalf("gatehouse abbreviated %+v", g)
	}
	if v := r.Load["notfound"]["verdaccio"]; v == nil || v.Mem != nil || v.Wrk.Non2xx != 17004 {
		t.Fatalf("verdaccio 404 %+v", v)
	}
	if r.Load["full"]["nginx"] != nil {
		t.Fatal("a missing file gave a result")
	}
	if r.Install["gatehouse"].Mean != 3.5 || r.Publish["verdaccio"].P99ms != 9 || r.Seed["gatehouse"].Publishes != 2100 {
		t.Fatalf("install %+v publish %+v seed %+v", r.Install["gatehouse"], r.Publish["verdaccio"], r.Seed["gatehouse"])
	}
	if len(r.Versions) != 1 || len(r.Settings) != 1 {
		t.Fatalf("versions %v settings %v", r.Versions, r.Settings)
	}

	testkit.WriteFile(t, filepath.Join(dir, "wrk-nginx-full.txt"), "garbage\n")
	if _, err := LoadResults(dir); err == nil || !strings.Contains(err.Error(), "nginx full") {
		t.Errorf("unreadable wrk output: %v", err)
	}
}

func TestReportCommandWritesDocs(t *testing.T) {
	dir := t.TempDir()
	testkit.WriteFile(t, filepath.Join(dir, "wrk-gatehouse-abbreviated.txt"), wrkOK)
	docs := filepath.Join(dir, "benchmarks.md")
	testkit.WriteFile(t, docs, "# Benchmarks\n\nKeep me.\n")
	var out, errs strings.Builder
	if code := run(t.Context(), []string{"report", "-results", dir, "-docs", docs}, &out, &errs); code != 0 {
		t.Fatalf("report: %d %s", code, errs.String())
	}
	data, err := os.ReadFile(docs)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	if !strings.HasPrefix(doc, "# Benchmarks\n\nKeep me.\n") || !strings.Contains(doc, "| abbreviated packument: requests/s | 16,409 |") ||
		!strings.Contains(doc, out.String()) {
		t.Errorf("docs after report:\n%s", doc)
	}
}

// assertReportHas checks that the report out holds each of wants.
func assertReportHas(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}
