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

// randomBytes returns n bytes of a random stream seeded with seed.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rnd := rand.New(rand.NewPCG(seed, seed+1))
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	return b
}

// TestFastWrite: a write larger than the socket buffers waits in the
// poller and arrives whole, byte for byte; CloseWrite ends the stream.
func TestFastWrite(t *testing.T) {
	fc, s := fastPair(t)
	want := randomBytes(16<<20, 5)
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
	_ = fc.SetWriteDeadline(time.Now().Add(time.Second)) // long enough to start under load
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

// TestFastRead: reads wait in the poller for what the peer writes and get
// it byte for byte, then io.EOF after the peer's half-close.
func TestFastRead(t *testing.T) {
	fc, s := fastPair(t)
	want := randomBytes(8<<20, 7)
	go func() {
		time.Sleep(20 * time.Millisecond) // the first read waits
		_, _ = s.Write(want)
		_ = s.(*net.TCPConn).CloseWrite()
	}()
	if n, err := fc.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty Read = %d, %v", n, err)
	}
	got, err := io.ReadAll(fc)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, not the %d written", len(got), len(want))
	}
	if n, err := fc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("Read after EOF = %d, %v; want 0, io.EOF", n, err)
	}
}

// TestFastReadDeadline: a read with nothing to read ends at its deadline
// with a timeout; a read after Close says closed; a reset is an error.
func TestFastReadDeadline(t *testing.T) {
	fc, s := fastPair(t)
	_ = fc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := fc.Read(make([]byte, 10))
	var ne net.Error
	if n != 0 || !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline = %d, %v; want a timeout", n, err)
	}
	_ = fc.SetReadDeadline(time.Time{})
	_ = s.(*net.TCPConn).SetLinger(0)
	s.Close()
	if _, err := fc.Read(make([]byte, 10)); err == nil || err == io.EOF {
		t.Fatalf("Read of a reset connection: %v, want an error", err)
	}
	fc.Close()
	if _, err := fc.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
	}
}
