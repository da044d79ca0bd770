package registry

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// TestProxyMemory: entries are kept per package, dropped by name without
// touching others, counted in bytes within the bound, and not kept when
// read under a generation that has since changed.
func TestProxyMemory(t *testing.T) {
	m := newProxyMemory(1 << 20)
	doc := func(body string) *proxyDoc {
		return &proxyDoc{uplink: "up", kind: store.DocumentFull, doc: Document{Body: []byte(body)}}
	}
	gen := m.generation()
	for _, name := range []string{"a", "b"} {
		m.putDoc(proxyDocKey{name: name, base: "http://x"}, doc(`{"name":"`+name+`"}`), gen)
		m.putTarball(store.UplinkTarball{Name: name, Version: "1.0.0", BlobKey: "k-" + name}, gen)
	}
	if m.doc(proxyDocKey{name: "a", base: "http://x"}) == nil || m.doc(proxyDocKey{name: "a", base: "http://y"}) != nil {
		t.Fatal("a packument is kept per base URL")
	}
	full := m.bytes
	m.forget("a")
	if m.doc(proxyDocKey{name: "a", base: "http://x"}) != nil {
		t.Error("a's packument survived forget(a)")
	}
	if _, ok := m.tarball(tarballKey{"a", "1.0.0"}); ok {
		t.Error("a's tarball survived forget(a)")
	}
	if m.doc(proxyDocKey{name: "b", base: "http://x"}) == nil {
		t.Error("b's packument went with a's")
	}
	if _, ok := m.tarball(tarballKey{"b", "1.0.0"}); !ok {
		t.Error("b's tarball went with a's")
	}
	if m.bytes <= 0 || m.bytes >= full {
		t.Errorf("bytes %d after forgetting one of two packages of %d", m.bytes, full)
	}
	// Read before the forget: not kept.
	m.putDoc(proxyDocKey{name: "a", base: "http://x"}, doc(`{}`), gen)
	if m.doc(proxyDocKey{name: "a", base: "http://x"}) != nil {
		t.Error("an entry read under an old generation was kept")
	}
	// touch refreshes the kind fetched, leaving the entry as readers hold it.
	held := m.doc(proxyDocKey{name: "b", base: "http://x"})
	now := time.Unix(1000, 0)
	m.touch("b", store.DocumentFull, now)
	if got := m.doc(proxyDocKey{name: "b", base: "http://x"}); !got.fetchedAt.Equal(now) || !held.fetchedAt.IsZero() {
		t.Errorf("touch: kept %v, held %v", got.fetchedAt, held.fetchedAt)
	}
	m.forgetAll()
	if m.bytes != 0 || len(m.names) != 0 {
		t.Errorf("after forgetAll: %d bytes, %d names", m.bytes, len(m.names))
	}

	// Many packages stay within the bound.
	small := newProxyMemory(64 << 10)
	gen = small.generation()
	for i := range 2000 {
		name := fmt.Sprintf("pkg-%d", i)
		small.putDoc(proxyDocKey{name: name}, doc(fmt.Sprintf(`{"name":%q,"pad":"%0200d"}`, name, 0)), gen)
		small.putTarball(store.UplinkTarball{Name: name, Version: "1.0.0"}, gen)
		if small.bytes > small.maxBytes {
			t.Fatalf("after %d packages: %d bytes over the %d bound", i+1, small.bytes, small.maxBytes)
		}
	}
	sum := 0
	for _, e := range small.names {
		sum += e.cost
	}
	if sum != small.bytes {
		t.Errorf("bytes %d, entries cost %d", small.bytes, sum)
	}
}

// changeList is a store.Changes whose changes the test sends by hand.
type changeList struct{ fn func(store.Change) }

func (c *changeList) Subscribe(fn func(store.Change)) func() {
	c.fn = fn
	return func() { c.fn = nil }
}

