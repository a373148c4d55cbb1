package diag

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gftp/gftp/internal/ftpconn"
)

func TestFeatures(t *testing.T) {
	reply := func(msg string) ftpconn.Reply { return ftpconn.Reply{Code: 211, Msg: msg} }
	// As net/textproto hands a multi-line reply over: the code of its
	// first and last lines removed.
	f := features(reply("Features:\n AUTH TLS\n EPSV\n MLST type*;size*;\n REST\tSTREAM\nEnd"))
	if len(f) != 4 || f["AUTH"] != "TLS" || f["MLST"] != "type*;size*;" || f["REST"] != "STREAM" {
		t.Errorf("features = %q", f)
	}
	if _, ok := f["EPSV"]; !ok || !authTLS(f) {
		t.Errorf("features = %q, authTLS %v", f, authTLS(f))
	}
	// Some servers repeat the code on every line.
	f = features(reply("Extensions supported:\nEPSV\n utf8\nEnd."))
	if _, ok := f["UTF8"]; !ok || len(f) != 2 || authTLS(f) {
		t.Errorf("features with codes = %q", f)
	}
	if f := features(reply("No features")); len(f) != 0 {
		t.Errorf("features(one line) = %q", f)
	}
	if f := features(ftpconn.Reply{Code: 500, Msg: "Unknown command."}); len(f) != 0 {
		t.Errorf("features(500) = %q", f)
	}
}

func TestPASVAdvice(t *testing.T) {
	pub, lo := net.ParseIP("203.0.113.7"), net.ParseIP("127.0.0.1")
	if a := pasvAdvice(pub, pub, false); a != nil {
		t.Errorf("same address: %q", a)
	}
	if a := pasvAdvice(net.ParseIP("127.0.0.2"), lo, false); a != nil {
		t.Errorf("loopback: %q", a)
	}
	for _, private := range []string{"10.0.0.5", "192.168.1.2", "172.16.0.1", "100.64.1.1", "169.254.1.1", "0.0.0.0"} {
		a := strings.Join(pasvAdvice(net.ParseIP(private), pub, false), "\n")
		if !strings.Contains(a, "behind NAT") || !strings.Contains(a, "pasv_address") {
			t.Errorf("%s: advice %q", private, a)
		}
	}
	if a := strings.Join(pasvAdvice(net.ParseIP("198.51.100.1"), pub, false), "\n"); strings.Contains(a, "NAT") || !strings.Contains(a, "--trust-pasv-ip") {
		t.Errorf("public: advice %q", a)
	}
}

func TestParseTargets(t *testing.T) {
	for in, want := range map[string]string{
		"ftpes://example.com/www": "ftpes://example.com:21/www",
		"ftps://example.com":      "ftps://example.com:990/",
		"example.com:2121/x":      "ftp://example.com:2121/x",
		"ftp://u:p@[::1]:2121/":   "ftp://[::1]:2121/",
	} {
		tg, err := ParseURL(in)
		if err != nil || tg.String() != want {
			t.Errorf("ParseURL(%q) = %v %v, want %s", in, tg, err, want)
		}
	}
	for _, in := range []string{"sftp://example.com/", "ftp://:21/", "ftp://h:99999/"} {
		if _, err := ParseURL(in); err == nil {
			t.Errorf("ParseURL(%q) succeeded", in)
		}
	}
	for in, want := range map[string]string{
		"example.com":       "ftpes://example.com:21/",
		"example.com:990":   "ftps://example.com:990/",
		"127.0.0.1:2121":    "ftpes://127.0.0.1:2121/",
		"ftp://example.com": "ftp://example.com:21/",
	} {
		tg, err := ParseHostPort(in)
		if err != nil || tg.String() != want {
			t.Errorf("ParseHostPort(%q) = %v %v, want %s", in, tg, err, want)
		}
	}
	if _, _, err := portRange("5000-4000"); err == nil {
		t.Error("portRange accepted 5000-4000")
	}
	if lo, hi, err := portRange("40000-40010"); err != nil || lo != 40000 || hi != 40010 {
		t.Errorf("portRange = %d %d %v", lo, hi, err)
	}
}

// scripted is a small plain-FTP server on loopback that behaves like one
// behind NAT: its PASV reply names a private address, it has no EPSV, and
// it refuses active mode.
func scripted(t *testing.T) int { return scriptedActive(t, "") }

