package main

import (
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
)

// startCPUProfile writes a CPU profile of the whole run to the file that
// GFTP_CPUPROFILE names ("%p" in it is replaced by the process id, so that
// several runs keep their own), for `go tool pprof`. It is not documented for
// users: it is how gftp's own CPU per file is measured against a real
// server (issue 16). The returned func stops the profile; a run that ends
// through a forced exit leaves it unfinished.
func startCPUProfile() func() {
	path := os.Getenv("GFTP_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid())))
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
