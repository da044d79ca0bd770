package server

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// pace bounds how long a request's body and its response may take, so that
// a client trickling bytes (or reading none) cannot hold a connection and
// its handler for ever: ReadHeaderTimeout covers only the head.
//
// Reading the body, the connection's read deadline (set through
// http.ResponseController before every read) lets the client take grace,
// plus one second for every rate bytes it has sent so far: a client that
// keeps to the rate is never cut, one below it is cut at most grace after it
// fell behind, and none may pause longer than grace. Writing the response,
// each write (or a file sent whole, by its Content-Length) gets grace plus
// its length at rate.
func pace(grace time.Duration, rate int64) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The connection's deadlines, found once for the request (an
			// http.ResponseController looks for them on every call, and
			// is an allocation of its own).
			rc := connDeadlines(w)
			pw := &pacedWriter{ResponseWriter: w, rc: rc, grace: grace, rate: rate}
			hasBody := r.Body != nil && r.Body != http.NoBody
			if hasBody {
				r.Body = &pacedBody{ReadCloser: r.Body, rc: rc, start: time.Now(), grace: grace, rate: rate}
			}
			next.ServeHTTP(pw, r)
			// What the server does after the handler is bounded too: it
			// flushes what is buffered, and reads what is left of a body the
			// handler did not read (a request refused before its body) to
			// keep the connection. It sets its own deadlines for the next
			// request. A deadline that a write just set, with at least half
			// the grace left, already bounds the flush; a request without a
			// body leaves nothing to read. Each deadline not set again is a
			// timer change the request does not pay.
			// (time.Until reads only the monotonic clock: a deadline a write
			// set carries its reading. The zero until, no write, is long past.)
			if time.Until(pw.until) < grace/2 {
				_ = rc.SetWriteDeadline(time.Now().Add(grace))
			}
			if hasBody {
				_ = rc.SetReadDeadline(time.Now().Add(grace))
			}
		})
	}
}

// atRate is how long n bytes take at rate bytes a second.
func atRate(n, rate int64) time.Duration {
	return time.Duration(float64(n) / float64(rate) * float64(time.Second))
}

// errSlowBody is what reading a request body returns once the client fell
// below the transfer rate, or paused too long.
var errSlowBody = errors.New("the request body came slower than the server's minimum transfer rate")

// deadlines sets the connection's deadlines: what http.ResponseController
// calls on the writer net/http gives a handler.
type deadlines interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// connDeadlines finds, through the writers' Unwrap methods, the writer
// that sets the connection's deadlines, as http.ResponseController does;
// when there is none, its methods return http.ErrNotSupported.
func connDeadlines(w http.ResponseWriter) deadlines {
	for {
		if d, ok := w.(deadlines); ok {
			return d
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return noDeadlines{}
		}
		w = u.Unwrap()
	}
}

// noDeadlines is the deadlines of a writer that has none.
type noDeadlines struct{}

func (noDeadlines) SetReadDeadline(time.Time) error  { return http.ErrNotSupported }
func (noDeadlines) SetWriteDeadline(time.Time) error { return http.ErrNotSupported }

type pacedBody struct {
	io.ReadCloser
	rc    deadlines
	start time.Time
	grace time.Duration
	rate  int64
	read  int64
}

func (b *pacedBody) Read(p []byte) (int, error) {
	now := time.Now()
	deadline := b.start.Add(b.grace + atRate(b.read, b.rate))
	if idle := now.Add(b.grace); idle.Before(deadline) {
		deadline = idle
	}
	if err := b.rc.SetReadDeadline(deadline); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	if err != nil && !time.Now().Before(deadline) && !errors.Is(err, io.EOF) {
		return n, errors.Join(errSlowBody, err)
	}
	return n, err
}

type pacedWriter struct {
	http.ResponseWriter
	rc    deadlines
	grace time.Duration
	rate  int64
	until time.Time // the write deadline last set; zero before the first
}

func (w *pacedWriter) deadline(n int64) {
	until := time.Now().Add(w.grace + atRate(n, w.rate))
	if w.rc.SetWriteDeadline(until) == nil {
		w.until = until
	}
}

func (w *pacedWriter) Write(p []byte) (int, error) {
	w.deadline(int64(len(p)))
	return w.ResponseWriter.Write(p)
}

// ReadFrom keeps the writer underneath's ReadFrom (sendfile for a tarball
// read from a file) when the response's length is known, with a deadline
// for all of it; else the body goes through Write, a deadline per write.
func (w *pacedWriter) ReadFrom(src io.Reader) (int64, error) {
	n, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64)
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if err != nil || !ok {
		return io.Copy(struct{ io.Writer }{w}, src)
	}
	w.deadline(n)
	return rf.ReadFrom(src)
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (w *pacedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
