package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestZipfCDF(t *testing.T) {
	cases := []struct {
		name string
		n    int
		s    float64
		want []float64
	}{
		{"one rank", 1, 1, []float64{1}},
		{"uniform (s=0)", 4, 0, []float64{0.25, 0.5, 0.75, 1}},
		// 1, 1/2, 1/3: sum 11/6.
		{"s=1", 3, 1, []float64{6.0 / 11, 9.0 / 11, 1}},
		// 1, 1/4: sum 5/4.
		{"s=2", 2, 2, []float64{0.8, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ZipfCDF(tc.n, tc.s)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ZipfCDF(%d, %v) has %d ranks", tc.n, tc.s, len(got))
			}
			for k := range got {
				if math.Abs(got[k]-tc.want[k]) > 1e-12 {
					t.Errorf("ZipfCDF(%d, %v)[%d] = %v, want %v", tc.n, tc.s, k, got[k], tc.want[k])
				}
			}
		})
	}
	for _, bad := range []struct {
		n int
		s float64
	}{{0, 1}, {10, -0.5}, {10, math.NaN()}, {10, math.Inf(1)}, {10, 11}} {
		if _, err := ZipfCDF(bad.n, bad.s); err == nil {
			t.Errorf("ZipfCDF(%d, %v) was accepted", bad.n, bad.s)
		}
	}
}

// TestZipfCDFLarge checks the shape on the big store's size: rising, ending
// at exactly 1, and the weight of rank k over rank 2k being 2^s.
func TestZipfCDFLarge(t *testing.T) {
	const n, s = 100_000, 1.0
	cdf, err := ZipfCDF(n, s)
	if err != nil {
		t.Fatal(err)
	}
	if cdf[n-1] != 1 {
		t.Errorf("the last rank's CDF is %v, not 1", cdf[n-1])
	}
	for k := 1; k < n; k++ {
		if cdf[k] <= cdf[k-1] {
			t.Fatalf("the CDF does not rise at rank %d: %v then %v", k, cdf[k-1], cdf[k])
		}
	}
	weight := func(k int) float64 { return cdf[k] - cdf[k-1] } // rank k+1's probability
	for _, k := range []int{1, 10, 1000} {
		if r := weight(k) / weight(2*k+1); math.Abs(r-math.Pow(2, s)) > 1e-6 {
			t.Errorf("rank %d over rank %d = %v, want %v", k+1, 2*k+2, r, math.Pow(2, s))
		}
	}
	// With s = 1 over 100,000 names, the top 1% of packages draw about
	// 60% of the reads (H(1000)/H(100000) = 7.485/12.090).
	if top := cdf[999]; math.Abs(top-0.6191) > 0.001 {
		t.Errorf("the 1,000 most popular draw %.4f of the reads, want about 0.6191", top)
	}
}

func TestZipfRank(t *testing.T) {
	cdf := []float64{0.5, 0.75, 0.9, 1}
	cases := []struct {
		u    float64
		want int
	}{{0, 0}, {0.49, 0}, {0.5, 1}, {0.74, 1}, {0.75, 2}, {0.899, 2}, {0.9, 3}, {0.999999, 3}}
	for _, tc := range cases {
		if got := ZipfRank(cdf, tc.u); got != tc.want {
			t.Errorf("ZipfRank(%v) = %d, want %d", tc.u, got, tc.want)
		}
	}
	// Drawn uniformly, the ranks come out in the law's proportions.
	big, err := ZipfCDF(1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	const draws = 200_000
	counts := make([]int, len(big))
	for i := range draws {
		counts[ZipfRank(big, (float64(i)+0.5)/draws)]++
	}
	for _, k := range []int{0, 1, 9} {
		want := big[k]
		if k > 0 {
			want -= big[k-1]
		}
		if got := float64(counts[k]) / draws; math.Abs(got-want) > 0.001 {
			t.Errorf("rank %d drew %.4f of the time, want %.4f", k, got, want)
		}
	}
}

func TestPopularityOrder(t *testing.T) {
	const n = 1000
	a, b := PopularityOrder(n, 1), PopularityOrder(n, 1)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed gave two orders")
	}
	sorted := slices.Clone(a)
	slices.Sort(sorted)
	for i, v := range sorted {
		if v != i {
			t.Fatalf("not a permutation of 0..%d: %v at %d", n-1, v, i)
		}
	}
	// The popular packages are not the first seeded.
	if inFirst := len(slices.DeleteFunc(slices.Clone(a[:10]), func(i int) bool { return i >= 10 })); inFirst > 2 {
		t.Errorf("%d of the 10 most popular are among the first 10 seeded: %v", inFirst, a[:10])
	}
	if slices.Equal(a, PopularityOrder(n, 2)) {
		t.Error("another seed gave the same order")
	}
}

func TestZipfCommand(t *testing.T) {
	dir := t.TempDir()
	var names, tarballs strings.Builder
	for i := range 5 {
		names.WriteString("/p" + strconv.Itoa(i) + "\n")
		tarballs.WriteString("/p" + strconv.Itoa(i) + "/-/p" + strconv.Itoa(i) + "-1.0.0.tgz\n")
	}
	writeResult(t, dir, "packages.txt", names.String())
	writeResult(t, dir, "tarballs.txt", tarballs.String())
	var stderr strings.Builder
	if err := zipfCommand([]string{"-lists", dir, "-s", "1", "-seed", "7"}, &stderr); err != nil {
		t.Fatalf("zipf: %v (%s)", err, stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(dir, "zipf.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	cdf, _ := ZipfCDF(5, 1)
	order := PopularityOrder(5, 7)
	if len(lines) != 5 {
		t.Fatalf("zipf.txt has %d lines, want 5:\n%s", len(lines), data)
	}
	for rank, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("line %q: want CDF, package and tarball", line)
		}
		p, err := strconv.ParseFloat(f[0], 64)
		if err != nil || p != cdf[rank] {
			t.Errorf("rank %d: CDF %q, want %v", rank, f[0], cdf[rank])
		}
		i := strconv.Itoa(order[rank])
		if f[1] != "/p"+i || f[2] != "/p"+i+"/-/p"+i+"-1.0.0.tgz" {
			t.Errorf("rank %d: %s %s, want package %s and its tarball", rank, f[1], f[2], i)
		}
	}

	writeResult(t, dir, "tarballs.txt", "/p0/-/p0-1.0.0.tgz\n")
	if err := zipfCommand([]string{"-lists", dir}, &stderr); err == nil {
		t.Error("lists of different lengths were accepted")
	}
	if err := zipfCommand([]string{"-lists", dir, "-s", "-1"}, &stderr); err == nil {
		t.Error("a negative exponent was accepted")
	}
}
