// Command floor serves the bytes bench/defaults.sh copies into nginx's root,
// from memory, with nothing else per request: no authentication, no access
// log, no metrics, no cache look-up. It is the least a Go HTTP server
// costs a request on this machine, the floor under any handler gatehouse
// could write. Two servers: Go's net/http (what gatehouse is built on) and
// fasthttp (a server that reuses its request objects and keeps no header
// map). It is a module of its own so that fasthttp never enters
// gatehouse's build.
//
//	floor -server nethttp|fasthttp -listen ADDR -root DIR -packument NAME
//
// GET /NAME answers DIR/packument/abbreviated.abbrev when the Accept header
// names application/vnd.npm.install-v1+json and DIR/packument/full.json
// otherwise, as bench/defaults.sh's nginx does; GET /-/ping answers {};
// any other path answers the file under DIR, read at start.
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// abbreviatedType is the media type of npm's abbreviated packument.
const abbreviatedType = "application/vnd.npm.install-v1+json"

// file is one answer: its bytes and media type.
type file struct {
	body  []byte
	ctype string
}

// site is what the floor serves.
type site struct {
	packument         string // "/" + the hot package's name
	abbreviated, full file
	files             map[string]file // by URL path
}

// load reads every file under root.
func load(root, packument string) (*site, error) {
	s := &site{packument: "/" + packument, files: map[string]file{}}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		s.files["/"+filepath.ToSlash(rel)] = file{body: b, ctype: typeOf(path)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", root, err)
	}
	var ok1, ok2 bool
	s.abbreviated, ok1 = s.files["/packument/abbreviated.abbrev"]
	s.full, ok2 = s.files["/packument/full.json"]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%s has no packument/abbreviated.abbrev or packument/full.json", root)
	}
	return s, nil
}

// typeOf is the media type nginx's types block gives the file's extension.
func typeOf(path string) string {
	switch filepath.Ext(path) {
	case ".json":
		return "application/json"
	case ".abbrev":
		return abbreviatedType
	default:
		return "application/octet-stream"
	}
}

// answer picks the file for a path and Accept header.
func (s *site) answer(path, accept string) (file, bool) {
	switch path {
	case s.packument:
		if strings.Contains(accept, abbreviatedType) {
			return s.abbreviated, true
		}
		return s.full, true
	case "/-/ping":
		return file{body: []byte("{}"), ctype: "application/json"}, true
	}
	f, ok := s.files[path]
	return f, ok
}

func (s *site) serveHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := s.answer(r.URL.Path, r.Header.Get("Accept"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{f.ctype}
	h["Content-Length"] = []string{strconv.Itoa(len(f.body))}
	_, _ = w.Write(f.body)
}

func (s *site) serveFast(c *fasthttp.RequestCtx) {
	f, ok := s.answer(string(c.Path()), string(c.Request.Header.Peek("Accept")))
	if !ok {
		c.Error("404 page not found", fasthttp.StatusNotFound)
		return
	}
	c.SetContentType(f.ctype)
	c.SetBody(f.body)
}

func main() {
	server := flag.String("server", "nethttp", "nethttp or fasthttp")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	root := flag.String("root", "", "folder of the files to serve (bench/defaults.sh's nginx root)")
	packument := flag.String("packument", "", "the hot package's name")
	flag.Parse()
	if *root == "" || *packument == "" {
		log.Fatal("floor: want -root and -packument NAME")
	}
	s, err := load(*root, *packument)
	if err != nil {
		log.Fatal("floor: ", err)
	}
	switch *server {
	case "nethttp":
		err = http.ListenAndServe(*listen, http.HandlerFunc(s.serveHTTP))
	case "fasthttp":
		err = fasthttp.ListenAndServe(*listen, s.serveFast)
	default:
		err = fmt.Errorf("unknown server %q", *server)
	}
	log.Fatal("floor: ", err)
}
