package main

import (
	"fmt"
	"io"
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
	memFile := os.Getenv("MAILSHIFT_MEMPROFILE")
	tr := startRecording("MAILSHIFT_TRACE", trace.Start)
	cpu := startRecording("MAILSHIFT_CPUPROFILE", pprof.StartCPUProfile)
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

// startRecording creates the file the environment variable env names and
// starts a recording into it with start; nil when env is unset or the
// recording could not start (said on stderr: the run goes on without).
func startRecording(env string, start func(io.Writer) error) *os.File {
	name := os.Getenv(env)
	if name == "" {
		return nil
	}
	f, err := os.Create(name)
	if err == nil {
		if err = start(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mailshift: %s %s: %v\n", env, name, err)
		return nil
	}
	return f
}
