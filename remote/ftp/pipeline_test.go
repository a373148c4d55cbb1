package ftp_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gftp/gftp/remote"
)

// outOfTurnServer is a plain FTP server that calls itself vsFTPd, so that
// gftp sends the next EPSV with each STOR, and that then misbehaves the way
// proftpd and pure-ftpd would: it answers a command that arrives during a
// transfer (the EPSV) before the transfer's own 226.
type outOfTurnServer struct {
	mu    sync.Mutex
	files map[string][]byte
	early int // EPSVs answered before a 226
}

func (f *outOfTurnServer) serve(t *testing.T) string {
	return serveFTP(t, f.session)
}

func (f *outOfTurnServer) session(c net.Conn) {
	defer c.Close()
	rd := bufio.NewReader(c)
	say := func(s string) { io.WriteString(c, s+"\r\n") }
	var pasv net.Listener
	epsv := func() {
		if pasv != nil {
			pasv.Close()
		}
		var err error
		if pasv, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			say("425 no port")
			return
		}
		say(fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", pasv.Addr().(*net.TCPAddr).Port))
	}
	defer func() {
		if pasv != nil {
			pasv.Close()
		}
	}()
	var from string
	say("220 (vsFTPd 3.0.3)")
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToUpper(cmd) {
		case "USER":
			say("331 pass")
		case "PASS":
			say("230 ok")
		case "FEAT":
			say("211-Features:\r\n SIZE\r\n UTF8\r\n211 End")
		case "TYPE", "OPTS":
			say("200 ok")
		case "PWD":
			say(`257 "/"`)
		case "EPSV":
			epsv()
		case "STOR":
			if pasv == nil {
				say("425 EPSV first")
				continue
			}
			dc, err := pasv.Accept()
			pasv.Close()
			pasv = nil
			if err != nil {
				say("425 no connection")
				continue
			}
			say("150 go")
			data, _ := io.ReadAll(dc)
			dc.Close()
			f.mu.Lock()
			f.files[arg] = data
			f.mu.Unlock()
			// The misbehaviour: a command already read during the
			// transfer is answered before the transfer's reply.
			time.Sleep(20 * time.Millisecond)
			if rd.Buffered() > 0 {
				if next, _ := rd.Peek(rd.Buffered()); bytes.HasPrefix(next, []byte("EPSV")) {
					rd.ReadString('\n')
					epsv()
					f.mu.Lock()
					f.early++
					f.mu.Unlock()
				}
			}
			say("226 done")
		case "SIZE":
			f.mu.Lock()
			data, ok := f.files[arg]
			f.mu.Unlock()
			if !ok {
				say("550 no such file")
				continue
			}
			say(fmt.Sprintf("213 %d", len(data)))
		case "RNFR":
			from = arg
			say("350 ready")
		case "RNTO":
			f.mu.Lock()
			data, ok := f.files[from]
			if ok {
				delete(f.files, from)
				f.files[arg] = data
			}
			f.mu.Unlock()
			if !ok {
				say("550 no such file")
				continue
			}
			say("250 renamed")
		case "DELE":
			f.mu.Lock()
			delete(f.files, arg)
			f.mu.Unlock()
			say("250 deleted")
		case "NOOP":
			say("200 ok")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 not here")
		}
	}
}

// TestEarlyEPSVAnsweredOutOfTurn: a server that answers the EPSV sent with
// a STOR before the STOR's 226 is detected; every upload still lands whole
// under its name, and the EPSV goes with the rename from then on.
func TestEarlyEPSVAnsweredOutOfTurn(t *testing.T) {
	srv := &outOfTurnServer{files: map[string][]byte{}}
	logs := &logBuf{}
	r, err := open(t, srv.serve(t), remote.Options{User: "u", Password: "p", Logger: logs.logger(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]string{}
	for i := 0; i < 4; i++ {
		name := fmt.Sprintf("f%d.txt", i)
		data := strings.Repeat(fmt.Sprintf("file %d ", i), 500)
		if err := remote.PutAtomic(ctx, r, name, strings.NewReader(data), int64(len(data))); err != nil {
			t.Fatalf("put %s: %v\n%s", name, err, logs.String())
		}
		want["/"+name] = data
	}
	r.Close()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for name, data := range want {
		if string(srv.files[name]) != data {
			t.Errorf("%s holds %d bytes, want %d", name, len(srv.files[name]), len(data))
		}
	}
	if len(srv.files) != len(want) {
		t.Errorf("server holds %d files, want %d (a temporary file left?)", len(srv.files), len(want))
	}
	if srv.early != 1 {
		t.Errorf("%d EPSVs were sent with a STOR after the server answered one out of turn, want just that one", srv.early)
	}
	if !strings.Contains(logs.String(), "answered an EPSV during a STOR") {
		t.Errorf("no word of the fallback in the log:\n%s", logs.String())
	}
}
