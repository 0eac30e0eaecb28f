package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/dovecot"
)

// proc is one finished process: its wall time and peak RSS.
type proc struct {
	wall   time.Duration
	rssKiB int64
}

// run runs name with args in dir, output appended to logFile, and measures
// it. A non-zero exit is an error that quotes the end of the log.
func run(ctx context.Context, dir, logFile string, name string, args ...string) (proc, error) {
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return proc{}, err
	}
	defer log.Close()
	fmt.Fprintf(log, "$ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	p, err := measure(cmd)
	if err != nil {
		if ctx.Err() != nil {
			return p, ctx.Err()
		}
		return p, fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, tail(logFile, 15))
	}
	return p, nil
}

// measure runs cmd and returns its wall time and peak resident set.
//
// The peak is the largest VmHWM of the process and its descendants, read
// from /proc every few milliseconds while it runs. ru_maxrss from wait4
// would be wrong here: a child started by fork/exec inherits its parent's
// high-water mark at exec, and this program's is that of the generated
// mail. Growth in the last milliseconds before exit can be missed.
func measure(cmd *exec.Cmd) (proc, error) {
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return proc{}, err
	}
	stop := make(chan struct{})
	peak := make(chan int64, 1)
	go func() { peak <- watchPeak(cmd.Process.Pid, stop) }()
	err := cmd.Wait()
	p := proc{wall: time.Since(start)}
	close(stop)
	p.rssKiB = <-peak
	return p, err
}

// watchPeak polls the peak resident set (VmHWM, KiB) of pid and its
// descendants until stop is closed, and returns the largest.
func watchPeak(pid int, stop <-chan struct{}) int64 {
	hwm := map[int]int64{}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	pids := []int{pid}
	for n := 0; ; n++ {
		if n%20 == 0 {
			pids = descendants(pid)
		}
		for _, p := range pids {
			if v := readHWM(p); v > hwm[p] {
				hwm[p] = v
			}
		}
		select {
		case <-stop:
			var peak int64
			for _, v := range hwm {
				peak = max(peak, v)
			}
			return peak
		case <-tick.C:
		}
	}
}

// descendants returns pid and the processes below it (Linux's
// /proc/PID/task/TID/children).
func descendants(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", out[i]))
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// readHWM returns VmHWM of pid in KiB, 0 if it is gone.
func readHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), "VmHWM:")
	if !ok {
		return 0
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return 0
	}
	v, _ := strconv.ParseInt(fields[0], 10, 64)
	return v
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// parallel runs job(i) for i < n, at most width at a time, and returns the
// wall time of all and the largest peak RSS of any.
func parallel(ctx context.Context, n, width int, job func(ctx context.Context, i int) (proc, error)) (proc, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		peak     int64
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, max(width, 1))
	)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			p, err := job(ctx, i)
			mu.Lock()
			defer mu.Unlock()
			peak = max(peak, p.rssKiB)
			if err != nil && firstErr == nil {
				firstErr = err
				cancel()
			}
		})
	}
	wg.Wait()
	return proc{wall: time.Since(start), rssKiB: peak}, firstErr
}

// env is what every tool run needs: the servers, the profile's users and
// the work directory.
type env struct {
	src, dst *dovecot.Server
	users    []string // source users; the target user is prefix-user
	password string
	work     string // directory for configs, state and logs of this run
	workers  int
}

// targetPrefixes name each tool's target users: prefix-sourceuser.
var targetPrefixes = []string{"ms", "mbsync", "doveadm", "ceil"}

func (e *env) targetUsers(prefix string) []string {
	out := make([]string, len(e.users))
	for i, u := range e.users {
		out[i] = prefix + "-" + u
	}
	return out
}

// mailshiftRun migrates the profile's users with the mailshift binary the
// way the README tells: a project (mailshift.yaml, users.csv), collect,
// approve, then the timed bulk and a timed sync with nothing changed.
func mailshiftRun(ctx context.Context, e *env, bin string) (bulk, rerun proc, targets []string, err error) {
	ms, targets, err := mailshiftProject(ctx, e, bin, e.src.Addr, "")
	if err != nil {
		return bulk, rerun, targets, err
	}
	if _, err := ms("collect"); err != nil {
		return bulk, rerun, targets, err
	}
	if _, err := ms("approve", "--yes", "--by", "bench"); err != nil {
		return bulk, rerun, targets, err
	}
	if bulk, err = ms("bulk", "--skip-test"); err != nil {
		return bulk, rerun, targets, err
	}
	rerun, err = ms("sync")
	return bulk, rerun, targets, err
}

