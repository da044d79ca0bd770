package main

import (
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/memsize"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// TestSizeMemory: serve sizes the memory limit and the cache from the
// machine only where they are left at their defaults.
func TestSizeMemory(t *testing.T) {
	const mib = 1 << 20
	big := memsize.Host{Total: 24 << 30}
	for _, tt := range []struct {
		name                 string
		host                 memsize.Host
		set                  func(c *config.Config)
		wantLimit, wantCache int64
		wantSized            bool
	}{
		{"defaults on a big machine", big, func(*config.Config) {}, 384 * mib, 128 * mib, true},
		{"defaults, machine unknown", memsize.Host{}, func(*config.Config) {}, 256 * mib, 64 * mib, false},
		{"defaults in a 256 MiB container", memsize.Host{Total: 24 << 30, Cgroup: 256 * mib}, func(*config.Config) {},
			192 * mib, 32 * mib, true},
		{"both set", big, func(c *config.Config) {
			c.MemoryLimit, c.CacheSize, c.MemoryLimitSet, c.CacheSizeSet = 300*mib, 100*mib, true, true
		}, 300 * mib, 100 * mib, false},
		{"both set to the fallbacks", big, func(c *config.Config) { c.MemoryLimitSet, c.CacheSizeSet = true, true },
			256 * mib, 64 * mib, false},
		{"no memory limit", big, func(c *config.Config) { c.MemoryLimit, c.MemoryLimitSet = 0, true }, 0, 128 * mib, true},
		{"uplinks", big, func(c *config.Config) { c.Uplinks = []uplink.Spec{{Name: "up"}} }, 384 * mib, 64 * mib, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			tt.set(&cfg)
			sized := sizeMemory(&cfg, tt.host)
			if cfg.MemoryLimit != tt.wantLimit || cfg.CacheSize != tt.wantCache || sized != tt.wantSized {
				t.Fatalf("memory limit %d MiB, cache %d MiB, sized %v; want %d MiB, %d MiB, %v",
					cfg.MemoryLimit/mib, cfg.CacheSize/mib, sized, tt.wantLimit/mib, tt.wantCache/mib, tt.wantSized)
			}
		})
	}
}
