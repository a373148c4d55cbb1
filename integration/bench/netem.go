// Package bench compares gftp with git-ftp and lftp on real servers, at
// loopback and across a simulated WAN, and writes BENCHMARKS.md (make bench).
//
// This kernel has no sch_netem, so the WAN is two network namespaces joined
// by TUN devices, with a relay in this process that holds each packet for a
// fixed delay before passing it on (see WAN). It carries IP packets, not
// TCP streams, so FTP's data connections cross it like the control
// connection does.
package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Names and addresses of the simulated WAN. Each WAN takes its own subnet
// 10.231.N.0/24 and namespaces named after this process and N, so that
// benchmarks and smoke tests of several test processes can run at once.
// The subnet is used only between the two namespaces; while they exist the
// root namespace routes it to "unreachable", so a client started in the
// wrong namespace fails at once instead of leaking onto the real network.
const nsPrefix = "gftpb-"

// WAN is two network namespaces joined through TUN devices by a relay that
// delays every packet by Delay (so the round trip is twice Delay). Neither
// namespace has a route out: each holds only its loopback and its TUN
// device.
type WAN struct {
	Delay time.Duration
	// ServerNS and ClientNS name the namespaces; ServerIP and ClientIP
	// are their addresses, in Subnet.
	ServerNS, ClientNS string
	ServerIP, ClientIP string
	Subnet             string

	// Packets counts what the relay carried, both ways.
	Packets atomic.Int64
	// Trace, when set before traffic starts, sees every packet as it
	// enters the relay (for debugging a protocol's timing).
	Trace func(packet []byte)

	files []*os.File
	wg    sync.WaitGroup
	once  sync.Once
}

// ip runs ip(8) with args.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// CleanupStale removes what WANs of processes that died left behind: their
// namespaces and unreachable routes. Those of live processes stay.
func CleanupStale() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		var pid, n int
		var side string
		if _, err := fmt.Sscanf(strings.TrimPrefix(name, nsPrefix), "%d-%d-%s", &pid, &n, &side); err != nil || !strings.HasPrefix(name, nsPrefix) {
			continue
		}
		if syscall.Kill(pid, 0) == nil {
			continue // alive
		}
		_ = ip("netns", "del", name)
		_ = ip("route", "del", "unreachable", fmt.Sprintf("10.231.%d.0/24", n))
	}
}

// NewWAN builds the namespaces and starts the relay. Close tears it all
// down; call it also when anything fails after NewWAN returned.
func NewWAN(delay time.Duration) (_ *WAN, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the simulated WAN needs root (network namespaces, TUN devices)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return nil, fmt.Errorf("no TUN device: %w", err)
	}
	CleanupStale()
	w := &WAN{Delay: delay}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	// Claim a subnet: adding its unreachable route fails when another
	// WAN has it.
	pid := os.Getpid()
	for k := 0; k < 250; k++ {
		n := (pid + k) % 250
		subnet := fmt.Sprintf("10.231.%d.0/24", n)
		if ip("route", "add", "unreachable", subnet) != nil {
			continue
		}
		w.Subnet = subnet
		w.ServerIP, w.ClientIP = fmt.Sprintf("10.231.%d.1", n), fmt.Sprintf("10.231.%d.2", n)
		w.ServerNS = fmt.Sprintf("%s%d-%d-srv", nsPrefix, pid, n)
		w.ClientNS = fmt.Sprintf("%s%d-%d-cli", nsPrefix, pid, n)
		break
	}
	if w.Subnet == "" {
		return nil, errors.New("no free subnet in 10.231.0.0/16")
	}
	for i, side := range []struct{ ns, addr string }{
		{w.ServerNS, w.ServerIP},
		{w.ClientNS, w.ClientIP},
	} {
		if err := ip("netns", "add", side.ns); err != nil {
			return nil, err
		}
		dev := fmt.Sprintf("gftpb%d", i)
		f, err := openTUNIn(side.ns, dev)
		if err != nil {
			return nil, err
		}
		w.files = append(w.files, f)
		for _, args := range [][]string{
			{"-n", side.ns, "link", "set", "lo", "up"},
			{"-n", side.ns, "addr", "add", side.addr + "/24", "dev", dev},
			{"-n", side.ns, "link", "set", dev, "up"},
		} {
			if err := ip(args...); err != nil {
				return nil, err
			}
		}
	}
	w.wg.Add(2)
	go w.pump(w.files[0], w.files[1])
	go w.pump(w.files[1], w.files[0])
	return w, nil
}

// openTUNIn makes a TUN device in the network namespace ns: this thread
// enters ns for the ioctl that creates it, and goes back.
func openTUNIn(ns, name string) (*os.File, error) {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := setns(target); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enter %s: %w", ns, err)
	}
	f, terr := openTUN(name)
	if err := setns(orig); err != nil {
		// This thread stays in ns: keep it locked, and it dies with
		// the goroutine.
		if f != nil {
			f.Close()
		}
		return nil, fmt.Errorf("leave %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return f, terr
}

// sysSetns is setns(2) on linux/amd64, which package syscall does not name.
const sysSetns = 308

func setns(f *os.File) error {
	const cloneNewNet = 0x40000000
	if _, _, errno := syscall.RawSyscall(sysSetns, f.Fd(), cloneNewNet, 0); errno != 0 {
		return errno
	}
	return nil
}

// openTUN makes a TUN device (IP packets, no packet information header).
func openTUN(name string) (*os.File, error) {
	// The device is made before the file goes to Go's poller, which
	// cannot take a TUN file that is not attached to a device yet.
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	const (
		tunSetIff = 0x400454ca
		iffTUN    = 0x0001
		iffNoPI   = 0x1000
	)
	var ifr [40]byte
	copy(ifr[:16], name)
	*(*uint16)(unsafe.Pointer(&ifr[16])) = iffTUN | iffNoPI
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, errno)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}

type packet struct {
	at time.Time
	b  []byte
}

// pump moves packets from one TUN device to the other, each Delay after it
// arrived, in order. A full queue drops, as a router's does.
func (w *WAN) pump(from, to *os.File) {
	defer w.wg.Done()
	q := make(chan packet, 1<<14)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for p := range q {
			if d := time.Until(p.at); d > 0 {
				time.Sleep(d)
			}
			_, _ = to.Write(p.b)
		}
	}()
	buf := make([]byte, 1<<16)
	for {
		n, err := from.Read(buf)
		if err != nil {
			break
		}
		w.Packets.Add(1)
		b := make([]byte, n)
		copy(b, buf[:n])
		if w.Trace != nil {
			w.Trace(b)
		}
		select {
		case q <- packet{time.Now().Add(w.Delay), b}:
		default:
		}
	}
	close(q)
	<-done
}

// Close stops the relay, removes the TUN devices, the namespaces and the
// unreachable route.
func (w *WAN) Close() {
	w.once.Do(func() {
		for _, f := range w.files {
			f.Close()
		}
		w.wg.Wait()
		for _, ns := range []string{w.ServerNS, w.ClientNS} {
			if ns != "" {
				_ = ip("netns", "del", ns)
			}
		}
		if w.Subnet != "" {
			_ = ip("route", "del", "unreachable", w.Subnet)
		}
	})
}

// Command runs name with args in the namespace ns.
func Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}
