package main

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/faultproxy"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
)

// TestMain lets the test binary stand in for the mailshift binary in
// subprocesses: with MAILSHIFT_TEST_AS_MAIN=1 it runs the command line.
func TestMain(m *testing.M) {
	if os.Getenv("MAILSHIFT_TEST_AS_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestKilledBulkResumesExactlyOnce kills `mailshift bulk` with SIGKILL at
// random moments, several times, then lets it finish: the target must hold
// every source message exactly once.
func TestKilledBulkResumesExactlyOnce(t *testing.T) {
	p := newProject(t)
	p.write("mailshift.yaml", "source:\n  url: imap://"+p.src.Addr+"?tls=none\n"+
		"target:\n  url: imap://"+p.dst.Addr+"?tls=none\n"+
		"users:\n  file: users.csv\ncopy:\n  batch_size: 20\n")
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(21, 1000, 4000))
	seed(t, p.src, "bob", "old-bob", corpus.Mailbox(22, 300, 4000))
	p.expect(exitOK, "collect")
	p.expect(exitOK, "approve", "--yes", "--by", "Test")

	kills := killBulk(t, p, 4, rand.New(rand.NewPCG(1, 2)), 200, 800)
	if kills == 0 {
		t.Log("no run was killed: the machine is fast; the test still checks the outcome")
	}
	p.expect(exitOK, "bulk", "--skip-test")
	out, _ := p.expect(exitOK, "bulk", "--skip-test")
	if want := "0 messages copied"; !strings.Contains(out, want) {
		t.Errorf("a bulk after completion copied something: %s", out)
	}
	p.compare("alice", "old-alice", "alice@new", "new-alice")
	p.compare("bob", "old-bob", "bob@new", "new-bob")
	p.expect(exitOK, "verify")
	t.Logf("killed %d runs", kills)
}

// TestSyncFollowUntilCtrlC runs `mailshift sync --follow` as a user would:
// a message delivered to the source INBOX reaches the target within
// seconds, and Ctrl-C (SIGINT) ends it with exit code 130, everything
// saved.
func TestSyncFollowUntilCtrlC(t *testing.T) {
	p := newProject(t)
	p.write("mailshift.yaml", "source:\n  url: imap://"+p.src.Addr+"?tls=none\n"+
		"target:\n  url: imap://"+p.dst.Addr+"?tls=none\n"+
		"users:\n  file: users.csv\nsync:\n  interval: 10m\n")
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(23, 30, 2000))
	seed(t, p.src, "bob", "old-bob", corpus.Mailbox(24, 10, 2000))
	p.expect(exitOK, "collect")
	p.expect(exitOK, "approve", "--yes", "--by", "Test")
	p.expect(exitOK, "bulk", "--skip-test")

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "--config", filepath.Join(p.dir, "mailshift.yaml"), "--state", filepath.Join(p.dir, "mailshift.db"), "sync", "--follow")
	cmd.Env = append(os.Environ(), "MAILSHIFT_TEST_AS_MAIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()

	inbox := func() int {
		return len(imaptest.Snapshot(t, p.dst.Addr, "alice@new", "new-alice")["INBOX"])
	}
	before := inbox()
	time.Sleep(time.Second) // the first pass and the INBOX watchers start
	c := imaptest.Login(t, p.src.Addr, "alice", "old-alice")
	imaptest.Append(t, c, "INBOX", nil, time.Now(), corpus.Generate(25, 1, 900)[0].Body)
	c.Logout().Wait()
	deadline := time.Now().Add(8 * time.Second)
	for inbox() != before+1 {
		if time.Now().After(deadline) {
			t.Fatalf("the new message did not reach the target within 8 s (%d messages, want %d)", inbox(), before+1)
		}
		time.Sleep(100 * time.Millisecond)
	}

	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("sync --follow did not stop within 10 s of Ctrl-C")
	}
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Errorf("exit code %d after Ctrl-C, want %d", code, exitInterrupted)
	}
	p.compare("alice", "old-alice", "alice@new", "new-alice")
	p.expect(exitOK, "verify")
}

// TestBadLinksAndKills copies through links that cut both sides again and
// again, and kills `mailshift bulk` with SIGKILL at random moments; then
// it runs plain `bulk` as a user would, through the same bad links, at
// most three more times. The target must end with every source message
// exactly once.
func TestBadLinksAndKills(t *testing.T) {
	p := newProject(t)
	srcPx, dstPx := faultproxy.Start(t, p.src.Addr), faultproxy.Start(t, p.dst.Addr)
	p.write("mailshift.yaml", "source:\n  url: imap://"+srcPx.Addr+"?tls=none\n"+
		"target:\n  url: imap://"+dstPx.Addr+"?tls=none\n"+
		"users:\n  file: users.csv\ncopy:\n  retry_wait: 200ms\n")
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(25, 600, 8000))
	seed(t, p.src, "bob", "old-bob", corpus.Mailbox(26, 400, 8000))
	p.expect(exitOK, "collect")
	p.expect(exitOK, "approve", "--yes", "--by", "Test")
	srcPx.SetCut(faultproxy.Cut{Down: 1 << 20, Spread: 3 << 20})
	dstPx.SetCut(faultproxy.Cut{Up: 256 << 10, Spread: 2 << 20})

	kills := killBulk(t, p, 5, rand.New(rand.NewPCG(3, 4)), 300, 1500)
	var code int
	var out, errOut string
	for run := 1; run <= 3; run++ {
		if code, out, errOut = p.mailshift("bulk", "--skip-test", "--quiet"); code == exitOK {
			break
		}
		t.Logf("plain run %d through the bad links: exit %d\n%s%s", run, code, out, errOut)
	}
	if code != exitOK {
		t.Fatalf("bulk through bad links did not finish in three plain runs after %d kills", kills)
	}
	t.Logf("killed %d runs; source links cut %d times, target links %d times", kills, srcPx.Cuts(), dstPx.Cuts())
	srcPx.SetCut(faultproxy.Cut{})
	dstPx.SetCut(faultproxy.Cut{})
	p.compare("alice", "old-alice", "alice@new", "new-alice")
	p.compare("bob", "old-bob", "bob@new", "new-bob")
	p.expect(exitOK, "verify")
}

// killBulk starts `mailshift bulk` runs times, each in a process of its
// own, and kills each with SIGKILL after a random wait of from to
// from+span milliseconds unless it finished before. It returns how many
// it killed.
func killBulk(t *testing.T, p *project, runs int, rng *rand.Rand, from, span int) int {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	kills := 0
	for attempt := range runs {
		cmd := exec.Command(self, "--config", filepath.Join(p.dir, "mailshift.yaml"), "--state", filepath.Join(p.dir, "mailshift.db"), "bulk", "--skip-test", "--quiet")
		cmd.Env = append(os.Environ(), "MAILSHIFT_TEST_AS_MAIN=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Logf("attempt %d finished before the kill (%v)", attempt, err)
		case <-time.After(time.Duration(from+rng.IntN(span)) * time.Millisecond):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
		}
	}
	return kills
}
