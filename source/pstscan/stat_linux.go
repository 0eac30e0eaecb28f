package pstscan

import "syscall"

func statAtime(st *syscall.Stat_t) syscall.Timespec { return st.Atim }
func statCtime(st *syscall.Stat_t) syscall.Timespec { return st.Ctim }