// scriptedActive is scripted with another answer to active mode: "" refuses
// PORT, "425" accepts it and then cannot connect back, "silent" accepts it,
// says 150, and never connects.
func scriptedActive(t *testing.T, active string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c, active)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func serve(c net.Conn, active string) {
	defer func() { c.Close() }()
	r := bufio.NewReader(c)
	say := func(s string) { fmt.Fprint(c, s+"\r\n") }
	say("220 scripted")
	var data net.Listener
	port := false // the last data command was PORT
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch strings.ToUpper(cmd) {
		case "FEAT":
			say("211-Features:\r\n PASV\r\n SIZE\r\n211 End")
		case "USER":
			if active == "tls-required" {
				say("530 Non-anonymous sessions must use encryption.")
			} else {
				say("331 password please")
			}
		case "PASS":
			if arg == "right" {
				say("230 welcome")
			} else {
				say("530 Login incorrect.")
			}
		case "AUTH":
			if active != "prot-refused" {
				say("500 Unknown command.")
				continue
			}
			say("234 Proceed with negotiation.")
			c = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{selfSigned()}})
			r = bufio.NewReader(c)
		case "PBSZ":
			say("200 PBSZ set to 0.")
		case "PROT":
			say("534 Request denied for policy reasons.")
		case "TYPE":
			if active == "ascii-only" {
				say("504 Command not implemented for that parameter.")
			} else {
				say("200 binary")
			}
		case "PASV":
			port = false
			data, _ = net.Listen("tcp", "127.0.0.1:0")
			p := data.Addr().(*net.TCPAddr).Port
			say(fmt.Sprintf("227 Entering Passive Mode (10,1,2,3,%d,%d).", p>>8, p&0xff))
		case "LIST":
			switch {
			case !port:
			case active == "425":
				say("425 Failed to establish connection.")
				continue
			case active == "silent":
				say("150 Here comes the directory listing.")
				continue
			}
			if data == nil {
				say("425 Use PASV first.")
				continue
			}
			say("150 listing")
			if dc, err := data.Accept(); err == nil {
				fmt.Fprint(dc, "-rw-r--r-- 1 u g 5 Jan 1 00:00 index.html\r\n")
				dc.Close()
			}
			data.Close()
			data = nil
			say("226 done")
		case "PORT", "EPRT":
			if active == "" {
				say("500 Illegal PORT command.")
			} else {
				port = true
				say("200 PORT command successful.")
			}
		case "QUIT":
			say("221 bye")
			return
		default:
			say("500 Unknown command.")
		}
	}
}

