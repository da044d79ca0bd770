// Package memsize sizes what gatehouse keeps in memory when the operator
// leaves it to gatehouse: the soft memory limit (--memory-limit) and the
// document cache's bound (--cache-size), from the memory the machine has
// and the memory limit of the container (cgroup) it runs in.
//
// The formula (docs/operations.md, "Memory"):
//
//	available    = the cgroup's limit when it has one below the machine's memory, else the machine's memory
//	memory limit = available / 4, at most 384 MiB, and at least 256 MiB or, in less than 342 MiB, 3/4 of available
//	cache size   = (memory limit - 128 MiB) / (2 × caches), at least 16 MiB
//
// where caches is 1, or 2 when uplinks are configured (the cache of proxied
// packages has the same bound). The 128 MiB is what the rest of the live
// heap holds at most (see Fixed), and the halving keeps the live heap
// under half the limit, so that the collector is never held at it. With
// nothing known about the machine, the defaults stand: 256 MiB and 64 MiB.
package memsize

import (
	"bufio"
	"bytes"
	"io/fs"
	"strconv"
	"strings"
)

// Bounds of the formula.
const (
	// MinLimit and MaxLimit bound the memory limit sized from the machine.
	MinLimit = 256 << 20
	MaxLimit = 384 << 20
	// Fixed is the live heap besides the document caches, at most: the
	// runtime, code and buffers (about 30 MiB after start-up), the token
	// cache (100,000 tokens, about 40 MiB), the tarball cache (24 MiB) and
	// the connections' buffers and requests' garbage (about 34 MiB).
	Fixed = 128 << 20
	// MinCache is the least document cache sized from the machine.
	MinCache = 16 << 20
	// DefaultLimit and DefaultCache are the sizes when nothing is known
	// of the machine: config.Default's.
	DefaultLimit = 256 << 20
	DefaultCache = 64 << 20
)

// Host is the memory the process may use, as the system reports it.
type Host struct {
	// Total is the machine's memory in bytes (MemTotal of /proc/meminfo);
	// 0 when unknown.
	Total int64
	// Cgroup is the memory limit of the process's cgroup in bytes (v2
	// memory.max, v1 memory.limit_in_bytes); 0 when it has none.
	Cgroup int64
}

// Available is the memory the formula plans with: the cgroup's limit when
// it is below the machine's memory (or the machine's is unknown), else the
// machine's; 0 when neither is known.
func (h Host) Available() int64 {
	if h.Cgroup > 0 && (h.Total <= 0 || h.Cgroup < h.Total) {
		return h.Cgroup
	}
	return max(h.Total, 0)
}

// Settings are the two settings as configured: each is sized only when it
// is not set (Set false).
type Settings struct {
	CacheSize, MemoryLimit       int64
	CacheSizeSet, MemoryLimitSet bool
	// Uplinks is true when uplinks are configured: their cache of proxied
	// packages is bounded by the cache size too.
	Uplinks bool
}

// Limits are the sizes to run with.
type Limits struct {
	// MemoryLimit is the soft memory limit; 0 is none (only when set so).
	MemoryLimit int64
	// CacheSize bounds the document cache (and the proxied packages'
	// cache).
	CacheSize int64
}

// Size returns the limits for h: each setting as set, or sized by the
// formula of the package comment when not; with nothing known of h, the
// defaults.
func Size(h Host, s Settings) Limits {
	l := Limits{MemoryLimit: s.MemoryLimit, CacheSize: s.CacheSize}
	avail := h.Available()
	if !s.MemoryLimitSet {
		l.MemoryLimit = DefaultLimit
		if avail > 0 {
			l.MemoryLimit = min(max(avail/4, min(MinLimit, avail/4*3)), MaxLimit)
		}
	}
	if !s.CacheSizeSet {
		l.CacheSize = DefaultCache
		if avail > 0 || s.MemoryLimitSet {
			caches := int64(1)
			if s.Uplinks {
				caches = 2
			}
			heap := l.MemoryLimit
			if heap <= 0 { // no limit set: plan as for the machine
				heap = Size(h, Settings{Uplinks: s.Uplinks}).MemoryLimit
			}
			l.CacheSize = max((heap-Fixed)/(2*caches), MinCache)
		}
	}
	return l
}

// Read reads the host's memory from fsys, the root of a Linux file system
// (os.DirFS("/")): MemTotal of proc/meminfo, and the limit of the cgroup
// the process is in (proc/self/cgroup), v2 or v1. What it cannot read is
// left 0.
func Read(fsys fs.FS) Host {
	var h Host
	if b, err := fs.ReadFile(fsys, "proc/meminfo"); err == nil {
		h.Total = meminfoTotal(b)
	}
	if b, err := fs.ReadFile(fsys, "proc/self/cgroup"); err == nil {
		h.Cgroup = cgroupLimit(fsys, b)
	}
	return h
}

// meminfoTotal is MemTotal of /proc/meminfo's text, in bytes.
func meminfoTotal(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb <= 0 {
			return 0
		}
		return kb << 10
	}
	return 0
}

// unlimited is above any real limit: cgroup v1 reports no limit as a
// number near 2^63, v2 as "max".
const unlimited = 1 << 62

// cgroupLimit is the memory limit of the cgroup /proc/self/cgroup's text
// names: v2's memory.max (the "0::" line) or v1's memory.limit_in_bytes
// (the line whose controllers include memory), looked up under
// sys/fs/cgroup at the group's path and, as inside a container whose
// cgroup file system is mounted at its own group, at the root. 0 when none.
func cgroupLimit(fsys fs.FS, cgroup []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(cgroup))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		group := strings.Trim(parts[2], "/")
		var dirs []string
		var file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dirs, file = []string{"sys/fs/cgroup", "sys/fs/cgroup/unified"}, "memory.max"
		case hasController(parts[1], "memory"):
			dirs, file = []string{"sys/fs/cgroup/memory"}, "memory.limit_in_bytes"
		default:
			continue
		}
		for _, d := range dirs {
			for _, p := range []string{d + "/" + group, d} {
				if n := readLimit(fsys, strings.TrimSuffix(p, "/")+"/"+file); n > 0 {
					return n
				}
			}
		}
	}
	return 0
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads a cgroup memory limit file: bytes, or "max"; 0 for no
// limit or no file.
func readLimit(fsys fs.FS, name string) int64 {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return 0
	}
	s := strings.TrimSpace(string(b))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= unlimited {
		return 0
	}
	return n
}
