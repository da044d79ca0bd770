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

// ScaleScenarios are bench/scale.sh's load scenarios, in table order.
var ScaleScenarios = []Scenario{
	{"abbreviated", "abbreviated packument", 200},
	{"full", "full packument", 200},
	{"tarball", "tarball", 200},
	{"notfound", "404", 404},
	{"cold", "cold tokens (abbreviated) †", 200},
}

// scaleTolerance is how far below the small store's requests/s the big
// store's may fall and still count as holding up (the 20%).
const scaleTolerance = 0.20

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
	Seed               map[string]*ScaleState
	Server             map[string]*ScaleServer
	// Load is indexed by scenario ID, then size.
	Load map[string]map[string]*ScaleLoad
}

// LoadScaleResults reads a results folder as bench/scale.sh leaves it; the
// files of a store that was not measured are simply absent.
func LoadScaleResults(dir string) (*ScaleResults, error) {
	r := &ScaleResults{Seed: map[string]*ScaleState{}, Server: map[string]*ScaleServer{},
		Load: map[string]map[string]*ScaleLoad{}}
	var err error
	if r.Versions, r.Settings, err = readHeader(dir); err != nil {
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
			r.Load[sc.ID][size] = l
		}
	}
	return r, nil
}

// PeakRSS is the highest peak resident memory of gatehouse on store size
// over the scenarios, 0 when none was watched.
func (r *ScaleResults) PeakRSS(size string) int64 {
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

// RenderScale writes the run's figures as Markdown: the stores, start-up
// and memory, then the load table with big/small ratios, and what fell
// outside the 20%.
func RenderScale(r *ScaleResults) string {
	var b strings.Builder
	writeHeader(&b, r.Date, r.Machine, r.Versions, r.Settings)

	b.WriteString("| store | small | big | big/small |\n|---|---:|---:|---:|\n")
	seedRow := func(title string, f func(*ScaleState) (float64, string)) { sizeRow(&b, title, r.Seed, f) }
	serverRow := func(title string, f func(*ScaleServer) (float64, string)) { sizeRow(&b, title, r.Server, f) }
	seedRow("packages × versions", func(s *ScaleState) (float64, string) {
		return float64(s.Packages), thousands(float64(s.Packages)) + " × " + strconv.Itoa(s.Versions)
	})
	seedRow("users", func(s *ScaleState) (float64, string) { return float64(s.Users), thousands(float64(s.Users)) })
	seedRow("tokens", func(s *ScaleState) (float64, string) { return float64(s.Tokens), thousands(float64(s.Tokens)) })
	seedRow("seeding time (packages + tokens)", func(s *ScaleState) (float64, string) {
		return s.Seconds, fmt.Sprintf("%.1f s (%.1f + %.1f)", s.Seconds, s.PackageSeconds, s.TokenSeconds)
	})
	serverRow("database file (+ WAL)", func(s *ScaleServer) (float64, string) {
		return float64(s.DBBytes + s.WALBytes), bytesText(s.DBBytes + s.WALBytes)
	})
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
	fmt.Fprintf(&b, "| peak resident memory under load (all scenarios) | %s | %s | %s |\n", cells[0], cells[1], sizeRatio(peaks))
	b.WriteString("\n")

	b.WriteString("| scenario | small req/s | big req/s | big/small | small p50 / p99 (ms) | big p50 / p99 (ms) | " +
		"peak RSS small | peak RSS big | within 20% |\n|---|---:|---:|---:|---:|---:|---:|---:|:---:|\n")
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
		ratioCell, verdict := "–", "–"
		if small != nil && big != nil && small.Rate(sc.ID) > 0 {
			x := big.Rate(sc.ID) / small.Rate(sc.ID)
			ratioCell = fmt.Sprintf("%.2f", x)
			verdict = "yes"
			if x < 1-scaleTolerance {
				verdict = "**no**"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sc.Title, cell(small, rate), cell(big, rate),
			ratioCell, cell(small, lat), cell(big, lat), cell(small, mem), cell(big, mem), verdict)
	}
	b.WriteString("\n† Every request brings a token no request has used before (so it is looked up in the database " +
		"and its last use recorded); a wrk thread stops once its fresh tokens are answered, so requests/s is " +
		"the rate of those requests as bench/scale.lua timed them, not wrk's figure.\n\n")
	if notes := scaleAnomalies(r); len(notes) > 0 {
		b.WriteString("Anomalies in this run:\n\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// scaleAnomalies lists what makes a row doubtful: answers other than the
// scenario's, socket errors, cold tokens that ran out.
func scaleAnomalies(r *ScaleResults) []string {
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