// mailshiftProject writes a mailshift project for the profile's users
// into the work directory (mailshift.yaml, with extra appended to it, and
// users.csv), reading the source at srcAddr, and returns a function that
// runs a mailshift command in it, its output appended to mailshift.log.
func mailshiftProject(ctx context.Context, e *env, bin, srcAddr, extra string) (ms func(args ...string) (proc, error), targets []string, err error) {
	targets = e.targetUsers("ms")
	dir := filepath.Join(e.work, "mailshift")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, targets, err
	}
	conf := fmt.Sprintf(`# mailshift project of the benchmark
source:
  url: imap://%s?tls=none
target:
  url: imap://%s?tls=none
users:
  file: users.csv
copy:
  workers: %d
`, srcAddr, e.dst.Addr, e.workers) + extra
	var users strings.Builder
	users.WriteString("source_user,source_password,target_user,target_password,batch\n")
	for i, u := range e.users {
		fmt.Fprintf(&users, "%s,%s,%s,%s,bench\n", u, e.password, targets[i], e.password)
	}
	if err := os.WriteFile(filepath.Join(dir, "mailshift.yaml"), []byte(conf), 0o600); err != nil {
		return nil, targets, err
	}
	if err := os.WriteFile(filepath.Join(dir, "users.csv"), []byte(users.String()), 0o600); err != nil {
		return nil, targets, err
	}
	logFile := filepath.Join(dir, "mailshift.log")
	ms = func(args ...string) (proc, error) {
		return run(ctx, dir, logFile, bin, append(args, "--quiet")...)
	}
	return ms, targets, nil
}

// mbsyncRun copies each user with mbsync (one pulling IMAP-to-IMAP
// channel per user, the recipe of TESTING.md), as many processes at a
// time as mailshift has workers; then runs them all again with nothing
// changed.
func mbsyncRun(ctx context.Context, e *env, bin string) (first, rerun proc, targets []string, err error) {
	pass, targets, err := mbsyncSetup(ctx, e, bin, e.src.Host, e.src.Port)
	if err != nil {
		return first, rerun, targets, err
	}
	if first, err = pass(); err != nil {
		return first, rerun, targets, err
	}
	rerun, err = pass()
	return first, rerun, targets, err
}

// mbsyncSetup writes one mbsync configuration per user into the work
// directory, reading the source at srcHost:srcPort, and returns a function
// that runs a pass over all users, as many processes at a time as
// mailshift has workers (each user's output appended to USER.log).
func mbsyncSetup(ctx context.Context, e *env, bin, srcHost string, srcPort int) (pass func() (proc, error), targets []string, err error) {
	targets = e.targetUsers("mbsync")
	dir := filepath.Join(e.work, "mbsync")
	rcs := make([]string, len(e.users))
	for i, u := range e.users {
		state := filepath.Join(dir, u+"-state")
		if err := os.MkdirAll(state, 0o700); err != nil {
			return nil, targets, err
		}
		rcs[i] = filepath.Join(dir, u+".rc")
		rc := fmt.Sprintf(`FSync no

IMAPAccount src
Host %s
Port %d
User "%s"
Pass "%s"
SSLType None
AuthMechs LOGIN

IMAPStore src
Account src

IMAPAccount dst
Host %s
Port %d
User "%s"
Pass "%s"
SSLType None
AuthMechs LOGIN

IMAPStore dst
Account dst

Channel migrate
Far :src:
Near :dst:
Patterns *
Create Near
Remove None
Expunge None
Sync Pull
CopyArrivalDate yes
SyncState %s/
`, srcHost, srcPort, u, e.password, e.dst.Host, e.dst.Port, targets[i], e.password, state)
		if err := os.WriteFile(rcs[i], []byte(rc), 0o600); err != nil {
			return nil, targets, err
		}
	}
	pass = func() (proc, error) {
		return parallel(ctx, len(e.users), e.workers, func(ctx context.Context, i int) (proc, error) {
			return run(ctx, dir, filepath.Join(dir, e.users[i]+".log"), bin, "-c", rcs[i], "migrate")
		})
	}
	return pass, targets, nil
}

