package dovecot

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// sysProcAttr puts the master in its own process group (so the whole
// server can be signalled at once) and has it terminated if the thread that
// started it ends.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// signalGroup signals the master's process group.
func signalGroup(pid int, sig syscall.Signal) { syscall.Kill(-pid, sig) }

// groupAlive tells whether a process of the master's group is left.
// Zombies do not count: once the master is gone its children are reparented
// to PID 1, which may be slow to reap them (or, in a container, never).
func groupAlive(pid int) bool {
	if syscall.Kill(-pid, 0) != nil {
		return false
	}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return true
	}
	want := []byte(strconv.Itoa(pid))
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := bytes.Fields(b[i+1:])
		if len(fields) >= 3 && bytes.Equal(fields[2], want) && !bytes.Equal(fields[0], []byte("Z")) {
			return true
		}
	}
	return false
}
