package ftp

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestHashWayFrom(t *testing.T) {
	proftpd := []string{"EPSV", "HASH CRC32;MD5;SHA-1*;SHA-256;SHA-512;", "MD5", "MDTM", "XCRC", "XMD5", "XSHA", "XSHA1", "XSHA256", "XSHA512"}
	for _, tc := range []struct {
		name  string
		feats []string
		want  hashWay
	}{
		{"proftpd: SHA-256 through HASH, selected first", proftpd, hashWay{cmd: "HASH", algo: "sha256", opts: "SHA-256"}},
		{"SHA-256 selected already", []string{"HASH SHA-1;SHA-256*"}, hashWay{cmd: "HASH", algo: "sha256"}},
		{"lower case, no SHA-256 in HASH but XSHA256", []string{"hash md5*;sha-1", "xsha256"}, hashWay{cmd: "XSHA256", algo: "sha256"}},
		{"HASH SHA-1 only", []string{"HASH SHA-1*;CRC32"}, hashWay{cmd: "HASH", algo: "sha1"}},
		{"XMD5 only", []string{"SIZE", "XMD5"}, hashWay{cmd: "XMD5", algo: "md5"}},
		{"MD5 only", []string{"MD5"}, hashWay{cmd: "MD5", algo: "md5"}},
		{"CRC32 only", []string{"HASH CRC32*", "XCRC"}, hashWay{}},
		{"vsftpd", []string{"EPRT", "EPSV", "MDTM", "PASV", "REST STREAM", "SIZE", "TVFS"}, hashWay{}},
		{"no FEAT", nil, hashWay{}},
	} {
		if got := hashWayFrom(tc.feats); got != tc.want {
			t.Errorf("%s: hashWayFrom = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestParseDigestReply(t *testing.T) {
	const sha256 = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
	const md5 = "6f5902ac237024bdd0c176cb93063dc4"
	for _, tc := range []struct {
		cmd  string
		code int
		msg  string
		want string // hex; "" for an error
	}{
		{"HASH", 213, "Computing SHA-256 digest\nSHA-256 0-12 " + sha256 + " /f", sha256},
		{"HASH", 213, "SHA-256 0-12 " + sha256 + " /a dir/with spaces", sha256},
		{"XSHA256", 250, "Computing SHA256 digest\n" + "A948904F2F0F479B8F8197694B30184B0D2ED1C1CD2A1EC0FB85D299A192A447", sha256},
		{"XMD5", 250, md5, md5},
		{"MD5", 251, "/a name " + md5, md5},
		{"HASH", 213, "SHA-256 0-12", ""},
		{"HASH", 200, "SHA-256 0-12 " + sha256 + " /f", ""},
		{"XMD5", 250, "not hex", ""},
		{"XMD5", 250, "abcd", ""},
		{"XSHA1", 250, "", ""},
	} {
		got, err := parseDigestReply(tc.cmd, tc.code, tc.msg)
		want, _ := hex.DecodeString(tc.want)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s %d %q: got %x, want an error", tc.cmd, tc.code, tc.msg, got)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s %d %q = %x, %v; want %s", tc.cmd, tc.code, tc.msg, got, err, tc.want)
		}
	}
}

// TestAnnouncedSize: a download returns before its 226 only when it got
// exactly the size its 150 announced, so the size must be read right, and
// not at all where the reply gives none.
func TestAnnouncedSize(t *testing.T) {
	for msg, want := range map[string]int64{
		"Opening BINARY mode data connection for /.git-ftp.log (41 bytes).": 41, // vsftpd
		"Opening BINARY mode data connection for /f (1 byte)":               1,  // proftpd
		"Opening BINARY mode data connection for (2) x (0 bytes)":           0,
		"Accepted data connection":                                          -1, // pure-ftpd
		"Opening data connection for big (99999999999999999999 bytes)":      -1,
		"Here (12 kbytes)": -1,
	} {
		if got := announcedSize(msg); got != want {
			t.Errorf("AnnouncedSize(%q) = %d, want %d", msg, got, want)
		}
	}
}
