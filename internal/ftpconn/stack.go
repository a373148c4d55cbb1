package ftpconn

// DeepStack grows the calling goroutine's stack once, at its start, to
// what a dial or a TLS handshake needs: call it first thing in a goroutine
// that does either. A goroutine starts small, and the Go runtime doubles
// its stack when a call does not fit, copying it and fixing up every frame
// on it; a dial or a handshake grew its goroutine's stack two or three
// times deep in its call chain, once per file: about 3% of gftp's CPU in
// the 2,000-file FTPES init (perf; runtime.copystack and the frame walks
// under it). A large frame at the start costs one growth with one frame to
// copy.
//
//go:noinline
func DeepStack() {
	var pad [deepStackPad]byte
	stackSink(pad[:])
}

// deepStackPad is the frame DeepStack asks for: with the runtime's
// doubling, the stack then has 16 KiB.
const deepStackPad = 8 << 10

//go:noinline
func stackSink(b []byte) {
	b[len(b)-1] = 1
}
