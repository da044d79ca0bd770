// Package delivery posts webhook deliveries to their receivers: signed JSON
// over an HTTP client that will not reach into the operator's network.
// Every connection is checked, after DNS resolution, against the address it
// actually dials (a dialer Control function), so a name that resolves to a
// loopback, private, link-local or cloud-metadata address is refused however
// it resolves at the time (DNS rebinding included). Redirects are not
// followed, no proxy is used, and each request's time and each answer's
// read are bounded. The operator's allow-list (CIDR ranges and host names)
// opens the way to internal receivers.
package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// SignatureHeader is the header carrying a delivery's signature, as npm's
// hooks sent it: "sha256=" and the hex HMAC-SHA256 of the body under the
// hook's secret.
const SignatureHeader = "X-Npm-Signature"

// Sign returns the signature header's value for body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Bounds of a delivery.
const (
	// DefaultTimeout bounds one request, from dialing to the end of the
	// answer's excerpt.
	DefaultTimeout = 10 * time.Second
	// DefaultExcerpt bounds the answer's body read and kept, in bytes.
	DefaultExcerpt = 1024
	// MaxEndpoint bounds an endpoint URL's length.
	MaxEndpoint = 2048
)

// ErrRefusedAddress is the error of an endpoint, or a connection, to an
// address hooks may not reach.
var ErrRefusedAddress = errors.New("hook endpoints may not reach loopback, private, link-local or metadata addresses (the operator's hook_allow setting lists the exceptions)")

// Allow is the operator's allow-list: address ranges and host names that
// hooks may reach though they are internal.
type Allow struct {
	Prefixes []netip.Prefix
	Hosts    []string
}

// ParseAllow reads the allow-list's entries: each a CIDR range, an
// address, or a host name.
func ParseAllow(entries []string) (Allow, error) {
	var a Allow
	for _, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
		case strings.Contains(e, "/"):
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return Allow{}, fmt.Errorf("hook allow-list entry %q: %w", e, err)
			}
			a.Prefixes = append(a.Prefixes, p.Masked())
		default:
			if ip, err := netip.ParseAddr(e); err == nil {
				a.Prefixes = append(a.Prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
				continue
			}
			if strings.ContainsAny(e, " :@") {
				return Allow{}, fmt.Errorf("hook allow-list entry %q: not a CIDR range, an address or a host name", e)
			}
			a.Hosts = append(a.Hosts, strings.ToLower(strings.TrimSuffix(e, ".")))
		}
	}
	return a, nil
}

func (a Allow) addr(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range a.Prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (a Allow) host(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	for _, x := range a.Hosts {
		if x == h {
			return true
		}
	}
	return false
}

// internal are ranges that are not public addresses, beyond what netip's
// predicates name: shared (carrier-grade NAT) space, "this network", IETF
// protocol assignments, benchmarking, reserved and documentation ranges,
// NAT64 and the IPv4 broadcast address.
var internal = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// Internal reports whether ip is an address hooks may not reach by
// default: loopback, private (RFC 1918, unique local IPv6), link-local
// (169.254.169.254, the cloud metadata service, among them), unspecified,
// multicast, and the other ranges that are not the public internet.
func Internal(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range internal {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Options configure a Client.
type Options struct {
	Allow Allow
	// Timeout bounds one request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Excerpt bounds the answer's body kept; 0 means DefaultExcerpt.
	Excerpt int
	// UserAgent is sent with each delivery.
	UserAgent string
	// Resolver resolves endpoint names when a hook is made; nil means
	// net.DefaultResolver.
	Resolver *net.Resolver
}

// Client posts deliveries.
type Client struct {
	http *http.Client
	opts Options
}

// New returns a client that refuses internal addresses outside opts.Allow.
func New(opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Excerpt <= 0 {
		opts.Excerpt = DefaultExcerpt
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	allow := opts.Allow
	guarded := &net.Dialer{Timeout: opts.Timeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("dial %s: %w", address, ErrRefusedAddress)
		}
		if Internal(ap.Addr()) && !allow.addr(ap.Addr()) {
			return fmt.Errorf("dial %s: %w", ap.Addr().Unmap(), ErrRefusedAddress)
		}
		return nil
	}}
	open := &net.Dialer{Timeout: opts.Timeout}
	transport := &http.Transport{
		Proxy: nil, // never through a proxy: the check is on the address dialed
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err == nil && allow.host(host) {
				return open.DialContext(ctx, network, addr)
			}
			return guarded.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &Client{opts: opts, http: &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is the answer, not a new request
		},
	}}
}

// CheckEndpoint says whether raw may be a hook's endpoint: an http or https
// URL with a host, no user name or password, not too long, whose address
// (or every address its name resolves to now) hooks may reach. A name that
// does not resolve is accepted: the address is checked again on every
// connection.
func (c *Client) CheckEndpoint(ctx context.Context, raw string) error {
	if len(raw) > MaxEndpoint {
		return fmt.Errorf("the endpoint is longer than %d bytes", MaxEndpoint)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
		return errors.New("the endpoint must be an http or https URL with a host")
	}
	if u.User != nil {
		return errors.New("the endpoint may not carry a user name or password")
	}
	host := u.Hostname()
	if c.opts.Allow.host(host) {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if Internal(ip) && !c.opts.Allow.addr(ip) {
			return ErrRefusedAddress
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ips, err := c.opts.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, ip := range ips {
		if Internal(ip) && !c.opts.Allow.addr(ip) {
			return ErrRefusedAddress
		}
	}
	return nil
}

// Result is how one attempt went.
type Result struct {
	// Status is the answer's HTTP status, 0 when none came.
	Status   int
	Duration time.Duration
	// Excerpt is the start of the answer's body, valid UTF-8.
	Excerpt string
	// Err says why the attempt failed; nil when the receiver answered 2xx.
	Err error
}

// Post sends body to endpoint with header (the signature among them).
func (c *Client) Post(ctx context.Context, endpoint string, header map[string]string, body []byte) Result {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Result{Err: fmt.Errorf("make the request: %w", err)}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.opts.UserAgent != "" {
		req.Header.Set("User-Agent", c.opts.UserAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{Duration: time.Since(start), Err: redactURL(err)}
	}
	defer resp.Body.Close()
	buf, readErr := io.ReadAll(io.LimitReader(resp.Body, int64(c.opts.Excerpt)))
	r := Result{Status: resp.StatusCode, Duration: time.Since(start),
		Excerpt: strings.ToValidUTF8(string(buf), "\uFFFD")}
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		r.Err = fmt.Errorf("the receiver answered %d", resp.StatusCode)
	case readErr != nil:
		r.Err = fmt.Errorf("read the answer: %w", redactURL(readErr))
	}
	return r
}

// redactURL drops the URL from a client error: an endpoint's path or query
// may hold a credential of the receiver's.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
