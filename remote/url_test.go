package remote

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"ftp://u:secret@host/p":         "ftp://u:%2A%2A%2A%2A@host/p",
		"ftp://u@host/p":                "ftp://u@host/p",
		"ftp://u:secret@host:badport/p": "ftp://u:****@host:badport/p",
		"ftp://u:sec:ret@host:x/p":      "ftp://u:****@host:x/p",
		"sftp://host/no-user":           "sftp://host/no-user",
	} {
		got := Redact(in)
		if strings.Contains(got, "secret") || strings.Contains(got, "sec:ret") {
			t.Errorf("Redact(%q) = %q still shows the password", in, got)
		}
		if got != want && strings.ReplaceAll(got, "%2A", "*") != strings.ReplaceAll(want, "%2A", "*") {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{
		"ftp://host/www":      "ftp://host/www",
		"host.example/www":    "ftp://host.example/www",
		"FTPES://Host:2121/x": "ftpes://Host:2121/x",
		"sftp://u@h/~/www":    "sftp://u@h/~/www",
		"s3://bucket/prefix":  "s3://bucket/prefix",
		"/var/www":            "file:///var/www",
	} {
		u, err := ParseURL(in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", in, err)
			continue
		}
		if u.String() != want {
			t.Errorf("ParseURL(%q) = %q, want %q", in, u.String(), want)
		}
	}
	for _, bad := range []string{"", "ftp://", "ftp://h:port/x"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) succeeded", bad)
		}
	}
}
