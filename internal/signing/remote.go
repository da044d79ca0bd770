package signing

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// KeyFetcher asks another registry for its keys endpoint's answer
// (uplink.Uplink is one): NotFound when it serves no keys.
type KeyFetcher interface {
	Name() string
	FetchKeys(ctx context.Context) ([]byte, error)
}

// The freshness of a registry's keys copied by RemoteKeys.
const (
	// RemoteKeysMaxAge is how long a copy of a registry's keys is served
	// before they are asked again: keys change only by rotation, and an
	// expired key stays listed.
	RemoteKeysMaxAge = time.Hour
	// RemoteKeysRetry is how long after a failed request the registry is
	// left alone, the copy (or nothing) being served meanwhile, so that a
	// registry that is down does not slow every request for the keys.
	RemoteKeysRetry = time.Minute
	// maxRemoteKeys bounds the keys taken from one registry.
	maxRemoteKeys = 100
)

// RemoteKeys is a KeySource listing another registry's keys: an uplink's,
// whose versions gatehouse serves with their own dist.signatures. It asks
// the registry at most every RemoteKeysMaxAge and keeps the last good
// answer in memory and in the database (shared by every node, kept across
// restarts), so that the keys stay listed while the registry is offline or
// unreachable.
type RemoteKeys struct {
	from KeyFetcher
	st   *store.Store
	now  func() time.Time

	// fetching is held while the registry is asked: one request at a time.
	fetching sync.Mutex
	mu       sync.Mutex
	keys     []PublicKey
	has      bool      // keys holds an answer (perhaps an empty one)
	fresh    time.Time // the registry is not asked again before then
}

// NewRemoteKeys returns the keys of the registry from, kept in st; now is
// the clock (time.Now when nil).
func NewRemoteKeys(from KeyFetcher, st *store.Store, now func() time.Time) *RemoteKeys {
	if now == nil {
		now = time.Now
	}
	return &RemoteKeys{from: from, st: st, now: now}
}

// Name is the registry's name.
func (r *RemoteKeys) Name() string { return r.from.Name() }

// settingName is where the last good answer is kept in the database.
func (r *RemoteKeys) settingName() string { return "remote_signing_keys/" + r.from.Name() }

// PublicKeys returns the registry's keys: the copy while it is fresh, else
// asked again; when that fails, the last good copy (from memory, or the
// database after a restart). An error only when there is no copy at all
// and the registry was just asked; until it is asked again (RemoteKeysRetry)
// it then lists none.
func (r *RemoteKeys) PublicKeys(ctx context.Context) ([]PublicKey, error) {
	if keys, ok := r.current(); ok {
		return keys, nil
	}
	r.fetching.Lock()
	defer r.fetching.Unlock()
	if keys, ok := r.current(); ok {
		return keys, nil // another request asked meanwhile
	}
	// A client that goes away does not cut the request short: the answer
	// is for every client, and the uplink's own timeouts bound it.
	ctx = context.WithoutCancel(ctx)
	keys, err := r.fetch(ctx)
	if err == nil {
		r.remember(keys, false, RemoteKeysMaxAge)
		// The database copy is only a fallback: the keys are served from
		// memory even when it cannot be written.
		_ = r.save(ctx, keys)
		return keys, nil
	}
	// Serve the last good copy, and leave the registry alone for a while.
	r.mu.Lock()
	has, stale := r.has, r.keys
	r.mu.Unlock()
	if !has {
		saved, lerr := r.load(ctx)
		if lerr != nil {
			r.remember(nil, true, RemoteKeysRetry)
			return nil, err
		}
		stale = saved
	}
	r.remember(stale, false, RemoteKeysRetry)
	return stale, nil
}

// current returns what to answer while the copy in memory (or the failure
// to get one) is fresh; false when the registry should be asked.
func (r *RemoteKeys) current() ([]PublicKey, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.now().Before(r.fresh) {
		return nil, false
	}
	if !r.has {
		// The failure was reported (and logged) when it happened; until
		// the registry is asked again it has no keys to list.
		return []PublicKey{}, true
	}
	return r.keys, true
}

// remember keeps keys for fresh; failed says there are none to keep, only
// the time until the registry is asked again.
func (r *RemoteKeys) remember(keys []PublicKey, failed bool, fresh time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fresh = r.now().Add(fresh)
	if !failed {
		r.keys, r.has = keys, true
	}
}

// fetch asks the registry and checks its answer. A registry that serves no
// keys (NotFound) has none.
func (r *RemoteKeys) fetch(ctx context.Context) ([]PublicKey, error) {
	body, err := r.from.FetchKeys(ctx)
	if fault.Is(err, fault.NotFound) {
		return []PublicKey{}, nil
	}
	if err != nil {
		return nil, err
	}
	keys, err := ParseKeys(body)
	if err != nil {
		return nil, fmt.Errorf("the signing keys of %s: %w", r.from.Name(), err)
	}
	return keys, nil
}

func (r *RemoteKeys) save(ctx context.Context, keys []PublicKey) error {
	b, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	return r.st.Q().PutSetting(ctx, r.settingName(), string(b))
}

func (r *RemoteKeys) load(ctx context.Context) ([]PublicKey, error) {
	v, err := r.st.Q().Setting(ctx, r.settingName())
	if err != nil {
		return nil, err
	}
	var keys []PublicKey
	if err := json.Unmarshal([]byte(v), &keys); err != nil {
		return nil, fmt.Errorf("the saved signing keys of %s: %w", r.from.Name(), err)
	}
	return keys, nil
}

// ParseKeys reads a keys endpoint's answer ({"keys": [...]}, npm's shape)
// and keeps the entries a client can use: a key id, a base64 key and, when
// present, an expiry that is a time. At most maxRemoteKeys are kept.
func ParseKeys(body []byte) ([]PublicKey, error) {
	var doc struct {
		Keys []struct {
			Expires *string `json:"expires"`
			KeyID   string  `json:"keyid"`
			KeyType string  `json:"keytype"`
			Scheme  string  `json:"scheme"`
			Key     string  `json:"key"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("not a keys document: %w", err)
	}
	out := []PublicKey{}
	for _, k := range doc.Keys {
		if len(out) == maxRemoteKeys {
			break
		}
		if k.KeyID == "" || len(k.KeyID) > 200 || k.Key == "" || len(k.Key) > 4096 {
			continue
		}
		if _, err := base64.StdEncoding.DecodeString(k.Key); err != nil {
			continue
		}
		if k.Expires != nil {
			if _, err := time.Parse(time.RFC3339Nano, *k.Expires); err != nil {
				continue
			}
		}
		out = append(out, PublicKey{Expires: k.Expires, KeyID: k.KeyID, KeyType: k.KeyType, Scheme: k.Scheme, Key: k.Key})
	}
	return out, nil
}
