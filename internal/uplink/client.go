package uplink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/units"
)

// The Accept headers npm sends for each kind of packument.
const (
	acceptAbbreviated = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
	acceptFull        = "application/json"
)

// maxRedirects bounds the redirects followed for one request.
const maxRedirects = 5

// newHTTPClient returns the client of the uplink at base: its connect and
// response timeouts on the transport (the whole-request timeout is each
// request's context), proxies from the environment (HTTPS_PROXY,
// NO_PROXY), and at most maxRedirects redirects, to http or https only. A
// redirect away from base's host and port loses the Authorization header
// (Go's own rule keeps it for another port of the same host).
func newHTTPClient(s Spec, base *url.URL) *http.Client {
	dialer := &net.Dialer{Timeout: s.ConnectTimeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   s.ConnectTimeout,
		ResponseHeaderTimeout: s.ResponseTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("a redirect to a %s URL", req.URL.Scheme)
			}
			if !strings.EqualFold(req.URL.Host, base.Host) {
				req.Header.Del("Authorization")
			}
			return nil
		},
	}
}

// Validators are what a cached packument is revalidated with: the ETag and
// Last-Modified the uplink sent with it ("" when it sent none).
type Validators struct {
	ETag, LastModified string
}

// Fetched is an uplink's answer for a packument.
type Fetched struct {
	// NotModified is true when the uplink confirmed the cached copy (304):
	// Body is then empty.
	NotModified bool
	// Body is the packument as sent, at most the uplink's
	// max_packument_size; the caller checks it with Parse.
	Body []byte
	// ETag and LastModified are the uplink's validators, "" when it sent none.
	ETag, LastModified string
}

// packumentURL is the uplink's URL of name's packument, a scoped name
// written @scope%2fname as npm writes it.
func (u *Uplink) packumentURL(name string) string {
	return u.base.String() + "/" + strings.Replace(url.PathEscape(name), "%40", "@", 1)
}

