package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"
)

// TestREADMEDocumentsEveryCommandAndFlag keeps the README and `gftp help`
// in agreement: every command and every flag name (long and short) that the
// CLI defines must appear in the README, and every command must have help.
func TestREADMEDocumentsEveryCommandAndFlag(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	root := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{}).command()
	checkFlags := func(where string, flags []cli.Flag) {
		for _, f := range flags {
			for _, name := range f.Names() {
				if name == "help" || name == "h" {
					continue
				}
				dash := "--"
				if len(name) == 1 {
					dash = "-"
				}
				if !strings.Contains(doc, "`"+dash+name) {
					t.Errorf("README does not document %s%s (%s)", dash, name, where)
				}
			}
		}
	}
	checkFlags("global", root.Flags)
	for _, c := range root.Commands {
		if !strings.Contains(doc, "`gftp "+c.Name) {
			t.Errorf("README does not document the command %q", c.Name)
		}
		if c.Usage == "" {
			t.Errorf("command %q has no help text", c.Name)
		}
		checkFlags(c.Name, c.Flags)
		for _, sub := range c.Commands {
			if !strings.Contains(doc, "`gftp "+c.Name+" "+sub.Name) {
				t.Errorf("README does not document %q", c.Name+" "+sub.Name)
			}
			checkFlags(c.Name+" "+sub.Name, sub.Flags)
		}
	}

	// And `gftp help COMMAND` works for each.
	for _, c := range root.Commands {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"gftp", "help", c.Name}, nil, &out, &errb); code != 0 {
			t.Errorf("gftp help %s exited %d: %s", c.Name, code, errb.String())
		}
		if !strings.Contains(out.String(), c.Usage) {
			t.Errorf("gftp help %s does not show its usage", c.Name)
		}
	}
}
