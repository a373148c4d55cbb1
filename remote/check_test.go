package remote_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/remote"
	_ "github.com/gftp/gftp/remote/local"
)

// TestOpenChecksNames: whatever produced a name, the Remote that Open
// returns refuses one that leaves the root, before the transport sees it,
// through the capabilities too; and As finds a capability only when the
// transport has it.
func TestOpenChecksNames(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "site")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	u, err := remote.ParseURL(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := remote.Open(ctx, u, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, name := range []string{"../outside.txt", "a/../../outside.txt", "/etc/hostname", "./x", "a//b", `..\x`} {
		err := r.Put(ctx, name, strings.NewReader("x"), 1)
		if !errors.Is(err, remote.ErrEscape) {
			t.Errorf("Put(%q) = %v, want ErrEscape", name, err)
		}
		if err := remote.PutAtomic(ctx, r, name, strings.NewReader("x"), 1); !errors.Is(err, remote.ErrEscape) {
			t.Errorf("PutAtomic(%q) = %v, want ErrEscape", name, err)
		}
		if err := r.Rename(ctx, "ok", name); !errors.Is(err, remote.ErrEscape) {
			t.Errorf("Rename to %q = %v, want ErrEscape", name, err)
		}
		if _, err := r.List(ctx, name); !errors.Is(err, remote.ErrEscape) {
			t.Errorf("List(%q) = %v, want ErrEscape", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(top, "outside.txt")); !os.IsNotExist(err) {
		t.Fatalf("a file landed outside the root: %v", err)
	}
	h, ok := remote.As[remote.Hasher](r)
	if !ok {
		t.Fatal("As does not find the local transport's Hasher")
	}
	if _, err := h.Hash(ctx, "../outside.txt"); !errors.Is(err, remote.ErrEscape) {
		t.Errorf("Hash through As = %v, want ErrEscape", err)
	}
	if _, ok := remote.As[remote.PutIfAbsenter](r); ok {
		t.Error("As finds PutIfAbsenter, which the local transport lacks")
	}
	if _, ok := remote.As[remote.BatchRemover](r); ok {
		t.Error("As finds BatchRemover, which the local transport lacks")
	}
	// Odd names that stay inside pass.
	for _, name := range []string{"-rf", "#1 %20?.txt", "ünï cödé", "..a", "a.."} {
		if err := remote.PutAtomic(ctx, r, name, strings.NewReader(name), int64(len(name))); err != nil {
			t.Errorf("PutAtomic(%q): %v", name, err)
		}
		if got, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(got) != name {
			t.Errorf("%q holds %q, %v", name, got, err)
		}
	}
}

func TestQuoteName(t *testing.T) {
	for in, want := range map[string]string{
		"index.html":          "index.html",
		"a b/ünï#%?.txt":      "a b/ünï#%?.txt",
		"x\nINFO deployed":    `"x\nINFO deployed"`,
		"cr\r":                `"cr\r"`,
		"esc\x1b[2J":          `"esc\x1b[2J"`,
		"bad\xffutf8":         `"bad\xffutf8"`,
		"nbsp\u00a0":          `"nbsp\u00a0"`,
		"tab\tname":           `"tab\tname"`,
		"\u202eevil-rtl.html": `"\u202eevil-rtl.html"`,
	} {
		if got := remote.QuoteName(in); got != want {
			t.Errorf("QuoteName(%q) = %s, want %s", in, got, want)
		}
	}
}
