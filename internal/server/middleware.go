package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/metrics"
	"github.com/gatehouse-registry/gatehouse/internal/route"
)

type middleware func(http.Handler) http.Handler

// chain wraps h so that the last middleware listed runs first.
func chain(h http.Handler, m ...middleware) http.Handler {
	for _, mw := range m {
		h = mw(h)
	}
	return h
}

// requestContext puts in the request's context, with one copy of the
// request, what every later step reads: its id and its client address.
//
// The id is echoed in X-Request-Id and carried by every log line logged with
// the request's context. A request that comes through a trusted proxy keeps
// the X-Request-Id the proxy gave it, when that is a sane id, so the proxy's
// logs and gatehouse's line up; from anyone else the header is ignored and a
// fresh id is made.
//
// The client address is resolved once per request. It is the TCP peer,
// unless the peer is a trusted proxy: then it is the right-most address of
// X-Forwarded-For that is not itself a trusted proxy. No other header is
// believed. An unparsable forwarded entry stops the walk at the proxy that
// sent it, so a forged header never widens what a token's IP ranges allow.
func requestContext(trusted []netip.Prefix) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			peer := peerIP(r.RemoteAddr)
			id := r.Header.Get("X-Request-Id")
			if !saneRequestID(id) || !isTrusted(peer, trusted) {
				var b [8]byte
				_, _ = rand.Read(b[:])
				id = hex.EncodeToString(b[:])
			}
			ip := resolveClientIP(peer, r.Header.Values("X-Forwarded-For"), trusted)
			ctx := newRequestValues(r.Context(), id, ip)
			w.Header()["X-Request-Id"] = ctx.idHeader[:]
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// saneRequestID accepts 1 to 128 characters of A-Z, a-z, 0-9 and - _ . :
// (UUIDs, hex ids, most tracing ids): nothing that could forge a log line.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == ':'
		if !ok {
			return false
		}
	}
	return true
}

// peerIP is the address of the TCP peer; invalid when remoteAddr is not host:port.
func peerIP(remoteAddr string) netip.Addr {
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		ip = ap.Addr().Unmap()
	} else if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		ip, _ = netip.ParseAddr(host)
	}
	return ip
}

// resolveClientIP walks forwarded (the X-Forwarded-For headers) from the
// right while the address it is at, starting at peer, is a trusted proxy.
func resolveClientIP(peer netip.Addr, forwarded []string, trusted []netip.Prefix) netip.Addr {
	ip := peer
	if !isTrusted(ip, trusted) {
		return ip
	}
	var hops []string
	for _, h := range forwarded {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ip
		}
		ip = hop.Unmap()
		if !isTrusted(ip, trusted) {
			return ip
		}
	}
	return ip
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	// route is the name of the route that answered, "" until the route
	// table says (route.Recorder).
	route string
}

// RouteMatched records the name of the route that answers.
func (s *statusRecorder) RouteMatched(rt *route.Route) { s.route = rt.Name }

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// ReadFrom hands io.Copy (which http.ServeContent uses) to the writer
// underneath when the source is a file, so that a tarball read from a file
// is sent with the kernel's sendfile rather than copied through the process.
// Any other source (a tarball from the in-memory cache) is copied through
// Write: net/http's ReadFrom would flush the headers in a write of their
// own before sending the body in another, where Write sends a small answer,
// headers and body, in one.
func (s *statusRecorder) ReadFrom(src io.Reader) (int64, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := s.ResponseWriter.(io.ReaderFrom); ok && sendfileSource(src) {
		n, err = rf.ReadFrom(src)
	} else if wt, ok := wholeInMemory(src); ok {
		// One Write of the whole body: no copy buffer, and net/http sends
		// what fits with the headers.
		n, err = wt.WriteTo(struct{ io.Writer }{s.ResponseWriter})
	} else {
		// Hide this method from io.Copy, or it would call it again.
		n, err = io.Copy(struct{ io.Writer }{s.ResponseWriter}, src)
	}
	s.bytes += n
	return n, err
}

// sendfileSource reports whether net's sendfile can send src: a file, or
// one inside the *io.LimitedReader that io.CopyN makes (as net does).
func sendfileSource(src io.Reader) bool {
	if lr, ok := src.(*io.LimitedReader); ok {
		src = lr.R
	}
	_, ok := src.(syscall.Conn)
	return ok
}

// wholeInMemory returns src as an io.WriterTo when it is bytes in memory
// (a *bytes.Reader, as for a tarball from the cache) whose rest is all to be
// copied: either src itself or inside an *io.LimitedReader that does not cut
// it short (io.CopyN in http.ServeContent, sending the whole body).
func wholeInMemory(src io.Reader) (io.WriterTo, bool) {
	var limit int64 = -1
	if lr, ok := src.(*io.LimitedReader); ok {
		limit, src = lr.N, lr.R
	}
	br, ok := src.(*bytes.Reader)
	if !ok || (limit >= 0 && limit < int64(br.Len())) {
		return nil, false
	}
	return br, true
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe logs one line per request and counts it in the metrics under the
// name of the route that answers it (which the route table tells the
// recorder, route.Recorder; route.Table.Name when no route's handler ran,
// so the request is matched once, not twice). The line holds the
// method, route, path, status, response size, duration and client address
// (and, through the context, the request id): never the query string, a
// header, a cookie or a body; the secret in the path of a route that carries
// one (logout, token revocation, browser confirmations) is redacted.
// Probes (/-/ping, /-/ready) are logged at debug level only, so that a load
// balancer polling them does not drown the rest.
func observe(log *slog.Logger, m *metrics.Metrics, routes *route.Table) middleware {
	lines := accessLines(log)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			// The table told the recorder which route answered; when no
			// route's handler ran (a middleware answered first: a body
			// over the limit), the route the table would have chosen.
			name := rec.route
			if name == "" {
				name = routes.Name(r)
			}
			now := time.Now()
			elapsed := now.Sub(start)
			status := rec.status
			if status == 0 {
				status = http.StatusOK // nothing written: net/http answers 200
			}
			m.Request(name, r.Method, status, elapsed)
			level := slog.LevelInfo
			if name == "ping" || name == "ready" {
				level = slog.LevelDebug
			}
			ctx := r.Context()
			if !log.Enabled(ctx, level) {
				return
			}
			e := accessEntry{method: r.Method, route: name, path: routes.Redact(r.URL.Path),
				status: status, bytes: rec.bytes, duration: elapsed, client: auth.ClientIP(ctx)}
			if lines != nil && level == slog.LevelInfo {
				lines.write(ctx, now, e)
				return
			}
			log.LogAttrs(ctx, level, "request", slog.String("method", e.method),
				slog.String("route", e.route), slog.String("path", e.path),
				slog.Int("status", e.status), slog.Int64("bytes", e.bytes), slog.Duration("duration", e.duration),
				slog.String("client", e.client.String()))
		})
	}
}

// limitBody caps every request body; handlers see *http.MaxBytesError past it.
func limitBody(max int64) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Connection", "close")
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				fmt.Fprintf(w, `{"error":"request body is larger than the %d-byte limit"}`, max)
				return
			}
			if r.Body != nil && r.Body != http.NoBody { // no body: nothing to bound
				r.Body = http.MaxBytesReader(w, r.Body, max)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// recoverPanics turns a panic into a logged 500.
func recoverPanics(log *slog.Logger, routes *route.Table) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "panic", slog.Any("panic", v), slog.String("path", routes.Redact(r.URL.Path)))
					http.Error(w, `{"error":"internal server error"}`, http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}
