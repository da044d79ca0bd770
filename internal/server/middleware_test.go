package server

import (
	"net/netip"
	"testing"
)

func TestResolveClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name      string
		remote    string
		forwarded []string
		trusted   []netip.Prefix
		want      string
	}{
		{"direct peer", "192.0.2.7:5000", nil, nil, "192.0.2.7"},
		{"header ignored without trusted proxies", "192.0.2.7:5000", []string{"203.0.113.9"}, nil, "192.0.2.7"},
		{"header ignored from an untrusted peer", "192.0.2.7:5000", []string{"203.0.113.9"}, proxies, "192.0.2.7"},
		{"one trusted proxy", "10.1.1.1:443", []string{"203.0.113.9"}, proxies, "203.0.113.9"},
		{"right-most untrusted wins", "10.1.1.1:443", []string{"198.51.100.1, 203.0.113.9, 10.2.2.2"}, proxies, "203.0.113.9"},
		{"several header lines", "10.1.1.1:443", []string{"198.51.100.1", "203.0.113.9"}, proxies, "203.0.113.9"},
		{"spoofed left entries ignored", "10.1.1.1:443", []string{"127.0.0.1, 203.0.113.9"}, proxies, "203.0.113.9"},
		{"garbage stops at the proxy", "10.1.1.1:443", []string{"not-an-ip"}, proxies, "10.1.1.1"},
		{"all hops trusted", "10.1.1.1:443", []string{"10.3.3.3"}, proxies, "10.3.3.3"},
		{"IPv6 peer", "[2001:db8::1]:443", nil, proxies, "2001:db8::1"},
		{"IPv6 trusted proxy", "[fd00::5]:443", []string{"2001:db8::7"}, proxies, "2001:db8::7"},
		{"IPv4-mapped IPv6 peer", "[::ffff:192.0.2.7]:443", nil, nil, "192.0.2.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolveClientIP(tt.remote, tt.forwarded, tt.trusted)
			if got.String() != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
