package signing

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// sealPurpose labels the server-key derivation that seals signing keys.
const sealPurpose = "registry signing key"

// KeySource lists public keys of another registry whose signatures
// gatehouse serves unchanged: an uplink's, for the versions it proxies. The
// keys endpoint lists them after gatehouse's own, so that a client verifies
// both. A source keeps its own cache and answers from it when its registry
// cannot be reached.
type KeySource interface {
	// Name names the source in log lines (an uplink's name).
	Name() string
	PublicKeys(ctx context.Context) ([]PublicKey, error)
}

// Options configure a Service.
type Options struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Sources are other registries' keys to list beside gatehouse's own.
	Sources []KeySource
	// Log hears sources that fail (discarded when nil).
	Log *slog.Logger
}

// Service holds the registry's signing keys: it creates the first one,
// signs versions with the key in use, rotates, and lists the public keys.
type Service struct {
	st      *store.Store
	sealer  *keyring.Sealer
	now     func() time.Time
	sources []KeySource
	log     *slog.Logger

	mu sync.Mutex
	// opened holds the private keys unsealed so far, by key id. A key's
	// bytes never change, so an entry is never stale.
	opened map[string]*Key
}

// NewService returns the signing keys kept in st, sealed with keys.
func NewService(st *store.Store, keys *keyring.Keyring, opts Options) (*Service, error) {
	sealer, err := keys.Sealer(sealPurpose)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, sealer: sealer, now: opts.Now, sources: opts.Sources, log: opts.Log,
		opened: map[string]*Key{}}, nil
}

// KeyInfo describes one of the registry's keys.
type KeyInfo struct {
	KeyID   string
	Created time.Time
	// Expires is the zero time for the key in use.
	Expires time.Time
	// LastSigned is the publish time of the latest version the key signed
	// (the zero time when it signed none).
	LastSigned time.Time
	// Public is the key as the keys endpoint lists it.
	Public PublicKey
}

// InUse reports whether the key signs new versions.
func (k KeyInfo) InUse() bool { return k.Expires.IsZero() }

func infoOf(r store.SigningKey) KeyInfo {
	k := KeyInfo{KeyID: r.KeyID, Created: time.UnixMilli(r.CreatedAt).UTC()}
	if r.ExpiresAt.Valid {
		k.Expires = time.UnixMilli(r.ExpiresAt.Int64).UTC()
	}
	if r.LastSignedAt > 0 {
		k.LastSigned = time.UnixMilli(r.LastSignedAt).UTC()
	}
	k.Public = PublicKeyOf(r.PublicKey, k.Expires)
	return k
}

// Ensure makes sure a key is in use, creating the first one on a new
// database, and returns it; created says whether it made one. Nodes starting
// together agree on one key: of two that both found none, the second's
// insert conflicts with the first's key (one key in use at most), and it
// reads that key instead.
func (s *Service) Ensure(ctx context.Context) (info KeyInfo, created bool, err error) {
	for attempt := 0; ; attempt++ {
		created = false
		err = s.st.InTx(ctx, func(q store.Queries) error {
			r, err := q.SigningKeyInUse(ctx)
			if fault.Is(err, fault.NotFound) {
				r, _, err = s.create(ctx, q, s.now().UnixMilli())
				created = err == nil
			}
			info = infoOf(r)
			return err
		})
		if attempt == 0 && fault.Is(err, fault.Conflict) {
			continue
		}
		return info, created, err
	}
}

// create makes a key, seals its private half and stores it as the key in use.
func (s *Service) create(ctx context.Context, q store.Queries, now int64) (store.SigningKey, *Key, error) {
	k, err := GenerateKey()
	if err != nil {
		return store.SigningKey{}, nil, err
	}
	der, err := k.MarshalPrivate()
	if err != nil {
		return store.SigningKey{}, nil, err
	}
	sealed, err := s.sealer.Seal(der, []byte(k.ID()))
	clear(der)
	if err != nil {
		return store.SigningKey{}, nil, fmt.Errorf("seal signing key: %w", err)
	}
	r := store.SigningKey{KeyID: k.ID(), PublicKey: k.PublicDER(), SealedPrivateKey: sealed, CreatedAt: now}
	if err := q.InsertSigningKey(ctx, r); err != nil {
		return store.SigningKey{}, nil, err
	}
	s.mu.Lock()
	s.opened[k.ID()] = k
	s.mu.Unlock()
	return r, k, nil
}

