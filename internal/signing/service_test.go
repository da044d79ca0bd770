package signing

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newService(t *testing.T, st *store.Store, secret byte, c *clock, sources ...KeySource) *Service {
	t.Helper()
	s, err := NewService(st, keyring.New(bytes.Repeat([]byte{secret}, 32)), Options{Now: c.now, Sources: sources})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sign signs a version in a transaction of its own, as a publish does.
func sign(t *testing.T, st *store.Store, s *Service, name, version, integrity string, at time.Time) Signature {
	t.Helper()
	var sigs []Signature
	err := st.InTx(t.Context(), func(q store.Queries) error {
		var err error
		sigs, err = s.Sign(t.Context(), q, name, version, integrity, at.UnixMilli())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 {
		t.Fatalf("%d signatures", len(sigs))
	}
	return sigs[0]
}

// publicDER finds key id's SPKI among the service's keys.
func publicDER(t *testing.T, st *store.Store, keyID string) []byte {
	t.Helper()
	r, err := st.Q().SigningKeyByID(t.Context(), keyID)
	if err != nil {
		t.Fatal(err)
	}
	return r.PublicKey
}

func TestEnsureCreatesOneKey(t *testing.T) {
	st := newStore(t)
	c := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	// Nodes starting together on one database: one key comes out.
	var wg sync.WaitGroup
	ids := make([]string, 4)
	for i := range ids {
		wg.Go(func() {
			info, _, err := newService(t, st, 1, c).Ensure(context.Background())
			if err != nil {
				t.Error(err)
			}
			ids[i] = info.KeyID
		})
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("nodes started with different keys: %v", ids)
		}
	}
	info, created, err := newService(t, st, 1, c).Ensure(t.Context())
	if err != nil || created || info.KeyID != ids[0] || !info.InUse() || !info.Created.Equal(c.now()) {
		t.Fatalf("second start: %+v created=%v %v", info, created, err)
	}
	keys, err := st.Q().SigningKeys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Fatalf("%d keys stored (%v)", len(keys), err)
	}
}

// TestPrivateKeySealed: the database never holds the private key in the
// clear, and a node with another server key cannot sign with it.
func TestPrivateKeySealed(t *testing.T) {
	st := newStore(t)
	c := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	s := newService(t, st, 1, c)
	info, _, err := s.Ensure(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	row, err := st.Q().SigningKeyByID(t.Context(), info.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	k, err := newService(t, st, 1, c).open(row)
	if err != nil {
		t.Fatalf("the same server key opens it: %v", err)
	}
	der, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	scalar, err := k.private.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(row.SealedPrivateKey, der) || bytes.Contains(row.SealedPrivateKey, scalar) {
		t.Fatal("the stored key holds the private key in the clear")
	}
	// A node with another server key (refused at start by the key check,
	// but never able to sign either).
	err = st.InTx(t.Context(), func(q store.Queries) error {
		_, err := newService(t, st, 2, c).Sign(t.Context(), q, "a", "1.0.0", "sha512-x", 1)
		return err
	})
	if err == nil {
		t.Fatal("a node with another server key signed")
	}
	// A sealed key moved to another key id's row does not open.
	moved := row
	moved.KeyID = "SHA256:other"
	if _, err := newService(t, st, 1, c).open(moved); err == nil {
		t.Fatal("a sealed key opened under another key id")
	}
}

func TestSignWithKeyInUse(t *testing.T) {
	st := newStore(t)
	c := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	s := newService(t, st, 1, c)
	// No key yet (Ensure not run): signing creates it.
	at := c.now().Add(time.Minute)
	sig := sign(t, st, s, "@acme/lib", "1.2.3", "sha512-abc", at)
	info, _, err := s.Ensure(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if sig.KeyID != info.KeyID {
		t.Fatalf("signed with %s, key in use %s", sig.KeyID, info.KeyID)
	}
	spki := publicDER(t, st, sig.KeyID)
	if !Verify(spki, Message("@acme/lib", "1.2.3", "sha512-abc"), sig) {
		t.Fatal("signature does not verify")
	}
	if !info.LastSigned.Equal(at) {
		t.Errorf("last signed %v, want %v", info.LastSigned, at)
	}
	// An older version signed later (the backlog) leaves LastSigned alone.
	sign(t, st, s, "@acme/lib", "1.0.0", "sha512-old", at.Add(-time.Hour))
	info, _, _ = s.Ensure(t.Context())
	if !info.LastSigned.Equal(at) {
		t.Errorf("last signed moved back to %v", info.LastSigned)
	}
}

// TestRotate: the old key expires at the rotation, or just after the
// latest version it signed when that is later; it stays listed; the new key
// signs from then on; both verify what they signed.
func TestRotate(t *testing.T) {
	st := newStore(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	s := newService(t, st, 1, c)
	first, _, err := s.Ensure(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	old := sign(t, st, s, "lib", "1.0.0", "sha512-one", t0.Add(time.Hour))

	c.set(t0.Add(2 * time.Hour))
	rot, err := s.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rot.Old == nil || rot.Old.KeyID != first.KeyID || !rot.Old.Expires.Equal(c.now()) {
		t.Fatalf("old key after rotation: %+v", rot.Old)
	}
	if rot.New.KeyID == first.KeyID || !rot.New.InUse() {
		t.Fatalf("new key: %+v", rot.New)
	}
	fresh := sign(t, st, s, "lib", "1.1.0", "sha512-two", c.now())
	if fresh.KeyID != rot.New.KeyID {
		t.Fatalf("a version after the rotation was signed with %s", fresh.KeyID)
	}
	if !Verify(publicDER(t, st, old.KeyID), Message("lib", "1.0.0", "sha512-one"), old) ||
		!Verify(publicDER(t, st, fresh.KeyID), Message("lib", "1.1.0", "sha512-two"), fresh) {
		t.Fatal("a signature stopped verifying")
	}

	// A version published with a clock ahead of the rotation's: the key
	// that signed it expires after it.
	ahead := c.now().Add(10 * time.Minute)
	sign(t, st, s, "lib", "1.2.0", "sha512-three", ahead)
	rot2, err := s.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := ahead.Add(time.Millisecond); !rot2.Old.Expires.Equal(want) {
		t.Errorf("expiry %v, want just after the latest version it signed, %v", rot2.Old.Expires, want)
	}

	keys, err := s.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("%d keys listed, want 3", len(keys))
	}
	wantExpires := []string{ISOTime(t0.Add(2 * time.Hour)), ISOTime(ahead.Add(time.Millisecond)), ""}
	wantIDs := []string{first.KeyID, rot.New.KeyID, rot2.New.KeyID}
	for i, k := range keys {
		got := ""
		if k.Expires != nil {
			got = *k.Expires
		}
		if k.KeyID != wantIDs[i] || got != wantExpires[i] {
			t.Errorf("key %d: %s expires %q, want %s expires %q", i, k.KeyID, got, wantIDs[i], wantExpires[i])
		}
	}
}

type fakeSource struct {
	name string
	keys []PublicKey
	err  error
}

func (f fakeSource) Name() string { return f.name }
func (f fakeSource) PublicKeys(context.Context) ([]PublicKey, error) {
	return f.keys, f.err
}

// TestPublicKeysWithSources: an uplink's keys follow the registry's own,
// once each; a source that fails is left out, the own keys still listed.
func TestPublicKeysWithSources(t *testing.T) {
	st := newStore(t)
	c := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	up := PublicKey{KeyID: "SHA256:upstream", KeyType: KeyType, Scheme: Scheme, Key: "AAAA"}
	s := newService(t, st, 1, c,
		fakeSource{name: "one", keys: []PublicKey{up}},
		fakeSource{name: "down", err: errors.New("unreachable")},
		fakeSource{name: "two", keys: []PublicKey{up}})
	own, _, err := s.Ensure(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].KeyID != own.KeyID || keys[1] != up {
		t.Fatalf("keys %+v", keys)
	}
}
