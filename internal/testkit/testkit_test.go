package testkit

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDo sends each kind of body to an echoing server and checks what
// arrived: the bytes, the content type, the token and the extra headers.
func TestDo(t *testing.T) {
	url := Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Content-Type", r.Header.Get("Content-Type"))
		w.Header().Set("X-Authorization", r.Header.Get("Authorization"))
		w.Header().Set("X-Extra", r.Header.Get("X-Extra"))
		w.WriteHeader(http.StatusTeapot)
		w.Write(b)
	}))
	tests := []struct {
		name        string
		token       string
		body        any
		header      []string
		wantBody    string
		contentType string
		auth        string
		extra       string
	}{
		{"no body", "", nil, nil, "", "", "", ""},
		{"a map, as JSON", "tok", map[string]int{"a": 1}, nil, `{"a":1}`, "application/json", "Bearer tok", ""},
		{"a string, as a JSON string", "", "1.0.0", nil, `"1.0.0"`, "application/json", "", ""},
		{"bytes, as they are", "", []byte(`"raw"`), nil, `"raw"`, "application/json", "", ""},
		{"a raw message, as it is", "", json.RawMessage(`{ "spaced": true }`), nil, `{ "spaced": true }`, "application/json", "", ""},
		{"headers, set last", "tok", []byte("x"), []string{"Content-Type", "text/plain", "X-Extra", "yes"}, "x", "text/plain", "Bearer tok", "yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Do(t, http.MethodPut, url+"/path", tt.token, tt.body, tt.header...)
			if res.Status != http.StatusTeapot || string(res.Body) != tt.wantBody {
				t.Errorf("got %s, want 418 %s", res, tt.wantBody)
			}
			for h, want := range map[string]string{"X-Method": http.MethodPut, "X-Content-Type": tt.contentType,
				"X-Authorization": tt.auth, "X-Extra": tt.extra} {
				if got := res.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

// TestScrape parses an exposition and sums samples by labels.
func TestScrape(t *testing.T) {
	const text = `# TYPE requests_total counter
requests_total{route="ping",status="200"} 3
requests_total{route="ping",status="500"} 1
requests_total{route="tarball",status="200"} 5
# TYPE open gauge
open 7
# TYPE duration_seconds histogram
duration_seconds_bucket{route="ping",le="1"} 2
duration_seconds_bucket{route="ping",le="+Inf"} 4
duration_seconds_sum{route="ping"} 0.5
duration_seconds_count{route="ping"} 4
`
	url := Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, text)
	}))
	m := Scrape(t, url)
	tests := []struct {
		family string
		labels []string
		want   float64
	}{
		{"requests_total", nil, 9},
		{"requests_total", []string{"route", "ping"}, 4},
		{"requests_total", []string{"route", "ping", "status", "200"}, 3},
		{"requests_total", []string{"route", "nowhere"}, 0},
		{"open", nil, 7},
		{"duration_seconds", []string{"route", "ping"}, 4},
		{"not_scraped", nil, 0},
	}
	for _, tt := range tests {
		if got := m.Sum(tt.family, tt.labels...); got != tt.want {
			t.Errorf("Sum(%s, %v) = %v, want %v", tt.family, tt.labels, got, tt.want)
		}
	}
}

// TestTarball reads back what Tarball packs, and checks the same files
// give the same bytes.
func TestTarball(t *testing.T) {
	files := []File{{"package/package.json", []byte(`{"name":"a","version":"1.0.0"}`)}, {"package/lib/x.js", []byte("x")}}
	tgz, err := Tarball(files...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Tarball(files...)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tgz, again) {
		t.Error("the same files packed twice give different bytes")
	}
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var got []File
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Mode != 0o644 || !hdr.ModTime.Equal(fileTime) {
			t.Errorf("%s: type %c, mode %o, time %v", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.ModTime)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, File{hdr.Name, b})
	}
	if !reflect.DeepEqual(got, files) {
		t.Errorf("read back %q, want %q", got, files)
	}
}

