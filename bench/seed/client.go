package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client speaks the parts of npm's registry API the harness needs, the way
// the npm CLI does: JSON bodies and a Bearer token.
type Client struct {
	// Base is the registry's URL, without a trailing slash.
	Base string
	// HTTP sends the requests.
	HTTP *http.Client
}

// NewClient returns a client for the registry at base with a connection
// pool sized for concurrent seeding.
func NewClient(base string) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// StatusError is an answer with an unexpected status.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// do sends body (raw JSON, or nil) and decodes a JSON answer into out when
// out is not nil. Any status outside 2xx is a *StatusError.
func (c *Client) do(ctx context.Context, method, path, token string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return err
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return &StatusError{Method: method, Path: path, Status: res.StatusCode, Body: strings.TrimSpace(string(data[:min(len(data), 300)]))}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// AddUser creates an account the way `npm adduser` does and returns the
// session token the registry answers with.
func (c *Client) AddUser(ctx context.Context, name, password, email string) (string, error) {
	body, err := json.Marshal(map[string]any{
		"_id": "org.couchdb.user:" + name, "name": name, "password": password, "email": email,
		"type": "user", "roles": []string{}, "date": time.Now().UTC().Format(time.RFC3339),
	})
	if err != nil {
		return "", err
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := c.do(ctx, http.MethodPut, "/-/user/org.couchdb.user:"+url.PathEscape(name), "", body, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", fmt.Errorf("create user %s: the answer has no token", name)
	}
	return out.Token, nil
}

// CreateToken creates a granular access token through POST
// /-/npm/v1/tokens, authenticated by a session token; fields are the
// request's other fields (packages_all, packages_and_scopes_permission...).
func (c *Client) CreateToken(ctx context.Context, session, password, name string, fields map[string]any) (string, error) {
	req := map[string]any{"password": password, "name": name}
	for k, v := range fields {
		req[k] = v
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := c.do(ctx, http.MethodPost, "/-/npm/v1/tokens", session, body, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", fmt.Errorf("create token %s: the answer has no token", name)
	}
	return out.Token, nil
}

// Publish sends r as `npm publish` would.
func (c *Client) Publish(ctx context.Context, token string, r Release) error {
	body, err := r.PublishBody(c.Base)
	if err != nil {
		return err
	}
	return c.PublishRaw(ctx, token, r.Name, body)
}

// PublishRaw sends an already built publish body for package name.
func (c *Client) PublishRaw(ctx context.Context, token, name string, body []byte) error {
	return c.do(ctx, http.MethodPut, "/"+EscapeName(name), token, body, nil)
}

// EscapeName is a package name as it appears in a packument URL: the slash
// of a scoped name is encoded, as npm does.
func EscapeName(name string) string {
	return strings.Replace(name, "/", "%2f", 1)
}