// FetchPackument asks the uplink for name's packument, abbreviated or full,
// conditionally when v holds validators. Errors are faults naming the
// uplink: NotFound when it has no such package (404, 410), UpstreamTimeout
// when it did not answer in time, Upstream for anything else that went
// wrong (an error status, a refused credential, a body over the size
// limit, a broken connection). An offline uplink is never contacted.
func (u *Uplink) FetchPackument(ctx context.Context, name string, abbreviated bool, v Validators) (Fetched, error) {
	what := "the packument of " + name
	if u.Offline() {
		return Fetched{}, u.offline(what)
	}
	ctx, cancel := context.WithTimeout(ctx, u.spec.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.packumentURL(name), nil)
	if err != nil {
		return Fetched{}, fmt.Errorf("uplink %s: request for %s: %w", u.Name(), name, err)
	}
	accept := acceptFull
	if abbreviated {
		accept = acceptAbbreviated
	}
	req.Header.Set("Accept", accept)
	if v.ETag != "" {
		req.Header.Set("If-None-Match", v.ETag)
	}
	if v.LastModified != "" {
		req.Header.Set("If-Modified-Since", v.LastModified)
	}
	res, err := u.do(req, "packument", what)
	if err != nil {
		return Fetched{}, err
	}
	defer res.Body.Close()
	f := Fetched{ETag: res.Header.Get("ETag"), LastModified: res.Header.Get("Last-Modified")}
	if res.StatusCode == http.StatusNotModified && (v.ETag != "" || v.LastModified != "") {
		f.NotModified = true
		return f, nil
	}
	if err := u.checkStatus(res, what); err != nil {
		return Fetched{}, err
	}
	limit := u.spec.MaxPackumentSize
	if res.ContentLength > limit {
		return Fetched{}, u.tooLarge(what, res.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return Fetched{}, u.failed(what, err)
	}
	if int64(len(body)) > limit {
		return Fetched{}, u.tooLarge(what, -1, limit)
	}
	u.obs.UpstreamBytes(u.Name(), "packument", int64(len(body)))
	f.Body = body
	return f, nil
}

// Download is a tarball being fetched from an uplink.
type Download struct {
	// Body yields the tarball's bytes, at most the uplink's
	// max_tarball_size; its errors are faults naming the uplink. Close it.
	Body io.ReadCloser
	// Size is the length the uplink announced, -1 when it announced none.
	Size int64
}

// OpenTarball starts fetching the tarball at rawURL (from TarballURL), for
// name@version. Its errors are FetchPackument's; the whole-request timeout
// covers reading the body too.
func (u *Uplink) OpenTarball(ctx context.Context, rawURL, name, version string) (*Download, error) {
	what := "the tarball of " + name + "@" + version
	if u.Offline() {
		return nil, u.offline(what)
	}
	ctx, cancel := context.WithTimeout(ctx, u.spec.Timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel()
		return nil, fault.Wrap(fault.Upstream, err, fmt.Sprintf("uplink %s: %s has an unusable link", u.Name(), what))
	}
	req.Header.Set("Accept", "application/octet-stream, */*")
	res, err := u.do(req, "tarball", what)
	if err != nil {
		cancel()
		return nil, err
	}
	if err := u.checkStatus(res, what); err != nil {
		res.Body.Close()
		cancel()
		return nil, err
	}
	limit := u.spec.MaxTarballSize
	if res.ContentLength > limit {
		res.Body.Close()
		cancel()
		return nil, u.tooLarge(what, res.ContentLength, limit)
	}
	body := &downloadBody{u: u, what: what, r: res.Body, left: limit, cancel: cancel}
	return &Download{Body: body, Size: res.ContentLength}, nil
}

// downloadBody reads a tarball's body, refusing more than its limit and
// turning read errors into faults naming the uplink.
type downloadBody struct {
	u      *Uplink
	what   string
	r      io.ReadCloser
	left   int64 // bytes the limit still allows
	cancel context.CancelFunc
}

func (b *downloadBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	b.u.obs.UpstreamBytes(b.u.Name(), "tarball", int64(n))
	if b.left < 0 {
		return 0, b.u.tooLarge(b.what, -1, b.u.spec.MaxTarballSize)
	}
	if err != nil && err != io.EOF {
		return n, b.u.failed(b.what, err)
	}
	return n, err
}

func (b *downloadBody) Close() error {
	err := b.r.Close()
	b.cancel()
	return err
}

// Ping reports whether the uplink answers HTTP at all (any status will do),
// within the connect and response timeouts.
func (u *Uplink) Ping(ctx context.Context) error {
	if u.Offline() {
		return u.offline("a ping")
	}
	ctx, cancel := context.WithTimeout(ctx, u.spec.ConnectTimeout+u.spec.ResponseTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.base.String()+"/-/ping", nil)
	if err != nil {
		return err
	}
	res, err := u.do(req, "ping", "a ping")
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	return res.Body.Close()
}

// do sends req, a request of kind (packument, tarball, audit, search,
// keys, ping), with the uplink's credential (on the uplink's own host only),
// tells the uplink's observer how it went, and turns a failure to get an
// answer into a fault.
func (u *Uplink) do(req *http.Request, kind, what string) (*http.Response, error) {
	req.Header.Set("User-Agent", "gatehouse (uplink)")
	if u.token != "" && strings.EqualFold(req.URL.Host, u.base.Host) {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	start := time.Now()
	res, err := u.client.Do(req)
	if err != nil {
		err = u.failed(what, err)
		status := "error"
		if fault.Is(err, fault.UpstreamTimeout) {
			status = "timeout"
		}
		u.obs.UpstreamRequest(u.Name(), kind, status, time.Since(start))
		return nil, err
	}
	u.obs.UpstreamRequest(u.Name(), kind, strconv.Itoa(res.StatusCode), time.Since(start))
	return res, nil
}

// checkStatus turns a status other than 200 into a fault, after draining a
// little of the body so that the connection can be reused.
func (u *Uplink) checkStatus(res *http.Response, what string) error {
	if res.StatusCode == http.StatusOK {
		return nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	status := strconv.Itoa(res.StatusCode) + " " + http.StatusText(res.StatusCode)
	switch {
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusGone:
		return fault.Wrap(fault.NotFound, fmt.Errorf("uplink %s answered %s for %s", u.Name(), status, what), "Not found")
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return fault.New(fault.Upstream, "uplink %s refused %s (%s): check the uplink's token", u.Name(), what, status)
	}
	return fault.New(fault.Upstream, "uplink %s answered %s for %s", u.Name(), status, what)
}

// failed turns an error sending a request or reading an answer into a
// fault: UpstreamTimeout when a timeout ran out, Upstream otherwise. The
// cause, for the log, holds no credential (Go's errors name the URL, which
// holds none).
func (u *Uplink) failed(what string, err error) error {
	var fe *fault.Error
	if errors.As(err, &fe) {
		return err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return fault.Wrap(fault.UpstreamTimeout, err, fmt.Sprintf("uplink %s did not send %s in time", u.Name(), what))
	}
	return fault.Wrap(fault.Upstream, err, fmt.Sprintf("uplink %s could not be reached for %s", u.Name(), what))
}

// tooLarge is the fault of an answer over limit bytes (size is what the
// uplink announced, -1 when it did not).
func (u *Uplink) tooLarge(what string, size, limit int64) error {
	announced := ""
	if size >= 0 {
		announced = " (" + units.FormatSize(size) + ")"
	}
	return fault.New(fault.Upstream, "uplink %s sent %s larger than the %s limit%s: refused", u.Name(), what,
		units.FormatSize(limit), announced)
}

// offline is the fault of a request an offline uplink may not send.
func (u *Uplink) offline(what string) error {
	return fault.New(fault.Upstream, "uplink %s is offline: %s is not fetched", u.Name(), what)
}

// MaxKeysSize bounds the uplink's answer for its registry signing keys: a
// registry lists a handful of keys of a few hundred bytes each.
const MaxKeysSize = 256 << 10

// FetchKeys asks the uplink for its registry signing keys (GET
// /-/npm/v1/keys) and returns the answer as sent, at most MaxKeysSize
// bytes; the caller checks it. Errors are faults as FetchPackument's:
// NotFound when the uplink serves no keys (404, 410), Upstream or
// UpstreamTimeout otherwise. An offline uplink is never contacted.
func (u *Uplink) FetchKeys(ctx context.Context) ([]byte, error) {
	const what = "its signing keys"
	if u.Offline() {
		return nil, u.offline(what)
	}
	ctx, cancel := context.WithTimeout(ctx, u.spec.ConnectTimeout+u.spec.ResponseTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.base.String()+"/-/npm/v1/keys", nil)
	if err != nil {
		return nil, fmt.Errorf("uplink %s: request for %s: %w", u.Name(), what, err)
	}
	req.Header.Set("Accept", acceptFull)
	res, err := u.do(req, "keys", what)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if err := u.checkStatus(res, what); err != nil {
		return nil, err
	}
	if res.ContentLength > MaxKeysSize {
		return nil, u.tooLarge(what, res.ContentLength, MaxKeysSize)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxKeysSize+1))
	if err != nil {
		return nil, u.failed(what, err)
	}
	if len(body) > MaxKeysSize {
		return nil, u.tooLarge(what, -1, MaxKeysSize)
	}
	u.obs.UpstreamBytes(u.Name(), "keys", int64(len(body)))
	return body, nil
}
