//go:build !linux

package dovecot

import "syscall"

// sysProcAttr puts the master in its own process group, so the whole
// server can be signalled at once.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// signalGroup signals the master's process group.
func signalGroup(pid int, sig syscall.Signal) { syscall.Kill(-pid, sig) }

// groupAlive tells whether a process of the master's group is left.
func groupAlive(pid int) bool { return syscall.Kill(-pid, 0) == nil }
