package npmapi

import "testing"

// TestAcceptsGzip: a packument is sent gzipped exactly when the request's
// Accept-Encoding accepts gzip (RFC 9110, 12.5.3), as the clients send it
// and as a careful client refuses it.
func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   bool
	}{
		{"none sent", nil, false},
		{"npm", []string{"gzip,deflate"}, true},
		{"curl --compressed", []string{"deflate, gzip, br, zstd"}, true},
		{"browser", []string{"gzip, deflate, br"}, true},
		{"upper case", []string{"GZIP"}, true},
		{"x-gzip", []string{"x-gzip"}, true},
		{"quality", []string{"gzip;q=0.5, br"}, true},
		{"spaces around the quality", []string{"gzip ; q = 0.8"}, true},
		{"two header lines", []string{"br", "gzip"}, true},
		{"star", []string{"*"}, true},
		{"identity only", []string{"identity"}, false},
		{"deflate only", []string{"deflate"}, false},
		{"gzip refused", []string{"gzip;q=0"}, false},
		{"gzip refused, spelled 0.000", []string{"gzip;q=0.000"}, false},
		{"gzip refused though star allows", []string{"*, gzip;q=0"}, false},
		{"gzip refused before star", []string{"gzip;q=0, *"}, false},
		{"other parameters", []string{"gzip;level=9;q=0.5"}, true},
		{"star refused", []string{"*;q=0"}, false},
		{"star refused, gzip named", []string{"*;q=0, gzip"}, true},
		{"malformed quality", []string{"gzip;q=high"}, false},
		{"quality above one", []string{"gzip;q=2"}, false},
		{"quality 1.001", []string{"gzip;q=1.001"}, false},
		{"quality 1.000", []string{"gzip;q=1.000"}, true},
		{"quality 0.001", []string{"gzip;q=0.001"}, true},
		{"four decimals", []string{"gzip;q=0.0001"}, false},
		{"exponent", []string{"gzip;q=1e-3"}, false},
		{"no leading digit", []string{"gzip;q=.5"}, false},
		{"sign", []string{"gzip;q=+0.5"}, false},
		{"hexadecimal", []string{"gzip;q=0x1p-1"}, false},
		{"empty quality", []string{"gzip;q="}, false},
		{"alias refused beside gzip", []string{"gzip, x-gzip;q=0"}, true},
		{"identity preferred", []string{"identity, gzip;q=0.001"}, false},
		{"identity less preferred", []string{"identity;q=0.5, gzip"}, true},
		{"identity as preferred", []string{"gzip;q=0.5, identity;q=0.5"}, true},
		{"star preferred over identity", []string{"*;q=0.8, identity;q=0.5"}, true},
		{"gzip as a parameter's value", []string{"br;gzip"}, false},
		{"gzip inside another coding", []string{"gzipped"}, false},
		{"empty", []string{""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := acceptsGzip(tt.values); got != tt.want {
				t.Errorf("acceptsGzip(%q) = %v, want %v", tt.values, got, tt.want)
			}
		})
	}
}