// open returns the private key of row r, unsealing it on first use.
func (s *Service) open(r store.SigningKey) (*Key, error) {
	s.mu.Lock()
	k, ok := s.opened[r.KeyID]
	s.mu.Unlock()
	if ok {
		return k, nil
	}
	der, err := s.sealer.Open(r.SealedPrivateKey, []byte(r.KeyID))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", r.KeyID, err)
	}
	k, err = ParseKey(der)
	clear(der)
	if err != nil {
		return nil, err
	}
	if k.ID() != r.KeyID {
		return nil, fmt.Errorf("signing key %s: the sealed key is another key (%s)", r.KeyID, k.ID())
	}
	s.mu.Lock()
	s.opened[r.KeyID] = k
	s.mu.Unlock()
	return k, nil
}

// Sign signs name@version:integrity with the key in use, for a version
// published at publishedAt (Unix ms). q is the transaction that stores the
// version: the key is read in it, so that a rotation, which takes its turn
// before or after, never leaves a version signed by a key that expired
// before the version's time. With no key in use yet, it creates one.
func (s *Service) Sign(ctx context.Context, q store.Queries, name, version, integrity string, publishedAt int64) ([]Signature, error) {
	r, err := q.SigningKeyInUse(ctx)
	var k *Key
	switch {
	case fault.Is(err, fault.NotFound):
		r, k, err = s.create(ctx, q, s.now().UnixMilli())
		if err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if k, err = s.open(r); err != nil {
			return nil, err
		}
	}
	sig, err := k.Sign(name, version, integrity)
	if err != nil {
		return nil, err
	}
	if publishedAt > r.LastSignedAt {
		if err := q.NoteSigned(ctx, r.KeyID, publishedAt); err != nil {
			return nil, err
		}
	}
	return []Signature{sig}, nil
}

// Rotation is what Rotate did.
type Rotation struct {
	// Old is the key that was in use, now with its expiry; nil when there
	// was none.
	Old *KeyInfo
	New KeyInfo
}

// Rotate makes a new key the key in use and gives the old one its expiry:
// now, or just after the latest version it signed when that is later (a
// version published with a clock ahead of this one's). Every version the old
// key signed was published before its expiry, so it keeps verifying; the old
// key stays listed. Versions published from now on are signed with the new
// key.
func (s *Service) Rotate(ctx context.Context) (Rotation, error) {
	var rot Rotation
	err := s.st.InTx(ctx, func(q store.Queries) error {
		now := s.now().UnixMilli()
		old, err := q.SigningKeyInUse(ctx)
		switch {
		case fault.Is(err, fault.NotFound):
		case err != nil:
			return err
		default:
			expires := max(now, old.LastSignedAt+1)
			if err := q.ExpireSigningKey(ctx, old.KeyID, expires); err != nil {
				return err
			}
			old.ExpiresAt.Int64, old.ExpiresAt.Valid = expires, true
			info := infoOf(old)
			rot.Old = &info
		}
		r, _, err := s.create(ctx, q, now)
		rot.New = infoOf(r)
		return err
	})
	if err != nil {
		return Rotation{}, fmt.Errorf("rotate signing key: %w", err)
	}
	return rot, nil
}

// List returns the registry's own keys, the oldest first.
func (s *Service) List(ctx context.Context) ([]KeyInfo, error) {
	rows, err := s.st.Q().SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, len(rows))
	for i, r := range rows {
		out[i] = infoOf(r)
	}
	return out, nil
}

// PublicKeys is what GET /-/npm/v1/keys lists: the registry's own keys
// (expired ones too, with their expiry), then the sources' keys not listed
// already. A source that fails is left out and logged; the registry's own
// keys are always listed.
func (s *Service) PublicKeys(ctx context.Context) ([]PublicKey, error) {
	own, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PublicKey, 0, len(own))
	seen := make(map[string]bool, len(own))
	for _, k := range own {
		out = append(out, k.Public)
		seen[k.KeyID] = true
	}
	for _, src := range s.sources {
		keys, err := src.PublicKeys(ctx)
		if err != nil {
			s.log.Warn("the keys of a registry whose signatures gatehouse serves are unavailable",
				slog.String("source", src.Name()), slog.Any("error", err))
			continue
		}
		for _, k := range keys {
			if !seen[k.KeyID] {
				seen[k.KeyID] = true
				out = append(out, k)
			}
		}
	}
	return out, nil
}
