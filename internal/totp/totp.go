// Package totp implements time-based one-time passwords (RFC 6238, HMAC-SHA1,
// 6 digits, 30-second steps), the kind every authenticator app reads from an
// otpauth:// URL. It holds no state: replay protection is the caller's, through
// the step number Verify returns.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Period is the length of one step.
const Period = 30 * time.Second

// Digits is the length of a code.
const Digits = 6

// secretLen is 160 bits, RFC 4226's recommended key length for HMAC-SHA1.
const secretLen = 20

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a random secret.
func NewSecret() ([]byte, error) {
	b := make([]byte, secretLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate totp secret: %w", err)
	}
	return b, nil
}

// EncodeSecret writes a secret in base32, as authenticator apps expect it.
func EncodeSecret(secret []byte) string { return encoding.EncodeToString(secret) }

// URL returns the otpauth:// URL that authenticator apps (and npm's QR code) read.
func URL(issuer, account string, secret []byte) string {
	label := url.PathEscape(issuer) + ":" + url.PathEscape(account)
	q := url.Values{}
	q.Set("secret", EncodeSecret(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(Digits))
	q.Set("period", fmt.Sprint(int(Period/time.Second)))
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// Step is the step number of time t.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Code returns the code of secret at step.
func Code(secret []byte, step int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	mac := hmac.New(sha1.New, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", n%1_000_000)
}

// Verify checks code against secret at time now, accepting one step of clock
// skew either side, but only steps after lastStep (so an accepted code can
// never be accepted again). It returns the matching step.
func Verify(secret []byte, code string, now time.Time, lastStep int64) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != Digits {
		return 0, false
	}
	cur := Step(now)
	matched := int64(-1)
	// Check every candidate step, without stopping early, in constant time per step.
	for _, s := range []int64{cur - 1, cur, cur + 1} {
		if s <= lastStep {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(Code(secret, s)), []byte(code)) == 1 && matched < 0 {
			matched = s
		}
	}
	return matched, matched >= 0
}
