package registry

import (
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// proxyMemory keeps in memory what the hot reads of proxied packages need,
// so that a cached proxied packument or tarball costs no database query,
// like a local one: the packuments as served (rendered, base URL filled
// in), the cached tarballs' records, the names an uplink said it does not
// have (for a while), and the revalidations that failed (for a while).
//
// Entries are dropped by name when what is stored of that name changes,
// here or on another node (the change feed's UplinkChanged), and all of
// them when changes may have been missed.
type proxyMemory struct {
	mu sync.Mutex
	// names holds what is kept of each package, so that dropping one
	// package costs what it holds, not what the whole cache holds.
	names map[string]*proxyEntries
	// misses holds until when an uplink's 404 for a name is believed.
	misses map[string]time.Time
	// failures holds the last failed revalidation of a packument.
	failures map[storedKey]failure
	// refreshing holds the packuments being revalidated in the background.
	refreshing map[storedKey]bool
	bytes      int
	maxBytes   int
	// gen grows whenever entries are dropped: an entry read from the store
	// under an older generation may predate the change that dropped it,
	// so it is not kept.
	gen uint64
}

// proxyEntries is what is kept of one package: its packuments as served
// and its cached tarballs' records, and what they cost together.
type proxyEntries struct {
	docs     map[proxyDocKey]*proxyDoc
	tarballs map[string]store.UplinkTarball // by version
	// parsed holds the stored packuments as parsed, by stored kind, so
	// that a tarball request finds its version's dist without parsing
	// the stored document again.
	parsed map[string]*parsedDoc
	cost   int
}

// parsedDoc is a stored packument as parsed: which uplink sent it, when it
// last sent or confirmed it, and what keeping it costs. p is never changed
// once kept: readers share it.
type parsedDoc struct {
	uplink    string
	p         *uplink.Packument
	fetchedAt int64 // Unix milliseconds, as stored
	cost      int
}

// proxyDocKey names a packument as served: a package, the kind asked for,
// the base URL filled in, and whether it is kept gzipped.
type proxyDocKey struct {
	name        string
	abbreviated bool
	gzip        bool
	base        string
}

// storedKey names a packument as stored: a package and the kind fetched.
type storedKey struct {
	name, kind string
}

type tarballKey struct {
	name, version string
}

// proxyDoc is a proxied packument ready to serve.
type proxyDoc struct {
	uplink string
	kind   string // the stored kind it was rendered from
	doc    Document
	// fetchedAt is when the uplink last sent or confirmed it.
	fetchedAt time.Time
	// until, when not zero, is when the gates' verdict changes and the
	// packument must be rendered again.
	until time.Time
	cost  int
}

// failure is a revalidation that failed: when, and what the uplink did.
type failure struct {
	at  time.Time
	msg string
}

const proxyEntryOverhead = 256

func newProxyMemory(maxBytes int) *proxyMemory {
	return &proxyMemory{names: map[string]*proxyEntries{}, misses: map[string]time.Time{},
		failures: map[storedKey]failure{}, refreshing: map[storedKey]bool{}, maxBytes: maxBytes}
}

// entries returns what is kept of name, made empty when nothing is. Called
// with mu held.
func (m *proxyMemory) entries(name string) *proxyEntries {
	e := m.names[name]
	if e == nil {
		e = &proxyEntries{docs: map[proxyDocKey]*proxyDoc{}, tarballs: map[string]store.UplinkTarball{},
			parsed: map[string]*parsedDoc{}}
		m.names[name] = e
	}
	return e
}

func (m *proxyMemory) setBound(maxBytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maxBytes = maxBytes
}

func (m *proxyMemory) doc(k proxyDocKey) *proxyDoc {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.names[k.name]; e != nil {
		return e.docs[k]
	}
	return nil
}

// generation is the generation to read the store under, for putDoc and
// putTarball.
func (m *proxyMemory) generation() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}