// TestProxyMemoryFollow: the memory drops a package on another process's
// change of it, a scope's packages on a scope taken (here or elsewhere),
// everything on a change that names nothing; and keeps what it holds on
// its own node's change of one package, which the node applied when it
// wrote it.
func TestProxyMemoryFollow(t *testing.T) {
	names := []string{"express", "@types/node", "left-pad"}
	tests := []struct {
		name   string
		change store.Change
		kept   []string
	}{
		{"another node's change of a package", store.Change{Kind: store.UplinkChanged, Key: "express"}, []string{"@types/node", "left-pad"}},
		{"this node's change of a package", store.Change{Kind: store.UplinkChanged, Key: "express", Own: true}, names},
		{"a scope taken elsewhere", store.ScopeTaken("types"), []string{"express", "left-pad"}},
		{"a scope taken here", store.Change{Kind: store.UplinkChanged, Key: "@types/", Own: true}, []string{"express", "left-pad"}},
		{"another node's change, unnamed", store.Change{Kind: store.UplinkChanged}, nil},
		{"changes maybe missed", store.Change{Kind: store.AnyChange}, nil},
		{"a local package's change", store.Change{Kind: store.PackageChanged, Key: "express"}, names},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newProxyMemory(1 << 20)
			var feed changeList
			defer m.follow(&feed)()
			gen := m.generation()
			for _, name := range names {
				m.putDoc(proxyDocKey{name: name}, &proxyDoc{doc: Document{Body: []byte(`{}`)}}, gen)
			}
			feed.fn(tt.change)
			var kept []string
			for _, name := range names {
				if m.doc(proxyDocKey{name: name}) != nil {
					kept = append(kept, name)
				}
			}
			if fmt.Sprint(kept) != fmt.Sprint(tt.kept) {
				t.Errorf("kept %v, want %v", kept, tt.kept)
			}
		})
	}
}

// TestProxyMemoryParsed: a parsed packument is kept per name and kind,
// counted within the bound, refreshed by touch without changing what
// readers hold, dropped with its name, and not kept when read under a
// generation that has since changed.
func TestProxyMemoryParsed(t *testing.T) {
	m := newProxyMemory(1 << 20)
	p, err := uplink.Parse([]byte(`{"name":"a","versions":{"1.0.0":{"name":"a","version":"1.0.0","dist":{"shasum":"`+
		strings.Repeat("0", 40)+`"}}}}`), "a")
	if err != nil {
		t.Fatal(err)
	}
	gen := m.generation()
	m.putParsed("a", store.DocumentAbbreviated, &parsedDoc{uplink: "up", p: p, fetchedAt: 1}, 100, gen)
	held := m.parsed("a", store.DocumentAbbreviated)
	if held == nil || held.p != p || m.parsed("a", store.DocumentFull) != nil {
		t.Fatalf("kept per name and kind: %+v", held)
	}
	if m.bytes != held.cost || held.cost < 100 {
		t.Errorf("bytes %d, cost %d, for a body of 100", m.bytes, held.cost)
	}
	m.touch("a", store.DocumentAbbreviated, time.UnixMilli(5000))
	if got := m.parsed("a", store.DocumentAbbreviated); got.fetchedAt != 5000 || held.fetchedAt != 1 || got.p != p {
		t.Errorf("touch: kept %d, held %d", got.fetchedAt, held.fetchedAt)
	}
	m.forget("a")
	if m.parsed("a", store.DocumentAbbreviated) != nil || m.bytes != 0 {
		t.Errorf("after forget: %v, %d bytes", m.parsed("a", store.DocumentAbbreviated), m.bytes)
	}
	m.putParsed("a", store.DocumentAbbreviated, &parsedDoc{uplink: "up", p: p}, 100, gen)
	if m.parsed("a", store.DocumentAbbreviated) != nil {
		t.Error("a parsed packument read under an old generation was kept")
	}
	// One document may not take more than a quarter of the bound.
	m.putParsed("a", store.DocumentAbbreviated, &parsedDoc{uplink: "up", p: p}, 1<<19, m.generation())
	if m.parsed("a", store.DocumentAbbreviated) != nil {
		t.Error("a parsed packument of half the bound was kept")
	}
}
