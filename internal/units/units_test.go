package units

import (
	"reflect"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"104857600", 104857600, false},
		{"1", 1, false},
		{"0", 0, false},
		{"512B", 512, false},
		{"512b", 512, false},
		{"10KB", 10_000, false},
		{"10kb", 10_000, false},
		{"10MB", 10_000_000, false},
		{"2GB", 2_000_000_000, false},
		{"512KiB", 512 << 10, false},
		{"100MiB", 100 << 20, false},
		{"100mib", 100 << 20, false},
		{"100MIB", 100 << 20, false},
		{"1GiB", 1 << 30, false},
		{"100 MiB", 100 << 20, false},
		{" 7 ", 7, false},
		{"8589934591GiB", 8589934591 << 30, false},
		{"8589934592GiB", 0, true},
		{"9223372036854775808", 0, true},
		{"", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"+1", 0, true},
		{"1.5MiB", 0, true},
		{"1e6", 0, true},
		{"10TB", 0, true},
		{"10 M", 0, true},
		{"10Mi", 0, true},
		{"10MiBs", 0, true},
		{"0x10", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseSize(%q) = %d, %v; want error %v", tc.in, got, err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseSize(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestFormatSizeAndDuration(t *testing.T) {
	sizes := []struct {
		in   int64
		want string
	}{
		{100 << 20, "100MiB"},
		{1 << 30, "1GiB"},
		{1536, "1536"}, // 1.5KiB: not a whole number of any unit
		{2048, "2KiB"},
		{1000, "1000"},
		{0, "0"},
	}
	for _, tc := range sizes {
		if got := FormatSize(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("FormatSize(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
	durations := []struct {
		in   time.Duration
		want string
	}{
		{12 * time.Hour, "12h"},
		{90 * time.Minute, "1h30m"},
		{30 * time.Second, "30s"},
		{time.Hour + time.Second, "1h0m1s"},
		{1500 * time.Millisecond, "1.5s"},
		{0, "0s"},
	}
	for _, tc := range durations {
		if got := FormatDuration(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestApproxSize(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 bytes"},
		{1023, "1023 bytes"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{3_565_158, "3.4 MiB"},
		{1 << 30, "1.0 GiB"},
		{5 << 50, "5.0 PiB"},
	}
	for _, tc := range tests {
		if got := ApproxSize(tc.in); got != tc.want {
			t.Errorf("ApproxSize(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDays(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
		back string
	}{
		{"365d", 365 * 24 * time.Hour, true, "365d"},
		{" 1d ", 24 * time.Hour, true, "1d"},
		{"0d", 0, true, "0s"},
		{"0", 0, true, "0s"},
		{"48h", 48 * time.Hour, true, "2d"},
		{"90m", 90 * time.Minute, true, "1h30m"},
		{"-1d", 0, false, ""},
		{"-5h", 0, false, ""},
		{"1.5d", 0, false, ""},
		{"d", 0, false, ""},
		{"99999999999999d", 0, false, ""},
	} {
		got, err := ParseDays(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDays(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
			continue
		}
		if tc.ok && FormatDays(got) != tc.back {
			t.Errorf("FormatDays(%v) = %q, want %q", got, FormatDays(got), tc.back)
		}
	}
}
