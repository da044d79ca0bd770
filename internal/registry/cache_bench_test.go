package registry

import (
	"strconv"
	"testing"
)

// BenchmarkDocCacheGet is the hot read's look-up: a hit among 100,000
// packages' entries, from parallel readers.
func BenchmarkDocCacheGet(b *testing.B) {
	c := newDocCache(1 << 30)
	keys := make([]docKey, 100_000)
	for i := range keys {
		keys[i] = docKey{name: "scale-package-" + strconv.Itoa(i), kind: kindAbbreviated}
		c.put(keys[i], &docEntry{gen: c.gen.Load(), doc: Document{Body: []byte("{}")}})
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := c.get(keys[i%len(keys)]); !ok {
				b.Fatal("miss")
			}
			i += 7919
		}
	})
}
