package blob

import (
	"bytes"
	"fmt"
	"testing"
)

func TestCacheBounds(t *testing.T) {
	tests := []struct {
		name              string
		maxBytes, maxItem int
		puts              []int // sizes put, under keys k0, k1, ...
		wantKept          []int // indexes that must still be kept
		wantGone          []int // indexes that must not be kept
		maxHeld           int   // bytes the cache may hold at the end
	}{
		{"fits", 1000, 500, []int{100, 200, 300}, []int{0, 1, 2}, nil, 1000},
		{"item too large", 1000, 150, []int{100, 200}, []int{0}, []int{1}, 1000},
		{"larger than the whole cache", 100, 1000, []int{200}, nil, []int{0}, 100},
		{"evicts to make room", 1000, 1000, []int{400, 400, 400}, []int{2}, nil, 1000},
		{"empty blob", 100, 100, []int{0}, []int{0}, nil, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCache(tt.maxBytes, tt.maxItem)
			for i, n := range tt.puts {
				c.Put(fmt.Sprintf("k%d", i), bytes.Repeat([]byte{byte(i)}, n))
			}
			for _, i := range tt.wantKept {
				b, ok := c.Get(fmt.Sprintf("k%d", i))
				if !ok || len(b) != tt.puts[i] || (len(b) > 0 && b[0] != byte(i)) {
					t.Errorf("k%d: kept %v, %d bytes", i, ok, len(b))
				}
			}
			for _, i := range tt.wantGone {
				if _, ok := c.Get(fmt.Sprintf("k%d", i)); ok {
					t.Errorf("k%d is kept", i)
				}
			}
			if got := c.Bytes(); got > tt.maxHeld {
				t.Errorf("holds %d bytes, bound %d", got, tt.maxHeld)
			}
		})
	}
}

// TestCacheChurn puts many more blobs than fit and checks the bound holds
// throughout and that what is returned is always what was put.
func TestCacheChurn(t *testing.T) {
	c := NewCache(10_000, 1_000)
	for i := range 2_000 {
		key := fmt.Sprintf("key-%d", i%300)
		data := []byte(key)
		c.Put(key, data)
		if b, ok := c.Get(key); ok && !bytes.Equal(b, data) {
			t.Fatalf("%s holds %q", key, b)
		}
		if c.Bytes() > 10_000 {
			t.Fatalf("after %d puts the cache holds %d bytes", i+1, c.Bytes())
		}
	}
}
