package manifest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/deploy/manifest"
	"github.com/gftp/gftp/remote/local"
)

// hostile are names a server can hold that a line-based format could get
// wrong.
var hostile = []string{
	"index.html",
	"with space.txt",
	" leading space",
	"trailing space ",
	"ünïcødé/日本語.txt",
	"#hash%percent?query",
	"-leading-dash",
	"--",
	"new\nline",
	"carriage\rreturn",
	"tab\there",
	"\"quoted\"",
	"back\\slash",
	"invalid\xffutf8\xc3",
	"\x7fdel",
	"zero\u200bwidth",
	"a/b/c/d.css",
	"end 1 abc",
	"gftp-manifest 1",
}

func entry(p, content string) manifest.Entry {
	return manifest.Entry{Path: p, Size: int64(len(content)), SHA256: sha256.Sum256([]byte(content))}
}

func TestRoundTripHostileNames(t *testing.T) {
	m := manifest.New()
	for i, p := range hostile {
		m.Set(entry(p, strings.Repeat("x", i)))
	}
	data := m.Bytes()
	got, warns, err := manifest.Parse(bytes.NewReader(data))
	if err != nil || len(warns) > 0 {
		t.Fatalf("Parse: %v %v\n%s", err, warns, data)
	}
	if !got.Trusted() || !got.Equal(m) {
		t.Fatalf("round trip changed the manifest:\n%s\ngot %v", data, got.Entries())
	}
	for _, p := range hostile {
		e, ok := got.Get(p)
		if !ok || e.Path != p {
			t.Errorf("%q lost", p)
		}
	}
	// One line per entry, plus the header and the trailer: no name broke a
	// line.
	if lines := bytes.Count(data, []byte("\n")); lines != len(hostile)+2 {
		t.Errorf("%d lines for %d entries:\n%s", lines, len(hostile), data)
	}
	// Plain names are written plain.
	if !bytes.Contains(data, []byte(" #hash%percent?query\n")) || !bytes.Contains(data, []byte(` "new\nline"`+"\n")) {
		t.Errorf("unexpected quoting:\n%s", data)
	}
	// Encoding is deterministic and sorted.
	if again := got.Bytes(); !bytes.Equal(again, data) {
		t.Errorf("encoding differs after a round trip:\n%s\n%s", data, again)
	}
}

func TestEmpty(t *testing.T) {
	data := manifest.New().Bytes()
	m, warns, err := manifest.Parse(bytes.NewReader(data))
	if err != nil || len(warns) > 0 || m.Len() != 0 || !m.Trusted() {
		t.Fatalf("%q: %v %v %d", data, err, warns, m.Len())
	}
}

// TestTruncated: a manifest cut at any byte, or with any byte changed, is
// an error wrapping ErrCorrupt, never a shorter list.
func TestTruncated(t *testing.T) {
	m := manifest.New(entry("a.css", "a"), entry("b/c.js", "bc"), entry("d e", ""))
	data := m.Bytes()
	for i := 0; i < len(data); i++ {
		got, _, err := manifest.Parse(bytes.NewReader(data[:i]))
		if !errors.Is(err, manifest.ErrCorrupt) {
			t.Fatalf("cut at %d of %d: err %v", i, len(data), err)
		}
		if got == nil || got.Trusted() || got.Len() != 0 {
			t.Fatalf("cut at %d: a corrupt manifest must be empty and untrusted", i)
		}
		var ce *manifest.CorruptError
		if !errors.As(err, &ce) || !strings.Contains(ce.Hint(), "--rebuild-manifest") {
			t.Fatalf("cut at %d: no hint: %v", i, err)
		}
	}
	for i := 0; i < len(data); i++ {
		bad := bytes.Clone(data)
		bad[i] ^= 0x01
		if _, _, err := manifest.Parse(bytes.NewReader(bad)); err == nil {
			t.Errorf("flipping byte %d (%q) went unnoticed", i, data[i])
		}
	}
	if _, _, err := manifest.Parse(bytes.NewReader(append(bytes.Clone(data), "x\n"...))); !errors.Is(err, manifest.ErrCorrupt) {
		t.Errorf("data after the end: %v", err)
	}
	if _, _, err := manifest.Parse(strings.NewReader("gftp-manifest 2\nend 0 x\n")); !errors.Is(err, manifest.ErrCorrupt) || !strings.Contains(err.Error(), "version") {
		t.Errorf("version 2: %v", err)
	}
}

// forge writes a manifest whose entries are the given lines, with a valid
// trailer: what someone with write access to the server could put there.
func forge(lines ...string) []byte {
	var body bytes.Buffer
	for _, l := range lines {
		body.WriteString(l + "\n")
	}
	sum := sha256.Sum256(body.Bytes())
	var b bytes.Buffer
	b.WriteString("gftp-manifest 1\n")
	b.Write(body.Bytes())
	b.WriteString("end " + itoa(len(lines)) + " " + hexOf(sum[:]) + "\n")
	return b.Bytes()
}

