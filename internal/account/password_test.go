package account

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestHashPasswordFormat(t *testing.T) {
	encoded, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(encoded, prefix) {
		t.Fatalf("HashPassword = %q, want prefix %q", encoded, prefix)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 {
		t.Fatalf("HashPassword = %q: %d $-separated parts, want 6", encoded, len(parts))
	}
	for _, tc := range []struct {
		name string
		text string
		want int
	}{
		{"salt", parts[4], 16},
		{"hash", parts[5], 32},
	} {
		if strings.ContainsRune(tc.text, '=') {
			t.Errorf("%s %q has base64 padding", tc.name, tc.text)
		}
		b, err := base64.RawStdEncoding.DecodeString(tc.text)
		if err != nil {
			t.Errorf("%s %q: %v", tc.name, tc.text, err)
			continue
		}
		if len(b) != tc.want {
			t.Errorf("%s is %d bytes, want %d", tc.name, len(b), tc.want)
		}
	}
}

func TestCheckPasswordRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		password string
		attempt  string
		want     bool
	}{
		{"same password", "correct horse battery staple", "correct horse battery staple", true},
		{"wrong password", "correct horse battery staple", "correct horse battery stapler", false},
		{"case differs", "Secret", "secret", false},
		{"empty password", "", "", true},
		{"empty attempt", "secret", "", false},
		{"unicode", "pässwörd 🔑", "pässwörd 🔑", true},
		{"unicode normalisation is not applied", "é", "e\u0301", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			encoded, err := HashPassword(tc.password)
			if err != nil {
				t.Fatalf("HashPassword: %v", err)
			}
			got, err := CheckPassword(encoded, tc.attempt)
			if err != nil {
				t.Fatalf("CheckPassword: %v", err)
			}
			if got != tc.want {
				t.Errorf("CheckPassword(hash of %q, %q) = %v, want %v", tc.password, tc.attempt, got, tc.want)
			}
		})
	}
}

func TestHashPasswordSalted(t *testing.T) {
	a, err := HashPassword("same")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	b, err := HashPassword("same")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if a == b {
		t.Fatalf("two hashes of one password are equal: %q", a)
	}
	for _, h := range []string{a, b} {
		if ok, err := CheckPassword(h, "same"); err != nil || !ok {
			t.Errorf("CheckPassword(%q) = %v, %v; want true, nil", h, ok, err)
		}
	}
}

// phcOf builds a PHC string by hand, independently of encodePHC.
func phcOf(password string, salt []byte, m, t uint32, p uint8, keyLen uint32) string {
	key := argon2.IDKey([]byte(password), salt, t, m, p, keyLen)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func TestCheckPasswordHonoursEncodedParameters(t *testing.T) {
	salt := []byte("0123456789abcdef")
	tests := []struct {
		name   string
		m, t   uint32
		p      uint8
		keyLen uint32
	}{
		{"cheap", 64, 1, 1, 32},
		{"more passes", 64, 3, 1, 32},
		{"more lanes", 128, 1, 4, 32},
		{"short key", 64, 1, 1, 16},
		{"long key", 64, 1, 1, 64},
		{"default", argonMemory, argonTime, argonThreads, argonKeyLen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			encoded := phcOf("hunter2", salt, tc.m, tc.t, tc.p, tc.keyLen)
			ok, err := CheckPassword(encoded, "hunter2")
			if err != nil || !ok {
				t.Fatalf("CheckPassword(%q, right) = %v, %v; want true, nil", encoded, ok, err)
			}
			ok, err = CheckPassword(encoded, "hunter3")
			if err != nil || ok {
				t.Fatalf("CheckPassword(%q, wrong) = %v, %v; want false, nil", encoded, ok, err)
			}
		})
	}

	// The same key under different parameters must not verify: the parameters
	// are really used, not just parsed.
	encoded := phcOf("hunter2", salt, 64, 1, 1, 32)
	tampered := strings.Replace(encoded, "t=1", "t=2", 1)
	if ok, err := CheckPassword(tampered, "hunter2"); err != nil || ok {
		t.Errorf("CheckPassword with t changed = %v, %v; want false, nil", ok, err)
	}
}

func TestCheckPasswordMalformed(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	valid := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if _, err := CheckPassword(valid, "x"); err != nil {
		t.Fatalf("baseline %q: %v", valid, err)
	}
	with := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }

	tests := []struct {
		name    string
		encoded string
	}{
		{"empty", ""},
		{"plain text", "hunter2"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", strings.Replace(valid, "argon2id", "argon2i", 1)},
		{"argon2d", strings.Replace(valid, "argon2id", "argon2d", 1)},
		{"no leading dollar", strings.TrimPrefix(valid, "$")},
		{"trailing part", valid + "$extra"},
		{"missing hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"missing version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"old version", strings.Replace(valid, "v=19", "v=16", 1)},
		{"bad version", strings.Replace(valid, "v=19", "v=x", 1)},
		{"version without v=", strings.Replace(valid, "v=19", "19", 1)},
		{"params out of order", with("t=1,m=64,p=1")},
		{"missing param", with("m=64,t=1")},
		{"extra param", with("m=64,t=1,p=1,k=2")},
		{"empty param", with("m=,t=1,p=1")},
		{"negative param", with("m=-64,t=1,p=1")},
		{"plus sign", with("m=+64,t=1,p=1")},
		{"leading zero", with("m=064,t=1,p=1")},
		{"spaces", with("m=64, t=1, p=1")},
		{"t zero", with("m=64,t=0,p=1")},
		{"p zero", with("m=64,t=1,p=0")},
		{"m below 8p", with("m=8,t=1,p=2")},
		{"m over 1 GiB", with("m=1048577,t=1,p=1")},
		{"m overflows uint32", with("m=4294967296,t=1,p=1")},
		{"t over 10", with("m=64,t=11,p=1")},
		{"p over 16", with("m=256,t=1,p=17")},
		{"p overflows uint8", with("m=4096,t=1,p=256")},
		{"salt not base64", "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key},
		{"salt padded", "$argon2id$v=19$m=64,t=1,p=1$" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")) + "$" + key},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString([]byte("short")) + "$" + key},
		{"salt empty", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"hash not base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a*b"},
		{"hash url-safe alphabet", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("-_", 21) + "A"},
		{"hash too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + base64.RawStdEncoding.EncodeToString(make([]byte, 8))},
		{"hash too long", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + base64.RawStdEncoding.EncodeToString(make([]byte, 65))},
		{"hash empty", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := CheckPassword(tc.encoded, "hunter2")
			if err == nil {
				t.Fatalf("CheckPassword(%q) = %v, nil; want an error", tc.encoded, ok)
			}
			if ok {
				t.Errorf("CheckPassword(%q) reported a match alongside error %v", tc.encoded, err)
			}
			if !errors.Is(err, ErrMalformedHash) {
				t.Errorf("CheckPassword(%q) error %v does not wrap ErrMalformedHash", tc.encoded, err)
			}
		})
	}
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckPassword(b *testing.B) {
	encoded, err := HashPassword("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := CheckPassword(encoded, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
