package main

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
)

// TestDryRunListsWhatTheRunDoes runs `bulk --dry-run`, then changes the
// source like a living mailbox and runs `sync --dry-run` and
// `cutover --dry-run`: each lists per folder what the real run then does,
// and nothing changes in between on either server or in the state file.
func TestDryRunListsWhatTheRunDoes(t *testing.T) {
	p := newProject(t)
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(41, 60, 3000))
	seed(t, p.src, "bob", "old-bob", corpus.Mailbox(42, 20, 3000))
	p.expect(exitOK, "collect")
	p.expect(exitOK, "approve", "--yes", "--by", "Test")

	// bulk: every message of both users, folders to create.
	plan := p.dryRun(t, "bulk", "--skip-test")
	if !strings.Contains(plan.text, "create the target folder") {
		t.Errorf("bulk --dry-run names no folder to create:\n%s", plan.text)
	}
	if plan.copy != 80 {
		t.Errorf("bulk --dry-run would copy %d messages, want 80:\n%s", plan.copy, plan.text)
	}
	out, _ := p.expect(exitOK, "bulk", "--skip-test")
	if done := runTotals(t, out); done.copy != plan.copy {
		t.Errorf("bulk copied %d messages, its dry run said %d", done.copy, plan.copy)
	}

	// A living mailbox: new mail, a flag set, an expunge, a folder renamed.
	c := imaptest.Login(t, p.src.Addr, "alice", "old-alice")
	for _, m := range corpus.Generate(43, 2, 2000) {
		imaptest.Append(t, c, "INBOX", m.Flags, m.InternalDate, m.Body)
	}
	inbox := imaptest.FolderMessages(t, c, "INBOX")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	store := func(uid uint32, flags ...imap.Flag) {
		if err := c.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: flags}, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	store(inbox[0].UID, imap.FlagFlagged)
	store(inbox[1].UID, imap.FlagDeleted)
	if err := c.UIDExpunge(imap.UIDSetNum(imap.UID(inbox[1].UID))).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("Archive/2023", "Archive/Old 2023", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()

	plan = p.dryRun(t, "sync")
	if plan.copy != 2 || plan.flags != 1 || plan.expunge != 1 || !strings.Contains(plan.text, `renamed from "Archive/2023"`) {
		t.Errorf("sync --dry-run: %d to copy, %d flag updates, %d expunges (want 2, 1, 1) and the rename:\n%s", plan.copy, plan.flags, plan.expunge, plan.text)
	}
	out, _ = p.expect(exitOK, "sync")
	if done := runTotals(t, out); done != plan.runCounts() {
		t.Errorf("sync did %+v, its dry run said %+v\n%s\n%s", done, plan.runCounts(), out, plan.text)
	}
	p.compare("alice", "old-alice", "alice@new", "new-alice")

	// Nothing changed since: the cutover's final sync has nothing to do.
	plan = p.dryRun(t, "cutover")
	if plan.copy != 0 || !strings.Contains(plan.text, "Nothing to do") {
		t.Errorf("cutover --dry-run after a sync:\n%s", plan.text)
	}
	p.expect(exitOK, "cutover", "--yes")
}

// planTotals are a dry run's totals, and its whole output.
type planTotals struct {
	text                 string
	copy, flags, expunge int
}

func (pl planTotals) runCounts() planTotals {
	return planTotals{copy: pl.copy, flags: pl.flags, expunge: pl.expunge}
}

var planTotal = regexp.MustCompile(`Total: (\d+) messages \(.*?\) to copy, (\d+) flag updates, (\d+) expunges`)

// dryRun runs a step with --dry-run and checks that neither server nor
// the state file changed.
func (p *project) dryRun(t *testing.T, step string, args ...string) planTotals {
	t.Helper()
	before := p.fingerprint(t)
	out, _ := p.expect(exitOK, append([]string{step, "--dry-run"}, args...)...)
	if after := p.fingerprint(t); after != before {
		t.Errorf("%s --dry-run changed something:\nbefore %s\nafter  %s", step, before, after)
	}
	pl := planTotals{text: out}
	if m := planTotal.FindStringSubmatch(out); m != nil {
		pl.copy, _ = strconv.Atoi(m[1])
		pl.flags, _ = strconv.Atoi(m[2])
		pl.expunge, _ = strconv.Atoi(m[3])
	} else if !strings.Contains(out, "Nothing to do") {
		t.Fatalf("%s --dry-run printed no totals:\n%s", step, out)
	}
	return pl
}

var runTotal = regexp.MustCompile(`(\d+) messages copied .*?, (\d+) flag updates, (\d+) expunged`)

// runTotals reads a copying step's summary line.
func runTotals(t *testing.T, out string) planTotals {
	t.Helper()
	m := runTotal.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary in:\n%s", out)
	}
	var pl planTotals
	pl.copy, _ = strconv.Atoi(m[1])
	pl.flags, _ = strconv.Atoi(m[2])
	pl.expunge, _ = strconv.Atoi(m[3])
	return pl
}

// fingerprint sums up both servers' mailboxes and the state file's bytes.
func (p *project) fingerprint(t *testing.T) string {
	t.Helper()
	h := sha256.New()
	for _, side := range []struct{ addr, user, pw string }{
		{p.src.Addr, "alice", "old-alice"}, {p.src.Addr, "bob", "old-bob"},
		{p.dst.Addr, "alice@new", "new-alice"}, {p.dst.Addr, "bob@new", "new-bob"},
	} {
		snap := imaptest.Snapshot(t, side.addr, side.user, side.pw)
		for _, f := range slices.Sorted(maps.Keys(snap)) {
			for _, m := range snap[f] {
				fmt.Fprintf(h, "%s %s %d %v %s %x\n", side.user, f, m.UID, m.Flags, m.InternalDate, sha256.Sum256(m.Body))
			}
		}
	}
	for _, name := range []string{"mailshift.db", "mailshift.db-wal"} {
		b, err := os.ReadFile(filepath.Join(p.dir, name))
		if err == nil {
			fmt.Fprintf(h, "%s %x\n", name, sha256.Sum256(b))
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
