package ftp

import (
	"testing"
	"time"
)

func TestParseMLSD(t *testing.T) {
	listing := "type=cdir;modify=20260101000000; /x\r\n" +
		"type=pdir;modify=20260101000000; ..\r\n" +
		"type=file;size=12;modify=20260102030405.123; a b;c=d.txt\r\n" +
		"Type=DIR;Modify=20260102030405; sub dir \r\n" +
		"type=file;size=0;UNIX.mode=0644; -leading\r\n" +
		"type=OS.unix=slink:/etc;size=4; link\r\n"
	list, err := parseMLSD(listing)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("got %d entries: %+v", len(list), list)
	}
	byName := map[string]int{}
	for i, fi := range list {
		byName[fi.Name] = i
	}
	a, ok := byName["a b;c=d.txt"]
	if !ok || list[a].Size != 12 || list[a].IsDir ||
		!list[a].ModTime.Equal(time.Date(2026, 1, 2, 3, 4, 5, 123e6, time.UTC)) {
		t.Errorf("file entry wrong: %+v", list)
	}
	if d, ok := byName["sub dir "]; !ok || !list[d].IsDir {
		t.Errorf("dir entry wrong (trailing space must stay): %+v", list)
	}
	if _, ok := byName["-leading"]; !ok {
		t.Errorf("no -leading: %+v", list)
	}
	if _, err := parseMLSD("garbage\r\n"); err == nil {
		t.Errorf("garbage accepted")
	}
}
