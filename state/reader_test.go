package state

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A reader sees what the writer commits while the writer runs, cannot
// write, and a second writer is told which run holds the state.
func TestReaderBesideWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailshift.db")
	w, err := OpenAs(path, "mailshift bulk --batch wave1")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.PutUser("alice", "alice@new", "wave1"); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path)
	if err != nil {
		t.Fatalf("OpenReader while a writer runs: %v", err)
	}
	defer r.Close()
	if !r.ReadOnly() || w.ReadOnly() {
		t.Errorf("ReadOnly: reader %v, writer %v", r.ReadOnly(), w.ReadOnly())
	}
	if u, err := r.User("alice"); err != nil || u.Batch != "wave1" {
		t.Fatalf("reader: %+v %v", u, err)
	}
	for i := range 3 {
		write(t, w, func(tx *Tx) error { return tx.PutPair(benchPair(i)) })
		c, err := r.Counts(benchPair(0).User)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Copied + c.Intent + c.Failed; got != int64(i+1) {
			t.Errorf("after %d committed pairs the reader counts %+v", i+1, c)
		}
	}
	if err := r.PutUser("bob", "bob", ""); err == nil {
		t.Error("a reader wrote the state")
	}
	if err := r.Write(func(tx *Tx) error { return tx.PutPair(benchPair(9)) }); err == nil {
		t.Error("a reader wrote pairs")
	}

	_, err = OpenAs(path, "mailshift sync")
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: %v, want ErrLocked", err)
	}
	host, _ := os.Hostname()
	for _, want := range []string{path, "`mailshift bulk --batch wave1`", fmt.Sprintf("pid %d", os.Getpid()), "host " + host, "started "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second writer's message %q lacks %q", err, want)
		}
	}
	// The writer's own work goes on, and it closes while the reader reads.
	if err := w.PutUser("bob", "bob", ""); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.User("bob"); err != nil {
		t.Errorf("reader after the writer closed: %v", err)
	}
	if b, _ := os.ReadFile(path + ".lock"); strings.Contains(string(b), holderPrefix) {
		t.Errorf("the lock file still names a run after Close: %q", b)
	}
}

// A reader leaves the file, its lock file and its clean-close stamp as
// they were: the next writer still skips the page check.
func TestReaderLeavesCleanStampAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailshift.db")
	realState(t, path)
	lockBefore, err := os.ReadFile(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r, err := OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		if us, err := r.Users(); err != nil || len(us) != 1 {
			t.Fatalf("reader: %v %v", us, err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	lockAfter, err := os.ReadFile(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	if string(lockAfter) != string(lockBefore) || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("readers changed the state: lock %q -> %q, size %d -> %d, time %v -> %v",
			lockBefore, lockAfter, before.Size(), after.Size(), before.ModTime(), after.ModTime())
	}
	if !cleanSince(path, string(lockAfter)) {
		t.Error("after readers the clean-close stamp no longer matches")
	}
}

// A reader of a new project's path finds an empty, up-to-date state; one
// of a damaged file or a newer one is refused as a writer is.
func TestReaderOpenings(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, "new.db")
	r, err := OpenReader(fresh)
	if err != nil {
		t.Fatalf("OpenReader of a new path: %v", err)
	}
	if us, err := r.Users(); err != nil || len(us) != 0 {
		t.Errorf("new state: %v %v", us, err)
	}
	r.Close()

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReader(garbage); !errors.Is(err, ErrCorrupt) {
		t.Errorf("OpenReader of a foreign file: %v, want ErrCorrupt", err)
	}
}

// TestLiveWriter: a reader skips the page check only for a writer that
// runs now on this host, as its lock file names it; not for one that
// ended without closing, nor for one on another host.
func TestLiveWriter(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name")
	}
	lock := func(h Holder) string { return stateMarker + h.line() }
	if !liveWriter(lock(Holder{PID: os.Getpid(), Host: host})) {
		t.Error("this process, writing: not taken for a live writer")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if liveWriter(lock(Holder{PID: cmd.Process.Pid, Host: host})) {
		t.Error("a process that ended: taken for a live writer")
	}
	if liveWriter(lock(Holder{PID: os.Getpid(), Host: host + ".elsewhere"})) {
		t.Error("a writer on another host: taken for a live one")
	}
	if liveWriter(stateMarker) {
		t.Error("no writer named: taken for a live one")
	}
}
