package token

import (
	"hash/crc32"
	"regexp"
	"strings"
	"testing"
)

var scannerPattern = regexp.MustCompile(`^npm_[A-Za-z0-9]{36}$`)

func TestGenerateIsValidAndMatchesScanners(t *testing.T) {
	f := NewFormat("")
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		tok, err := f.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if !scannerPattern.MatchString(tok) {
			t.Fatalf("%q does not match the secret scanners' pattern", tok)
		}
		if !f.Valid(tok) {
			t.Fatalf("generated token %q is not valid", tok)
		}
		if seen[tok] {
			t.Fatalf("duplicate token %q", tok)
		}
		seen[tok] = true
	}
}

func TestChecksumIsBase62OfCRC32(t *testing.T) {
	for _, random := range []string{strings.Repeat("0", 30), strings.Repeat("z", 30), "abcdefghijABCDEFGHIJ0123456789"} {
		got := checksum([]byte(random))
		if len(got) != 6 {
			t.Fatalf("checksum length %d", len(got))
		}
		var n uint64
		for _, c := range got {
			n = n*62 + uint64(strings.IndexRune(alphabet, c))
		}
		if want := uint64(crc32.ChecksumIEEE([]byte(random))); n != want {
			t.Fatalf("checksum(%q) = %q decodes to %d, want %d", random, got, n, want)
		}
	}
	// A fixed vector, so a change of alphabet or padding is caught too.
	if got := checksum([]byte(strings.Repeat("0", 30))); got != fixedVector {
		t.Fatalf("checksum of 30 zeros = %q, want %q", got, fixedVector)
	}
}

func TestValid(t *testing.T) {
	f := NewFormat("")
	good, _ := f.Generate()
	flipped := []byte(good)
	if flipped[10] == 'a' {
		flipped[10] = 'b'
	} else {
		flipped[10] = 'a'
	}
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"generated", good, true},
		{"one character changed", string(flipped), false},
		{"wrong prefix", "xyz_" + good[4:], false},
		{"too short", good[:len(good)-1], false},
		{"too long", good + "0", false},
		{"non base62", good[:20] + "-" + good[21:], false},
		{"empty", "", false},
		{"uuid", "5f0e1c2a-1111-2222-3333-444455556666", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.Valid(tt.in); got != tt.want {
				t.Fatalf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCustomPrefix(t *testing.T) {
	f := NewFormat("gh_")
	tok, err := f.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "gh_") || len(tok) != 3+36 || !f.Valid(tok) {
		t.Fatalf("bad token %q", tok)
	}
	if NewFormat("").Valid(tok) {
		t.Fatal("a token of another prefix must not be valid")
	}
}

func TestMask(t *testing.T) {
	got := Mask("npm_aBcDefghijklmnopqrstuvwxyz0123457890")
	if got != "npm_aBcD...7890" {
		t.Fatalf("Mask = %q", got)
	}
}

func BenchmarkValid(b *testing.B) {
	f := NewFormat("")
	tok, _ := f.Generate()
	for b.Loop() {
		if !f.Valid(tok) {
			b.Fatal("invalid")
		}
	}
}

// fixedVector is the base62 CRC-32 of thirty "0" characters, computed once by hand.
const fixedVector = "2C8GjS"