func TestRunScripted(t *testing.T) {
	port := scripted(t)
	tg := Target{Scheme: "ftp", Host: "127.0.0.1", Port: port}
	rep := Run(context.Background(), tg, Options{User: "deploy", Password: "right", Timeout: 5 * time.Second})
	want := map[string]Status{
		"dns": OK, "connect": OK, "banner": OK, "feat": OK, "tls": Warn, "login": OK,
		"epsv": Warn, "pasv": Warn, "active": Warn,
	}
	for id, s := range want {
		c := rep.Check(id)
		if c == nil || c.Status != s {
			t.Errorf("%s: %+v, want %s", id, c, s)
		}
	}
	if rep.Failed() || rep.Result() != Warn {
		t.Errorf("result %s", rep.Result())
	}
	var b strings.Builder
	_ = rep.WriteText(&b)
	text := b.String()
	for _, s := range []string{
		"the server does not support EPSV: 500 Unknown command.",
		"(gftp falls back to PASV, which works)",
		"43 bytes of listing, unencrypted; but the PASV reply names 10.1.2.3, not 127.0.0.1",
		"it is behind NAT",
		"the server does not allow active mode: PORT was answered 500 Illegal PORT command.",
		"Result: OK with warnings (tls, epsv, pasv, active)",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("report lacks %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, "right") {
		t.Errorf("the password is in the report:\n%s", text)
	}

	// A wrong password fails the login, with advice; nothing after it runs.
	rep = Run(context.Background(), tg, Options{User: "deploy", Password: "wrong", Timeout: 5 * time.Second})
	c := rep.Check("login")
	if c == nil || c.Status != Fail || !strings.Contains(c.Summary, "530 Login incorrect.") || len(c.Advice) == 0 || rep.Check("pasv") != nil {
		t.Errorf("login check %+v", c)
	}
	if !rep.Failed() {
		t.Error("a failed login does not fail the report")
	}
}

func TestRunCancelled(t *testing.T) {
	port := scripted(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := Run(ctx, Target{Scheme: "ftp", Host: "127.0.0.1", Port: port}, Options{})
	if !rep.Failed() || len(rep.Notes) == 0 {
		t.Errorf("cancelled run: failed %v, notes %q", rep.Failed(), rep.Notes)
	}
}

// TestRunActiveFails: a server that accepts PORT but cannot connect back
// (425), or never does, gets the firewall explanation of both modes.
func TestRunActiveFails(t *testing.T) {
	for _, mode := range []string{"425", "silent"} {
		t.Run(mode, func(t *testing.T) {
			port := scriptedActive(t, mode)
			tg := Target{Scheme: "ftp", Host: "127.0.0.1", Port: port}
			o := Options{User: "deploy", Password: "right", Timeout: time.Second, DisableEPSV: true}
			rep := Run(context.Background(), tg, o)
			c := rep.Check("active")
			if c == nil || c.Status != Warn {
				t.Fatalf("active: %+v", c)
			}
			want := map[string]string{"425": "the server could not connect back to you: 425 Failed to establish connection.",
				"silent": "the server did not connect back in 1s"}[mode]
			advice := strings.Join(c.Advice, "\n")
			if !strings.Contains(c.Summary, want) || !strings.Contains(advice, "your firewall") || !strings.Contains(advice, "passive mode (gftp's default)") {
				t.Errorf("active: %s\n%s", c.Summary, advice)
			}
			if rep.Check("epsv").Status != Skip || rep.Check("pasv").Status != Warn {
				t.Errorf("epsv %s, pasv %s", rep.Check("epsv").Status, rep.Check("pasv").Status)
			}
		})
	}
}

// TestRunTypeRefused: a server that refuses TYPE I in the login batch
// still logs in; the login check warns, and the listings run.
func TestRunTypeRefused(t *testing.T) {
	port := scriptedActive(t, "ascii-only")
	tg := Target{Scheme: "ftp", Host: "127.0.0.1", Port: port}
	rep := Run(context.Background(), tg, Options{User: "deploy", Password: "right", Timeout: 5 * time.Second})
	c := rep.Check("login")
	if c == nil || c.Status != Warn || !strings.Contains(c.Summary, "TYPE I (binary) was refused: 504 Command not implemented") {
		t.Fatalf("login: %+v", c)
	}
	if c := rep.Check("pasv"); c == nil || c.Status != Warn {
		t.Errorf("pasv after the warning: %+v", c)
	}
}

// TestRunTLSRequired: a plain ftp:// login that the server refuses for
// want of TLS says to use ftpes://.
func TestRunTLSRequired(t *testing.T) {
	port := scriptedActive(t, "tls-required")
	tg := Target{Scheme: "ftp", Host: "127.0.0.1", Port: port}
	rep := Run(context.Background(), tg, Options{User: "deploy", Password: "right", Timeout: 5 * time.Second})
	c := rep.Check("login")
	if c == nil || c.Status != Fail || !strings.Contains(c.Summary, "530 Non-anonymous sessions must use encryption.") ||
		!strings.Contains(strings.Join(c.Advice, "\n"), "use ftpes://127.0.0.1:") {
		t.Fatalf("login: %+v", c)
	}
	if rep.Check("prot") != nil || rep.Check("pasv") != nil {
		t.Errorf("checks after a refused login:\n%+v", rep.Checks)
	}
}

// selfSigned is a throwaway certificate for the scripted server's TLS.
func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestRunProtRefused: a server that logs in over TLS but refuses PROT P
// fails the prot check (data would travel in clear), with the login OK
// and no data checks after it.
func TestRunProtRefused(t *testing.T) {
	port := scriptedActive(t, "prot-refused")
	tg := Target{Scheme: "ftpes", Host: "127.0.0.1", Port: port}
	rep := Run(context.Background(), tg, Options{User: "deploy", Password: "right", Insecure: true, Timeout: 5 * time.Second})
	if c := rep.Check("login"); c == nil || c.Status != OK {
		t.Fatalf("login: %+v", c)
	}
	c := rep.Check("prot")
	if c == nil || c.Status != Fail || c.Summary != "the server refused to protect data connections: 534 Request denied for policy reasons." ||
		!strings.Contains(strings.Join(c.Advice, "\n"), "without PROT P the files would travel unencrypted") {
		t.Fatalf("prot: %+v", c)
	}
	if rep.Check("pasv") != nil || !rep.Failed() {
		t.Errorf("after a refused PROT P: failed %v, checks %+v", rep.Failed(), rep.Checks)
	}
}
