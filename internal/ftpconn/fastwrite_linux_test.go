package ftpconn

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
)

// fastPair returns a fast-writing client connection and the server's end.
func fastPair(t *testing.T) (*fastConn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	fc, ok := fastWrites(c).(*fastConn)
	if !ok {
		t.Fatalf("fastWrites of a TCP connection returned %T", fastWrites(c))
	}
	t.Cleanup(func() { fc.Close(); s.Close() })
	return fc, s
}

// TestFastWrite: a write larger than the socket buffers waits in the
// poller and arrives whole, byte for byte; CloseWrite ends the stream.
func TestFastWrite(t *testing.T) {
	fc, s := fastPair(t)
	want := make([]byte, 16<<20)
	rnd := rand.New(rand.NewPCG(5, 6))
	for i := range want {
		want[i] = byte(rnd.Uint32())
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(s)
		got <- b
	}()
	n, err := fc.Write(want)
	if err != nil || n != len(want) {
		t.Fatalf("Write = %d, %v; want %d", n, err, len(want))
	}
	if n, err := fc.Write(nil); n != 0 || err != nil {
		t.Fatalf("empty Write = %d, %v", n, err)
	}
	if err := fc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("read %d bytes, not the %d written", len(b), len(want))
	}
}

// TestFastWriteDeadline: a write that cannot go on (nobody reads) ends at
// its deadline with a timeout, and a write after Close says closed.
func TestFastWriteDeadline(t *testing.T) {
	fc, _ := fastPair(t)
	_ = fc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := fc.Write(make([]byte, 64<<20))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past its deadline = %d, %v; want a timeout", n, err)
	}
	if n <= 0 || n >= 64<<20 {
		t.Fatalf("Write past its deadline wrote %d bytes, want some, not all", n)
	}
	fc.Close()
	if _, err := fc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
	}
	if err := fc.CloseWrite(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("CloseWrite after Close: %v, want net.ErrClosed", err)
	}
}

// TestFastWritePeerGone: writing to a connection the peer reset is an
// error, not a signal that ends the process.
func TestFastWritePeerGone(t *testing.T) {
	fc, s := fastPair(t)
	if tc, ok := s.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	s.Close()
	time.Sleep(50 * time.Millisecond)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = fc.Write(make([]byte, 64<<10))
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding")
	}
}
