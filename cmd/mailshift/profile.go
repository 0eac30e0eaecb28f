package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles starts the profiles the environment asks for, for finding
// where a large project's time and memory go: MAILSHIFT_CPUPROFILE=FILE
// writes a CPU profile of the whole run, MAILSHIFT_MEMPROFILE=FILE a heap
// profile (allocations and what is in use) at its end. Both are read with
// `go tool pprof`. The returned function ends them; it is a no-op when
// neither is set.
func startProfiles() (stop func()) {
	cpuFile, memFile := os.Getenv("MAILSHIFT_CPUPROFILE"), os.Getenv("MAILSHIFT_MEMPROFILE")
	var cpu *os.File
	if cpuFile != "" {
		f, err := os.Create(cpuFile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mailshift: MAILSHIFT_CPUPROFILE %s: %v\n", cpuFile, err)
		} else {
			cpu = f
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if memFile == "" {
			return
		}
		f, err := os.Create(memFile)
		if err == nil {
			runtime.GC()
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mailshift: MAILSHIFT_MEMPROFILE %s: %v\n", memFile, err)
		}
	}
}
