package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The skewed load of bench/scale.sh: real installs follow popularity, and
// a Zipf law fits package popularity well (the k-th most popular package
// is read in proportion to 1/k^s, s near 1). `seed zipf` writes, for
// bench/scale.lua, every package in order of popularity with the
// cumulative probability of the ranks up to it; the wrk script draws a
// uniform number per request and finds its rank by binary search.

// ZipfCDF is the cumulative distribution of a Zipf law over n ranks with
// exponent s: element k-1 is the probability that a draw falls on one of
// the k most popular ranks, so it rises to exactly 1 at the last.
func ZipfCDF(n int, s float64) ([]float64, error) {
	if n < 1 {
		return nil, fmt.Errorf("zipf: want at least 1 rank, not %d", n)
	}
	if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 || s > 10 {
		return nil, fmt.Errorf("zipf: exponent %v: want a number from 0 to 10", s)
	}
	cdf := make([]float64, n)
	sum := 0.0
	for k := range n {
		sum += math.Pow(float64(k+1), -s)
		cdf[k] = sum
	}
	for k := range cdf {
		cdf[k] /= sum
	}
	cdf[n-1] = 1
	return cdf, nil
}

// ZipfRank is the rank (0 for the most popular) a uniform draw u in [0, 1)
// falls on: the first whose cumulative probability exceeds u. It is the
// binary search bench/scale.lua does, kept here so that tests pin it.
func ZipfRank(cdf []float64, u float64) int {
	lo, hi := 0, len(cdf)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if cdf[mid] > u {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// zipfShuffleStream is the PCG stream of the popularity shuffle: with the
// seed, it fixes which package is the most popular in every run.
const zipfShuffleStream = 0x21bf

// PopularityOrder is the seeded packages' indexes in order of popularity,
// most popular first: a permutation of 0..n-1 fixed by seed, so that the
// popular packages are not simply the first seeded (whose rows sit
// together at the start of the database) and every run draws the same.
func PopularityOrder(n int, seed uint64) []int {
	return rand.New(rand.NewPCG(seed, zipfShuffleStream)).Perm(n)
}

// zipfCommand reads packages.txt and tarballs.txt of a -lists folder (line
// i of each is package i) and writes zipf.txt beside them: one line per
// package in order of popularity, "CDF<TAB>package path<TAB>tarball path".
func zipfCommand(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("zipf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lists := fs.String("lists", "", "folder of seed scale's lists (required)")
	s := fs.Float64("s", 1.0, "exponent of the Zipf law")
	seed := fs.Uint64("seed", 1, "seed of the popularity order")
	out := fs.String("out", "", "file to write (default: zipf.txt in -lists)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *lists == "" {
		return errors.New("zipf: -lists is required")
	}
	if *out == "" {
		*out = filepath.Join(*lists, "zipf.txt")
	}
	names, err := readLines(filepath.Join(*lists, "packages.txt"))
	if err != nil {
		return fmt.Errorf("zipf: %w", err)
	}
	tarballs, err := readLines(filepath.Join(*lists, "tarballs.txt"))
	if err != nil {
		return fmt.Errorf("zipf: %w", err)
	}
	if len(names) != len(tarballs) {
		return fmt.Errorf("zipf: %d packages but %d tarballs", len(names), len(tarballs))
	}
	cdf, err := ZipfCDF(len(names), *s)
	if err != nil {
		return err
	}
	var b strings.Builder
	for rank, i := range PopularityOrder(len(names), *seed) {
		b.WriteString(strconv.FormatFloat(cdf[rank], 'g', 17, 64))
		b.WriteString("\t" + names[i] + "\t" + tarballs[i] + "\n")
	}
	if err := os.WriteFile(*out, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("zipf: %w", err)
	}
	return nil
}

// readLines reads a file's lines, spaces around each trimmed, the empty
// ones left out.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return out, nil
}
