package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// oldFill is how a miss filled a document before the document was filled
// straight from the driver's bytes: a copy of the stored document, then
// bytes.ReplaceAll of the placeholder by the JSON-escaped base URL.
func oldFill(stored []byte, base string) []byte {
	body := bytes.Clone(stored)
	if base == "" {
		return body
	}
	enc, _ := json.Marshal(base)
	return bytes.ReplaceAll(body, []byte(BasePlaceholder), enc[1:len(enc)-1])
}

// TestMissFillsAsBefore stores a table of documents and reads each, full
// and abbreviated, under several base URLs, through the document cache's
// miss (filled from the driver's bytes) and again from the cache after
// every other read: each must be the bytes the old filling made.
func TestMissFillsAsBefore(t *testing.T) {
	svc, alice := newTestService(t, time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC))
	ctx := t.Context()
	ph := BasePlaceholder
	docs := []struct {
		name        string
		full, abbrv []byte
	}{
		{"no-link", []byte(`{"name":"no-link"}`), []byte(`{"name":"no-link","a":1}`)},
		{"one-link", []byte(`{"t":"` + ph + `/one-link/-/one-link-1.0.0.tgz"}`), []byte(`{"t":"` + ph + `/x.tgz"}`)},
		{"links", []byte(`{"a":"` + ph + `/a.tgz","b":"` + ph + `/b.tgz","c":"` + ph + ph + `"}`),
			[]byte(`{"a":"` + ph + `/a.tgz","b":"` + ph + `"}`)},
		{"edges", []byte(ph + `{"x":1}` + ph), []byte(ph)},
		{"big", bytes.Repeat([]byte(`{"t":"`+ph+`/big/-/big-1.0.0.tgz","readme":"lorem ipsum"},`), 2000),
			bytes.Repeat([]byte(`"`+ph+`/b.tgz",`), 500)},
		{"empty", []byte{}, []byte{}},
	}
	bases := []string{"", "http://127.0.0.1:4873", "https://r.test/npm", `http://h.test/a&b<c>"q"\`}
	q := svc.store.Q()
	for i, d := range docs {
		p, err := q.CreatePackage(ctx, store.Package{Name: d.name, Access: store.Public, Rev: 1, CreatedAt: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		p.Packument, p.Abbreviated = d.full, d.abbrv
		if err := q.SavePackage(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	check := func(pass string) {
		for _, d := range docs {
			for _, abbreviated := range []bool{false, true} {
				stored := d.full
				if abbreviated {
					stored = d.abbrv
				}
				for _, base := range bases {
					got, err := svc.Packument(ctx, alice, d.name, abbreviated, base)
					if err != nil {
						t.Fatalf("%s: %s abbreviated=%v base %q: %v", pass, d.name, abbreviated, base, err)
					}
					if want := oldFill(stored, base); !bytes.Equal(got.Body, want) {
						t.Errorf("%s: %s abbreviated=%v base %q:\n got %.200s\nwant %.200s", pass, d.name, abbreviated, base, got.Body, want)
					}
					if got.Validators[2] != fmt.Sprint(len(got.Body)) {
						t.Errorf("%s: %s: length %s for %d bytes", pass, d.name, got.Validators[2], len(got.Body))
					}
				}
			}
		}
	}
	check("miss")
	check("cached") // every entry read again after all the others: none shares bytes with another read
}