// TestPublishBody checks what PublishBody fills in and what it keeps.
func TestPublishBody(t *testing.T) {
	tgz := PackageTarball(t, `{"name":"@acme/web","version":"1.0.0"}`)
	attachment := map[string]any{"@acme/web-1.0.0.tgz": map[string]any{"content_type": "application/octet-stream",
		"data": base64.StdEncoding.EncodeToString(tgz), "length": len(tgz)}}
	dist := map[string]any{"shasum": Shasum(tgz), "integrity": Integrity(tgz)}
	tests := []struct {
		name string
		body map[string]any
		want map[string]any
	}{
		{"from nothing", nil, map[string]any{"_id": "@acme/web", "name": "@acme/web",
			"dist-tags":    map[string]any{"latest": "1.0.0"},
			"versions":     map[string]any{"1.0.0": map[string]any{"name": "@acme/web", "version": "1.0.0", "dist": dist}},
			"_attachments": attachment}},
		{"what the body holds is kept", map[string]any{"access": "public", "dist-tags": map[string]any{"beta": "1.0.0"},
			"versions":     map[string]any{"1.0.0": map[string]any{"readme": "# web", "dist": "broken"}},
			"_attachments": map[string]any{}},
			map[string]any{"_id": "@acme/web", "name": "@acme/web", "access": "public",
				"dist-tags": map[string]any{"beta": "1.0.0"},
				"versions": map[string]any{"1.0.0": map[string]any{"name": "@acme/web", "version": "1.0.0",
					"readme": "# web", "dist": "broken"}},
				"_attachments": map[string]any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PublishBody(tt.body, "@acme/web", "1.0.0", tgz)
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(tt.want, "", " ")
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
	if Shasum([]byte("abc")) != "a9993e364706816aba3e25717850c26c9cd0d89d" {
		t.Errorf("Shasum(abc) = %s", Shasum([]byte("abc")))
	}
	if want := "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="; Integrity([]byte("abc")) != want {
		t.Errorf("Integrity(abc) = %s, want %s", Integrity([]byte("abc")), want)
	}
}

// TestDecodeJSON decodes into a value.
func TestDecodeJSON(t *testing.T) {
	var v struct{ A int }
	DecodeJSON(t, []byte(`{"A":2}`), &v)
	if v.A != 2 {
		t.Errorf("decoded %+v", v)
	}
}

// TestScrapeUntil scrapes a counter that grows with each scrape until it
// is high enough, and gives up on a condition never met.
func TestScrapeUntil(t *testing.T) {
	var scrapes atomic.Int64
	url := Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# TYPE scrapes_total counter\nscrapes_total %d\n", scrapes.Add(1))
	}))
	m := ScrapeUntil(t, url, 10*time.Second, func(m Metrics) bool { return m.Sum("scrapes_total") >= 3 })
	if got := m.Sum("scrapes_total"); got != 3 {
		t.Errorf("stopped at %v, want 3", got)
	}
	start := time.Now()
	m = ScrapeUntil(t, url, 100*time.Millisecond, func(Metrics) bool { return false })
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("gave up after %v, before the 100ms allowed", waited)
	}
	if got := m.Sum("scrapes_total"); got != float64(scrapes.Load()) {
		t.Errorf("returned scrape %v, not the last (%d)", got, scrapes.Load())
	}
}

// TestSyncBuffer writes from several goroutines while reading.
func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintln(&b, "a line")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "a line\n"); got != 800 {
		t.Errorf("%d lines, want 800", got)
	}
}

// TestWriteFile writes into folders that do not exist yet, then over the
// file it wrote.
func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "file.txt")
	for _, content := range []string{"first\n", "second"} {
		WriteFile(t, path, content)
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("read back %q, want %q", got, content)
		}
	}
}

func TestWaitOutStepEnd(t *testing.T) {
	const period, margin = 400 * time.Millisecond, 300 * time.Millisecond
	for range 5 {
		WaitOutStepEnd(period, margin)
		if left := period - time.Duration(time.Now().UnixNano())%period; left < margin-100*time.Millisecond {
			t.Fatalf("%v left of the step after waiting, want at least about %v", left, margin)
		}
		time.Sleep(30 * time.Millisecond)
	}
}
