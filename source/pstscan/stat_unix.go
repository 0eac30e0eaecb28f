//go:build linux || darwin || freebsd || netbsd || openbsd

package pstscan

import (
	"os"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"github.com/mailshift/mailshift/state"
)

// statTimes adds the file's access and change times and its owner (uid
// and, where the system knows it, the user name) to rec.
func statTimes(fi os.FileInfo, rec *state.PSTRecord) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	rec.AccessTime = timespec(statAtime(st)).UTC()
	rec.ChangeTime = timespec(statCtime(st)).UTC()
	rec.OwnerUID = strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(rec.OwnerUID); err == nil {
		rec.OwnerName = u.Username
	}
}

func timespec(ts syscall.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec) }
