//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package pstscan

import (
	"os"

	"github.com/mailshift/mailshift/state"
)

// statTimes adds nothing where the system does not tell access and change
// times or owners the Unix way.
func statTimes(os.FileInfo, *state.PSTRecord) {}
