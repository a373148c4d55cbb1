package ftp

import (
	"testing"
	"time"
)

// TestParseLIST reads the LIST forms servers without MLSD send: vsftpd's
// ls -l (numeric owners, a time this year or a year), a symlink, a name
// with spaces, a listing without the group column, and IIS's DOS form.
func TestParseLIST(t *testing.T) {
	listing := "drwxr-xr-x    2 1000     1000         4096 Dec 06 16:30 .\r\n" +
		"drwxr-xr-x    3 0        0            4096 Dec 06 16:30 ..\r\n" +
		"-rw-r--r--    1 1000     1000           12 Jan 02  2024 a b.txt\r\n" +
		"drwxr-xr-x    2 1000     1000         4096 Mar  5 09:07 sub\r\n" +
		"lrwxrwxrwx    1 1000     1000            3 Mar  5 09:07 link -> a b.txt\r\n" +
		"-rw-r--r--    1 owner            7 Mar  5 09:07 nogroup\r\n" +
		"total 12\r\n" +
		"01-02-06  03:04PM       <DIR>          dos dir\r\n" +
		"01-02-06  03:04PM                 1234 dos.txt\r\n"
	got := parseLIST(listing)
	want := map[string]struct {
		dir  bool
		size int64
	}{
		"a b.txt": {false, 12}, "sub": {true, 0}, "link": {false, 3}, "nogroup": {false, 7},
		"dos dir": {true, 0}, "dos.txt": {false, 1234},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for _, fi := range got {
		w, ok := want[fi.Name]
		if !ok || fi.IsDir != w.dir || fi.Size != w.size {
			t.Errorf("%+v, want %+v", fi, w)
		}
		if fi.ModTime.IsZero() {
			t.Errorf("%s: no time", fi.Name)
		}
	}
	for _, fi := range got {
		if fi.Name == "a b.txt" && !fi.ModTime.Equal(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("a b.txt: time %v", fi.ModTime)
		}
	}
}
