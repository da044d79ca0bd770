package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// proxiedPackumentBody is a packument as an uplink sends it, of n
// versions, each with a README of readme bytes (0 for the abbreviated
// form, which has none).
func proxiedPackumentBody(name string, n, readme int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"name":%q,"modified":"2026-01-02T03:04:05.000Z","dist-tags":{"latest":"1.0.%d"},"versions":{`, name, n-1)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		v := fmt.Sprintf("1.0.%d", i)
		fmt.Fprintf(&b, `%q:{"name":%q,"version":%q,"dependencies":{"dep-one":"^1.0.0","dep-two":"^1.0.0"},`, v, name, v)
		if readme > 0 {
			fmt.Fprintf(&b, `"readme":%q,`, strings.Repeat("x", readme))
		}
		fmt.Fprintf(&b, `"dist":{"integrity":"sha512-%s==","shasum":"%040d","tarball":"http://127.0.0.1:1/%s/-/%s-%s.tgz"}}`,
			strings.Repeat("A", 86), i, name, name, v)
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

// BenchmarkPackumentFor is what a request for a proxied tarball not cached
// yet costs to find its version's dist in the package's packument: from
// the packument as parsed and kept in memory when it was served (kept),
// against reading the stored document and parsing it again, as every such
// request did before (stored). An npm install through a cold proxy makes
// one per package, right after the packument's request.
func BenchmarkPackumentFor(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	blobs, err := blob.OpenFolder(filepath.Join(dir, "tarballs"))
	if err != nil {
		b.Fatal(err)
	}
	defer blobs.Close()
	feed := store.NewFeed(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer feed.Close()
	spec := uplink.NewSpec("up", "http://127.0.0.1:1")
	spec.Offline = true // nothing is fetched: every packument is in the store
	u, err := uplink.New(spec, uplink.Secrets{Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	set, err := uplink.NewSet(u)
	if err != nil {
		b.Fatal(err)
	}
	s := NewService(st, blobs, noOTP{}, feed, time.Now, nil, nil)
	s.UseUplinks(UplinkOptions{Uplinks: set}, feed)
	defer s.Close()
	x := s.proxy
	for _, c := range []struct {
		name             string
		versions, readme int
	}{
		{"abbreviated-10", 10, 0}, // bench/uplink.sh's install: 200 packages like this one
		{"abbreviated-100", 100, 0},
		{"full-100", 100, 4096},
	} {
		kind := store.DocumentAbbreviated
		if c.readme > 0 {
			kind = store.DocumentFull
		}
		body := proxiedPackumentBody(c.name, c.versions, c.readme)
		now := time.Now().UnixMilli()
		if err := st.Q().SaveUplinkDocument(ctx, store.UplinkDocument{Name: c.name, Kind: kind, Uplink: "up", Body: body,
			FetchedAt: now, ChangedAt: now}); err != nil {
			b.Fatal(err)
		}
		version := fmt.Sprintf("1.0.%d", c.versions/2)
		for _, kept := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/kept=%v", c.name, kept), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !kept {
						x.mem.forget(c.name)
					}
					p, err := x.packumentFor(ctx, u, c.name, version)
					if err != nil {
						b.Fatal(err)
					}
					if _, ok := p.Dist(version); !ok {
						b.Fatalf("no dist for %s@%s", c.name, version)
					}
				}
			})
		}
	}
}
