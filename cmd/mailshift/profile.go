package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// startProfiles starts the profiles the environment asks for, for finding
// where a large project's time and memory go: MAILSHIFT_CPUPROFILE=FILE
// writes a CPU profile of the whole run, MAILSHIFT_MEMPROFILE=FILE a heap
// profile (allocations and what is in use) at its end. Both are read with
// `go tool pprof`. MAILSHIFT_TRACE=FILE writes an execution trace, read
// with `go tool trace`: where the time goes that is spent waiting (on a
// server, a lock, the state file) rather than computing. The returned
// function ends them; it is a no-op when none is set.
func startProfiles() (stop func()) {
	cpuFile, memFile := os.Getenv("MAILSHIFT_CPUPROFILE"), os.Getenv("MAILSHIFT_MEMPROFILE")
	var cpu, tr *os.File
	if traceFile := os.Getenv("MAILSHIFT_TRACE"); traceFile != "" {
		f, err := os.Create(traceFile)
		if err == nil {
			err = trace.Start(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mailshift: MAILSHIFT_TRACE %s: %v\n", traceFile, err)
		} else {
			tr = f
		}
	}
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
		if tr != nil {
			trace.Stop()
			tr.Close()
		}
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
