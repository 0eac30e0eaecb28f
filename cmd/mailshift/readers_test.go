package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
)

// copiedCounts are the copied messages per user of `status --json` or
// `report --format json`.
type copiedCounts map[string]int64

func statusCounts(t *testing.T, text string) copiedCounts {
	t.Helper()
	var st struct {
		Users []struct {
			SourceUser string `json:"source_user"`
			Copied     int64  `json:"copied_messages"`
		} `json:"users"`
	}
	if err := json.Unmarshal([]byte(text), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, text)
	}
	c := copiedCounts{}
	for _, u := range st.Users {
		c[u.SourceUser] = u.Copied
	}
	return c
}

func reportCounts(t *testing.T, text string) copiedCounts {
	t.Helper()
	var rep struct {
		Status json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal([]byte(text), &rep); err != nil {
		t.Fatalf("report --format json: %v\n%s", err, text)
	}
	return statusCounts(t, string(rep.Status))
}

// TestReadersBesideBulk runs status, status --json, report --format json
// and verify again and again while `mailshift bulk` copies two thousand
// messages in a process of its own, and a second bulk meanwhile: every
// reader succeeds (verify says 5 while messages are missing), the copied
// counts never go down and end at the final ones; the second bulk exits 10
// naming the running one. A `status --watch` runs alongside on a
// non-terminal and prints a block per interval until cancelled, exit 0.
func TestReadersBesideBulk(t *testing.T) {
	p := newProject(t)
	p.write("mailshift.yaml", "source:\n  url: imap://"+p.src.Addr+"?tls=none\n"+
		"target:\n  url: imap://"+p.dst.Addr+"?tls=none\n"+
		"users:\n  file: users.csv\ncopy:\n  batch_size: 50\n"+
		// Slow enough that the readers see the copy half done.
		"throttle:\n  messages_per_second: 300\n")
	p.write("users.csv", "source_user,source_password,target_user,target_password,batch\n"+
		"alice,old-alice,alice@new,new-alice,wave1\nbob,old-bob,bob@new,new-bob,wave1\n")
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(31, 1200, 2000))
	seed(t, p.src, "bob", "old-bob", corpus.Mailbox(32, 800, 2000))
	p.expect(exitOK, "collect")
	p.expect(exitOK, "approve", "--yes", "--by", "Test")
	want := copiedCounts{"alice": 1200, "bob": 800}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bulk := exec.Command(self, "--config", filepath.Join(p.dir, "mailshift.yaml"), "--state", filepath.Join(p.dir, "mailshift.db"),
		"bulk", "--skip-test", "--quiet", "--batch", "wave1")
	bulk.Env = append(os.Environ(), "MAILSHIFT_TEST_AS_MAIN=1")
	var bulkOut bytes.Buffer
	bulk.Stdout, bulk.Stderr = &bulkOut, &bulkOut
	started := time.Now()
	if err := bulk.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- bulk.Wait() }()
	defer bulk.Process.Kill()

	// status --watch alongside, into a buffer (not a terminal).
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watchOut, watchErr bytes.Buffer
	var watchCode int
	var watching sync.WaitGroup
	watching.Go(func() {
		watchCode = run(watchCtx, []string{"--config", filepath.Join(p.dir, "mailshift.yaml"), "--state", filepath.Join(p.dir, "mailshift.db"),
			"status", "--watch", "--interval", "300ms"}, &watchOut, &watchErr)
	})

	// A second bulk as soon as the first holds the lock (the throttle
	// keeps it running for seconds).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(p.dir, "mailshift.db.lock"))
		if strings.Contains(string(b), "held by") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bulk did not name itself in the lock file within 30 s: %q", b)
		}
	}
	{
		code, _, errOut := p.mailshift("bulk", "--skip-test")
		if code != exitState {
			t.Errorf("a second bulk beside the first: exit %d, want %d\n%s", code, exitState, errOut)
		}
		host, _ := os.Hostname()
		for _, want := range []string{
			fmt.Sprintf("pid %d", bulk.Process.Pid), "host " + host,
			"mailshift bulk ", "--batch wave1", "--skip-test",
			"started " + started.Format("2006-01-02"),
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("the second bulk's message lacks %q:\n%s", want, errOut)
			}
		}
	}

	last := map[string]copiedCounts{}
	seen := func(what string, c copiedCounts) {
		t.Helper()
		for u, n := range c {
			if n < last[what][u] {
				t.Errorf("%s: %s's copied messages went down from %d to %d", what, u, last[what][u], n)
			}
		}
		last[what] = c
	}
	var rounds, midRun, verifyDiffs int
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("bulk: %v\n%s", err, bulkOut.String())
			}
			finished = true
			continue
		default:
		}
		rounds++
		p.expect(exitOK, "status")
		out, _ := p.expect(exitOK, "status", "--json")
		c := statusCounts(t, out)
		seen("status --json", c)
		if c["alice"]+c["bob"] > 0 && c["alice"]+c["bob"] < 2000 {
			midRun++
		}
		out, _ = p.expect(exitOK, "report", "--format", "json")
		seen("report --format json", reportCounts(t, out))
		code, vout, verr := p.mailshift("verify", "--users", "bob")
		switch code {
		case exitOK:
		case exitDifferences:
			verifyDiffs++
			if !strings.Contains(vout, "differences") {
				t.Errorf("verify mid-run exit 5 without saying what differs:\n%s", vout)
			}
		case exitOutOfOrder:
			// Nothing of bob's copied yet: verify has nothing to compare.
		default:
			t.Fatalf("verify beside bulk: exit %d\n%s%s", code, vout, verr)
		}

	}
	t.Logf("%d rounds of readers beside bulk; %d saw the copy half done; verify found differences %d times", rounds, midRun, verifyDiffs)
	if midRun == 0 {
		t.Log("no reader saw the copy half done this time (the readers are slow under -race); the second bulk and status --watch saw the run")
	}

	time.Sleep(700 * time.Millisecond) // status --watch sees the end
	stopWatch()
	watching.Wait()
	if watchCode != exitOK {
		t.Errorf("status --watch: exit %d after cancel, want 0\n%s", watchCode, watchErr.String())
	}
	blocks := strings.Count(watchOut.String(), "mailshift status at ")
	if blocks < 2 {
		t.Errorf("status --watch printed %d blocks, want several:\n%s", blocks, watchOut.String())
	}
	if !strings.Contains(watchOut.String(), "msg/s") {
		t.Errorf("status --watch never showed a rate:\n%s", watchOut.String())
	}
	if strings.Contains(watchOut.String(), "\x1b[") {
		t.Error("status --watch cleared the screen of a non-terminal")
	}
	final := strings.Split(watchOut.String(), "mailshift status at ")
	if tail := final[len(final)-1]; !strings.Contains(tail, "2000/2000") {
		t.Errorf("status --watch's last block does not show everything copied:\n%s", tail)
	}

	out, _ := p.expect(exitOK, "status", "--json")
	if c := statusCounts(t, out); fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("status --json after the bulk: %v, want %v", c, want)
	}
	out, _ = p.expect(exitOK, "report", "--format", "json")
	if c := reportCounts(t, out); fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("report after the bulk: %v, want %v", c, want)
	}
	p.expect(exitOK, "verify")
	p.expect(exitOK, "bulk", "--skip-test")
}
