package registry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// ReadOptions say how ReadDocument reads a body.
type ReadOptions struct {
	// MaxDocument bounds the bytes of the document kept in memory: all of it
	// but the tarball's data. 0 leaves only the reader's own bound.
	MaxDocument int64
	// MaxPublishDocument bounds them once the document shows an attachment
	// (a publish carries one version's manifest, not a whole packument); 0
	// is MaxDocument.
	MaxPublishDocument int64
	// SpoolDir is the folder the attached tarball is written to while it is
	// read; "" is the system's temporary folder.
	SpoolDir string
	// MaxUnpacked bounds the uncompressed bytes of the attached tarball; 0
	// is 1 GiB.
	MaxUnpacked int64
	// BeforeAttachment, when not nil, is called before the data of each
	// attachment is read, with the attachment's key and the document read so
	// far (its attachments aside): an error stops the reading there and is
	// returned. It lets a caller authorise a publish before the tarball is
	// read, and refuse a bad document before its tarball is.
	BeforeAttachment func(key string, sofar PublishDocument) error
}

// maxSideAttachment bounds an attachment that is not the tarball (a
// provenance bundle, <name>-<version>.sigstore, raw JSON text of a few
// kilobytes), which is kept in memory.
const maxSideAttachment = 1 << 20

// ReadDocument reads the JSON body of PUT /:pkg (a publish, or a changed
// packument) from r as a stream, never holding more than MaxDocument bytes
// of it whatever its size. The attached tarball (_attachments.<file>.data,
// base64 in a JSON string) is decoded, hashed, checked as a gzip tar and
// written to a file in SpoolDir while it is read: its Attachment has
// Received set and Data empty. An attachment whose key ends in ".sigstore"
// (raw JSON text) is kept in Data. Everything else decodes as
// encoding/json decodes it into a PublishDocument. The caller closes the
// document (PublishDocument.Close), which removes the spooled file.
//
// A malformed body is an Invalid fault ("invalid JSON body..."), a document
// over its bound a TooLarge one, and an error of r is returned wrapped (an
// *http.MaxBytesError stays visible to errors.As); a broken attachment is
// refused with the messages of DecodePublish.
func ReadDocument(r io.Reader, o ReadOptions) (doc PublishDocument, err error) {
	d := &documentReader{r: bufio.NewReaderSize(r, 64<<10), o: o, limit: o.MaxDocument}
	defer func() {
		if err != nil {
			d.close()
			doc = PublishDocument{}
		}
	}()
	if err := d.readTop(); err != nil {
		return PublishDocument{}, err
	}
	d.out.WriteByte('}')
	if err := decodeInto(d.out.Bytes(), &doc); err != nil {
		return PublishDocument{}, err
	}
	d.out = bytes.Buffer{}
	doc.Attachments = d.atts
	return doc, nil
}

// Close removes what ReadDocument spooled for the document's attachments.
func (doc PublishDocument) Close() {
	for _, a := range doc.Attachments {
		if a.Received != nil {
			a.Received.Close()
		}
	}
}

// decodeInto decodes the document without its attachments as decodeJSON
// did the whole body, with its messages.
func decodeInto(data []byte, doc *PublishDocument) error {
	if err := json.Unmarshal(data, doc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fault.Invalidf("invalid JSON body: field %q must be %s", te.Field, te.Type)
		}
		return fault.Wrap(fault.Invalid, err, "invalid JSON body")
	}
	return nil
}

// documentReader is the state of one ReadDocument.
type documentReader struct {
	r *bufio.Reader
	o ReadOptions
	// out is the document without its attachments, as read: "{" and its
	// members, without the closing brace.
	out     bytes.Buffer
	members int
	// held counts the document's bytes kept in memory, limit bounds them
	// (0: no bound).
	held, limit int64
	// keys are the top-level keys seen, to refuse one given twice.
	keys map[string]bool
	atts map[string]Attachment
	// tarball is set once an attachment was taken as the tarball.
	tarball bool
}

func (d *documentReader) close() {
	for _, a := range d.atts {
		if a.Received != nil {
			a.Received.Close()
		}
	}
}

// syntaxError is the answer to a body that is not the JSON it should be.
func syntaxError(what string) error {
	return fault.Wrap(fault.Invalid, errors.New(what), "invalid JSON body")
}

// readError wraps an error of the body's reader; io.EOF there is a body
// that ended too early.
func readError(err error) error {
	if err == io.EOF {
		return syntaxError("the body ended early")
	}
	return fault.Wrap(fault.Invalid, fmt.Errorf("read the body: %w", err), "invalid JSON body")
}

// hold counts n more bytes kept in memory against the bound.
func (d *documentReader) hold(n int) error {
	d.held += int64(n)
	if d.limit > 0 && d.held > d.limit {
		return fault.New(fault.TooLarge, "the package document is larger than the %d-byte limit (its tarball aside)", d.limit)
	}
	return nil
}

