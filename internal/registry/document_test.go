package registry

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// readDoc reads body with ReadDocument into a spool folder of the test's own.
func readDoc(t *testing.T, body string, o ReadOptions) (PublishDocument, error) {
	t.Helper()
	if o.SpoolDir == "" {
		o.SpoolDir = t.TempDir()
	}
	doc, err := ReadDocument(strings.NewReader(body), o)
	t.Cleanup(doc.Close)
	return doc, err
}

// receivedBytes is the whole of a received tarball.
func receivedBytes(t *testing.T, rt *ReceivedTarball) []byte {
	t.Helper()
	b, err := io.ReadAll(rt.Reader())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadDocumentMatchesEncodingJSON: what ReadDocument makes of a body is
// what encoding/json made of it (the attachment's data aside, which it
// receives instead), whatever the order of the keys, the spacing and the
// escapes.
func TestReadDocumentMatchesEncodingJSON(t *testing.T) {
	data := packageTarball(t, "demo", "1.0.0")
	b64 := base64.StdEncoding.EncodeToString(data)
	manifest := fmt.Sprintf(`{"name":"demo","version":"1.0.0","description":"a \"quoted\" \u00e9 {[","dist":{"shasum":%q,"integrity":%q}}`,
		sha1Hex(data), IntegrityOf(data))
	// Escaped as some JSON encoders write it: every / as \/, and a line break.
	escaped := strings.ReplaceAll(b64, "/", `\/`)
	escaped = escaped[:10] + `\n` + escaped[10:]
	unicode := `\u0051` + b64[1:]
	if b64[0] != 'Q' {
		unicode = b64
	}
	tests := []struct {
		name, body string
		wantData   bool // the tarball must be received
	}{
		{"npm's order", `{"_id":"demo","name":"demo","description":"d","dist-tags":{"latest":"1.0.0"},"versions":{"1.0.0":` + manifest +
			`},"access":null,"_attachments":{"demo-1.0.0.tgz":{"content_type":"application/octet-stream","data":"` + b64 + `","length":` +
			fmt.Sprint(len(data)) + `}}}`, true},
		{"attachments first, spaced", " {\n\t\"_attachments\" : { \"demo-1.0.0.tgz\" : { \"length\" : " + fmt.Sprint(len(data)) +
			" , \"data\" : \"" + b64 + "\" , \"extra\" : [1, {\"a\": null}] } } ,\n \"versions\" : {\"1.0.0\": " + manifest + "} } \n", true},
		{"escapes in the data", `{"versions":{"1.0.0":` + manifest + `},"_attachments":{"demo-1.0.0.tgz":{"data":"` + escaped + `"}}}`, true},
		{"a \\u escape in the data", `{"versions":{"1.0.0":` + manifest + `},"_attachments":{"demo-1.0.0.tgz":{"data":"` + unicode + `"}}}`, true},
		{"no attachments", `{"name":"demo","versions":{"1.0.0":{"name":"demo","version":"1.0.0","deprecated":"use \"x\""}},"maintainers":[{"name":"a","email":"a@example.com"}]}`, false},
		{"null attachments", `{"name":"demo","_attachments":null}`, false},
		{"empty attachments", `{"name":"demo","_attachments":{}}`, false},
		{"empty object", `{}`, false},
		{"case-folded keys", `{"NAME":"demo","Versions":{"1.0.0":{}},"Dist-Tags":{"a":"1.0.0"}}`, false},
		{"unicode keys and values", `{"n\u0061me":"demo","_rev":"3-\ud83d\ude00"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want PublishDocument
			if err := json.Unmarshal([]byte(tt.body), &want); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			got, err := readDoc(t, tt.body, ReadOptions{})
			if err != nil {
				t.Fatalf("ReadDocument: %v", err)
			}
			for k, a := range got.Attachments {
				w, ok := want.Attachments[k]
				if !ok {
					t.Fatalf("attachment %q that encoding/json did not see", k)
				}
				if tt.wantData {
					if a.Received == nil || a.Data != "" {
						t.Fatalf("attachment %q was not received: %+v", k, a)
					}
					decoded, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(w.Data, "\n", ""))
					if err != nil {
						t.Fatal(err)
					}
					if got := receivedBytes(t, a.Received); !bytes.Equal(got, decoded) || a.Received.Size() != int64(len(decoded)) {
						t.Fatalf("received %d bytes, want the %d attached", len(got), len(decoded))
					}
					w.Data = ""
				}
				a.Received = nil
				if !reflect.DeepEqual(a, w) {
					t.Errorf("attachment %q = %+v, want %+v", k, a, w)
				}
			}
			if len(got.Attachments) != len(want.Attachments) {
				t.Errorf("%d attachments, encoding/json saw %d", len(got.Attachments), len(want.Attachments))
			}
			got.Attachments, want.Attachments = nil, nil
			// RawMessages compare as text: encoding/json keeps them as sent.
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ReadDocument =\n%+v\nencoding/json =\n%+v", got, want)
			}
		})
	}
}

// TestReadDocumentRefuses: a malformed body is refused with the messages
// the whole-body decoder gave, and a broken tarball with DecodePublish's.
func TestReadDocumentRefuses(t *testing.T) {
	data := packageTarball(t, "demo", "1.0.0")
	b64 := base64.StdEncoding.EncodeToString(data)
	att := func(data string) string { return `{"_attachments":{"demo-1.0.0.tgz":{"data":` + data + `}}}` }
	tests := []struct {
		name, body, want string
		kind             fault.Kind
	}{
		{"empty", ``, "invalid JSON body", fault.Invalid},
		{"not an object", `[1]`, "invalid JSON body", fault.Invalid},
		{"unterminated", `{"name":"demo"`, "invalid JSON body", fault.Invalid},
		{"trailing comma", `{"name":"demo",}`, "invalid JSON body", fault.Invalid},
		{"missing value", `{"name":}`, "invalid JSON body", fault.Invalid},
		{"bad literal", `{"name":tru}`, "invalid JSON body", fault.Invalid},
		{"trailing data", `{"name":"demo"} {}`, "invalid JSON body: trailing data", fault.Invalid},
		{"wrong type", `{"versions":[1]}`, `invalid JSON body: field "versions" must be map[string]json.RawMessage`, fault.Invalid},
		{"a key twice", `{"name":"a","name":"b"}`, `invalid JSON body: the key "name" appears twice`, fault.Invalid},
		{"attachments twice", `{"_attachments":{},"_Attachments":{}}`, `invalid JSON body: the key "_Attachments" appears twice`, fault.Invalid},
		{"an attachment twice", `{"_attachments":{"a":{},"a":{}}}`, `invalid JSON body: the attachment "a" appears twice`, fault.Invalid},
		{"data twice", `{"_attachments":{"a":{"data":null,"data":null}}}`, `invalid JSON body: the attachment "a" has two data fields`, fault.Invalid},
		{"attachments not an object", `{"_attachments":[]}`, `invalid JSON body: field "_attachments" must be object`, fault.Invalid},
		{"data not a string", att(`42`), `invalid JSON body: field "_attachments.data" must be string`, fault.Invalid},
		{"length not a number", `{"_attachments":{"a":{"length":"1"}}}`, `invalid JSON body: field "_attachments.length" must be int64`, fault.Invalid},
		{"data not base64", att(`"not base64!"`), "the attached tarball is not valid base64", fault.Invalid},
		{"data cut short", att(`"` + b64[:len(b64)-3] + `"`), "", fault.Invalid},
		{"data that ends the body", `{"_attachments":{"a":{"data":"` + b64[:100], "invalid JSON body", fault.Invalid},
		{"a control character in the data", att(`"` + b64[:10] + "\x01" + b64[10:] + `"`), "invalid JSON body", fault.Invalid},
		{"a bad escape in the data", att(`"` + b64[:10] + `\x` + b64[10:] + `"`), "invalid JSON body", fault.Invalid},
		{"not a gzip file", att(`"` + base64.StdEncoding.EncodeToString([]byte("plain text")) + `"`), "attached tarball is not a gzip file", fault.Invalid},
		{"an unsafe tarball", att(`"` + base64.StdEncoding.EncodeToString(tgz(t, file("package/package.json", goodManifest),
			file("../evil", ""))) + `"`), "attached tarball has an unsafe path", fault.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := readDoc(t, tt.body, ReadOptions{SpoolDir: dir})
			fe, ok := fault.As(err)
			if !ok || fe.Kind != tt.kind || !strings.HasPrefix(fe.Message, tt.want) {
				t.Fatalf("ReadDocument = %v; want a %v fault starting %q", err, tt.kind.Label(), tt.want)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("a refused body left %d files in the spool folder", len(left))
			}
		})
	}
}

// TestReadDocumentKeepsReaderErrors: an error of the body's reader (a body
// over the server's limit, a connection cut) comes back wrapped, for the
// transport to answer (413 for a body too large).
func TestReadDocumentKeepsReaderErrors(t *testing.T) {
	cause := errors.New("the body is too large")
	for _, prefix := range []string{`{"name":"de`, `{"_attachments":{"a":{"data":"H4sI`} {
		r := io.MultiReader(strings.NewReader(prefix), &failing{err: cause})
		_, err := ReadDocument(r, ReadOptions{SpoolDir: t.TempDir()})
		if !errors.Is(err, cause) {
			t.Errorf("after %q: ReadDocument = %v, want it to wrap the reader's error", prefix, err)
		}
	}
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }

// TestReadDocumentBounds: the document kept in memory is bounded, more
// tightly once it shows an attachment; a .sigstore attachment is kept as
// text, within its own bound.
func TestReadDocumentBounds(t *testing.T) {
	long := strings.Repeat("x", 2000)
	if _, err := readDoc(t, `{"readme":"`+long+`"}`, ReadOptions{MaxDocument: 1000}); !fault.Is(err, fault.TooLarge) {
		t.Errorf("a document over MaxDocument: %v, want TooLarge", err)
	}
	if _, err := readDoc(t, `{"readme":"`+long+`"}`, ReadOptions{MaxDocument: 3000, MaxPublishDocument: 1000}); err != nil {
		t.Errorf("a document without attachments within MaxDocument: %v", err)
	}
	_, err := readDoc(t, `{"readme":"`+long+`","_attachments":{"a":{}}}`, ReadOptions{MaxDocument: 3000, MaxPublishDocument: 1000})
	if fe, ok := fault.As(err); !ok || fe.Kind != fault.TooLarge || !strings.Contains(fe.Message, "1000-byte limit") {
		t.Errorf("a publish over MaxPublishDocument: %v, want TooLarge", err)
	}
	doc, err := readDoc(t, `{"_attachments":{"demo-1.0.0.sigstore":{"data":"{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\"}"}}}`, ReadOptions{})
	if err != nil || doc.Attachments["demo-1.0.0.sigstore"].Data != `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}` {
		t.Errorf("a .sigstore attachment: %+v, %v", doc.Attachments, err)
	}
	huge := `"` + strings.Repeat("a", maxSideAttachment+10) + `"`
	if _, err := readDoc(t, `{"_attachments":{"x.sigstore":{"data":`+huge+`}}}`, ReadOptions{}); !fault.Is(err, fault.TooLarge) {
		t.Errorf("a .sigstore attachment over its bound: %v, want TooLarge", err)
	}
}

// TestReadDocumentBeforeAttachment: the callback runs before the data of
// each attachment, with what came before; its error stops the reading
// there, before a byte of the data is read.
func TestReadDocumentBeforeAttachment(t *testing.T) {
	data := packageTarball(t, "demo", "1.0.0")
	head := `{"name":"demo","versions":{"1.0.0":{"name":"demo"}},"_attachments":{"demo-1.0.0.tgz":{"data":"`
	body := io.MultiReader(strings.NewReader(head), &failing{err: errors.New("the data was read")})
	stop := fault.Forbiddenf("not allowed")
	var sawKey string
	var saw PublishDocument
	_, err := ReadDocument(body, ReadOptions{SpoolDir: t.TempDir(), BeforeAttachment: func(key string, sofar PublishDocument) error {
		sawKey, saw = key, sofar
		return stop
	}})
	if err != stop {
		t.Fatalf("ReadDocument = %v, want the callback's error", err)
	}
	if sawKey != "demo-1.0.0.tgz" || saw.Name != "demo" || len(saw.Versions) != 1 {
		t.Errorf("the callback saw %q and %+v", sawKey, saw)
	}
	calls := 0
	full := head + base64.StdEncoding.EncodeToString(data) + `"}}}`
	if _, err := readDoc(t, full, ReadOptions{BeforeAttachment: func(string, PublishDocument) error { calls++; return nil }}); err != nil || calls != 1 {
		t.Errorf("a whole body: %v, %d calls", err, calls)
	}
}
