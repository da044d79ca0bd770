package totp

import (
	"net/url"
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1 rows (8 digits there; the last 6 are ours).
func TestRFC6238Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	tests := []struct {
		unix int64
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	}
	for _, tt := range tests {
		if got := Code(secret, Step(time.Unix(tt.unix, 0))); got != tt.want {
			t.Errorf("Code at %d = %s, want %s", tt.unix, got, tt.want)
		}
	}
}

func TestVerifyWindowAndReplay(t *testing.T) {
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_015, 0)
	cur := Step(now)
	tests := []struct {
		name     string
		step     int64
		lastStep int64
		ok       bool
	}{
		{"current step", cur, 0, true},
		{"one step early (clock skew)", cur - 1, 0, true},
		{"one step late", cur + 1, 0, true},
		{"two steps early", cur - 2, 0, false},
		{"two steps late", cur + 2, 0, false},
		{"replay of the accepted step", cur, cur, false},
		{"older step after a newer one was used", cur - 1, cur, false},
		{"next step after the last used", cur + 1, cur, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := Verify(secret, Code(secret, tt.step), now, tt.lastStep)
			if ok != tt.ok {
				t.Fatalf("Verify = %v, want %v", ok, tt.ok)
			}
			if ok && step != tt.step {
				t.Fatalf("matched step %d, want %d", step, tt.step)
			}
		})
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := Verify(secret, bad, now, 0); ok {
			t.Errorf("Verify(%q) accepted", bad)
		}
	}
}

func TestURL(t *testing.T) {
	secret := []byte("12345678901234567890")
	u, err := url.Parse(URL("gatehouse", "alice", secret))
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/gatehouse:alice" {
		t.Fatalf("URL = %s", u)
	}
	if u.Query().Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || u.Query().Get("issuer") != "gatehouse" {
		t.Fatalf("query = %v", u.Query())
	}
}
