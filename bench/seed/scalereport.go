package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ScaleSizes are the stores bench/scale.sh compares, in table order.
var ScaleSizes = []string{"small", "big"}

// ScaleStores are the databases bench/scale.sh runs on, in report order:
// each has a folder of its own in the results folder.
var ScaleStores = []string{"sqlite", "postgres"}

// scaleStoreTitle is how the report names a database.
var scaleStoreTitle = map[string]string{"sqlite": "SQLite", "postgres": "PostgreSQL"}

// ScaleScenarios are bench/scale.sh's load scenarios, in table order: the
// uniform spread, then the same reads with names drawn by popularity
// (zipf-*), then the misses and the cold tokens.
var ScaleScenarios = []Scenario{
	{"abbreviated", "abbreviated packument", 200},
	{"full", "full packument", 200},
	{"tarball", "tarball", 200},
	{"zipf-abbreviated", "abbreviated packument, Zipf", 200},
	{"zipf-full", "full packument, Zipf", 200},
	{"zipf-tarball", "tarball, Zipf", 200},
	{"notfound", "404", 404},
	{"cold", "cold tokens (abbreviated) †", 200},
}

// ScaleTarget is issue 20's target for a scenario: the big store's
// requests/s at least MinRatio of the small store's and, when P99Factor is
// set, its p99 at most P99Factor times the small store's.
type ScaleTarget struct {
	MinRatio, P99Factor float64
}

// scaleTargets are issue 20's targets: uniform spread ≥ 0.7 with p99 ≤ 2×,
// Zipf ≥ 0.9, cold tokens ≥ 0.7.
func scaleTarget(id string) ScaleTarget {
	switch {
	case strings.HasPrefix(id, "zipf-"):
		return ScaleTarget{MinRatio: 0.9}
	case id == "cold":
		return ScaleTarget{MinRatio: 0.7}
	}
	return ScaleTarget{MinRatio: 0.7, P99Factor: 2}
}

// Meets reports whether big against small meets t, and says what it asks.
func (t ScaleTarget) Meets(ratio float64, smallP99, bigP99 time.Duration) (bool, string) {
	want := fmt.Sprintf("≥ %.1f", t.MinRatio)
	ok := ratio >= t.MinRatio
	if t.P99Factor > 0 {
		want += fmt.Sprintf(", p99 ≤ %g×", t.P99Factor)
		ok = ok && smallP99 > 0 && float64(bigP99) <= t.P99Factor*float64(smallP99)
	}
	return ok, want
}

// loadGeneratorShare is the share of gatehouse's CPU time above which wrk
// counts as a possible limit of the run (an anomaly).
const loadGeneratorShare = 0.5

// ScaleServer is what bench/scale.sh recorded of gatehouse on one store
// (server-SIZE.txt).
type ScaleServer struct {
	ReadyMillis, PingMillis int64
	IdleRSSBytes            int64
	DBBytes, WALBytes       int64
	TarballBytes            int64
}

// ScaleLoad is one store under one scenario.
type ScaleLoad struct {
	LoadResult
	// ColdRate is the rate of the cold scenario's requests as
	// bench/scale.lua timed them; ColdRequests how many there were, and
	// ColdStopped of ColdThreads wrk threads used up their fresh tokens.
	ColdRate                 float64
	ColdRequests             int64
	ColdStopped, ColdThreads int
	// WrkCPU is the CPU time wrk used (nil when not recorded).
	WrkCPU *CPUResult
}

// Rate is the requests/s the table shows: wrk's own figure, except for the
// cold scenario, whose threads stop when their fresh tokens run out while
// wrk still divides by the whole duration; there it is ColdRate.
func (l *ScaleLoad) Rate(scenario string) float64 {
	if scenario == "cold" {
		return l.ColdRate
	}
	return l.Wrk.RequestsPerSec
}

// WrkShare is wrk's CPU time over gatehouse's during the run, 0 when
// either was not recorded.
func (l *ScaleLoad) WrkShare() float64 {
	if l.WrkCPU == nil || l.Mem == nil || l.Mem.CPUSeconds <= 0 {
		return 0
	}
	return (l.WrkCPU.UserSeconds + l.WrkCPU.SystemSeconds) / l.Mem.CPUSeconds
}

