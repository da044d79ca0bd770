// Package token holds the access-token string alone: generating it, checking its
// checksum, masking it for display and hashing it for storage. It does no I/O.
//
// A token is a configurable prefix (default "npm_") followed by 36 characters of
// base62: 30 random characters (about 178 bits) and a 6-character checksum, the
// CRC-32 (IEEE) of the random part written in base62, most significant digit
// first, left-padded with '0'.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"strings"
)

// DefaultPrefix is the prefix npm itself uses, which secret scanners already know.
const DefaultPrefix = "npm_"

const (
	alphabet    = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	randomLen   = 30
	checksumLen = 6
	bodyLen     = randomLen + checksumLen
)

// ErrMalformed is returned for a string that is not a token of this registry:
// wrong prefix, wrong length, a character outside base62, or a bad checksum.
var ErrMalformed = errors.New("malformed token")

// Format generates and checks tokens with one prefix.
type Format struct {
	prefix string
}

// NewFormat returns a Format for prefix; an empty prefix means DefaultPrefix.
func NewFormat(prefix string) Format {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Format{prefix: prefix}
}

// Prefix returns the prefix tokens of this format start with.
func (f Format) Prefix() string { return f.prefix }

// Generate returns a new random token string.
func (f Format) Generate() (string, error) {
	var b strings.Builder
	b.Grow(len(f.prefix) + bodyLen)
	b.WriteString(f.prefix)
	random := make([]byte, 0, randomLen)
	// Rejection sampling keeps every character uniform over the 62 symbols.
	buf := make([]byte, 64)
	for len(random) < randomLen {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, c := range buf {
			if c >= 248 { // 248 = 4*62; values above would bias the modulo
				continue
			}
			random = append(random, alphabet[c%62])
			if len(random) == randomLen {
				break
			}
		}
	}
	b.Write(random)
	b.WriteString(checksum(random))
	return b.String(), nil
}

// Valid reports whether s is a well-formed token of this format, checksum included.
// It never touches a database, so a mistyped or invented token costs nothing.
func (f Format) Valid(s string) bool {
	if len(s) != len(f.prefix)+bodyLen || !strings.HasPrefix(s, f.prefix) {
		return false
	}
	body := s[len(f.prefix):]
	for i := 0; i < len(body); i++ {
		if !isBase62(body[i]) {
			return false
		}
	}
	sum := checksumOf(body[:randomLen])
	return string(sum[:]) == body[randomLen:]
}

// Check returns ErrMalformed unless s is a well-formed token of this format.
func (f Format) Check(s string) error {
	if !f.Valid(s) {
		return ErrMalformed
	}
	return nil
}

// Mask shows a token as its first 8 and last 4 characters, the only form in
// which a token is displayed after its creation.
func Mask(s string) string {
	if len(s) < 16 {
		return "..."
	}
	return s[:8] + "..." + s[len(s)-4:]
}

// Hash is the SHA-256 of the whole token string: the only form that is stored.
func Hash(s string) [32]byte {
	// Copied into a buffer on the stack: converting s itself would allocate
	// on every request, as the hash's argument escapes.
	var buf [128]byte
	if len(s) <= len(buf) {
		return sha256.Sum256(append(buf[:0], s...))
	}
	return sha256.Sum256([]byte(s))
}

func checksum(random []byte) string {
	sum := checksumOf(string(random))
	return string(sum[:])
}

// checksumOf is the base62 CRC-32 (IEEE) of random, computed over the
// string itself so that checking a token allocates nothing.
func checksumOf(random string) [checksumLen]byte {
	n := ^uint32(0)
	for i := 0; i < len(random); i++ {
		n = crc32.IEEETable[byte(n)^random[i]] ^ (n >> 8)
	}
	n = ^n
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[n%62]
		n /= 62
	}
	return out
}

func isBase62(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}
