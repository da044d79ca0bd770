package npmapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// FuzzTokenRequest: whatever JSON object a client sends to create a token,
// parseTokenRequest either accepts it, and then every field it held is one
// npm sends, or refuses it as invalid input (a 400), never as anything else.
func FuzzTokenRequest(f *testing.F) {
	for _, seed := range []string{
		`{"password":"a-long-password","readonly":true,"cidr_whitelist":["192.0.2.0/24"]}`,
		`{"name":"ci","token_description":"d","expires":30,"packages":["a","@s/b"],"scopes":["@s"],` +
			`"packages_and_scopes_permission":"read-write","orgs":["acme"],"orgs_permission":"read-only",` +
			`"cidr_whitelist":["10.0.0.0/8"],"bypass_2fa":false,"packages_all":true}`,
		`{"name":1}`, `{"cidr_whitelist":"x"}`, `{"unknown":true}`, `{"expires":"2030-01-01T00:00:00Z"}`,
		`{"expires":-1}`, `{"packages":[null]}`, `{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var raw map[string]json.RawMessage
		if json.Unmarshal(body, &raw) != nil {
			return
		}
		_, err := parseTokenRequest(raw)
		if err != nil {
			if k := fault.KindOf(err); k != fault.Invalid {
				t.Fatalf("refused as %v, want invalid input: %v", k, err)
			}
			return
		}
		for k := range raw {
			if !tokenFields[k] {
				t.Fatalf("accepted a body with the unknown field %q", k)
			}
		}
	})
}

// FuzzCouchLoginBody: the couch login body (npm login, npm adduser) is read
// with decodeJSON: any body is either one JSON object of strings, read
// whole, or a 400 (a 413 over the limit); never a server error.
func FuzzCouchLoginBody(f *testing.F) {
	for _, seed := range []string{
		`{"_id":"org.couchdb.user:alice","name":"alice","password":"a-long-password","type":"user","roles":[],"date":"2026-01-01T00:00:00.000Z"}`,
		`{"name":"alice","password":"p","email":"a@example.com"}`,
		`{"name":1}`, `{"name":"a"} {"name":"b"}`, `[]`, `null`, `{"name":"\u0000"}`, `{`,
	} {
		f.Add([]byte(seed), int64(1<<16))
	}
	f.Add(bytes.Repeat([]byte(" "), 100), int64(10))
	f.Fuzz(func(t *testing.T, body []byte, limit int64) {
		if limit <= 0 || limit > 1<<20 {
			limit = 1 << 16
		}
		r := httptest.NewRequest(http.MethodPut, "/-/user/org.couchdb.user:alice", bytes.NewReader(body))
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, limit)
		var got couchLoginBody
		err := decodeJSON(r, &got)
		if err != nil {
			if k := fault.KindOf(err); k != fault.Invalid && k != fault.TooLarge {
				t.Fatalf("refused as %v, want invalid input or too large: %v", k, err)
			}
			return
		}
		if int64(len(body)) > limit {
			t.Fatalf("read a %d-byte body past the %d-byte limit", len(body), limit)
		}
		var again couchLoginBody
		if json.Unmarshal(bytes.TrimSpace(body), &again) != nil || again != got {
			t.Fatalf("decodeJSON read %+v; encoding/json reads %+v", got, again)
		}
	})
}
