package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// requestTimeout bounds one request of Do or Send, reading the answer included.
const requestTimeout = 30 * time.Second

// Response is one HTTP answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// String is the status and the body, for failure messages.
func (r Response) String() string {
	return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body))
}

// Do sends one request to url and reads the whole answer, failing t when it
// cannot. token, when not "", goes in a Bearer Authorization header. body,
// when not nil, is sent with Content-Type application/json: []byte and
// json.RawMessage as they are, anything else (a string too) encoded as
// JSON. header holds further headers, name then value, set last.
func Do(t testing.TB, method, url, token string, body any, header ...string) Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case json.RawMessage:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode the body of %s %s: %v", method, url, err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, url, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return Send(t, req)
}

// Send sends req and reads the whole answer, failing t when it cannot. The
// client is http.Client's default (redirects followed, connections pooled)
// but for a 30-second bound on the whole exchange.
func Send(t testing.TB, req *http.Request) Response {
	t.Helper()
	client := &http.Client{Timeout: requestTimeout}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", req.Method, req.URL, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// maxQuoted bounds how much of a body a failure message quotes.
const maxQuoted = 4096

// DecodeJSON unmarshals b into v, failing t (with the end of b) when it cannot.
func DecodeJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		q := string(b)
		if len(q) > maxQuoted {
			q = "…" + q[len(q)-maxQuoted:]
		}
		t.Fatalf("decode JSON %q: %v", q, err)
	}
}
