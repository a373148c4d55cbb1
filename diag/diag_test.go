package diag

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseFEAT(t *testing.T) {
	msg := "211-Features:\n AUTH TLS\n EPSV\n MLST type*;size*;\n REST STREAM\n211 End"
	f := ParseFEAT(msg)
	if len(f) != 4 || f["AUTH"] != "TLS" || f["MLST"] != "type*;size*;" || f["REST"] != "STREAM" {
		t.Errorf("ParseFEAT = %q", f)
	}
	if _, ok := f["EPSV"]; !ok || !authTLS(f) {
		t.Errorf("ParseFEAT = %q, authTLS %v", f, authTLS(f))
	}
	// Some servers repeat the code on every line.
	f = ParseFEAT("211-Extensions supported:\n211-EPSV\n211- UTF8\n211 End.")
	if _, ok := f["EPSV"]; !ok || len(f) != 2 || authTLS(f) {
		t.Errorf("ParseFEAT with codes = %q", f)
	}
	if f := ParseFEAT("211 No features"); len(f) != 0 {
		t.Errorf("ParseFEAT(one line) = %q", f)
	}
}

func TestParsePASV(t *testing.T) {
	for msg, want := range map[string]string{
		"227 Entering Passive Mode (127,0,0,1,111,232).": "127.0.0.1:28648",
		"227 Entering Passive Mode (10,0,0,5,4,1)":       "10.0.0.5:1025",
		"227 =192,168,1,2,0,21":                          "192.168.1.2:21",
		"227-multi\n227 Passive (1,2,3,4,0,80)":          "1.2.3.4:80",
	} {
		ip, port, err := ParsePASV(msg)
		if err != nil || net.JoinHostPort(ip.String(), strconv.Itoa(port)) != want {
			t.Errorf("ParsePASV(%q) = %v %d %v, want %s", msg, ip, port, err, want)
		}
	}
	for _, msg := range []string{"227 Entering Passive Mode", "227 (1,2,3,4,5)", "227 (1,2,3,400,5,6)"} {
		if _, _, err := ParsePASV(msg); err == nil {
			t.Errorf("ParsePASV(%q) succeeded", msg)
		}
	}
}

func TestParseEPSV(t *testing.T) {
	for msg, want := range map[string]int{
		"229 Entering Extended Passive Mode (|||28641|)": 28641,
		"229 Extended Passive mode OK (|||26572|)":       26572,
		"229 EPSV ok (!!!6446!)":                         6446,
	} {
		if port, err := ParseEPSV(msg); err != nil || port != want {
			t.Errorf("ParseEPSV(%q) = %d %v, want %d", msg, port, err, want)
		}
	}
	for _, msg := range []string{"229 Entering Extended Passive Mode", "229 (|||0|)", "229 (||1|2|)", "229 (|||x|)"} {
		if _, err := ParseEPSV(msg); err == nil {
			t.Errorf("ParseEPSV(%q) succeeded", msg)
		}
	}
}

func TestPortCommand(t *testing.T) {
	if got := portCommand(&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40123}); got != "PORT 127,0,0,1,156,187" {
		t.Errorf("portCommand(v4) = %q", got)
	}
	if got := portCommand(&net.TCPAddr{IP: net.ParseIP("::1"), Port: 40123}); got != "EPRT |2|::1|40123|" {
		t.Errorf("portCommand(v6) = %q", got)
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

func TestReply(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var log []string
	c := newControl(a, time.Second, func(l string) { log = append(log, l) })
	go fmt.Fprint(b, "220-Welcome\r\n220-more\r\n 220 not the end\r\n220 End\r\n")
	code, msg, err := c.reply()
	if err != nil || code != 220 || lastLine(msg) != "220 End" || len(log) != 4 {
		t.Errorf("reply = %d %q %v, log %q", code, msg, err, log)
	}
	code, _, err = c.reply()
	if err == nil || code != 0 {
		t.Errorf("reply with nothing to read = %d %v", code, err)
	}
	go func() {
		r := bufio.NewReader(b)
		_, _ = r.ReadString('\n')
		fmt.Fprint(b, "230 ok\r\n")
	}()
	log = nil
	if code, _, err := c.cmd("PASS secret"); err != nil || code != 230 || log[0] != "> PASS ****" {
		t.Errorf("cmd = %d %v, log %q", code, err, log)
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
	defer c.Close()
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
			say("331 password please")
		case "PASS":
			if arg == "right" {
				say("230 welcome")
			} else {
				say("530 Login incorrect.")
			}
		case "TYPE":
			say("200 binary")
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
