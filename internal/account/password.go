package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Parameters HashPassword uses for new hashes: OWASP's recommended argon2id
// settings (19 MiB of memory, 2 passes, 1 lane) with a 32-byte key and a
// 16-byte salt. Changing them later is safe: CheckPassword reads the
// parameters from each stored hash.
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Bounds CheckPassword enforces on a stored hash. Anything outside them is
// treated as malformed rather than computed, so a tampered or corrupt row
// cannot make a login burn gigabytes of memory or minutes of CPU.
const (
	maxArgonMemory  = 1 << 20 // KiB, i.e. 1 GiB
	maxArgonTime    = 10
	maxArgonThreads = 16
	minSaltLen      = 8
	maxSaltLen      = 64
	minKeyLen       = 16
	maxKeyLen       = 64
)

// ErrMalformedHash is wrapped by the error CheckPassword returns when the
// encoded hash is not an argon2id PHC string it is willing to verify.
var ErrMalformedHash = errors.New("malformed password hash")

// phcEncoding returns the PHC string format's base64: standard alphabet, no
// padding, and (when decoding) no stray bits in the last character.
func phcEncoding() *base64.Encoding { return base64.RawStdEncoding.Strict() }

// argonParams are the cost parameters recorded in a PHC string.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

// HashPassword returns an argon2id hash of password in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash, raw standard base64 without padding), with a 16-byte random salt.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: read random salt: %w", err)
	}
	p := argonParams{memory: argonMemory, time: argonTime, threads: argonThreads}
	key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, argonKeyLen)
	return encodePHC(p, salt, key), nil
}

// CheckPassword reports whether password matches encoded, in constant time. A malformed encoded string is an error.
//
// The argon2id parameters, salt and key length are taken from encoded, so
// hashes made with older parameters keep working. Parameters beyond sane
// bounds (memory over 1 GiB, more than 10 passes, more than 16 lanes) make
// encoded malformed; such errors wrap ErrMalformedHash.
func CheckPassword(encoded, password string) (bool, error) {
	p, salt, want, err := decodePHC(encoded)
	if err != nil {
		return false, fmt.Errorf("check password: %w", err)
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// encodePHC writes p, salt and key as an argon2id PHC string.
func encodePHC(p argonParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads,
		phcEncoding().EncodeToString(salt), phcEncoding().EncodeToString(key))
}

// decodePHC parses an argon2id PHC string, checking every part against the
// bounds above. Its errors wrap ErrMalformedHash.
func decodePHC(encoded string) (argonParams, []byte, []byte, error) {
	malformed := func(format string, args ...any) (argonParams, []byte, []byte, error) {
		return argonParams{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, fmt.Sprintf(format, args...))
	}

	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return malformed("want $argon2id$v=..$m=..,t=..,p=..$salt$hash")
	}
	if parts[1] != "argon2id" {
		return malformed("algorithm %q, want argon2id", parts[1])
	}

	version, ok := strings.CutPrefix(parts[2], "v=")
	if !ok {
		return malformed("missing version")
	}
	if v, err := parseDecimal(version, 32); err != nil || v != argon2.Version {
		return malformed("version %q, want %d", version, argon2.Version)
	}

	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return malformed("want parameters m=..,t=..,p=..")
	}
	values := make([]uint64, len(fields))
	for i, name := range []string{"m", "t", "p"} {
		raw, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return malformed("parameter %d is %q, want %s=..", i+1, fields[i], name)
		}
		v, err := parseDecimal(raw, 32)
		if err != nil {
			return malformed("parameter %s: %v", name, err)
		}
		values[i] = v
	}
	m, t, threads := values[0], values[1], values[2]
	switch {
	case threads < 1 || threads > maxArgonThreads:
		return malformed("p=%d, want 1 to %d", threads, maxArgonThreads)
	case t < 1 || t > maxArgonTime:
		return malformed("t=%d, want 1 to %d", t, maxArgonTime)
	case m < 8*threads || m > maxArgonMemory:
		return malformed("m=%d, want %d to %d KiB", m, 8*threads, maxArgonMemory)
	}
	p := argonParams{memory: uint32(m), time: uint32(t), threads: uint8(threads)}

	salt, err := phcEncoding().DecodeString(parts[4])
	if err != nil {
		return malformed("salt: %v", err)
	}
	if len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return malformed("salt is %d bytes, want %d to %d", len(salt), minSaltLen, maxSaltLen)
	}
	key, err := phcEncoding().DecodeString(parts[5])
	if err != nil {
		return malformed("hash: %v", err)
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return malformed("hash is %d bytes, want %d to %d", len(key), minKeyLen, maxKeyLen)
	}
	return p, salt, key, nil
}

// parseDecimal parses s as an unsigned decimal number of at most bits bits,
// written canonically: no sign, no leading zeros, no spaces.
func parseDecimal(s string, bits int) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	if strconv.FormatUint(v, 10) != s {
		return 0, fmt.Errorf("not a canonical number: %q", s)
	}
	return v, nil
}
