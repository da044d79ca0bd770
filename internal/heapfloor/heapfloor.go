// Package heapfloor keeps Go's garbage collector from collecting a small
// heap many times a second: after each collection it raises the collector's
// percentage (debug.SetGCPercent) just enough that the next collection
// comes when the heap reaches a floor, while the live heap is small, and
// gives the configured percentage back as soon as that alone reaches the
// floor.
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
}

// Start sets the collector's percentage to base, and from the next
// collection on keeps the heap goal at floor bytes or more while the live
// heap times (1 + base/100) is below it. A floor of 0 only sets base.
func Start(base int, floor uint64) *Floor {
	f := &Floor{floor: floor, base: base, sample: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}}
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
	metrics.Read(f.sample)
	if f.sample[0].Value.Kind() == metrics.KindUint64 && f.sample[1].Value.Kind() == metrics.KindUint64 &&
		f.sample[2].Value.Kind() == metrics.KindUint64 {
		p := PercentFor(f.base, f.floor, f.sample[0].Value.Uint64(), f.sample[1].Value.Uint64()+f.sample[2].Value.Uint64())
		if int64(p) != f.set.Load() && !f.stopped.Load() {
			debug.SetGCPercent(p)
			f.set.Store(int64(p))
		}
	}
	f.arm()
}
