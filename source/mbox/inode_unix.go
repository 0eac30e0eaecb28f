//go:build unix

package mbox

import (
	"os"
	"syscall"
)

// inode is a file's inode number: a file replaced by another (a rewrite
// through a new file) has a new one.
func inode(fi os.FileInfo) uint64 {
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Ino)
	}
	return 0
}
