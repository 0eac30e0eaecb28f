//go:build !unix && !windows

package state

import (
	"errors"
	"os"
)

// lockFile fails: this platform offers no file lock mailshift can rely on.
func lockFile(*os.File) error {
	return errors.New("locking files is not supported on this platform")
}

// unlockFile does nothing; lockFile never succeeds here.
func unlockFile(*os.File) error { return nil }
