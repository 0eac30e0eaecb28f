package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/phase"
)

// subjectOf is a message's Subject header as written, "" if none.
func subjectOf(body []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	return m.Header.Get("Subject")
}

// plainSubject picks messages whose subject is plain ASCII text (it reads
// the same decoded), not flagged, with distinct subjects.
func plainSubjects(msgs []imaptest.Message, n int) []imaptest.Message {
	var out []imaptest.Message
	seen := map[string]bool{}
	for _, m := range msgs {
		s := subjectOf(m.Body)
		if s == "" || seen[s] || strings.Contains(s, "=?") || slices.Contains(m.Flags, string(imap.FlagFlagged)) || strings.ContainsFunc(s, func(r rune) bool { return r > 126 }) {
			continue
		}
		seen[s] = true
		out = append(out, m)
		if len(out) == n {
			break
		}
	}
	return out
}

// store changes the flags of one message of folder.
func store(t *testing.T, c *imapclient.Client, folder string, uid uint32, op imap.StoreFlagsOp, flags ...imap.Flag) {
	t.Helper()
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{Op: op, Flags: flags, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
}

// fileDigest hashes the state file and its write-ahead log.
func fileDigest(t *testing.T, path string) string {
	t.Helper()
	h := sha256.New()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// mailboxDigest hashes what a server holds for a user: every folder's
// messages with bytes, flags, dates and UIDs.
func mailboxDigest(t *testing.T, addr, user, pw string) string {
	t.Helper()
	b, err := json.Marshal(imaptest.Snapshot(t, addr, user, pw))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// TestRepairOnDovecot: after bulk and sync between two Dovecots, a copy
// deleted on the target, a flag changed on the target, a message
// delivered only to the target and a flag changed on the source are what
// verify names (exit 5), subject first, with what repair does;
// repair --dry-run lists them and changes neither server nor the state
// file; repair makes the target hold the source's bytes, flags and dates
// (and nothing more, under sync.deletions mirror), so that verify is clean
// and cutover passes.
func TestRepairOnDovecot(t *testing.T) {
	p := newProject(t)
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(21, 40, 3000))
	p.expect(exitOK, "collect")
	p.expect(exitOK, "approve", "--yes", "--by", "Jane Doe")
	p.expect(exitOK, "bulk", "--skip-test")
	p.expect(exitOK, "sync")
	p.compare("alice", "old-alice", "alice@new", "new-alice")

	dst := imaptest.Login(t, p.dst.Addr, "alice@new", "new-alice")
	defer dst.Close()
	src := imaptest.Login(t, p.src.Addr, "alice", "old-alice")
	defer src.Close()
	named := plainSubjects(imaptest.FolderMessages(t, dst, "INBOX"), 3)
	if len(named) < 3 {
		t.Fatalf("only %d messages with plain subjects in INBOX", len(named))
	}
	gone, flagged, extra, srcFlagged := subjectOf(named[0].Body), subjectOf(named[1].Body), "Delivered to the new server", subjectOf(named[2].Body)

	store(t, dst, "INBOX", named[0].UID, imap.StoreFlagsAdd, imap.FlagDeleted)
	if err := dst.UIDExpunge(imap.UIDSetNum(imap.UID(named[0].UID))).Close(); err != nil {
		t.Fatal(err)
	}
	store(t, dst, "INBOX", named[1].UID, imap.StoreFlagsAdd, imap.FlagFlagged)
	imaptest.Append(t, dst, "INBOX", nil, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		[]byte("From: someone@example.com\r\nTo: alice@new\r\nSubject: "+extra+"\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\nnew mail\r\n"))
	for _, m := range imaptest.FolderMessages(t, src, "INBOX") {
		if bytes.Equal(m.Body, named[2].Body) {
			store(t, src, "INBOX", m.UID, imap.StoreFlagsAdd, imap.FlagFlagged)
		}
	}

	// verify names each difference, subject first, with what repair does.
	out, _ := p.expect(exitDifferences, "verify")
	// The message only on the target is counted but not a difference: it
	// may be mail delivered there; repair --remove-extra removes it.
	if !strings.Contains(out, "3 differences, 1 messages only on the target") {
		t.Errorf("verify does not count the message only on the target:\n%s", out)
	}
	for subject, repair := range map[string]string{
		gone: "repair copies it again", flagged: "repair sets the flags", srcFlagged: "repair sets the flags",
	} {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, fmt.Sprintf("  %q (", subject)) {
				line = l
			}
		}
		if line == "" || !strings.Contains(line, `alice's "INBOX"`) || !strings.HasSuffix(line, repair) {
			t.Errorf("verify does not name %q with %q:\n%s", subject, repair, out)
		}
	}
	out, _ = p.expect(exitDifferences, "verify", "--json")
	var vr phase.VerifyResult
	if err := json.Unmarshal([]byte(out), &vr); err != nil {
		t.Fatal(err)
	}
	if vr.Differences != 3 || len(vr.List) != 3 || vr.Extra != 1 || !strings.Contains(out, `"failed": []`) || !strings.Contains(out, `"waiting": []`) {
		t.Errorf("verify --json: %s", out)
	}
	for _, d := range vr.List {
		if d.Subject == "" || d.Date == "" || d.Size == 0 || d.Kind == "" || d.Repair == "" {
			t.Errorf("difference not named: %+v", d)
		}
	}

	// repair --dry-run lists the same and changes nothing anywhere.
	db := filepath.Join(p.dir, "mailshift.db")
	before := []string{fileDigest(t, db), mailboxDigest(t, p.src.Addr, "alice", "old-alice"), mailboxDigest(t, p.dst.Addr, "alice@new", "new-alice")}
	out, _ = p.expect(exitDifferences, "repair", "--dry-run", "--remove-extra")
	for _, s := range []string{gone, flagged, extra, srcFlagged, "nothing changed"} {
		if !strings.Contains(out, s) {
			t.Errorf("repair --dry-run does not mention %q:\n%s", s, out)
		}
	}
	after := []string{fileDigest(t, db), mailboxDigest(t, p.src.Addr, "alice", "old-alice"), mailboxDigest(t, p.dst.Addr, "alice@new", "new-alice")}
	for i, what := range []string{"the state file", "the source", "the target"} {
		if before[i] != after[i] {
			t.Errorf("repair --dry-run changed %s", what)
		}
	}

	out, _ = p.expect(exitOK, "repair", "--remove-extra")
	if !strings.Contains(out, "1 messages copied") || !strings.Contains(out, "2 flags set") || !strings.Contains(out, "1 messages removed") || !strings.Contains(out, "0 differences left") {
		t.Errorf("repair:\n%s", out)
	}
	p.compare("alice", "old-alice", "alice@new", "new-alice")
	if s, d := len(imaptest.FolderMessages(t, src, "INBOX")), len(imaptest.FolderMessages(t, dst, "INBOX")); s != d {
		t.Errorf("after repair the target INBOX holds %d messages, the source %d", d, s)
	}
	p.expect(exitOK, "verify")
	out, _ = p.expect(exitOK, "cutover", "--yes")
	if !strings.Contains(out, "2 of 2 users verified") {
		t.Errorf("cutover: %s", out)
	}
}