// putDoc keeps d, read from the store under generation gen, unless entries
// were dropped since.
func (m *proxyMemory) putDoc(k proxyDocKey, d *proxyDoc, gen uint64) {
	d.cost = len(d.doc.Body) + len(k.name) + len(k.base) + proxyEntryOverhead
	if d.cost > m.maxBytes/4 {
		return // one document may not crowd out the rest
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen {
		return
	}
	m.makeRoom(d.cost)
	e := m.entries(k.name)
	if old, ok := e.docs[k]; ok {
		e.cost -= old.cost
		m.bytes -= old.cost
	}
	e.docs[k] = d
	e.cost += d.cost
	m.bytes += d.cost
}

func (m *proxyMemory) tarball(k tarballKey) (store.UplinkTarball, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.names[k.name]; e != nil {
		t, ok := e.tarballs[k.version]
		return t, ok
	}
	return store.UplinkTarball{}, false
}

// putTarball keeps t, read or written under generation gen, unless entries
// were dropped since.
func (m *proxyMemory) putTarball(t store.UplinkTarball, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen {
		return
	}
	if e := m.names[t.Name]; e == nil || !hasTarball(e, t.Version) {
		m.makeRoom(proxyEntryOverhead)
		e = m.entries(t.Name)
		e.cost += proxyEntryOverhead
		m.bytes += proxyEntryOverhead
	}
	m.names[t.Name].tarballs[t.Version] = t
}

// parsed returns name's stored packument of kind as parsed, if it is kept.
func (m *proxyMemory) parsed(name, kind string) *parsedDoc {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.names[name]; e != nil {
		return e.parsed[kind]
	}
	return nil
}

// putParsed keeps d, name's stored packument of kind as parsed from a body
// of size bytes read from the store (or written to it) under generation
// gen, unless entries were dropped since. It costs what its body does: the
// parsed form holds the body's bytes in pieces.
func (m *proxyMemory) putParsed(name, kind string, d *parsedDoc, size int, gen uint64) {
	d.cost = size + len(name) + proxyEntryOverhead
	if d.cost > m.maxBytes/4 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen {
		return
	}
	m.makeRoom(d.cost)
	e := m.entries(name)
	if old, ok := e.parsed[kind]; ok {
		e.cost -= old.cost
		m.bytes -= old.cost
	}
	e.parsed[kind] = d
	e.cost += d.cost
	m.bytes += d.cost
}

func hasTarball(e *proxyEntries, version string) bool {
	_, ok := e.tarballs[version]
	return ok
}

// missing reports whether an uplink's 404 for name is still believed at now.
func (m *proxyMemory) missing(name string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	until, ok := m.misses[name]
	if ok && !now.Before(until) {
		delete(m.misses, name)
		return false
	}
	return ok
}

func (m *proxyMemory) putMiss(name string, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.misses) >= maxMisses {
		for k := range m.misses { // random eviction, as the caches do
			delete(m.misses, k)
			if len(m.misses) < maxMisses*7/8 {
				break
			}
		}
	}
	m.misses[name] = until
}

func (m *proxyMemory) clearMiss(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.misses, name)
}

// touch records that the packuments of name rendered from the stored kind
// were confirmed by the uplink at t.
func (m *proxyMemory) touch(name, kind string, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.names[name]
	if e == nil {
		return
	}
	for k, d := range e.docs {
		if d.kind == kind {
			fresh := *d // readers may hold d: it is never changed in place
			fresh.fetchedAt = t
			e.docs[k] = &fresh
		}
	}
	if d := e.parsed[kind]; d != nil {
		fresh := *d
		fresh.fetchedAt = t.UnixMilli()
		e.parsed[kind] = &fresh
	}
}

// maxMisses bounds the names remembered as missing upstream, so that
// requests for random names cannot grow memory.
const maxMisses = 10000

// failed returns the last failed revalidation of k, if any.
func (m *proxyMemory) failed(k storedKey) (failure, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.failures[k]
	return f, ok
}

func (m *proxyMemory) setFailure(k storedKey, f failure) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.failures) >= maxMisses {
		clear(m.failures)
	}
	m.failures[k] = f
}

func (m *proxyMemory) clearFailure(k storedKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.failures, k)
}

// startRefresh marks k as being revalidated; false when it already is.
func (m *proxyMemory) startRefresh(k storedKey) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refreshing[k] {
		return false
	}
	m.refreshing[k] = true
	return true
}

func (m *proxyMemory) endRefresh(k storedKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.refreshing, k)
}

// forget drops what is kept of name: its packuments and tarball records
// (its misses and failures stay: they are not what the store holds). It
// returns the generation from then on: what the store held of name once
// the forget was called may be kept under it.
func (m *proxyMemory) forget(name string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	if e := m.names[name]; e != nil {
		m.bytes -= e.cost
		delete(m.names, name)
	}
	return m.gen
}

// forgetPrefix drops what is kept of every name starting with prefix (a
// scope's, "@scope/"), going through every package kept: scopes become
// local rarely.
func (m *proxyMemory) forgetPrefix(prefix string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	for name, e := range m.names {
		if strings.HasPrefix(name, prefix) {
			m.bytes -= e.cost
			delete(m.names, name)
		}
	}
}

// forgetAll drops every packument and tarball record.
func (m *proxyMemory) forgetAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	clear(m.names)
	m.bytes = 0
}

// makeRoom evicts arbitrary packages' entries (Go's map order: random
// eviction, as the document cache does) until size more bytes fit with an
// eighth of the bound free. Called with mu held.
func (m *proxyMemory) makeRoom(size int) {
	if m.bytes+size <= m.maxBytes {
		return
	}
	want := m.maxBytes - m.maxBytes/8 - size
	for name, e := range m.names {
		if m.bytes <= want {
			return
		}
		delete(m.names, name)
		m.bytes -= e.cost
	}
}

// follow drops what is kept of a package whose cache another process (or
// this one) changed, and everything when changes may have been missed.
//
// A change of one package that this node committed itself (Own) is
// ignored: every such write forgets the package here once it has
// committed (forgetPackage, fetchNow, commitPublication), and what was
// kept after that is what the write stored, which the change arriving
// later must not evict. A scope taken here (an account's or an
// organization's, written elsewhere) is followed, own or not.
func (m *proxyMemory) follow(changes store.Changes) (cancel func()) {
	return changes.Subscribe(func(ch store.Change) {
		switch {
		case ch.Kind == store.AnyChange, ch.Kind == store.UplinkChanged && ch.Key == "":
			m.forgetAll()
		case ch.Kind == store.UplinkChanged && strings.HasPrefix(ch.Key, "@") && strings.HasSuffix(ch.Key, "/"):
			m.forgetPrefix(ch.Key)
		case ch.Kind == store.UplinkChanged && !ch.Own:
			m.forget(ch.Key)
		}
	})
}
