package sso

import (
	"crypto/rand"
	"crypto/subtle"
	"net"
	"net/url"
)

// random is 128 random bits as text: a state or a nonce.
func random() string { return rand.Text() }

func constantEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Host == "" {
		return nil, &url.Error{Op: "parse", URL: s, Err: errNoHost}
	}
	return u, nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errNoHost = constError("no host")

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// printable keeps printable ASCII, for a provider's words shown back.
func printable(r rune) rune {
	if r < ' ' || r > '~' {
		return -1
	}
	return r
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