func TestMaliciousPaths(t *testing.T) {
	h := strings.Repeat("0", 64)
	bad := []string{
		`""`,
		"/etc/passwd",
		"../outside",
		"a/../../outside",
		"./a",
		"a//b",
		"dir/",
		`"nul\x00byte"`,
		`"..\\..\\win"`,
		".git-ftp.log",
		".gftp-manifest",
		".gftp.lock/holder.json",
		"dir/.gftp-tmp-abcdef01-00000000",
	}
	lines := []string{h + " 1 a-good-one"}
	for _, p := range bad {
		lines = append(lines, h+" 1 "+p)
	}
	// Sorted, as Parse demands.
	data := forge(sortLines(lines)...)
	m, warns, err := manifest.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != len(bad) {
		t.Errorf("%d warnings for %d bad paths: %v", len(warns), len(bad), warns)
	}
	if m.Trusted() {
		t.Error("a manifest with refused entries is trusted")
	}
	if m.Len() != 1 {
		t.Errorf("entries: %v", m.Entries())
	}
	up, del := manifest.Diff(m, manifest.New())
	if len(up) != 0 || len(del) != 0 {
		t.Errorf("Diff against an untrusted manifest: upload %v, delete %v", up, del)
	}
	for _, w := range warns {
		if !strings.Contains(w.String(), ".gftp-manifest:") {
			t.Errorf("warning %q does not name the manifest", w)
		}
	}
}

func TestOutOfOrder(t *testing.T) {
	h := strings.Repeat("0", 64)
	for _, lines := range [][]string{{h + " 1 b", h + " 1 a"}, {h + " 1 a", h + " 1 a"}, {h + " 1 a", h + ` 1 "a"`}} {
		if _, _, err := manifest.Parse(bytes.NewReader(forge(lines...))); !errors.Is(err, manifest.ErrCorrupt) {
			t.Errorf("%q: %v", lines, err)
		}
	}
	for _, l := range []string{"X 1 a", h + " -1 a", h + " +1 a", h + " 1", h + ` 1 "a`, strings.ToUpper(h[:1]) + "A" + h[2:] + " 1 a"} {
		if _, _, err := manifest.Parse(bytes.NewReader(forge(l))); !errors.Is(err, manifest.ErrCorrupt) {
			t.Errorf("%q: %v", l, err)
		}
	}
}

func TestDiff(t *testing.T) {
	old := manifest.New(entry("same", "1"), entry("changed", "1"), entry("resized", "1"), entry("gone", "1"))
	local := manifest.New(entry("same", "1"), entry("changed", "2"), entry("resized", "11"), entry("new", ""))
	up, del := manifest.Diff(old, local)
	var ups, dels []string
	for _, e := range up {
		ups = append(ups, e.Path)
	}
	for _, e := range del {
		dels = append(dels, e.Path)
	}
	if strings.Join(ups, ",") != "changed,new,resized" || strings.Join(dels, ",") != "gone" {
		t.Errorf("upload %v, delete %v", ups, dels)
	}
}

func TestHashFileAndRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := filepath.Join(dir, "big")
	data := bytes.Repeat([]byte("0123456789"), 300_000)
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := manifest.HashFile(ctx, f)
	if err != nil || e.Size != int64(len(data)) || e.SHA256 != sha256.Sum256(data) {
		t.Fatalf("HashFile: %v %d", err, e.Size)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := manifest.HashFile(cancelled, f); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled HashFile: %v", err)
	}

	srv := t.TempDir()
	r, err := local.New(srv)
	if err != nil {
		t.Fatal(err)
	}
	m, warns, err := manifest.Read(ctx, r, manifest.Name)
	if err != nil || len(warns) > 0 || m.Len() != 0 || !m.Trusted() {
		t.Fatalf("missing manifest: %v %v %d", err, warns, m.Len())
	}
	e.Path = "new\nline/big"
	want := manifest.New(e)
	if err := manifest.Write(ctx, r, manifest.Name, want); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(srv, manifest.Name))
	if err != nil || !bytes.Equal(raw, want.Bytes()) {
		t.Fatalf("on the server: %q %v", raw, err)
	}
	got, _, err := manifest.Read(ctx, r, manifest.Name)
	if err != nil || !got.Equal(want) {
		t.Fatalf("Read: %v %v", err, got.Entries())
	}
	if err := os.WriteFile(filepath.Join(srv, manifest.Name), raw[:len(raw)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := manifest.Read(ctx, r, manifest.Name); !errors.Is(err, manifest.ErrCorrupt) {
		t.Fatalf("truncated on the server: %v", err)
	}
}
