package keyring

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// TestSecurityParseKeyFromText: the server key given as text (GATEHOUSE_KEY)
// is 32 bytes in hexadecimal or base64, and anything else is refused with an
// error that does not repeat the text.
func TestSecurityParseKeyFromText(t *testing.T) {
	secret := bytes.Repeat([]byte{0xa5, 0x3c, 0x7e, 0x01}, 8)
	short := secret[:16]
	tests := []struct {
		name, text string
		ok         bool
	}{
		{"hexadecimal", hex.EncodeToString(secret), true},
		{"hexadecimal, upper case, with a newline", strings.ToUpper(hex.EncodeToString(secret)) + "\n", true},
		{"base64", base64.StdEncoding.EncodeToString(secret), true},
		{"base64 without padding", base64.RawStdEncoding.EncodeToString(secret), true},
		{"base64, URL alphabet", base64.URLEncoding.EncodeToString(secret), true},
		{"16 bytes in hexadecimal", hex.EncodeToString(short), false},
		{"16 bytes in base64", base64.StdEncoding.EncodeToString(short), false},
		{"33 bytes", hex.EncodeToString(append(secret, 1)), false},
		{"a password", "correct horse battery staple", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		k, err := Parse(tt.text)
		if tt.ok {
			if err != nil || !bytes.Equal(k.secret, secret) {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		if tt.text != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.text)) {
			t.Errorf("%s: the error repeats the key: %v", tt.name, err)
		}
	}
	// The same key, from a file or from text, seals and opens the same.
	a, _ := Parse(hex.EncodeToString(secret))
	fa, _ := a.Fingerprint()
	fb, _ := New(secret).Fingerprint()
	if fa != fb {
		t.Fatal("a key from text and the same key from bytes differ")
	}
}
