// Package heapfloor keeps Go's garbage collector from collecting a small
// heap many times a second: after each collection, when at the rate the
// program allocates the configured percentage would bring the next one in
// less than a second, it raises the collector's percentage
// (debug.SetGCPercent) just enough that the next collection comes when the
// heap reaches a floor, while the live heap is small. It gives the
// configured percentage back as soon as that alone reaches the floor, or
// the program allocates slowly enough that it would collect no more than
// once a second (an idle or quiet node keeps the configured pace).
//
// Go collects when the heap reaches the live heap times (1 + percent/100),
// and at least 4 MB times percent/100. With a live heap of a few MB (a
// fresh node, a small registry) and gatehouse's 400, that is every 16 MB
// allocated: under load, several collections a second, each slowing the
// requests that arrive while it marks. A floor of 64 MiB makes them four
// times rarer for at most 64 MiB of heap; a soft memory limit
// (debug.SetMemoryLimit) still makes Go collect sooner when the process
// nears it, whatever the percentage.
package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// maxPercent bounds the percentage the floor sets, as --gc-percent is bounded.
const maxPercent = 10000

// Floor adjusts the collector's percentage after every collection until
// Stop.
type Floor struct {
	floor   uint64
	base    int
	stopped atomic.Bool
	set     atomic.Int64 // the percentage last set
	sample  []metrics.Sample
	often   time.Duration // collections closer than this are too frequent
	// When the finalizer last ran, and the bytes allocated so far then
	// (one goroutine runs finalizers).
	last      time.Time
	lastAlloc uint64
}

// often is the interval between collections at the configured percentage
// below which the floor acts.
const often = time.Second

// Start sets the collector's percentage to base, and from then on, while
// collections come less than a second apart, keeps the heap goal at floor
// bytes or more while the live heap times (1 + base/100) is below it. A
// floor of 0 only sets base.
func Start(base int, floor uint64) *Floor { return start(base, floor, often) }

func start(base int, floor uint64, often time.Duration) *Floor {
	f := &Floor{floor: floor, base: base, often: often, sample: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
		{Name: "/gc/heap/allocs:bytes"}}}
	debug.SetGCPercent(base)
	f.set.Store(int64(base))
	if floor > 0 {
		f.arm()
	}
	return f
}

// Percent is the percentage the floor set last.
func (f *Floor) Percent() int { return int(f.set.Load()) }

// Stop stops adjusting and gives the base percentage back.
func (f *Floor) Stop() {
	if f.stopped.CompareAndSwap(false, true) {
		debug.SetGCPercent(f.base)
		f.set.Store(int64(f.base))
	}
}

// PercentFor is the percentage that puts the next collection at floor
// bytes, and never below base, for a live heap of live bytes and roots
// bytes of goroutine stacks and globals. Go's heap goal is
// live + (live + roots) × percent/100, and at least heapMinimum ×
// percent/100.
func PercentFor(base int, floor, live, roots uint64) int {
	if live == 0 || floor <= live {
		return base
	}
	p := (floor - live) * 100 / (live + roots)
	p = min(p, floor*100/heapMinimum, maxPercent)
	return max(base, int(p))
}

// Frequent reports whether, allocating allocated bytes in elapsed, the
// program would collect more often than once every often at the
// percentage base, with live bytes live and roots bytes of stacks and
// globals.
func Frequent(base int, live, roots, allocated uint64, elapsed, often time.Duration) bool {
	if allocated == 0 || elapsed <= 0 {
		return false
	}
	goal := max(live+(live+roots)*uint64(base)/100, heapMinimum*uint64(base)/100)
	if goal <= live {
		return true
	}
	// The time the headroom lasts at this rate, against often.
	lasts := time.Duration(float64(goal-live) / float64(allocated) * float64(elapsed))
	return lasts < often
}

// heapMinimum is the Go runtime's least heap goal at a percentage of 100
// (4 MB), which it scales by the percentage.
const heapMinimum = 4 << 20

// arm makes a finalizer run after the next collection: the garbage
// collector finalizes an unreachable object once it has collected it.
func (f *Floor) arm() {
	runtime.SetFinalizer(&cycle{f: f}, func(c *cycle) { c.f.adjust() })
}

// cycle is the object whose finalizer marks the end of a collection. It
// holds a pointer so that it is not one of the small pointer-free objects
// Go packs together, which may never be finalized.
type cycle struct{ f *Floor }

func (f *Floor) adjust() {
	if f.stopped.Load() {
		return
	}
	now := time.Now()
	metrics.Read(f.sample)
	for _, m := range f.sample {
		if m.Value.Kind() != metrics.KindUint64 {
			f.arm()
			return
		}
	}
	live, roots, allocs := f.sample[0].Value.Uint64(), f.sample[1].Value.Uint64()+f.sample[2].Value.Uint64(), f.sample[3].Value.Uint64()
	p := f.base
	if !f.last.IsZero() && Frequent(f.base, live, roots, allocs-f.lastAlloc, now.Sub(f.last), f.often) {
		p = PercentFor(f.base, f.floor, live, roots)
	}
	f.last, f.lastAlloc = now, allocs
	if int64(p) != f.set.Load() && !f.stopped.Load() {
		debug.SetGCPercent(p)
		f.set.Store(int64(p))
	}
	f.arm()
}
