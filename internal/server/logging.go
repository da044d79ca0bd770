package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/logqueue"
)

// requestValues is the context of a request from requestContext on: its id
// and client address, and the one-value slice of its X-Request-Id header,
// in one allocation instead of a context layer (and a boxed value) for each.
// Value answers with pointers into the struct, which need no allocation to
// box: audit.RequestID and auth.ClientIP read them.
type requestValues struct {
	context.Context
	id       string
	ip       netip.Addr
	idHeader [1]string
}

func newRequestValues(parent context.Context, id string, ip netip.Addr) *requestValues {
	return &requestValues{Context: parent, id: id, ip: ip, idHeader: [1]string{id}}
}

func (c *requestValues) Value(key any) any {
	switch key.(type) {
	case audit.RequestIDKey:
		return &c.id
	case auth.ClientIPKey:
		return &c.ip
	}
	return c.Context.Value(key)
}

// withRequestID returns ctx carrying the request's id, for the log lines
// logged with it and the audit events recorded with it.
func withRequestID(ctx context.Context, id string) context.Context {
	return audit.WithRequestID(ctx, id)
}

// requestID returns the request's id in ctx, if it has one.
func requestID(ctx context.Context) (string, bool) { return audit.LookupRequestID(ctx) }

// NewLogger returns a structured logger that adds each request's id to the
// records logged with its context.
//
// In the text format, the access log's line (observe) is written without
// going through slog's generic record handling: appendAccessLine writes the
// very bytes slog's TextHandler would (a test compares the two), at a
// fraction of the cost. Both write a line with one Write; w must take
// concurrent Writes, as a logqueue.Writer does, or it is given a lock that
// both share.
func NewLogger(w io.Writer, level string, json bool) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if json {
		return slog.New(requestIDHandler{Handler: slog.NewJSONHandler(w, opts)})
	}
	if _, ok := w.(*logqueue.Writer); !ok {
		w = &lockedWriter{w: w}
	}
	return slog.New(requestIDHandler{Handler: slog.NewTextHandler(w, opts), lines: &lineWriter{w: w}})
}

// lockedWriter lets the text handler and the access line share a writer
// that is not safe for concurrent use.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type requestIDHandler struct {
	slog.Handler
	// lines, when not nil, writes the access log's line in the text
	// format of Handler, which it stands beside (the same writer).
	lines *lineWriter
}

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := requestID(ctx); ok {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs and WithGroup drop lines: the access line has no place for
// the attributes or the group.
func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{Handler: h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{Handler: h.Handler.WithGroup(name)}
}

// accessLines returns the writer of access lines behind log, or nil when
// log's lines must go through slog (JSON, or a handler with attributes).
func accessLines(log *slog.Logger) *lineWriter {
	if h, ok := log.Handler().(requestIDHandler); ok {
		return h.lines
	}
	return nil
}

// accessEntry is what the access log says of a request.
type accessEntry struct {
	method, route, path string
	status              int
	bytes               int64
	duration            time.Duration
	client              netip.Addr
}

// lineWriter writes access lines, each with one Write, from buffers it
// reuses.
type lineWriter struct {
	w      io.Writer
	bufs   sync.Pool // *[]byte
	stamps stamps
}

// write writes e's line at level info, with the request id in ctx.
func (l *lineWriter) write(ctx context.Context, t time.Time, e accessEntry) {
	bp, _ := l.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	id, hasID := requestID(ctx)
	*bp = appendAccessEntry((*bp)[:0], &l.stamps, t, e, id, hasID)
	_, _ = l.w.Write(*bp)
	if cap(*bp) <= 4<<10 {
		l.bufs.Put(bp)
	}
}

// appendAccessLine appends the line log/slog's TextHandler writes for the
// record observe logs at level info: time, level, msg=request, method,
// route, path, status, bytes, duration, client and (when hasID)
// request_id, each value quoted where slog quotes it.
func appendAccessLine(b []byte, t time.Time, e accessEntry, id string, hasID bool) []byte {
	return appendAccessEntry(b, nil, t, e, id, hasID)
}

// appendAccessEntry is appendAccessLine with the time written through
// the stamps of the current second, when st is not nil.
func appendAccessEntry(b []byte, st *stamps, t time.Time, e accessEntry, id string, hasID bool) []byte {
	b = append(b, "time="...)
	if st != nil {
		b = st.append(b, t)
	} else {
		b = t.AppendFormat(b, stampLayout)
	}
	b = append(b, " level=INFO msg=request method="...)
	b = appendTextString(b, e.method)
	b = append(b, " route="...)
	b = appendTextString(b, e.route)
	b = append(b, " path="...)
	b = appendTextString(b, e.path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, e.bytes, 10)
	b = append(b, " duration="...)
	b = append(b, e.duration.String()...)
	b = append(b, " client="...)
	if e.client.IsValid() && e.client.Zone() == "" {
		b = e.client.AppendTo(b) // digits, dots, colons: never quoted
	} else {
		b = appendTextString(b, e.client.String())
	}
	if hasID {
		b = append(b, " request_id="...)
		b = appendTextString(b, id)
	}
	return append(b, '\n')
}

// stampLayout is the access line's time: slog's, to the millisecond.
const stampLayout = "2006-01-02T15:04:05.000Z07:00"

// stamps keeps the access line's time formatted for the last second it
// wrote: every line of that second (each request's, at any rate) shares the
// date, the clock to the second and the zone, and only its milliseconds are
// written, instead of the whole layout being interpreted again.
type stamps struct {
	last atomic.Pointer[stamp]
}

// stamp is the formatted time of one second in one location: before is up
// to the milliseconds ("2026-12-05T18:20:01."), after is what follows them
// (the zone, "Z" or "+01:00").
type stamp struct {
	sec           int64
	loc           *time.Location
	before, after string
}

// append appends t as t.AppendFormat(b, stampLayout) does.
func (st *stamps) append(b []byte, t time.Time) []byte {
	s := st.last.Load()
	if s == nil || s.sec != t.Unix() || s.loc != t.Location() {
		// A new second (or location): format it once. Its zone offset is
		// the same all through the second (zones change on whole seconds).
		whole := t.AppendFormat(nil, stampLayout)
		dot := bytes.IndexByte(whole, '.')
		if dot < 0 || len(whole) < dot+4 {
			return append(b, whole...)
		}
		s = &stamp{sec: t.Unix(), loc: t.Location(), before: string(whole[:dot+1]), after: string(whole[dot+4:])}
		st.last.Store(s)
	}
	ms := t.Nanosecond() / int(time.Millisecond)
	b = append(b, s.before...)
	b = append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, s.after...)
}

// appendTextString appends s as slog's text format writes a string value:
// as it is, or quoted (strconv.Quote) when textNeedsQuoting says so.
func appendTextString(b []byte, s string) []byte {
	if textNeedsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// textNeedsQuoting reports whether slog's text format quotes s: when it is
// empty, or holds a space, '=', '"', an ASCII control character, invalid
// UTF-8, a Unicode space or a rune that is not printable.
func textNeedsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == ' ' || c == '=' || c == '"' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