// doveadmRun copies each user with Dovecot's own dsync (`doveadm backup`
// from an imapc: source, writing into the target's storage directly), as
// many at a time as mailshift has workers; then again with nothing
// changed.
func doveadmRun(ctx context.Context, e *env, bin string) (first, rerun proc, targets []string, err error) {
	targets = e.targetUsers("doveadm")
	dir := filepath.Join(e.work, "doveadm")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return first, rerun, targets, err
	}
	wrapper := filepath.Join(dir, "doveadm.conf")
	conf := fmt.Sprintf("!include %s\nimapc_ssl = no\nimapc_features = rfc822.size fetch-headers\nmail_prefetch_count = 20\nmail_fsync = never\n",
		filepath.Join(e.dst.Dir, "dovecot.conf"))
	if err := os.WriteFile(wrapper, []byte(conf), 0o644); err != nil {
		return first, rerun, targets, err
	}
	pass := func() (proc, error) {
		return parallel(ctx, len(e.users), e.workers, func(ctx context.Context, i int) (proc, error) {
			return run(ctx, dir, filepath.Join(dir, e.users[i]+".log"), bin, "-c", wrapper,
				"-o", "imapc_host="+e.src.Host, "-o", fmt.Sprintf("imapc_port=%d", e.src.Port),
				"-o", "imapc_user="+e.users[i], "-o", "imapc_password="+e.password,
				"backup", "-R", "-u", targets[i], "imapc:")
		})
	}
	if first, err = pass(); err != nil {
		return first, rerun, targets, err
	}
	rerun, err = pass()
	return first, rerun, targets, err
}

// ceilingRun fetches and discards every message of the source with this
// program's fetch-only client, in a process of its own.
func ceilingRun(ctx context.Context, e *env, self string, conns int) (proc, fetchResult, error) {
	dir := filepath.Join(e.work, "ceiling")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return proc{}, fetchResult{}, err
	}
	out := filepath.Join(dir, "result.json")
	logFile := filepath.Join(dir, "ceiling.log")
	f, err := os.Create(out)
	if err != nil {
		return proc{}, fetchResult{}, err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, self, "ceiling-fetch", "-addr", e.src.Addr, "-users", strings.Join(e.users, ","),
		"-password", e.password, "-conns", fmt.Sprint(conns))
	cmd.Stdout = f
	logF, err := os.Create(logFile)
	if err != nil {
		return proc{}, fetchResult{}, err
	}
	defer logF.Close()
	cmd.Stderr = logF
	p, err := measure(cmd)
	if err != nil {
		if ctx.Err() != nil {
			return p, fetchResult{}, ctx.Err()
		}
		return p, fetchResult{}, fmt.Errorf("fetch-only client: %v\n%s", err, tail(logFile, 10))
	}
	var res fetchResult
	b, err := os.ReadFile(out)
	if err == nil {
		err = json.Unmarshal(b, &res)
	}
	if err != nil {
		return p, res, errors.New("fetch-only client: no result")
	}
	return p, res, nil
}

// ceilingAppendRun stores every message of the source into targets with
// this program's append-only client, in a process of its own, and returns
// the time its appends took (reading the source into memory first is not
// counted).
func ceilingAppendRun(ctx context.Context, e *env, self string, targets []string, conns, perFolder int) (fetchResult, error) {
	dir := filepath.Join(e.work, "ceiling-append")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fetchResult{}, err
	}
	logFile := filepath.Join(dir, "ceiling.log")
	logF, err := os.Create(logFile)
	if err != nil {
		return fetchResult{}, err
	}
	defer logF.Close()
	cmd := exec.CommandContext(ctx, self, "ceiling-append", "-src", e.src.Addr, "-dst", e.dst.Addr,
		"-users", strings.Join(e.users, ","), "-targets", strings.Join(targets, ","),
		"-password", e.password, "-conns", fmt.Sprint(conns), "-per-folder", fmt.Sprint(perFolder))
	cmd.Stderr = logF
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return fetchResult{}, ctx.Err()
		}
		return fetchResult{}, fmt.Errorf("append-only client: %v\n%s", err, tail(logFile, 10))
	}
	var res fetchResult
	if err := json.Unmarshal(out, &res); err != nil {
		return res, errors.New("append-only client: no result")
	}
	return res, nil
}
