package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
)

// startCPUProfile writes a CPU profile of the whole run to the file that
// GFTP_CPUPROFILE names ("%p" in it is replaced by the process id, so that
// several runs keep their own), for `go tool pprof`, and an allocation
// profile to the file that GFTP_MEMPROFILE names. Neither is documented for
// users: they are how gftp's own CPU per file is measured against a real
// server (issue 16). The returned func stops the profiles; a run that ends
// through a forced exit leaves them unfinished.
func startCPUProfile() func() {
	stopMem := startMemProfile()
	path := os.Getenv("GFTP_CPUPROFILE")
	if path == "" {
		return stopMem
	}
	f, err := os.Create(profilePath(path))
	if err != nil {
		return stopMem
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return stopMem
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		stopMem()
	}
}

// startMemProfile samples allocations finely from now on when
// GFTP_MEMPROFILE is set; the returned func writes them out.
func startMemProfile() func() {
	path := os.Getenv("GFTP_MEMPROFILE")
	if path == "" {
		return func() {}
	}
	runtime.MemProfileRate = 4096
	return func() {
		f, err := os.Create(profilePath(path))
		if err != nil {
			return
		}
		defer f.Close()
		_ = pprof.Lookup("allocs").WriteTo(f, 0)
	}
}

func profilePath(path string) string {
	return strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
}