// ParseScaleLua reads the line bench/scale.lua's done() adds to wrk's
// report in the cold scenario into l:
//
//	Cold requests/sec: 2345.67 (40000 requests in 17.053 s; 2 of 2 threads used up their tokens)
func ParseScaleLua(out string, l *ScaleLoad) error {
	for line := range strings.Lines(out) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "Cold requests/sec:")
		if !ok {
			continue
		}
		var secs float64
		if _, err := fmt.Sscanf(strings.TrimSpace(v), "%g (%d requests in %g s; %d of %d threads",
			&l.ColdRate, &l.ColdRequests, &secs, &l.ColdStopped, &l.ColdThreads); err != nil {
			return fmt.Errorf("bad cold line %q: %w", strings.TrimSpace(line), err)
		}
	}
	return nil
}

// ScaleResults is everything one run of bench/scale.sh measured.
type ScaleResults struct {
	Date               time.Time
	Machine            Machine
	Versions, Settings []KV
	// Stores are the databases measured, in ScaleStores order.
	Stores  []string
	ByStore map[string]*ScaleStoreResults
}

// ScaleStoreResults is one database's part of a run (a folder of the
// results folder named for it).
type ScaleStoreResults struct {
	// Settings are the store's own settings.txt lines.
	Settings []KV
	Seed     map[string]*ScaleState
	Server   map[string]*ScaleServer
	DBSizes  map[string]*DBSizes
	// Load is indexed by scenario ID, then size.
	Load map[string]map[string]*ScaleLoad
}

// LoadScaleResults reads a results folder as bench/scale.sh leaves it:
// versions.txt and settings.txt, and a folder per database measured.
func LoadScaleResults(dir string) (*ScaleResults, error) {
	r := &ScaleResults{ByStore: map[string]*ScaleStoreResults{}}
	var err error
	if r.Versions, r.Settings, err = readHeader(dir); err != nil {
		return nil, err
	}
	for _, store := range ScaleStores {
		sub := filepath.Join(dir, store)
		if info, err := os.Stat(sub); err != nil || !info.IsDir() {
			continue
		}
		sr, err := loadScaleStore(sub)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", store, err)
		}
		r.Stores = append(r.Stores, store)
		r.ByStore[store] = sr
	}
	return r, nil
}

// loadScaleStore reads one database's folder; the files of a store size or
// scenario that was not measured are simply absent.
func loadScaleStore(dir string) (*ScaleStoreResults, error) {
	r := &ScaleStoreResults{Seed: map[string]*ScaleState{}, Server: map[string]*ScaleServer{},
		DBSizes: map[string]*DBSizes{}, Load: map[string]map[string]*ScaleLoad{}}
	var err error
	if r.Settings, err = readKV(filepath.Join(dir, "settings.txt")); err != nil {
		return nil, err
	}
	for _, size := range ScaleSizes {
		var st ScaleState
		if ok, err := readJSON(filepath.Join(dir, "seed-"+size+".json"), &st); err != nil {
			return nil, err
		} else if ok {
			st.Sample, st.Cold = nil, nil // plaintext tokens: not needed here
			r.Seed[size] = &st
		}
		var sizes DBSizes
		if ok, err := readJSON(filepath.Join(dir, "dbsizes-"+size+".json"), &sizes); err != nil {
			return nil, err
		} else if ok {
			r.DBSizes[size] = &sizes
		}
		path := filepath.Join(dir, "server-"+size+".txt")
		if _, err := os.Stat(path); err == nil {
			kvs, err := readKV(path)
			if err != nil {
				return nil, err
			}
			srv, err := ParseScaleServer(kvs)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			r.Server[size] = srv
		}
	}
	for _, sc := range ScaleScenarios {
		r.Load[sc.ID] = map[string]*ScaleLoad{}
		for _, size := range ScaleSizes {
			lr, out, err := readLoad(dir, size, sc.ID)
			if err != nil {
				return nil, err
			}
			if lr == nil {
				continue
			}
			l := &ScaleLoad{LoadResult: *lr}
			if err := ParseScaleLua(out, l); err != nil {
				return nil, fmt.Errorf("%s %s: %w", size, sc.ID, err)
			}
			var cpu CPUResult
			if ok, err := readJSON(filepath.Join(dir, "cpu-"+size+"-"+sc.ID+".json"), &cpu); err != nil {
				return nil, err
			} else if ok {
				l.WrkCPU = &cpu
			}
			r.Load[sc.ID][size] = l
		}
	}
	return r, nil
}