// skip skips white space and returns the next byte without consuming it,
// or the reader's error as it is.
func (d *documentReader) skip() (byte, error) {
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, d.r.UnreadByte()
	}
}

// peek is skip with the reader's error turned into the answer's.
func (d *documentReader) peek() (byte, error) {
	c, err := d.skip()
	if err != nil {
		return 0, readError(err)
	}
	return c, nil
}

// expect skips white space and consumes c, or fails.
func (d *documentReader) expect(c byte) error {
	got, err := d.peek()
	if err != nil {
		return err
	}
	if got != c {
		return syntaxError(fmt.Sprintf("want %q, found %q", c, got))
	}
	_, _ = d.r.ReadByte()
	return nil
}

// readTop reads the top-level object and what follows it.
func (d *documentReader) readTop() error {
	if err := d.expect('{'); err != nil {
		return err
	}
	d.out.WriteByte('{')
	d.keys = map[string]bool{}
	if c, err := d.peek(); err != nil {
		return err
	} else if c == '}' {
		_, _ = d.r.ReadByte()
		return d.end()
	}
	for {
		raw, key, err := d.key()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if d.keys[key] {
			return fault.Invalidf("invalid JSON body: the key %s appears twice", quoteClipped(key))
		}
		d.keys[key] = true
		if strings.EqualFold(key, "_attachments") {
			if d.atts != nil {
				return fault.Invalidf("invalid JSON body: the key %s appears twice", quoteClipped(key))
			}
			d.atts = map[string]Attachment{}
			if err := d.readAttachments(); err != nil {
				return err
			}
		} else {
			if d.members > 0 {
				d.out.WriteByte(',')
			}
			d.members++
			d.out.Write(raw)
			d.out.WriteByte(':')
			if err := d.copyValue(&d.out); err != nil {
				return err
			}
		}
		more, err := d.next('}')
		if err != nil {
			return err
		}
		if !more {
			return d.end()
		}
	}
}

// next consumes the comma before another member or element (true), or the
// closing byte (false).
func (d *documentReader) next(closing byte) (bool, error) {
	c, err := d.peek()
	if err != nil {
		return false, err
	}
	_, _ = d.r.ReadByte()
	switch c {
	case ',':
		return true, nil
	case closing:
		return false, nil
	}
	return false, syntaxError(fmt.Sprintf("want ',' or %q, found %q", closing, c))
}

// end checks that only white space follows the document.
func (d *documentReader) end() error {
	_, err := d.skip()
	switch {
	case err == io.EOF:
		return nil
	case err != nil:
		return readError(err)
	}
	return fault.Invalidf("invalid JSON body: trailing data")
}

// key reads an object's key: its raw JSON text and its value.
func (d *documentReader) key() ([]byte, string, error) {
	c, err := d.peek()
	if err != nil {
		return nil, "", err
	}
	if c != '"' {
		return nil, "", syntaxError(fmt.Sprintf("want a key, found %q", c))
	}
	var raw bytes.Buffer
	if err := d.copyValue(&raw); err != nil {
		return nil, "", err
	}
	var key string
	if err := json.Unmarshal(raw.Bytes(), &key); err != nil {
		return nil, "", fault.Wrap(fault.Invalid, err, "invalid JSON body")
	}
	return raw.Bytes(), key, nil
}

// copyValue copies one JSON value, as it is written, from the body to w,
// counting what it copies against the bound. It follows the value's
// structure (strings, nesting) only as far as finding its end needs:
// decoding what was copied checks the rest.
func (d *documentReader) copyValue(w *bytes.Buffer) error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	depth := 0
	inString, escaped := false, false
	for {
		// Copy whole runs of the buffer at a time: a value may be megabytes.
		if _, err := d.r.Peek(1); err != nil {
			return readError(err)
		}
		buf, _ := d.r.Peek(d.r.Buffered())
		i := 0
		done := false
		for ; i < len(buf) && !done; i++ {
			b := buf[i]
			switch {
			case inString:
				switch {
				case escaped:
					escaped = false
				case b == '\\':
					escaped = true
				case b == '"':
					inString = false
					done = depth == 0
				}
			case b == '"':
				inString = true
			case b == '{' || b == '[':
				depth++
			case b == '}' || b == ']':
				if depth == 0 {
					// The end of a scalar value, which belongs to the container.
					done = true
					i--
				} else {
					depth--
					done = depth == 0
				}
			case depth == 0 && (b == ',' || b == ' ' || b == '\t' || b == '\n' || b == '\r'):
				done = true
				i--
			}
		}
		if err := d.hold(i); err != nil {
			return err
		}
		w.Write(buf[:i])
		_, _ = d.r.Discard(i)
		if done {
			if w.Len() == 0 {
				return syntaxError(fmt.Sprintf("want a value, found %q", c))
			}
			return nil
		}
	}
}

