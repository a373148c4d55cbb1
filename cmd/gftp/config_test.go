package main

import (
	"testing"
)

func TestParseNetrc(t *testing.T) {
	data := []byte("machine a.example login alice password pa\n# comment\nmachine b.example\n  login bob\n  password pb\n  account x\ndefault login anon password ad\n")
	for host, want := range map[string][2]string{"a.example": {"alice", "pa"}, "b.example": {"bob", "pb"}, "c.example": {"anon", "ad"}} {
		l, p, ok := parseNetrc(data, host)
		if !ok || l != want[0] || p != want[1] {
			t.Errorf("%s: %q %q %v, want %q", host, l, p, ok, want)
		}
	}
	if _, _, ok := parseNetrc([]byte("machine x login y password z"), "other"); ok {
		t.Errorf("found an entry for a host not in netrc")
	}
}
