// Package units reads and writes the sizes and durations people give
// gatehouse and read from it: settings ("100MiB", "12h") and reports
// ("3.4 MiB").
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// sizeUnits maps the lower-case size units ParseSize accepts to their byte counts.
func sizeUnits() map[string]int64 {
	return map[string]int64{
		"":    1,
		"b":   1,
		"kb":  1000,
		"mb":  1000 * 1000,
		"gb":  1000 * 1000 * 1000,
		"kib": 1 << 10,
		"mib": 1 << 20,
		"gib": 1 << 30,
	}
}

// ParseSize parses a byte count: a whole number, optionally followed by a
// unit B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024),
// in any case and with optional space before the unit, e.g. "104857600",
// "100MiB", "10 mb". It accepts 0; what a size may be is the caller's rule.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	digits := len(t) - len(strings.TrimLeft(t, "0123456789"))
	number, unit := t[:digits], strings.ToLower(strings.TrimSpace(t[digits:]))
	mult, ok := sizeUnits()[unit]
	if number == "" || !ok {
		return 0, fmt.Errorf("invalid size %q: want a whole number of bytes, optionally with a unit B, KB, MB, GB, KiB, MiB or GiB", s)
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n * mult, nil
}

// FormatSize writes n bytes exactly, as ParseSize reads them back: in the
// largest binary unit that divides it, e.g. "100MiB", or as plain bytes.
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// ApproxSize writes n bytes for people to read, to a tenth of the largest
// binary unit it reaches: "1234 bytes", "3.4 MiB".
func ApproxSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// FormatDuration writes d as a Go duration without zero units at its end:
// "12h", not "12h0m0s"; time.ParseDuration reads it back.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// day is the unit of ParseDays and FormatDays.
const day = 24 * time.Hour

// ParseDays parses a long span of time: a whole number of days ("365d"), or
// a Go duration ("8760h", "90m"). It accepts 0 and refuses negative spans.
func ParseDays(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(t, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days < 0 || days > math.MaxInt64/int64(day) {
			return 0, fmt.Errorf("invalid span %q: want a whole number of days such as 365d, or a Go duration such as 720h", s)
		}
		return time.Duration(days) * day, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid span %q: want a whole number of days such as 365d, or a Go duration such as 720h", s)
	}
	return d, nil
}

// FormatDays writes d as ParseDays reads it back: in days when it is a
// whole number of them ("365d"), else as FormatDuration does.
func FormatDays(d time.Duration) string {
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return FormatDuration(d)
}
