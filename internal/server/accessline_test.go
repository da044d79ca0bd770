package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// slogAccessLine is the line log/slog's TextHandler writes for e, as
// observe logged it before appendAccessLine: the reference the fast
// formatter must match byte for byte.
func slogAccessLine(t testing.TB, at time.Time, e accessEntry, id string, hasID bool) string {
	t.Helper()
	var buf bytes.Buffer
	h := requestIDHandler{Handler: slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})}
	ctx := context.Background()
	if hasID {
		ctx = withRequestID(ctx, id)
	}
	r := slog.NewRecord(at, slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("method", e.method), slog.String("route", e.route), slog.String("path", e.path),
		slog.Int("status", e.status), slog.Int64("bytes", e.bytes), slog.Duration("duration", e.duration),
		slog.String("client", e.client.String()))
	if err := h.Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestAccessLineMatchesSlog checks that the access line written directly is
// the line slog's text handler writes for the same request, for values that
// slog quotes and values it does not, times in and out of UTC, every client
// address form and with or without a request id.
func TestAccessLineMatchesSlog(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	odd := time.FixedZone("odd", -(3*3600 + 30*60))
	base := accessEntry{method: "GET", route: "package", path: "/left-pad", status: 200, bytes: 45612,
		duration: 1234567 * time.Nanosecond, client: netip.MustParseAddr("127.0.0.1")}
	tests := []struct {
		name  string
		at    time.Time
		edit  func(e *accessEntry)
		id    string
		hasID bool
	}{
		{"plain", time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), nil, "0123456789abcdef", true},
		{"milliseconds kept with zeros", time.Date(2026, 12, 5, 12, 0, 0, 100_000_000, time.UTC), nil, "a", true},
		{"sub-millisecond truncated", time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC), nil, "a", true},
		{"a zone east", time.Date(2026, 12, 5, 12, 0, 0, 7_000_000, paris), nil, "a", true},
		{"a zone west with minutes", time.Date(2026, 12, 5, 12, 0, 0, 0, odd), nil, "a", true},
		{"no request id", time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), nil, "", false},
		{"an empty request id", time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), nil, "", true},
		{"a proxy's request id", time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), nil, "0b9c7e5a-3f7e:4c1b.9a51_x", true},
		{"a scoped package path", time.Now(), func(e *accessEntry) { e.path = "/@scope%2fname" }, "a", true},
		{"a path with a space", time.Now(), func(e *accessEntry) { e.path = "/a b" }, "a", true},
		{"a path with = and quotes", time.Now(), func(e *accessEntry) { e.path = `/a=b"c\d` }, "a", true},
		{"a path with a backslash only", time.Now(), func(e *accessEntry) { e.path = `/a\b` }, "a", true},
		{"a path with control characters", time.Now(), func(e *accessEntry) { e.path = "/a\nmsg=forged\x00\x1f\x7f" }, "a", true},
		{"a path with unicode", time.Now(), func(e *accessEntry) { e.path = "/ünïcode/日本/\u00a0/\u2028/\ufeff" }, "a", true},
		{"a path with invalid UTF-8", time.Now(), func(e *accessEntry) { e.path = "/\xff\xfe" }, "a", true},
		{"an empty path", time.Now(), func(e *accessEntry) { e.path = "" }, "a", true},
		{"a redacted path", time.Now(), func(e *accessEntry) { e.path = "/-/v1/login/cli/[redacted]" }, "a", true},
		{"an odd method", time.Now(), func(e *accessEntry) { e.method = "M=ETHOD" }, "a", true},
		{"an IPv6 client", time.Now(), func(e *accessEntry) { e.client = netip.MustParseAddr("2001:db8::1") }, "a", true},
		{"an IPv4-mapped client", time.Now(), func(e *accessEntry) { e.client = netip.MustParseAddr("::ffff:192.0.2.1") }, "a", true},
		{"a zoned client", time.Now(), func(e *accessEntry) { e.client = netip.MustParseAddr("fe80::1%eth 0") }, "a", true},
		{"an unknown client", time.Now(), func(e *accessEntry) { e.client = netip.Addr{} }, "a", true},
		{"a 404 of no bytes", time.Now(), func(e *accessEntry) { e.status, e.bytes = 404, 0 }, "a", true},
		{"nanoseconds", time.Now(), func(e *accessEntry) { e.duration = 999 }, "a", true},
		{"microseconds", time.Now(), func(e *accessEntry) { e.duration = 15 * time.Microsecond }, "a", true},
		{"minutes", time.Now(), func(e *accessEntry) { e.duration = 3*time.Minute + 5*time.Millisecond }, "a", true},
		{"zero duration", time.Now(), func(e *accessEntry) { e.duration = 0 }, "a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			if tt.edit != nil {
				tt.edit(&e)
			}
			want := slogAccessLine(t, tt.at, e, tt.id, tt.hasID)
			got := string(appendAccessLine(nil, tt.at, e, tt.id, tt.hasID))
			if got != want {
				t.Errorf("access line differs from slog's:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestAccessLineQuotingEveryByte checks the quoting rule on every byte
// value, alone and inside a word.
func TestAccessLineQuotingEveryByte(t *testing.T) {
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for c := range 256 {
		for _, path := range []string{string(rune(c)), "/a" + string([]byte{byte(c)}) + "b"} {
			e := accessEntry{method: "GET", route: "package", path: path, status: 200, client: netip.MustParseAddr("10.0.0.1")}
			want := slogAccessLine(t, at, e, "id", true)
			if got := string(appendAccessLine(nil, at, e, "id", true)); got != want {
				t.Fatalf("byte %#x: got %q, want %q", c, got, want)
			}
		}
	}
}

// FuzzAccessLine checks, for any path, method, request id and duration,
// that the access line written directly is slog's, and is one line.
func FuzzAccessLine(f *testing.F) {
	f.Add("/left-pad", "GET", "0123456789abcdef", int64(1234567))
	f.Add("/a b=\"c\"\n", "PUT", "", int64(0))
	f.Add("/\xff/日本", "M=", "x y", int64(-5))
	at := time.Date(2026, 12, 5, 12, 0, 0, 123_000_000, time.UTC)
	f.Fuzz(func(t *testing.T, path, method, id string, d int64) {
		e := accessEntry{method: method, route: "package", path: path, status: 200, bytes: 10,
			duration: time.Duration(d), client: netip.MustParseAddr("192.0.2.1")}
		want := slogAccessLine(t, at, e, id, true)
		got := string(appendAccessLine(nil, at, e, id, true))
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		if strings.Count(got, "\n") != 1 {
			t.Fatalf("not one line: %q", got)
		}
	})
}

// BenchmarkAccessLine compares the access line through slog's text handler
// (what each request paid before) with the line written directly, both
// into io.Discard behind the same lock.
func BenchmarkAccessLine(b *testing.B) {
	e := accessEntry{method: "GET", route: "package", path: "/bench-lib", status: 200, bytes: 45612,
		duration: 1234567 * time.Nanosecond, client: netip.MustParseAddr("127.0.0.1")}
	ctx := withRequestID(context.Background(), "0123456789abcdef")
	b.Run("slog", func(b *testing.B) {
		log := slog.New(requestIDHandler{Handler: slog.NewTextHandler(&lockedWriter{w: io.Discard}, nil)})
		b.ReportAllocs()
		for b.Loop() {
			log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", e.method),
				slog.String("route", e.route), slog.String("path", e.path),
				slog.Int("status", e.status), slog.Int64("bytes", e.bytes), slog.Duration("duration", e.duration),
				slog.String("client", e.client.String()))
		}
	})
	b.Run("direct", func(b *testing.B) {
		lines := accessLines(NewLogger(io.Discard, "info", false))
		b.ReportAllocs()
		for b.Loop() {
			lines.write(ctx, time.Now(), e)
		}
	})
}

// TestStampsMatchFormat checks that the access line's time written through
// the stamps of the last second is what time.Format writes, for times in
// one second, across seconds, going back in time, in other zones (one
// changing its offset on a whole second), at the ends of the year and of
// the range of four-digit years, and from several goroutines at once.
func TestStampsMatchFormat(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		berlin = time.FixedZone("CET", 3600)
	}
	odd := time.FixedZone("odd", -(3*3600 + 30*60))
	base := time.Date(2026, 12, 5, 18, 20, 1, 0, time.UTC)
	times := []time.Time{
		base, base.Add(time.Millisecond), base.Add(999_999_999), base.Add(100 * time.Millisecond),
		base.Add(time.Second), base.Add(time.Second + 7*time.Millisecond), base.Add(-time.Nanosecond),
		base.In(odd), base.Add(5 * time.Millisecond).In(odd), base.Local(), base.Add(time.Millisecond).Local(),
		base, // back to UTC after another location in the same second
		// Summer time ends in Berlin at 01:00 UTC on 2026-10-25: the same
		// wall clock hour twice, with two offsets.
		time.Date(2026, 10, 25, 0, 59, 59, 999_000_000, time.UTC).In(berlin),
		time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC).In(berlin),
		time.Date(2026, 12, 31, 23, 59, 59, 999_000_000, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 1_000_000, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 5_000_000, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500_000_000, time.UTC), time.Date(-1, 3, 1, 0, 0, 0, 20_000_000, time.UTC),
		time.Now(), time.Now().Add(time.Millisecond),
	}
	var st stamps
	for _, at := range times {
		want := at.Format(stampLayout)
		if got := string(st.append(nil, at)); got != want {
			t.Errorf("%v: got %q, want %q", at, got, want)
		}
	}
	// Lines of many goroutines at once, each in its own second and zone.
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			loc := time.FixedZone("g", g*1800)
			for i := range 2000 {
				at := base.Add(time.Duration(g)*time.Second + time.Duration(i)*time.Millisecond).In(loc)
				if got, want := string(st.append([]byte("x"), at)), "x"+at.Format(stampLayout); got != want {
					errs <- got + " != " + want
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// And the whole line through the stamps is the line without them.
	e := accessEntry{method: "GET", route: "package", path: "/left-pad", status: 200, bytes: 45612,
		duration: 1234567 * time.Nanosecond, client: netip.MustParseAddr("127.0.0.1")}
	for _, at := range times {
		if got, want := string(appendAccessEntry(nil, &st, at, e, "id", true)), string(appendAccessLine(nil, at, e, "id", true)); got != want {
			t.Errorf("%v: got %q, want %q", at, got, want)
		}
	}
}
