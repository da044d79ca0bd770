package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Targets are the servers the harness compares, in table order.
var Targets = []string{"gatehouse", "verdaccio", "nginx"}

// targetTitle is how the table names a target.
var targetTitle = map[string]string{"gatehouse": "gatehouse", "verdaccio": "Verdaccio", "nginx": "nginx"}

// Scenario is one kind of request the load test repeats.
type Scenario struct {
	// ID names the scenario in result file names: wrk-TARGET-ID.txt.
	ID string
	// Title names it in the table.
	Title string
	// Status is the answer every request should get.
	Status int
}

// Scenarios are the load test's requests, in table order. The proxied ones
// (gatehouse only) read a package of the hot one's shape that gatehouse
// proxies from another registry, from its cache.
var Scenarios = []Scenario{
	{"abbreviated", "abbreviated packument", 200},
	{"full", "full packument", 200},
	{"tarball", "tarball", 200},
	{"notfound", "404", 404},
	{"proxied-abbreviated", "proxied abbreviated packument (cached)", 200},
	{"proxied-full", "proxied full packument (cached)", 200},
	{"proxied-tarball", "proxied tarball (cached)", 200},
}

// LoadResult is one target under one scenario.
type LoadResult struct {
	Wrk WrkResult
	// Mem is nil when the memory watch left no result.
	Mem *MemResult
}

// InstallResult is hyperfine's summary of the timed npm installs.
type InstallResult struct {
	Mean   float64   `json:"mean"`
	Stddev float64   `json:"stddev"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Times  []float64 `json:"times"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs     int
	CPUModel string
	MemBytes int64
	Kernel   string
}

// KV is one "name: value" line, kept in its file's order.
type KV struct{ Key, Value string }

// Results is everything one run of the harness measured.
type Results struct {
	Date    time.Time
	Machine Machine
	// Versions and Settings come from versions.txt and settings.txt.
	Versions, Settings []KV
	// Load is indexed by scenario ID, then target.
	Load    map[string]map[string]*LoadResult
	Install map[string]*InstallResult
	Publish map[string]*PublishResult
	Seed    map[string]*State
}

// LoadResults reads a results folder as bench/run.sh leaves it. Files of a
// step that did not run are simply absent; a file that is there but cannot
// be read is an error.
func LoadResults(dir string) (*Results, error) {
	r := &Results{Load: map[string]map[string]*LoadResult{}, Install: map[string]*InstallResult{},
		Publish: map[string]*PublishResult{}, Seed: map[string]*State{}}
	var err error
	if r.Versions, r.Settings, err = readHeader(dir); err != nil {
		return nil, err
	}
	for _, sc := range Scenarios {
		r.Load[sc.ID] = map[string]*LoadResult{}
		for _, t := range Targets {
			lr, _, err := readLoad(dir, t, sc.ID)
			if err != nil {
				return nil, err
			}
			if lr != nil {
				r.Load[sc.ID][t] = lr
			}
		}
	}
	for _, t := range Targets {
		var hf struct {
			Results []InstallResult `json:"results"`
		}
		if ok, err := readJSON(filepath.Join(dir, "npm-"+t+".json"), &hf); err != nil {
			return nil, err
		} else if ok && len(hf.Results) > 0 {
			r.Install[t] = &hf.Results[0]
		}
		var p PublishResult
		if ok, err := readJSON(filepath.Join(dir, "publish-"+t+".json"), &p); err != nil {
			return nil, err
		} else if ok {
			r.Publish[t] = &p
		}
		var s State
		if ok, err := readJSON(filepath.Join(dir, "seed-"+t+".json"), &s); err != nil {
			return nil, err
		} else if ok {
			r.Seed[t] = &s
		}
	}
	return r, nil
}

// readHeader reads a results folder's versions.txt and settings.txt.
func readHeader(dir string) (versions, settings []KV, err error) {
	if versions, err = readKV(filepath.Join(dir, "versions.txt")); err != nil {
		return nil, nil, err
	}
	if settings, err = readKV(filepath.Join(dir, "settings.txt")); err != nil {
		return nil, nil, err
	}
	return versions, settings, nil
}

