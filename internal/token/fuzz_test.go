package token

import (
	"strings"
	"testing"
)

// FuzzFormatCheck feeds any string to the token check. Properties: Check
// and Valid agree; a string that passes has the prefix, the exact length
// and only base62 after it; changing any one character of a valid token
// makes it invalid (the checksum catches every single substitution within
// the alphabet, or the character is outside it); Mask never shows more than
// 12 characters of a token.
func FuzzFormatCheck(f *testing.F) {
	format := NewFormat("")
	good, err := format.Generate()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		good, "", "npm_", good[:len(good)-1], good + "0", strings.ToUpper(good),
		"gh_" + good[4:], "npm_" + strings.Repeat("0", 36), "npm_" + strings.Repeat("é", 18),
		"Bearer " + good, good + "\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		valid := format.Valid(s)
		if (format.Check(s) == nil) != valid {
			t.Fatalf("Check and Valid disagree on %q", s)
		}
		if m := Mask(s); len(s) >= 16 && len(m) != 8+3+4 {
			t.Fatalf("Mask(%q) = %q: not 8+...+4", s, m)
		}
		if !valid {
			return
		}
		if !strings.HasPrefix(s, DefaultPrefix) || len(s) != len(DefaultPrefix)+bodyLen {
			t.Fatalf("%q passed with the wrong prefix or length", s)
		}
		for i := len(DefaultPrefix); i < len(s); i++ {
			if !isBase62(s[i]) {
				t.Fatalf("%q passed with a non-base62 byte at %d", s, i)
			}
		}
		// Every single-character substitution inside the body breaks it.
		b := []byte(s)
		for i := len(DefaultPrefix); i < len(b); i++ {
			orig := b[i]
			b[i] = alphabet[(strings.IndexByte(alphabet, orig)+1)%len(alphabet)]
			if format.Valid(string(b)) {
				t.Fatalf("%q still valid after changing byte %d of %q", b, i, s)
			}
			b[i] = orig
		}
	})
}

// FuzzGeneratedTokenRevalidates checks that a generated token, under any
// prefix an operator might configure, validates under that format, and
// not under another's.
func FuzzGeneratedTokenRevalidates(f *testing.F) {
	for _, p := range []string{"", "npm_", "gh_", "gatehouse_", "x"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, prefix string) {
		format := NewFormat(prefix)
		tok, err := format.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if !format.Valid(tok) {
			t.Fatalf("generated token %q does not validate under prefix %q", tok, format.Prefix())
		}
		if other := NewFormat(format.Prefix() + "z"); other.Valid(tok) {
			t.Fatalf("token %q of prefix %q validates under %q", tok, format.Prefix(), other.Prefix())
		}
		if Hash(tok) == Hash(tok+"x") {
			t.Fatal("Hash collides on a one-byte extension")
		}
	})
}
