package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"github.com/gatehouse-registry/gatehouse/internal/units"
)

// Validate reports every setting of c that is out of range or malformed, one
// per line, naming the setting's flag, environment variable and file key. It
// returns nil for a usable Config; Default() is one.
func (c Config) Validate() error {
	var errs []error
	for _, s := range settings() {
		if err := s.check(c); err != nil {
			errs = append(errs, fmt.Errorf("invalid %s (--%s, %s, file key %s): %w", s.key, s.flag, s.env, s.key, err))
		}
	}
	if c.Key != "" {
		if c.KeyFile != "" {
			errs = append(errs, fmt.Errorf("%s and key_file (--key-file, GATEHOUSE_KEY_FILE) are both set: give the key one way", KeyEnv))
		}
		if _, err := keyring.Parse(c.Key); err != nil {
			errs = append(errs, fmt.Errorf("invalid %s: %w", KeyEnv, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
}

// checkPositive requires d to be more than zero.
func checkPositive(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s: must be more than 0", units.FormatDuration(d))
	}
	return nil
}

// checkOneOf requires v to be one of choices, exactly.
func checkOneOf(v string, choices ...string) error {
	if slices.Contains(choices, v) {
		return nil
	}
	return fmt.Errorf("%q: must be one of %s", v, strings.Join(choices, ", "))
}

// checkListen requires addr to be host:port with a numeric port.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT such as 127.0.0.1:4873 or :4873: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// checkURL requires raw to be empty or an absolute http or https URL with a
// host, no credentials, query or fragment, and no trailing slash.
func checkURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: must be an absolute http:// or https:// URL", raw)
	case u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%q: must name a host", raw)
	case u.User != nil:
		return fmt.Errorf("%q: must not contain a user name or password", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q: must not have a query or fragment", raw)
	case strings.HasSuffix(raw, "/"):
		return fmt.Errorf("%q: must not end with /", raw)
	}
	return nil
}

// checkDatabase requires raw to be empty or a postgres:// or postgresql:// URL.
// Its errors never repeat the URL, which may hold a password.
func checkDatabase(raw string) error {
	if raw == "" {
		return nil
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok || !strings.EqualFold(scheme, "postgres") && !strings.EqualFold(scheme, "postgresql") {
		return errors.New("must be empty (SQLite) or a postgres:// or postgresql:// URL")
	}
	if _, err := url.Parse(raw); err != nil {
		return errors.New("is not a valid URL (a password with special characters must be percent-encoded)")
	}
	return nil
}

// checkTokenPrefix requires p to be 1 to 16 characters of [A-Za-z0-9_] ending with _.
func checkTokenPrefix(p string) error {
	if len(p) < 1 || len(p) > 16 {
		return fmt.Errorf("%q: must be 1 to 16 characters long", p)
	}
	for _, r := range p {
		ok := r == '_' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z'
		if !ok {
			return fmt.Errorf("%q: may only contain A-Z, a-z, 0-9 and _", p)
		}
	}
	if !strings.HasSuffix(p, "_") {
		return fmt.Errorf("%q: must end with _", p)
	}
	return nil
}