// PeakRSS is the highest peak resident memory of gatehouse on store size
// over the scenarios, 0 when none was watched.
func (r *ScaleStoreResults) PeakRSS(size string) int64 {
	var peak int64
	for _, bySize := range r.Load {
		if l := bySize[size]; l != nil && l.Mem != nil {
			peak = max(peak, l.Mem.PeakRSSBytes)
		}
	}
	return peak
}

// ParseScaleServer reads server-SIZE.txt's "name: value" lines; every
// value is a whole number.
func ParseScaleServer(kvs []KV) (*ScaleServer, error) {
	s := &ScaleServer{}
	fields := map[string]*int64{"ready_ms": &s.ReadyMillis, "ping_ms": &s.PingMillis, "idle_rss_kb": &s.IdleRSSBytes,
		"db_bytes": &s.DBBytes, "wal_bytes": &s.WALBytes, "tarball_bytes": &s.TarballBytes}
	for _, kv := range kvs {
		p, ok := fields[kv.Key]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(kv.Value, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a whole number", kv.Key, kv.Value)
		}
		if strings.HasSuffix(kv.Key, "_kb") {
			n *= 1024
		}
		*p = n
	}
	return s, nil
}

// Scale section markers in docs/benchmarks.md.
const (
	ScaleBeginMarker = "<!-- bench/scale.sh:begin -->"
	ScaleEndMarker   = "<!-- bench/scale.sh:end -->"
)

// ReplaceScaleSection puts section between the scale markers in doc, or
// appends the markers and section when doc has none.
func ReplaceScaleSection(doc, section string) (string, error) {
	return replaceMarked(doc, section, ScaleBeginMarker, ScaleEndMarker, "bench/scale.sh")
}

// RenderScale writes the run's figures as Markdown: the settings, then for
// each database the stores (sizes, start-up, memory, what the page caches
// would have to hold) and the load table with big/small ratios against
// issue 20's targets, and what makes a row doubtful.
func RenderScale(r *ScaleResults) string {
	var b strings.Builder
	writeHeader(&b, r.Date, r.Machine, r.Versions, r.Settings)
	var peak int64
	var peakAt string
	for _, store := range r.Stores {
		for _, size := range ScaleSizes {
			if p := r.ByStore[store].PeakRSS(size); p > peak {
				peak, peakAt = p, scaleStoreTitle[store]+", "+size+" store"
			}
		}
	}
	if peak > 0 {
		fmt.Fprintf(&b, "Peak resident memory of gatehouse over the whole run: %s (%s).\n\n", bytesText(peak), peakAt)
	}
	for _, store := range r.Stores {
		renderScaleStore(&b, store, r.ByStore[store])
	}
	b.WriteString("† Every request brings a token no request has used before (so it is looked up in the database " +
		"and its last use recorded); a wrk thread stops once its fresh tokens are answered, so requests/s is " +
		"the rate of those requests as bench/scale.lua timed them, not wrk's figure.\n\n" +
		"‡ wrk's CPU time over gatehouse's during the run, small / big store: the two share the machine's " +
		"cores, so the higher it is, the more of the CPU the load generator takes from gatehouse; above " +
		"0.5 the run is listed among the anomalies.\n\n")
	return b.String()
}