// readLoad reads one wrk run of who (a target or a store size) under
// scenario id, and its memory watch if any, returning wrk's output too; a
// run that left no output is (nil, "", nil).
func readLoad(dir, who, id string) (*LoadResult, string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "wrk-"+who+"-"+id+".txt"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	} else if err != nil {
		return nil, "", err
	}
	w, err := ParseWrk(string(data))
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", who, id, err)
	}
	lr := &LoadResult{Wrk: w}
	var m MemResult
	if ok, err := readJSON(filepath.Join(dir, "mem-"+who+"-"+id+".json"), &m); err != nil {
		return nil, "", err
	} else if ok {
		lr.Mem = &m
	}
	return lr, string(data), nil
}

// readJSON decodes a file into v; a missing file is (false, nil).
func readJSON(path string, v any) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// readKV reads "name: value" lines; a missing file has none.
func readKV(path string) ([]KV, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return ParseKV(string(data)), nil
}

// ParseKV reads "name: value" lines, skipping blank lines and lines
// without a colon.
func ParseKV(text string) []KV {
	var out []KV
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(line, ":")
		if k = strings.TrimSpace(k); ok && k != "" {
			out = append(out, KV{k, strings.TrimSpace(v)})
		}
	}
	return out
}

// ReadMachine describes this machine from the proc file system at root.
func ReadMachine(root string) Machine {
	m := Machine{CPUs: runtime.NumCPU()}
	if data, err := os.ReadFile(filepath.Join(root, "cpuinfo")); err == nil {
		m.CPUModel = CPUModel(string(data))
	}
	if data, err := os.ReadFile(filepath.Join(root, "meminfo")); err == nil {
		if kb, err := StatusKB(string(data), "MemTotal"); err == nil {
			m.MemBytes = kb * 1024
		}
	}
	if data, err := os.ReadFile(filepath.Join(root, "sys/kernel/osrelease")); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	return m
}

