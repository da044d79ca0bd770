package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name               string
		base               int
		floor, live, roots uint64
		want               int
	}{
		{"a small heap gets the floor, through Go's minimum", 400, 64 * mib, 2 * mib, 0, 1600},
		{"stacks and globals count", 400, 64 * mib, 5 * mib, 3 * mib, 737},
		{"live times 1+base/100 already past the floor", 400, 64 * mib, 20 * mib, 0, 400},
		{"just under", 400, 64 * mib, 12 * mib, 0, 433},
		{"live above the floor", 400, 64 * mib, 100 * mib, 0, 400},
		{"live equal to the floor", 400, 64 * mib, 64 * mib, 0, 400},
		{"nothing live yet", 400, 64 * mib, 0, 0, 400},
		{"a tiny heap is bounded by Go's minimum", 400, 64 * mib, 1024, 0, 1600},
		{"a huge floor is bounded", 400, 1 << 40, 1024, 0, maxPercent},
		{"no floor", 100, 0, 2 * mib, 0, 100},
	}
	for _, tt := range tests {
		if got := PercentFor(tt.base, tt.floor, tt.live, tt.roots); got != tt.want {
			t.Errorf("%s: PercentFor(%d, %d, %d, %d) = %d, want %d", tt.name, tt.base, tt.floor, tt.live, tt.roots, got, tt.want)
		}
	}
}

func TestFrequent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name             string
		base             int
		live, roots, got uint64
		elapsed, often   time.Duration
		want             bool
	}{
		// At 400 and 2 MB live the goal is Go's minimum, 16 MB: 14 MB of headroom.
		{"140 MB a second: every 0.1 s", 400, 2 * mib, 0, 140 * mib, time.Second, time.Second, true},
		{"the same rate seen over a longer collection", 400, 2 * mib, 0, 700 * mib, 5 * time.Second, time.Second, true},
		{"7 MB a second: every 2 s", 400, 2 * mib, 0, 7 * mib, time.Second, time.Second, false},
		{"nothing allocated", 400, 2 * mib, 0, 0, time.Second, time.Second, false},
		{"no time", 400, 2 * mib, 0, mib, 0, time.Second, false},
		// At 100 and 20 MB live (+4 MB roots) the goal is 44 MB: 24 MB of headroom.
		{"a bigger heap lasts longer", 100, 20 * mib, 4 * mib, 20 * mib, time.Second, time.Second, false},
		{"a bigger heap at a higher rate", 100, 20 * mib, 4 * mib, 30 * mib, time.Second, time.Second, true},
	}
	for _, tt := range tests {
		if got := Frequent(tt.base, tt.live, tt.roots, tt.got, tt.elapsed, tt.often); got != tt.want {
			t.Errorf("%s: Frequent = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// heapGoal reads the collector's current heap goal.
func heapGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestFloorRaisesTheGoal runs real collections with a small live heap and
// checks that the goal reaches the floor after one, and that Stop gives the
// base percentage back.
func TestFloorRaisesTheGoal(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	const floor = 64 << 20
	runtime.GC()
	if g := heapGoal(); g >= floor {
		t.Fatalf("goal %d before the floor is already at it: the test shows nothing", g)
	}
	f := start(100, floor, time.Hour) // at any rate, collections more than an hour apart are frequent
	deadline := time.Now().Add(10 * time.Second)
	for heapGoal() < floor*90/100 {
		runtime.KeepAlive(make([]byte, 1<<20)) // allocation between collections: a rate to judge
		if time.Now().After(deadline) {
			t.Fatalf("goal %d after collections, percent %d: want about %d", heapGoal(), f.Percent(), floor)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the finalizer runs on its own goroutine
	}
	if f.Percent() <= 100 {
		t.Errorf("percent %d, want it raised above the base 100", f.Percent())
	}
	if g := heapGoal(); g > floor*110/100 {
		t.Errorf("goal %d, want about the floor %d, not far past it", g, floor)
	}
	f.Stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after Stop the percentage is %d, want the base 100", got)
	}
	if f.Percent() != 100 {
		t.Errorf("Percent after Stop = %d, want 100", f.Percent())
	}
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("a collection after Stop set the percentage to %d", got)
	}
}

// TestRareCollectionsKeepTheBase checks that a program allocating too
// slowly to collect more often than the interval keeps the configured
// percentage.
func TestRareCollectionsKeepTheBase(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	f := start(100, 64<<20, time.Nanosecond) // no rate here collects this often
	t.Cleanup(f.Stop)
	for range 5 {
		runtime.KeepAlive(make([]byte, 1<<20)) // something allocated, so a rate to judge
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	if f.Percent() != 100 {
		t.Errorf("percent %d after rare collections, want the base 100", f.Percent())
	}
	if g := heapGoal(); g >= 64<<20 {
		t.Errorf("goal %d: the floor acted on rare collections", g)
	}
}
