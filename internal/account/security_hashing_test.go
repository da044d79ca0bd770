package account

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSecurityPasswordHashingIsBounded: sign-ins arriving at once from many
// addresses (each within its own limits) compute at most MaxHashing password
// hashes at a time; the rest wait their turn. Each hash takes argon2id's
// 19 MiB: before, 1,000 wrong passwords at once from 50 addresses asked for
// 19 GB.
func TestSecurityPasswordHashingIsBounded(t *testing.T) {
	const slots, users = 2, 12
	f := newFixture(t, Options{MaxHashing: slots})
	for i := range users {
		f.user(t, fmt.Sprint("user", i))
	}
	var inflight, peak atomic.Int64
	release := make(chan struct{})
	f.svc.passwordMatches = func(encoded, password string) (bool, error) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inflight.Add(-1)
		return CheckPassword(encoded, password)
	}
	var wg sync.WaitGroup
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half for users that exist, half for names that do not: both hash.
			name := fmt.Sprint("user", i)
			if i%2 == 1 {
				name = fmt.Sprint("nobody", i)
			}
			_, _ = f.svc.SignIn(from(t.Context(), fmt.Sprintf("10.0.%d.1", i)), name, "a wrong password", "test")
		}()
	}
	// Give every sign-in the chance to reach the hash: without the bound
	// all of them would be in it at once; with it, two are.
	for deadline := time.Now().Add(2 * time.Second); inflight.Load() < users && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if peak.Load() > slots || peak.Load() == 0 {
		t.Fatalf("%d password hashes at once, want at most %d", peak.Load(), slots)
	}
}