// readAttachments reads the _attachments object.
func (d *documentReader) readAttachments() error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	if c == 'n' {
		return d.literal("null")
	}
	if c != '{' {
		return fault.Invalidf("invalid JSON body: field %q must be %s", "_attachments", "object")
	}
	_, _ = d.r.ReadByte()
	if c, err := d.peek(); err != nil {
		return err
	} else if c == '}' {
		_, _ = d.r.ReadByte()
		return nil
	}
	for {
		_, key, err := d.key()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if _, ok := d.atts[key]; ok {
			return fault.Invalidf("invalid JSON body: the attachment %s appears twice", quoteClipped(key))
		}
		if d.o.MaxPublishDocument > 0 {
			// A publish: its bound from here on, counting what came before.
			d.limit = d.o.MaxPublishDocument
			if err := d.hold(0); err != nil {
				return err
			}
		}
		att, err := d.readAttachment(key)
		if err != nil {
			return err
		}
		d.atts[key] = att
		more, err := d.next('}')
		if err != nil || !more {
			return err
		}
	}
}

// literal consumes the literal word.
func (d *documentReader) literal(word string) error {
	for i := 0; i < len(word); i++ {
		c, err := d.r.ReadByte()
		if err != nil {
			return readError(err)
		}
		if c != word[i] {
			return syntaxError("want " + word)
		}
	}
	return nil
}

// readAttachment reads one attachment object; its data goes where its key
// says (see ReadDocument).
func (d *documentReader) readAttachment(key string) (Attachment, error) {
	var att Attachment
	c, err := d.peek()
	if err != nil {
		return att, err
	}
	if c == 'n' {
		return att, d.literal("null")
	}
	if c != '{' {
		return att, fault.Invalidf("invalid JSON body: field %q must be %s", "_attachments", "registry.Attachment")
	}
	_, _ = d.r.ReadByte()
	if c, err := d.peek(); err != nil {
		return att, err
	} else if c == '}' {
		_, _ = d.r.ReadByte()
		return att, nil
	}
	seenData := false
	for {
		_, field, err := d.key()
		if err != nil {
			return att, err
		}
		if err := d.expect(':'); err != nil {
			return att, err
		}
		switch {
		case strings.EqualFold(field, "data"):
			if seenData {
				return att, fault.Invalidf("invalid JSON body: the attachment %s has two data fields", quoteClipped(key))
			}
			seenData = true
			if err := d.readData(key, &att); err != nil {
				return att, err
			}
		case strings.EqualFold(field, "content_type"), strings.EqualFold(field, "length"):
			var raw bytes.Buffer
			if err := d.copyValue(&raw); err != nil {
				return att, err
			}
			var dst any = &att.ContentType
			if strings.EqualFold(field, "length") {
				dst = &att.Length
			}
			if err := json.Unmarshal(raw.Bytes(), dst); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					return att, fault.Invalidf("invalid JSON body: field %q must be %s", "_attachments."+strings.ToLower(field), te.Type)
				}
				return att, fault.Wrap(fault.Invalid, err, "invalid JSON body")
			}
		default:
			var raw bytes.Buffer
			if err := d.copyValue(&raw); err != nil {
				return att, err
			}
			if !json.Valid(raw.Bytes()) {
				return att, syntaxError("an attachment's field is not JSON")
			}
		}
		more, err := d.next('}')
		if err != nil || !more {
			return att, err
		}
	}
}

// readData reads an attachment's data: the tarball is received (decoded,
// checked and spooled), a .sigstore attachment kept in memory, and a second
// tarball read past (DecodePublish refuses a publish with two).
func (d *documentReader) readData(key string, att *Attachment) error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	if c == 'n' {
		return d.literal("null")
	}
	if c != '"' {
		return fault.Invalidf("invalid JSON body: field %q must be %s", "_attachments.data", "string")
	}
	// What of the document came before the data: for the caller, and for
	// which hashes the tarball needs.
	sofar := d.out.Bytes()
	var partial PublishDocument
	if err := decodeInto(append(sofar[:len(sofar):len(sofar)], '}'), &partial); err != nil {
		return err
	}
	if d.o.BeforeAttachment != nil {
		if err := d.o.BeforeAttachment(key, partial); err != nil {
			return err
		}
	}
	switch {
	case strings.HasSuffix(key, ".sigstore"):
		var raw bytes.Buffer
		limit := d.limit
		d.limit = d.held + maxSideAttachment
		if limit > 0 && limit < d.limit {
			d.limit = limit
		}
		err := d.copyValue(&raw)
		d.limit = limit
		if err != nil {
			if fault.Is(err, fault.TooLarge) {
				return fault.New(fault.TooLarge, "the attachment %s is larger than %d bytes", quoteClipped(key), maxSideAttachment)
			}
			return err
		}
		if err := json.Unmarshal(raw.Bytes(), &att.Data); err != nil {
			return fault.Wrap(fault.Invalid, err, "invalid JSON body")
		}
		return nil
	case d.tarball:
		_, _ = d.r.ReadByte()
		_, err := io.Copy(io.Discard, &jsonString{r: d.r})
		return err
	}
	d.tarball = true
	_, _ = d.r.ReadByte() // the opening quote
	rt, err := receiveTarball(&jsonString{r: d.r}, d.o.SpoolDir, hashesFor(partial), d.o.MaxUnpacked)
	if err != nil {
		return err
	}
	att.Received = rt
	return nil
}

