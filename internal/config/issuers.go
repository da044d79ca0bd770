package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/idtoken"
)

// maxIssuers bounds the trusted issuers.
const maxIssuers = 100

// setIssuers parses the trusted issuers from JSON: a list of objects with
// url, kind, and optionally jwks and claims. Unknown fields are an error.
func setIssuers(dst *[]idtoken.Issuer, s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		*dst = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	var list []idtoken.Issuer
	if err := dec.Decode(&list); err != nil {
		return fmt.Errorf("want a JSON list of {\"url\": ..., \"kind\": ...}: %w", err)
	}
	if dec.More() {
		return errors.New("trailing data after the JSON list")
	}
	*dst = list
	return nil
}

// checkIssuers checks each trusted issuer, and that --url is set when there
// is any: the audience comes from it. Taking it from each request's Host
// header instead would let a token minted for another registry, whose
// operator sends it here with that registry's name as Host, be accepted.
func checkIssuers(c Config) error {
	if len(c.TrustedIssuers) == 0 {
		return nil
	}
	var errs []error
	if c.Audience() == "" {
		errs = append(errs, errors.New("trusted publishing needs --url: ID tokens must name this registry's host (npm:HOST) as their audience"))
	}
	if len(c.TrustedIssuers) > maxIssuers {
		errs = append(errs, fmt.Errorf("%d issuers: at most %d", len(c.TrustedIssuers), maxIssuers))
	}
	seen := map[string]bool{}
	for i, is := range c.TrustedIssuers {
		if err := checkIssuer(is); err != nil {
			errs = append(errs, fmt.Errorf("issuer %d (%s): %w", i+1, is.URL, err))
		}
		if seen[is.URL] {
			errs = append(errs, fmt.Errorf("issuer %d: %s is listed twice", i+1, is.URL))
		}
		seen[is.URL] = true
	}
	return errors.Join(errs...)
}

func checkIssuer(is idtoken.Issuer) error {
	if err := checkIssuerURL(is.URL, "url"); err != nil {
		return err
	}
	if !slices.Contains(idtoken.Kinds, is.Kind) {
		return fmt.Errorf("kind %q: must be one of github, gitlab, circleci, generic", is.Kind)
	}
	if idtoken.IsURL(is.JWKS) {
		if err := checkIssuerURL(is.JWKS, "jwks"); err != nil {
			return err
		}
	}
	if is.Kind != idtoken.Generic {
		if len(is.Claims) > 0 {
			return fmt.Errorf("claims: only a generic issuer maps claims; a %s issuer's are known", is.Kind)
		}
		return nil
	}
	for field, claim := range is.Claims {
		switch field {
		case idtoken.FieldRepository, idtoken.FieldFile, idtoken.FieldEnvironment:
		default:
			return fmt.Errorf("claims: unknown field %q (want repository, file and environment)", field)
		}
		if strings.TrimSpace(claim) == "" {
			return fmt.Errorf("claims: %s names no claim", field)
		}
	}
	if is.Claims[idtoken.FieldRepository] == "" || is.Claims[idtoken.FieldFile] == "" {
		return errors.New("claims: a generic issuer must name the claims of repository and file")
	}
	return nil
}

// checkIssuerURL requires an https URL, or http on a loopback address (tests,
// an issuer on the same machine), without query or fragment.
func checkIssuerURL(raw, what string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%s %q: want an absolute https URL without query, fragment or credentials", what, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
		return fmt.Errorf("%s %q: http only on a loopback address; use https", what, raw)
	}
	return fmt.Errorf("%s %q: want an https URL", what, raw)
}

// urlHostname is the host name of raw (no port), or "" when raw is not an
// absolute URL.
func urlHostname(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