// renderScaleStore writes one database's tables.
func renderScaleStore(b *strings.Builder, store string, r *ScaleStoreResults) {
	fmt.Fprintf(b, "**%s**", scaleStoreTitle[store])
	if len(r.Settings) > 0 {
		b.WriteString(" (" + joinKV(r.Settings) + ")")
	}
	b.WriteString("\n\n| store | small | big | big/small |\n|---|---:|---:|---:|\n")
	seedRow := func(title string, f func(*ScaleState) (float64, string)) { sizeRow(b, title, r.Seed, f) }
	serverRow := func(title string, f func(*ScaleServer) (float64, string)) { sizeRow(b, title, r.Server, f) }
	dbRow := func(title string, f func(*DBSizes) (float64, string)) { sizeRow(b, title, r.DBSizes, f) }
	seedRow("packages × versions", func(s *ScaleState) (float64, string) {
		return float64(s.Packages), thousands(float64(s.Packages)) + " × " + strconv.Itoa(s.Versions)
	})
	seedRow("users", func(s *ScaleState) (float64, string) { return float64(s.Users), thousands(float64(s.Users)) })
	seedRow("tokens", func(s *ScaleState) (float64, string) { return float64(s.Tokens), thousands(float64(s.Tokens)) })
	seedRow("seeding time (packages + tokens)", func(s *ScaleState) (float64, string) {
		text := fmt.Sprintf("%.1f s (%.1f + %.1f)", s.Seconds, s.PackageSeconds, s.TokenSeconds)
		if s.Reused {
			text += ", reused"
		}
		return s.Seconds, text
	})
	if store == "sqlite" {
		serverRow("database file (+ WAL)", func(s *ScaleServer) (float64, string) {
			return float64(s.DBBytes + s.WALBytes), bytesText(s.DBBytes + s.WALBytes)
		})
	} else {
		dbRow("database (pg_database_size)", func(s *DBSizes) (float64, string) {
			return float64(s.DatabaseBytes), bytesText(s.DatabaseBytes)
		})
	}
	for _, name := range tableNames(r.DBSizes) {
		dbRow("table "+name+": data + indexes", func(s *DBSizes) (float64, string) {
			for _, t := range s.Tables {
				if t.Name == name {
					return float64(t.Bytes + t.IndexBytes), bytesText(t.Bytes) + " + " + bytesText(t.IndexBytes)
				}
			}
			return 0, "–"
		})
	}
	if store == "postgres" {
		dbRow("PostgreSQL shared_buffers", func(s *DBSizes) (float64, string) {
			return float64(s.SharedBuffersBytes), bytesText(s.SharedBuffersBytes)
		})
	}
	serverRow("tarball folder", func(s *ScaleServer) (float64, string) {
		return float64(s.TarballBytes), bytesText(s.TarballBytes)
	})
	serverRow("start-up: start to /-/ready (to /-/ping)", func(s *ScaleServer) (float64, string) {
		return float64(s.ReadyMillis), fmt.Sprintf("%d ms (%d ms)", s.ReadyMillis, s.PingMillis)
	})
	serverRow("resident memory after start-up", func(s *ScaleServer) (float64, string) {
		return float64(s.IdleRSSBytes), bytesText(s.IdleRSSBytes)
	})
	peaks := map[string]float64{}
	cells := []string{"–", "–"}
	for i, size := range ScaleSizes {
		if p := r.PeakRSS(size); p > 0 {
			peaks[size], cells[i] = float64(p), bytesText(p)
		}
	}
	fmt.Fprintf(b, "| peak resident memory under load (all scenarios; target: big ≤ 2× small) | %s | %s | %s |\n",
		cells[0], cells[1], sizeRatio(peaks))
	b.WriteString("\n")

	b.WriteString("| scenario | small req/s | big req/s | big/small | small p50 / p99 (ms) | big p50 / p99 (ms) | " +
		"peak RSS small | peak RSS big | wrk / gatehouse CPU ‡ | issue 20's target |\n" +
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|\n")
	for _, sc := range ScaleScenarios {
		loads := r.Load[sc.ID]
		small, big := loads["small"], loads["big"]
		if small == nil && big == nil {
			continue
		}
		cell := func(l *ScaleLoad, f func(*ScaleLoad) string) string {
			if l == nil {
				return "–"
			}
			return f(l)
		}
		rate := func(l *ScaleLoad) string { return thousands(l.Rate(sc.ID)) }
		lat := func(l *ScaleLoad) string {
			return millis(ms(l.Wrk.Percentiles[50])) + " / " + millis(ms(l.Wrk.Percentiles[99]))
		}
		mem := func(l *ScaleLoad) string {
			if l.Mem == nil {
				return "–"
			}
			return bytesText(l.Mem.PeakRSSBytes)
		}
		share := func(l *ScaleLoad) string {
			if x := l.WrkShare(); x > 0 {
				return fmt.Sprintf("%.2f", x)
			}
			return "–"
		}
		ratioCell, verdict := "–", "–"
		if small != nil && big != nil && small.Rate(sc.ID) > 0 {
			x := big.Rate(sc.ID) / small.Rate(sc.ID)
			ratioCell = fmt.Sprintf("%.2f", x)
			ok, want := scaleTarget(sc.ID).Meets(x, small.Wrk.Percentiles[99], big.Wrk.Percentiles[99])
			verdict = "yes (" + want + ")"
			if !ok {
				verdict = "**no** (" + want + ")"
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |\n", sc.Title, cell(small, rate),
			cell(big, rate), ratioCell, cell(small, lat), cell(big, lat), cell(small, mem), cell(big, mem),
			cell(small, share), cell(big, share), verdict)
	}
	b.WriteString("\n")
	if notes := scaleAnomalies(r); len(notes) > 0 {
		b.WriteString("Anomalies in this run:\n\n")
		for _, n := range notes {
			fmt.Fprintf(b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
}

// tableNames are the tables DBSizes lists for any size, largest (in the
// big store, else the small) first.
func tableNames(bySize map[string]*DBSizes) []string {
	var out []string
	seen := map[string]bool{}
	for _, size := range []string{"big", "small"} {
		if s := bySize[size]; s != nil {
			for _, t := range s.Tables {
				if !seen[t.Name] {
					seen[t.Name] = true
					out = append(out, t.Name)
				}
			}
		}
	}
	return out
}

// scaleAnomalies lists what makes a row doubtful: answers other than the
// scenario's, socket errors, cold tokens that ran out, a load generator
// that used much of gatehouse's CPU time.
func scaleAnomalies(r *ScaleStoreResults) []string {
	var out []string
	for _, sc := range ScaleScenarios {
		for _, size := range ScaleSizes {
			l := r.Load[sc.ID][size]
			if l == nil {
				continue
			}
			w := l.Wrk
			switch {
			case sc.Status < 300 && w.Non2xx > 0:
				out = append(out, fmt.Sprintf("%s store, %s: %s of %s answers were not 2xx/3xx",
					size, sc.Title, thousands(float64(w.Non2xx)), thousands(float64(w.Requests))))
			case sc.Status >= 300 && w.Non2xx < w.Requests:
				out = append(out, fmt.Sprintf("%s store, %s: %s of %s answers were 2xx/3xx",
					size, sc.Title, thousands(float64(w.Requests-w.Non2xx)), thousands(float64(w.Requests))))
			}
			if w.SocketErrors > 0 {
				out = append(out, fmt.Sprintf("%s store, %s: %d socket errors", size, sc.Title, w.SocketErrors))
			}
			if sc.ID == "cold" && l.ColdRate == 0 {
				out = append(out, fmt.Sprintf("%s store, %s: no timed rate (was wrk run with bench/scale.lua?)",
					size, sc.Title))
			}
			if x := l.WrkShare(); x > loadGeneratorShare {
				out = append(out, fmt.Sprintf("%s store, %s: wrk used %.2f× gatehouse's CPU time: the load generator may limit the run",
					size, sc.Title, x))
			}
		}
	}
	return out
}

// sizeRow writes a row of the store table: f's cell for each store that has
// a value in bySize (a dash for one that has none), and big/small of f's
// numbers.
func sizeRow[T any](b *strings.Builder, title string, bySize map[string]*T, f func(*T) (float64, string)) {
	cells := make([]string, 0, len(ScaleSizes))
	vals := map[string]float64{}
	for _, size := range ScaleSizes {
		x := bySize[size]
		if x == nil {
			cells = append(cells, "–")
			continue
		}
		v, c := f(x)
		vals[size] = v
		cells = append(cells, c)
	}
	fmt.Fprintf(b, "| %s | %s | %s | %s |\n", title, cells[0], cells[1], sizeRatio(vals))
}

// sizeRatio is big/small, or a dash when either is missing or zero.
func sizeRatio(vals map[string]float64) string {
	s, okS := vals["small"]
	g, okB := vals["big"]
	if !okS || !okB || s == 0 {
		return "–"
	}
	x := g / s
	if x >= 10 {
		return fmt.Sprintf("%s×", thousands(x))
	}
	return fmt.Sprintf("%.2f×", x)
}

// bytesText prints a size in KiB, MiB or GiB with one decimal.
func bytesText(n int64) string {
	v := float64(n)
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.1f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%d B", int64(math.Round(v)))
}

// scaleReportCommand reads bench/scale.sh's results folder, prints the
// Markdown report and, with -docs, puts it into that file's scale section.
func scaleReportCommand(args []string, stdout, stderr io.Writer) error {
	return runReport("scalereport", "bench/scale.sh", args, stdout, stderr, func(dir string, date time.Time, m Machine) (string, error) {
		r, err := LoadScaleResults(dir)
		if err != nil {
			return "", err
		}
		r.Date, r.Machine = date, m
		return RenderScale(r), nil
	}, ReplaceScaleSection)
}