// hashesFor is what to hash the tarball of the document partial with:
// SHA-512 and SHA-1 always (the content address and dist.shasum), and the
// other algorithms the manifest's dist.integrity names when the manifest
// came before the tarball (npm sends it first); all of them when it did not.
func hashesFor(partial PublishDocument) []string {
	algos := []string{"sha512", "sha1"}
	if len(partial.Versions) != 1 {
		return append(algos, "sha384", "sha256")
	}
	for _, raw := range partial.Versions {
		var head struct {
			Dist struct {
				Integrity string `json:"integrity"`
			} `json:"dist"`
		}
		_ = json.Unmarshal(raw, &head)
		for _, token := range strings.Fields(head.Dist.Integrity) {
			algo, _, _ := strings.Cut(token, "-")
			if (algo == "sha384" || algo == "sha256") && !slices.Contains(algos, algo) {
				algos = append(algos, algo)
			}
		}
	}
	return algos
}

// jsonString reads the content of a JSON string whose opening quote has
// been consumed, unescaped, up to its closing quote, which it consumes; its
// io.EOF is the string's end. A body that ends first, a raw control
// character or a bad escape is an error.
type jsonString struct {
	r       *bufio.Reader
	pending []byte // decoded bytes of an escape not yet returned
	done    bool
	err     error
}

func (s *jsonString) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := 0
	for n < len(p) {
		if len(s.pending) > 0 {
			c := copy(p[n:], s.pending)
			s.pending = s.pending[c:]
			n += c
			continue
		}
		if s.done {
			break
		}
		if _, err := s.r.Peek(1); err != nil {
			s.err = readError(err)
			break
		}
		buf, _ := s.r.Peek(min(s.r.Buffered(), len(p)-n))
		i := 0
		for i < len(buf) && buf[i] != '"' && buf[i] != '\\' && buf[i] >= 0x20 {
			i++
		}
		if i > 0 {
			n += copy(p[n:], buf[:i])
			_, _ = s.r.Discard(i)
			continue
		}
		switch c := buf[0]; {
		case c == '"':
			_, _ = s.r.Discard(1)
			s.done = true
		case c < 0x20:
			s.err = syntaxError("a control character in a string")
		default:
			s.err = s.escape()
		}
		if s.err != nil {
			break
		}
	}
	if n > 0 {
		return n, nil
	}
	if s.err != nil {
		return 0, s.err
	}
	return 0, io.EOF
}

// escape decodes the escape sequence at the reader into pending, as
// encoding/json does (an unpaired surrogate becomes U+FFFD).
func (s *jsonString) escape() error {
	head, err := s.r.Peek(2)
	if err != nil {
		return readError(err)
	}
	var b byte
	switch head[1] {
	case '"', '\\', '/':
		b = head[1]
	case 'b':
		b = '\b'
	case 'f':
		b = '\f'
	case 'n':
		b = '\n'
	case 'r':
		b = '\r'
	case 't':
		b = '\t'
	case 'u':
	default:
		return syntaxError("a bad escape in a string")
	}
	if b != 0 {
		_, _ = s.r.Discard(2)
		s.pending = append(s.pending[:0], b)
		return nil
	}
	r, ok := s.hex4(0)
	if !ok {
		return syntaxError("a bad \\u escape in a string")
	}
	consumed := 6
	if utf16.IsSurrogate(r) {
		r2, ok := s.hex4(6)
		if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
			r, consumed = dec, 12
		} else {
			r = utf8.RuneError
		}
	}
	_, _ = s.r.Discard(consumed)
	s.pending = utf8.AppendRune(s.pending[:0], r)
	return nil
}

// hex4 reads the \uXXXX escape at offset off of the reader, unconsumed.
func (s *jsonString) hex4(off int) (rune, bool) {
	b, err := s.r.Peek(off + 6)
	if err != nil || b[off] != '\\' || b[off+1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range b[off+2 : off+6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}
