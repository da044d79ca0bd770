package server

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// settleFeed waits until tr's change feed has delivered everything
// committed so far to every subscriber: it publishes a marker change and
// waits for it (changes come one at a time, in commit order), again every
// quarter of a second while none arrives (a feed that is not listening yet
// hears nothing of what is committed meanwhile).
func settleFeed(t *testing.T, tr *testRegistry) {
	t.Helper()
	seen := make(chan struct{}, 1)
	cancel := tr.srv.feed.Subscribe(func(c store.Change) {
		// On SQLite another process's change names no key: any
		// PackageChanged after the marker's commit is as good.
		if c.Kind == store.PackageChanged {
			select {
			case seen <- struct{}{}:
			default:
			}
		}
	})
	defer cancel()
	deadline := time.After(10 * time.Second)
	for {
		if err := tr.srv.store.InTx(t.Context(), func(q store.Queries) error {
			return q.Publish(t.Context(), store.Change{Kind: store.PackageChanged, Key: "settle-feed-marker"})
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-seen:
			return
		case <-time.After(250 * time.Millisecond):
		case <-deadline:
			t.Fatal("the change feed delivered nothing within 10s")
		}
	}
}

// TestUplinkOwnFetchKept: a node keeps in memory the packument it has just
// fetched from an uplink: its own change on the feed does not evict it, so
// the second read is a hit and the uplink is asked once. Another node's
// fetch of a newer document still reaches it. On SQLite (the feed polls
// counters) and on PostgreSQL (LISTEN/NOTIFY).
func TestUplinkOwnFetchKept(t *testing.T) {
	backends := []struct {
		name     string
		database func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string {
			u, _ := pgtest.NewDatabase(t, pgtest.AdminURL(t, "uplinks on PostgreSQL"), "gatehouse_uplinks")
			return u
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dbURL := b.database(t)
			up := startUpstream(t)
			up.publish("express", "4.18.2")
			a := proxyTo(t, up.url, func(s *uplink.Spec, c *config.Config) {
				s.MaxAge = time.Hour
				if dbURL != "" {
					c.Database = dbURL
				}
			})
			metricsURL := testkit.Serve(t, a.srv.metricsHandler())
			settleFeed(t, a) // the feed listens
			lookups := func(result string) float64 {
				return testkit.Scrape(t, metricsURL+"/metrics").Sum("gatehouse_cache_requests_total",
					"cache", "uplink_packument", "result", result)
			}

			if v, _ := latestOf(t, a, "express"); v != "4.18.2" {
				t.Fatalf("first read: latest %q", v)
			}
			// The fetch's own change has reached every subscriber of a's
			// feed, the proxy's memory among them.
			settleFeed(t, a)
			if v, _ := latestOf(t, a, "express"); v != "4.18.2" {
				t.Fatalf("second read: latest %q", v)
			}
			if n := up.log.count("/express"); n != 1 {
				t.Errorf("two reads asked the uplink %d times, want 1 (%v)", n, up.log.all())
			}
			if miss, hit := lookups("miss"), lookups("hit"); miss != 1 || hit != 1 {
				t.Errorf("two reads: %v misses and %v hits of the proxied packuments in memory, want 1 and 1", miss, hit)
			}

			// Another node revalidates at once (max age 0) and stores a
			// newer document: a, whose copy is fresh for an hour, drops it.
			bcfg := configOf(a)
			bcfg.Uplinks = []uplink.Spec{uplink.NewSpec("up", up.url)}
			bcfg.Uplinks[0].MaxAge = 0
			other := openRegistry(t, bcfg, quietLogger())
			up.publish("express", "5.0.0")
			waitFor(t, 5*time.Second, "the new version on the other node", func() bool {
				v, _ := latestOf(t, other, "express")
				return v == "5.0.0"
			})
			waitFor(t, 5*time.Second, "the new version on node a", func() bool {
				v, _ := latestOf(t, a, "express")
				return v == "5.0.0"
			})
		})
	}
}