// CPUModel is the first "model name" of /proc/cpuinfo's text.
func CPUModel(cpuinfo string) string {
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// Section markers: bench/run.sh replaces what lies between them in
// docs/benchmarks.md.
const (
	BeginMarker = "<!-- bench/run.sh:begin (generated; replaced by each run) -->"
	EndMarker   = "<!-- bench/run.sh:end -->"
)

// ReplaceSection puts section between the markers in doc, or appends the
// markers and section when doc has none.
func ReplaceSection(doc, section string) (string, error) {
	return replaceMarked(doc, section, BeginMarker, EndMarker, "bench/run.sh")
}

// replaceMarked puts section between the markers begin and end (those of
// script) in doc, or appends the markers and section when doc has none.
func replaceMarked(doc, section, begin, end, script string) (string, error) {
	block := begin + "\n" + strings.TrimRight(section, "\n") + "\n" + end
	b := strings.Index(doc, begin)
	e := strings.Index(doc, end)
	switch {
	case b < 0 && e < 0:
		return strings.TrimRight(doc, "\n") + "\n\n" + block + "\n", nil
	case b < 0 || e < b:
		return "", fmt.Errorf("the %s markers are out of order or one is missing", script)
	}
	return doc[:b] + block + doc[e+len(end):], nil
}

// Render writes the run's figures as Markdown: what was measured where,
// the comparison table, the targets and any anomalies.
func Render(r *Results) string {
	var b strings.Builder
	writeHeader(&b, r.Date, r.Machine, r.Versions, r.Settings)
	b.WriteString("| measure | gatehouse | Verdaccio | nginx | gatehouse/Verdaccio | gatehouse/nginx |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	row := func(title string, vals map[string]float64, cell func(t string, v float64) string) {
		fmt.Fprintf(&b, "| %s |", title)
		for _, t := range Targets {
			if v, ok := vals[t]; ok {
				fmt.Fprintf(&b, " %s |", cell(t, v))
			} else {
				b.WriteString(" – |")
			}
		}
		for _, t := range Targets[1:] {
			fmt.Fprintf(&b, " %s |", ratio(vals["gatehouse"], vals[t], hasBoth(vals, t)))
		}
		b.WriteString("\n")
	}
	for _, sc := range Scenarios {
		rps, p50, p99, mem := map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}
		for t, lr := range r.Load[sc.ID] {
			rps[t] = lr.Wrk.RequestsPerSec
			p50[t] = ms(lr.Wrk.Percentiles[50])
			p99[t] = ms(lr.Wrk.Percentiles[99])
			if lr.Mem != nil {
				mem[t] = float64(lr.Mem.PeakRSSBytes) / 1e6
			}
		}
		if len(rps) == 0 {
			continue
		}
		row(sc.Title+": requests/s", rps, plain(thousands))
		row(sc.Title+": p50 latency, ms", p50, plain(millis))
		row(sc.Title+": p99 latency, ms", p99, plain(millis))
		row(sc.Title+": peak server RSS, MB", mem, plain(oneDecimal))
	}
	if len(r.Install) > 0 {
		mean := map[string]float64{}
		for t, in := range r.Install {
			mean[t] = in.Mean
		}
		row("`npm ci`, "+setting(r, "install dependencies", "?")+" dependencies, cold cache: mean s", mean, func(t string, _ float64) string {
			return fmt.Sprintf("%.2f ± %.2f", r.Install[t].Mean, r.Install[t].Stddev)
		})
	}
	if len(r.Publish) > 0 {
		p50, p99 := map[string]float64{}, map[string]float64{}
		for t, p := range r.Publish {
			p50[t], p99[t] = p.P50ms, p.P99ms
		}
		size := setting(r, "publish", "publishes")
		row("publish ("+size+"): p50 latency, ms", p50, plain(millis))
		row("publish ("+size+"): p99 latency, ms", p99, plain(millis))
	}
	if len(r.Seed) > 0 {
		rate := map[string]float64{}
		for t, s := range r.Seed {
			if s.PublishSeconds > 0 {
				rate[t] = float64(s.Publishes) / s.PublishSeconds
			}
		}
		row("seeding: publishes/s, "+setting(r, "seed concurrency", "4")+" packages at a time", rate, plain(oneDecimal))
	}
	b.WriteString("\nRatios divide gatehouse's figure by the other's: above 1 is better for requests/s,\n" +
		"below 1 is better for latency, memory and time.\n\n")
	renderTargets(&b, r)
	if notes := anomalies(r); len(notes) > 0 {
		b.WriteString("\nAnomalies (the figures above include these requests):\n\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	return b.String()
}

// renderTargets checks the figures against the performance issue's targets.
func renderTargets(b *strings.Builder, r *Results) {
	b.WriteString("| target | measured | met |\n|---|---|---|\n")
	line := func(target, measured string, ok, known bool) {
		verdict := "no"
		switch {
		case !known:
			verdict, measured = "not measured", "–"
		case ok:
			verdict = "yes"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", target, measured, verdict)
	}
	for _, id := range []string{"abbreviated", "tarball"} {
		title := map[string]string{"abbreviated": "authenticated abbreviated packument", "tarball": "authenticated tarball"}[id]
		g, v, n := r.Load[id]["gatehouse"], r.Load[id]["verdaccio"], r.Load[id]["nginx"]
		if g != nil && v != nil && v.Wrk.RequestsPerSec > 0 {
			x := g.Wrk.RequestsPerSec / v.Wrk.RequestsPerSec
			line(title+": ≥ 20× Verdaccio's requests/s", fmt.Sprintf("%.1f×", x), x >= 20, true)
		} else {
			line(title+": ≥ 20× Verdaccio's requests/s", "", false, false)
		}
		if g != nil && n != nil && n.Wrk.RequestsPerSec > 0 {
			x := g.Wrk.RequestsPerSec / n.Wrk.RequestsPerSec
			line(title+": ≥ ½ nginx's requests/s", fmt.Sprintf("%.2f×", x), x >= 0.5, true)
		} else {
			line(title+": ≥ ½ nginx's requests/s", "", false, false)
		}
	}
	// Issue 15: gatehouse in its default configuration (the access log on)
	// at least 0.8× nginx's requests/s, with a p99 at most twice nginx's in
	// the same run, on both packuments and the tarball.
	for _, id := range []string{"abbreviated", "full", "tarball"} {
		title := map[string]string{"abbreviated": "abbreviated packument", "full": "full packument", "tarball": "tarball"}[id]
		g, n := r.Load[id]["gatehouse"], r.Load[id]["nginx"]
		if g == nil || n == nil || n.Wrk.RequestsPerSec <= 0 {
			continue // a scenario that was not run has no rows
		}
		x := g.Wrk.RequestsPerSec / n.Wrk.RequestsPerSec
		line(title+": ≥ 0.8× nginx's requests/s", fmt.Sprintf("%.2f×", x), x >= 0.8, true)
		gp, np := ms(g.Wrk.Percentiles[99]), ms(n.Wrk.Percentiles[99])
		line(title+": p99 ≤ 2× nginx's", fmt.Sprintf("%s vs %s ms (%.2f×)", millis(gp), millis(np), gp/max(np, 1e-9)), gp <= 2*np, np > 0)
	}
	// Issue 16: a cached proxied packument or tarball served at the local
	// one's rate, within 10%.
	for _, id := range []string{"abbreviated", "full", "tarball"} {
		title := map[string]string{"abbreviated": "abbreviated packument", "full": "full packument", "tarball": "tarball"}[id]
		l, p := r.Load[id]["gatehouse"], r.Load["proxied-"+id]["gatehouse"]
		if l == nil || p == nil || l.Wrk.RequestsPerSec <= 0 {
			continue // a run without the proxied scenarios
		}
		x := p.Wrk.RequestsPerSec / l.Wrk.RequestsPerSec
		line("proxied "+title+" (cached): ≥ 0.9× the local one's requests/s", fmt.Sprintf("%.2f×", x), x >= 0.9, true)
	}
	var worst, peak float64
	var p99s []string
	for _, sc := range Scenarios {
		if g := r.Load[sc.ID]["gatehouse"]; g != nil {
			p := ms(g.Wrk.Percentiles[99])
			worst = math.Max(worst, p)
			p99s = append(p99s, sc.Title+" "+millis(p))
			if g.Mem != nil {
				peak = math.Max(peak, float64(g.Mem.PeakRSSBytes)/1e6)
			}
		}
	}
	line("gatehouse p99 latency < 10 ms (every scenario)", strings.Join(p99s, ", ")+" ms", worst < 10, len(p99s) > 0)
	line("gatehouse memory < 100 MB", fmt.Sprintf("peak %.1f MB", peak), peak < 100, peak > 0)
	g, v := r.Install["gatehouse"], r.Install["verdaccio"]
	if g != nil && v != nil && v.Mean > 0 {
		line("`npm ci` at least as fast as from Verdaccio", fmt.Sprintf("%.2f s vs %.2f s (%.2f×)", g.Mean, v.Mean, g.Mean/v.Mean), g.Mean <= v.Mean, true)
	} else {
		line("`npm ci` at least as fast as from Verdaccio", "", false, false)
	}
}

// anomalies lists what makes a figure suspect: wrong statuses, socket
// errors, a run that served nothing.
func anomalies(r *Results) []string {
	var out []string
	for _, sc := range Scenarios {
		for _, t := range Targets {
			lr := r.Load[sc.ID][t]
			if lr == nil {
				continue
			}
			w := lr.Wrk
			where := targetTitle[t] + ", " + sc.Title
			switch {
			case w.Requests == 0:
				out = append(out, where+": no request completed")
			case sc.Status < 300 && w.Non2xx > 0:
				out = append(out, fmt.Sprintf("%s: %d of %d answers were not 2xx/3xx", where, w.Non2xx, w.Requests))
			case sc.Status >= 400 && w.Non2xx < w.Requests:
				out = append(out, fmt.Sprintf("%s: %d of %d answers were 2xx/3xx, not %d", where, w.Requests-w.Non2xx, w.Requests, sc.Status))
			}
			if w.SocketErrors > 0 {
				out = append(out, fmt.Sprintf("%s: %d socket errors (%d timeouts)", where, w.SocketErrors, w.Timeouts))
			}
		}
	}
	return out
}

func hasBoth(vals map[string]float64, t string) bool {
	_, g := vals["gatehouse"]
	_, o := vals[t]
	return g && o
}

func ratio(a, b float64, ok bool) string {
	if !ok || b == 0 {
		return "–"
	}
	x := a / b
	if x >= 10 {
		return fmt.Sprintf("%.1f×", x)
	}
	return fmt.Sprintf("%.2f×", x)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func millis(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	if v >= 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func oneDecimal(v float64) string { return fmt.Sprintf("%.1f", v) }

// thousands prints v rounded, with commas between groups of three digits.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func joinKV(kvs []KV) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = kv.Key + " " + kv.Value
	}
	return strings.Join(parts, ", ")
}

// setting is the value of a settings.txt entry, or def.
func setting(r *Results, key, def string) string {
	for _, kv := range r.Settings {
		if kv.Key == key {
			return kv.Value
		}
	}
	return def
}

// writeHeader writes what every report starts with: when and on what the
// run was made, the versions used, and the run's settings.
func writeHeader(b *strings.Builder, date time.Time, m Machine, versions, settings []KV) {
	fmt.Fprintf(b, "Last run: %s, on %d × %s, %.1f GiB memory, Linux %s.\n\n",
		date.UTC().Format("2006-01-02 15:04 UTC"), m.CPUs, m.CPUModel, float64(m.MemBytes)/(1<<30), m.Kernel)
	if len(versions) > 0 {
		b.WriteString("Versions: " + joinKV(versions) + ".\n\n")
	}
	for _, kv := range settings {
		fmt.Fprintf(b, "- %s: %s\n", kv.Key, kv.Value)
	}
	if len(settings) > 0 {
		b.WriteString("\n")
	}
}

// reportCommand reads a results folder, prints the Markdown report and,
// with -docs, puts it into the marked section of that file.
func reportCommand(args []string, stdout, stderr io.Writer) error {
	return runReport("report", "bench/run.sh", args, stdout, stderr, func(dir string, date time.Time, m Machine) (string, error) {
		r, err := LoadResults(dir)
		if err != nil {
			return "", err
		}
		r.Date, r.Machine = date, m
		return Render(r), nil
	}, ReplaceSection)
}

// runReport is the report commands' common part: it renders the results
// folder given by -results, prints the Markdown and, with -docs, puts it
// into that file's section with replace. name prefixes errors; script
// names the harness in the flags' help.
func runReport(name, script string, args []string, stdout, stderr io.Writer,
	render func(dir string, date time.Time, m Machine) (string, error),
	replace func(doc, section string) (string, error)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("results", "", "results folder written by "+script+" (required)")
	docs := fs.String("docs", "", "Markdown file whose "+script+" section to replace (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("%s: -results is required", name)
	}
	section, err := render(*dir, time.Now(), ReadMachine("/proc"))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := io.WriteString(stdout, section); err != nil {
		return err
	}
	if *docs == "" {
		return nil
	}
	old, err := os.ReadFile(*docs)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	doc, err := replace(string(old), section)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", name, *docs, err)
	}
	return os.WriteFile(*docs, []byte(doc), 0o644)
}

// plain makes a cell formatter that looks at the value alone.
func plain(f func(float64) string) func(string, float64) string {
	return func(_ string, v float64) string { return f(v) }
}
