package memsize

import (
	"testing"
	"testing/fstest"
)

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

func TestSize(t *testing.T) {
	for _, tt := range []struct {
		name string
		host Host
		set  Settings
		want Limits
	}{
		{"nothing known: the defaults", Host{}, Settings{}, Limits{MemoryLimit: 256 * mib, CacheSize: 64 * mib}},
		{"1 GiB machine", Host{Total: gib}, Settings{}, Limits{MemoryLimit: 256 * mib, CacheSize: 64 * mib}},
		{"2 GiB machine", Host{Total: 2 * gib}, Settings{}, Limits{MemoryLimit: 384 * mib, CacheSize: 128 * mib}},
		{"1.5 GiB machine: a quarter", Host{Total: 1536 * mib}, Settings{}, Limits{MemoryLimit: 384 * mib, CacheSize: 128 * mib}},
		{"1.25 GiB machine: a quarter", Host{Total: 1280 * mib}, Settings{}, Limits{MemoryLimit: 320 * mib, CacheSize: 96 * mib}},
		{"4 GiB machine: at most 384 MiB", Host{Total: 4 * gib}, Settings{}, Limits{MemoryLimit: 384 * mib, CacheSize: 128 * mib}},
		{"24 GiB machine", Host{Total: 24 * gib}, Settings{}, Limits{MemoryLimit: 384 * mib, CacheSize: 128 * mib}},
		{"uplinks share the room", Host{Total: 24 * gib}, Settings{Uplinks: true}, Limits{MemoryLimit: 384 * mib, CacheSize: 64 * mib}},
		{"container of 512 MiB on a big machine", Host{Total: 24 * gib, Cgroup: 512 * mib}, Settings{},
			Limits{MemoryLimit: 256 * mib, CacheSize: 64 * mib}},
		{"container of 256 MiB: 3/4 of it", Host{Total: 24 * gib, Cgroup: 256 * mib}, Settings{},
			Limits{MemoryLimit: 192 * mib, CacheSize: 32 * mib}},
		{"container of 128 MiB: the least cache", Host{Total: 24 * gib, Cgroup: 128 * mib}, Settings{},
			Limits{MemoryLimit: 96 * mib, CacheSize: 16 * mib}},
		{"container of 8 GiB", Host{Total: 24 * gib, Cgroup: 8 * gib}, Settings{}, Limits{MemoryLimit: 384 * mib, CacheSize: 128 * mib}},
		{"container limit above the machine's memory", Host{Total: 2 * gib, Cgroup: 64 * gib}, Settings{},
			Limits{MemoryLimit: 384 * mib, CacheSize: 128 * mib}},
		{"container limit, machine unknown", Host{Cgroup: 2 * gib}, Settings{}, Limits{MemoryLimit: 384 * mib, CacheSize: 128 * mib}},
		{"both set: kept", Host{Total: 24 * gib}, Settings{MemoryLimit: 300 * mib, MemoryLimitSet: true, CacheSize: 10 * mib, CacheSizeSet: true},
			Limits{MemoryLimit: 300 * mib, CacheSize: 10 * mib}},
		{"memory limit set: the cache follows it", Host{}, Settings{MemoryLimit: 2 * gib, MemoryLimitSet: true},
			Limits{MemoryLimit: 2 * gib, CacheSize: 960 * mib}},
		{"no memory limit (0): the cache as for the machine", Host{Total: 24 * gib}, Settings{MemoryLimit: 0, MemoryLimitSet: true},
			Limits{MemoryLimit: 0, CacheSize: 128 * mib}},
		{"no memory limit, machine unknown", Host{}, Settings{MemoryLimit: 0, MemoryLimitSet: true},
			Limits{MemoryLimit: 0, CacheSize: 64 * mib}},
		{"cache set: the limit still sized", Host{Total: 24 * gib}, Settings{CacheSize: 32 * mib, CacheSizeSet: true},
			Limits{MemoryLimit: 384 * mib, CacheSize: 32 * mib}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Size(tt.host, tt.set)
			if got != tt.want {
				t.Fatalf("Size(%+v, %+v) = limit %d MiB, cache %d MiB; want %d MiB, %d MiB", tt.host, tt.set,
					got.MemoryLimit/mib, got.CacheSize/mib, tt.want.MemoryLimit/mib, tt.want.CacheSize/mib)
			}
			// What the formula promises: the caches and the rest of the
			// live heap within half the limit, when it had room to.
			if !tt.set.CacheSizeSet && got.MemoryLimit > 0 && got.CacheSize > MinCache {
				caches := int64(1)
				if tt.set.Uplinks {
					caches = 2
				}
				if live := Fixed + caches*got.CacheSize; live > got.MemoryLimit/2+Fixed/2 {
					t.Errorf("live heap up to %d MiB against a limit of %d MiB", live/mib, got.MemoryLimit/mib)
				}
			}
		})
	}
}

func TestRead(t *testing.T) {
	meminfo := "MemTotal:       24683596 kB\nMemFree:        20615028 kB\n"
	const total = 24683596 << 10
	for _, tt := range []struct {
		name string
		fs   fstest.MapFS
		want Host
	}{
		{"nothing readable", fstest.MapFS{}, Host{}},
		{"machine only, cgroup v2 without a limit", fstest.MapFS{
			"proc/meminfo":             {Data: []byte(meminfo)},
			"proc/self/cgroup":         {Data: []byte("0::/system.slice/gatehouse.service\n")},
			"sys/fs/cgroup/memory.max": {Data: []byte("max\n")},
			"sys/fs/cgroup/system.slice/gatehouse.service/memory.max": {Data: []byte("max\n")},
		}, Host{Total: total}},
		{"cgroup v2 limit at the group's path", fstest.MapFS{
			"proc/meminfo":     {Data: []byte(meminfo)},
			"proc/self/cgroup": {Data: []byte("0::/system.slice/gatehouse.service\n")},
			"sys/fs/cgroup/system.slice/gatehouse.service/memory.max": {Data: []byte("536870912\n")},
		}, Host{Total: total, Cgroup: 512 << 20}},
		{"cgroup v2 in a container: the limit at the root", fstest.MapFS{
			"proc/meminfo":             {Data: []byte(meminfo)},
			"proc/self/cgroup":         {Data: []byte("0::/\n")},
			"sys/fs/cgroup/memory.max": {Data: []byte("1073741824\n")},
		}, Host{Total: total, Cgroup: 1 << 30}},
		{"cgroup v1, no limit (2^63 rounded)", fstest.MapFS{
			"proc/meminfo":     {Data: []byte(meminfo)},
			"proc/self/cgroup": {Data: []byte("5:devices:/\n4:memory:/process_api/8a89\n0::/\n")},
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")},
		}, Host{Total: total}},
		{"cgroup v1 limit, controllers listed together", fstest.MapFS{
			"proc/meminfo":     {Data: []byte(meminfo)},
			"proc/self/cgroup": {Data: []byte("7:cpu,memory:/docker/abc\n")},
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": {Data: []byte("268435456\n")},
		}, Host{Total: total, Cgroup: 256 << 20}},
		{"garbage", fstest.MapFS{
			"proc/meminfo":             {Data: []byte("MemTotal: lots\n")},
			"proc/self/cgroup":         {Data: []byte("0::/\n")},
			"sys/fs/cgroup/memory.max": {Data: []byte("-5\n")},
		}, Host{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Read(tt.fs); got != tt.want {
				t.Fatalf("Read = %+v, want %+v", got, tt.want)
			}
		})
	}
}