// TestUplinkOrigin: a proxied packument says where it came from, the data
// of the website's package page: the uplink's name and URL, and when the
// copy served was fetched or last revalidated, which a revalidation moves
// on; a local package's says nothing of an uplink.
func TestUplinkOrigin(t *testing.T) {
	up := startUpstream(t)
	up.publish("express", "4.18.2")
	proxy := proxyTo(t, up.url, func(s *uplink.Spec, _ *config.Config) { s.MaxAge = 0 })
	alice := proxy.user("alice")
	if res := proxy.do("PUT", "/local-one", alice, publishBody(t, "local-one", "1.0.0")); res.status != 201 {
		t.Fatalf("publish local-one: %d %s", res.status, res.body)
	}
	reg := proxy.srv.Registry
	anonymous := &auth.Principal{}

	before := time.Now()
	doc, err := reg.Packument(t.Context(), anonymous, "express", false, "")
	if err != nil {
		t.Fatal(err)
	}
	o := doc.Origin
	if o == nil || o.Uplink != "up" || o.URL != up.url || o.FetchedAt.Before(before.Truncate(time.Millisecond)) || o.FetchedAt.After(time.Now()) {
		t.Fatalf("origin of express: %+v, want uplink up at %s fetched since %v", o, up.url, before)
	}
	first := o.FetchedAt
	// Max age 0: every read revalidates in the background (a 304), and a
	// later read serves the copy with its new time.
	waitFor(t, 5*time.Second, "a revalidated copy of express", func() bool {
		d, err := reg.Packument(t.Context(), anonymous, "express", false, "")
		return err == nil && d.Origin != nil && d.Origin.FetchedAt.After(first)
	})
	if n := up.log.count("/express"); n < 2 {
		t.Errorf("the upstream was asked %d times about express, want a fetch and a revalidation", n)
	}

	doc, err = reg.Packument(t.Context(), anonymous, "local-one", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if doc.Origin != nil {
		t.Errorf("a local package's origin: %+v", doc.Origin)
	}
}

// TestUplinkTarballParsedOnce: the tarball requests that follow a proxied
// packument's find their versions in the packument as parsed when it was
// fetched, not by parsing the stored document again; what they serve is
// byte for byte the upstream's. A new version fetched later (another
// packument, parsed anew) is found as well, and the packument served is
// byte for byte the one a fresh node renders from the store.
func TestUplinkTarballParsedOnce(t *testing.T) {
	up := startUpstream(t)
	up.publish("left-pad", "1.0.0")
	up.publish("left-pad", "1.1.0")
	// A max age of a second: a version missing from the packument kept is
	// asked upstream once that packument is a second old.
	proxy := proxyTo(t, up.url, func(s *uplink.Spec, _ *config.Config) { s.MaxAge = time.Second })
	metricsURL := testkit.Serve(t, proxy.srv.metricsHandler())
	parsed := func(result string) float64 {
		return testkit.Scrape(t, metricsURL+"/metrics").Sum("gatehouse_cache_requests_total",
			"cache", "uplink_parsed", "result", result)
	}

	doc := proxy.do("GET", "/left-pad", "", nil, "Accept", abbreviatedAccept)
	if doc.status != 200 {
		t.Fatalf("GET /left-pad: %d %s", doc.status, doc.body)
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		path := "/left-pad/-/" + tarballFile("left-pad", v)
		got, want := proxy.do("GET", path, "", nil), up.do("GET", path, "", nil)
		if got.status != 200 || want.status != 200 || !bytes.Equal(got.body, want.body) {
			t.Fatalf("GET %s: %d, %d bytes; upstream %d, %d bytes", path, got.status, len(got.body), want.status, len(want.body))
		}
	}
	if hit, miss := parsed("hit"), parsed("miss"); hit != 2 || miss != 0 {
		t.Errorf("two cold tarballs after their packument: %v hits and %v misses of the parsed packuments, want 2 and 0", hit, miss)
	}

	// A node that starts on the same store has nothing in memory: it
	// parses the stored document once, then keeps it.
	cfg := configOf(proxy)
	cfg.Uplinks = []uplink.Spec{uplink.NewSpec("up", up.url)}
	cfg.Uplinks[0].MaxAge = time.Hour
	fresh := openRegistry(t, cfg, quietLogger())
	again := fresh.do("GET", "/left-pad", "", nil, "Accept", abbreviatedAccept)
	if again.status != 200 || !bytes.Equal(again.body, bytes.ReplaceAll(doc.body, []byte(proxy.url), []byte(fresh.url))) {
		t.Errorf("a fresh node serves another packument: %d\n%s\nwant\n%s", again.status, again.body, doc.body)
	}

	// A version published since is fetched with its packument, and found.
	up.publish("left-pad", "1.2.0")
	time.Sleep(1100 * time.Millisecond)
	path := "/left-pad/-/" + tarballFile("left-pad", "1.2.0")
	got, want := proxy.do("GET", path, "", nil), up.do("GET", path, "", nil)
	if got.status != 200 || !bytes.Equal(got.body, want.body) {
		t.Fatalf("GET %s, a version newer than the packument kept: %d, %d bytes; upstream %d bytes", path, got.status, len(got.body), len(want.body))
	}
	n := 0
	for _, e := range up.log.all() {
		if e.method == http.MethodGet && e.path == "/left-pad" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("the upstream was asked for the packument %d times, want 2 (the first read, the new version)", n)
	}
}
