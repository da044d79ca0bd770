package signing

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// fakeRegistry answers FetchKeys with body or err, counting the calls.
type fakeRegistry struct {
	mu    sync.Mutex
	body  string
	err   error
	calls int
}

func (f *fakeRegistry) Name() string { return "npmjs" }
func (f *fakeRegistry) FetchKeys(context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return []byte(f.body), f.err
}
func (f *fakeRegistry) set(body string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.body, f.err = body, err
}
func (f *fakeRegistry) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

const upstreamKeys = `{"keys":[
 {"expires":"2025-01-29T00:00:00.000Z","keyid":"SHA256:old","keytype":"ecdsa-sha2-nistp256","scheme":"ecdsa-sha2-nistp256","key":"AAAA"},
 {"expires":null,"keyid":"SHA256:new","keytype":"ecdsa-sha2-nistp256","scheme":"ecdsa-sha2-nistp256","key":"BBBB","extra":1}]}`

func wantUpstreamKeys(t *testing.T, what string, got []PublicKey, err error) {
	t.Helper()
	exp := "2025-01-29T00:00:00.000Z"
	want := []PublicKey{
		{Expires: &exp, KeyID: "SHA256:old", KeyType: KeyType, Scheme: Scheme, Key: "AAAA"},
		{KeyID: "SHA256:new", KeyType: KeyType, Scheme: Scheme, Key: "BBBB"},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: keys %+v, %v; want the upstream's two", what, got, err)
	}
}

// TestRemoteKeys: an uplink's keys are asked once per max age; when the
// uplink fails, the last good copy is served, from memory or, after a
// restart, from the database; with no copy at all the failure is reported
// once and the uplink is left alone for a while.
func TestRemoteKeys(t *testing.T) {
	st := newStore(t)
	c := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	ctx := t.Context()
	down := fault.New(fault.Upstream, "uplink npmjs could not be reached")

	// No copy anywhere and the uplink down: an error, then no request
	// until the retry time has passed.
	reg := &fakeRegistry{err: down}
	r := NewRemoteKeys(reg, st, c.now)
	if _, err := r.PublicKeys(ctx); !errors.Is(err, down) {
		t.Fatalf("down with no copy: %v", err)
	}
	// Reported once: until the retry time it lists none, without asking.
	if keys, err := r.PublicKeys(ctx); err != nil || len(keys) != 0 || reg.count() != 1 {
		t.Fatalf("within the retry time: %+v %v, asked %d times", keys, err, reg.count())
	}

	c.set(c.now().Add(RemoteKeysRetry))
	reg.set(upstreamKeys, nil)
	keys, err := r.PublicKeys(ctx)
	wantUpstreamKeys(t, "the uplink back", keys, err)
	keys, err = r.PublicKeys(ctx)
	wantUpstreamKeys(t, "within max age", keys, err)
	if reg.count() != 2 {
		t.Fatalf("asked %d times, want 2", reg.count())
	}

	// Past max age and the uplink down: the copy in memory.
	c.set(c.now().Add(RemoteKeysMaxAge))
	reg.set("", down)
	keys, err = r.PublicKeys(ctx)
	wantUpstreamKeys(t, "stale copy", keys, err)

	// A restart (a new node) with the uplink down: the database's copy.
	reg2 := &fakeRegistry{err: down}
	keys, err = NewRemoteKeys(reg2, st, c.now).PublicKeys(ctx)
	wantUpstreamKeys(t, "after a restart", keys, err)

	// An uplink that serves no keys has none; a document that is not one
	// is an error, the copy served meanwhile.
	c.set(c.now().Add(RemoteKeysMaxAge))
	reg.set("", fault.New(fault.NotFound, "no keys"))
	if keys, err := r.PublicKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("an uplink without keys: %+v %v", keys, err)
	}
	reg3 := &fakeRegistry{body: "<html>"}
	if keys, err := NewRemoteKeys(reg3, newStore(t), c.now).PublicKeys(ctx); err == nil {
		t.Fatalf("a document that is not keys: %+v", keys)
	}
}

// TestParseKeys: entries a client cannot use are dropped; the count is
// bounded.
func TestParseKeys(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string // key ids kept
		err  bool
	}{
		{name: "npm's shape", body: upstreamKeys, want: []string{"SHA256:old", "SHA256:new"}},
		{name: "no keys", body: `{"keys":[]}`, want: []string{}},
		{name: "unusable entries", body: `{"keys":[{"keyid":"","key":"AAAA"},{"keyid":"SHA256:a","key":"not base64!"},
			{"keyid":"SHA256:b","key":"AAAA","expires":"tomorrow"},{"keyid":"SHA256:c","key":"AAAA"}]}`,
			want: []string{"SHA256:c"}},
		{name: "not JSON", body: `<html>`, err: true},
		{name: "keys not a list", body: `{"keys":{}}`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeys([]byte(tt.body))
			if tt.err {
				if err == nil {
					t.Fatalf("accepted: %+v", keys)
				}
				return
			}
			ids := []string{}
			for _, k := range keys {
				ids = append(ids, k.KeyID)
			}
			if err != nil || !reflect.DeepEqual(ids, tt.want) {
				t.Fatalf("ids %v, %v; want %v", ids, err, tt.want)
			}
		})
	}
	many := `{"keys":[`
	for i := range maxRemoteKeys + 5 {
		if i > 0 {
			many += ","
		}
		many += `{"keyid":"SHA256:k","key":"AAAA"}`
	}
	keys, err := ParseKeys([]byte(many + `]}`))
	if err != nil || len(keys) != maxRemoteKeys {
		t.Fatalf("%d keys kept of %d (%v), want %d", len(keys), maxRemoteKeys+5, err, maxRemoteKeys)
	}
}
