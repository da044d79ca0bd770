package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// PublishResult is the latency of a series of publishes.
type PublishResult struct {
	Count        int     `json:"count"`
	TarballBytes int     `json:"tarball_bytes"`
	BodyBytes    int     `json:"body_bytes"`
	P50ms        float64 `json:"p50_ms"`
	P90ms        float64 `json:"p90_ms"`
	P99ms        float64 `json:"p99_ms"`
	MeanMs       float64 `json:"mean_ms"`
	MaxMs        float64 `json:"max_ms"`
	Seconds      float64 `json:"seconds"`
}

// publishCommand times publishes of a package of about -size bytes, one at
// a time, and writes their latency percentiles.
func publishCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	registry := fs.String("registry", "", "registry URL (required)")
	token := fs.String("token", "", "token that may publish (required)")
	count := fs.Int("count", 300, "number of publishes")
	size := fs.Int("size", 10*1024, "tarball size in bytes")
	packages := fs.Int("packages", 10, "packages the publishes go to, in turn (each gets count/packages versions)")
	prefix := fs.String("prefix", "pub", "package name prefix")
	out := fs.String("out", "", "file to write the result JSON to (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *registry == "" || *token == "" {
		return errors.New("publish: -registry and -token are required")
	}
	if *count < 1 || *packages < 1 || *size < 1 || *count/(*packages) > maxVersions {
		return fmt.Errorf("publish: count, packages and size must be positive, with at most %d versions a package", maxVersions)
	}
	cl := NewClient(*registry)
	type job struct {
		name string
		body []byte
	}
	jobs := make([]job, *count)
	res := PublishResult{Count: *count}
	for n := range jobs {
		p, k := n%*packages, n / *packages
		r, err := SizedRelease(fmt.Sprintf("%s-%04d", *prefix, p), VersionString(k), *size, uint64(n))
		if err != nil {
			return err
		}
		body, err := r.PublishBody(cl.Base)
		if err != nil {
			return err
		}
		jobs[n] = job{r.Name, body}
		res.TarballBytes, res.BodyBytes = len(r.Tarball), len(body)
	}
	lat := make([]time.Duration, 0, len(jobs))
	start := time.Now()
	for _, j := range jobs {
		t := time.Now()
		if err := cl.PublishRaw(ctx, *token, j.name, j.body); err != nil {
			return fmt.Errorf("publish: after %d publishes: %w", len(lat), err)
		}
		lat = append(lat, time.Since(t))
	}
	res.Seconds = time.Since(start).Seconds()
	ms := func(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }
	res.P50ms, res.P90ms, res.P99ms = ms(Percentile(lat, 50)), ms(Percentile(lat, 90)), ms(Percentile(lat, 99))
	res.MaxMs = ms(slices.Max(lat))
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	res.MeanMs = ms(sum / time.Duration(len(lat)))
	fmt.Fprintf(stderr, "publish %s: %d publishes of %d bytes: p50 %.2f ms, p99 %.2f ms\n",
		cl.Base, res.Count, res.TarballBytes, res.P50ms, res.P99ms)
	return writeJSON(*out, stdout, res)
}

// Percentile is the nearest-rank p-th percentile of ds (0 for none); ds is
// not modified.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}
