package state

import (
	"bufio"
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// memStore opens an in-memory store closed at the end of the test.
func memStore(t testing.TB) *Store {
	t.Helper()
	s, err := OpenMemory()
	if err != nil {
		t.Fatalf("OpenMemory: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openFile opens the state at path, failing the test on error; closed at the
// end of the test.
func openFile(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// write runs fn in a Write, failing the test on error.
func write(t testing.TB, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.Write(fn); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// putPairs stores ps in one transaction.
func putPairs(t testing.TB, s *Store, ps ...Pair) {
	t.Helper()
	write(t, s, func(tx *Tx) error {
		for _, p := range ps {
			if err := tx.PutPair(p); err != nil {
				return err
			}
		}
		return nil
	})
}

func mustEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// Times the tests store: the interesting ones for the encoding.
var (
	t0       = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	epoch    = time.Unix(0, 0).UTC()                              // stored as 0, must not read back as "never"
	longAgo  = time.Date(1500, 1, 2, 3, 4, 5, 6, time.UTC)        // before the nanosecond range
	farAhead = time.Date(2500, 12, 31, 23, 59, 59, 999, time.UTC) // after it
)

func TestUserProgress(t *testing.T) {
	s := memStore(t)
	if _, err := s.User("alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("User of unknown user: got %v, want ErrNotFound", err)
	}
	for _, u := range []string{"zoë", "alice", "bob"} {
		if err := s.PutUser(u, u+"@new.example", "b1"); err != nil {
			t.Fatal(err)
		}
	}

	steps := []struct {
		step Step
		at   time.Time
		got  func(User) time.Time
	}{
		{StepCollect, t0, func(u User) time.Time { return u.CollectedAt }},
		{StepTest, epoch, func(u User) time.Time { return u.TestedAt }},
		{StepBulkStarted, t0.Add(time.Hour), func(u User) time.Time { return u.BulkStartedAt }},
		{StepBulk, t0.Add(2 * time.Hour), func(u User) time.Time { return u.BulkDoneAt }},
		{StepSync, longAgo, func(u User) time.Time { return u.SyncedAt }},
		{StepCutover, farAhead, func(u User) time.Time { return u.CutoverAt }},
	}
	for _, c := range steps {
		t.Run(string(c.step), func(t *testing.T) {
			if err := s.FailStep("alice", c.step, "boom: "+string(c.step)); err != nil {
				t.Fatal(err)
			}
			u, err := s.User("alice")
			if err != nil {
				t.Fatal(err)
			}
			if u.ErrorStep != c.step || u.Error != "boom: "+string(c.step) {
				t.Errorf("after FailStep: ErrorStep %q Error %q", u.ErrorStep, u.Error)
			}
			if err := s.MarkStep("alice", c.step, c.at); err != nil {
				t.Fatal(err)
			}
			u, err = s.User("alice")
			if err != nil {
				t.Fatal(err)
			}
			if got := c.got(u); !got.Equal(c.at) || got.IsZero() {
				t.Errorf("%s time = %v, want %v", c.step, got, c.at)
			}
			if u.ErrorStep != "" || u.Error != "" {
				t.Errorf("MarkStep left the error: %q %q", u.ErrorStep, u.Error)
			}
		})
	}

	// Re-putting the identity keeps the progress.
	if err := s.PutUser("alice", "alice@other.example", "b2"); err != nil {
		t.Fatal(err)
	}
	want := User{
		SourceUser: "alice", TargetUser: "alice@other.example", Batch: "b2",
		CollectedAt: t0, TestedAt: epoch, BulkStartedAt: t0.Add(time.Hour), BulkDoneAt: t0.Add(2 * time.Hour),
		SyncedAt: longAgo, CutoverAt: farAhead,
	}
	got, err := s.User("alice")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "user after PutUser", got, want)

	us, err := s.Users()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range us {
		names = append(names, u.SourceUser)
	}
	mustEqual(t, "Users order", names, []string{"alice", "bob", "zoë"})
	mustEqual(t, "untouched user", us[1], User{SourceUser: "bob", TargetUser: "bob@new.example", Batch: "b1"})

	// A time in another zone reads back as the same instant, in UTC.
	paris := time.FixedZone("CET", 3600)
	if err := s.MarkStep("bob", StepCollect, t0.In(paris)); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User("bob"); !u.CollectedAt.Equal(t0) || u.CollectedAt.Location() != time.UTC {
		t.Errorf("CollectedAt from CET = %v, want %v in UTC", u.CollectedAt, t0)
	}

	// Unknown users and steps.
	if err := s.MarkStep("nobody", StepTest, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkStep(nobody) = %v, want ErrNotFound", err)
	}
	if err := s.FailStep("nobody", StepTest, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("FailStep(nobody) = %v, want ErrNotFound", err)
	}
	if err := s.MarkStep("alice", Step("teleport"), t0); err == nil {
		t.Error("MarkStep with an unknown step succeeded")
	}
}

func TestResetUser(t *testing.T) {
	s := memStore(t)
	for _, u := range []string{"alice", "bob"} {
		if err := s.PutUser(u, u, "b"); err != nil {
			t.Fatal(err)
		}
		for _, st := range []Step{StepCollect, StepTest, StepBulkStarted, StepBulk, StepSync, StepCutover} {
			if err := s.MarkStep(u, st, t0); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.FailStep(u, StepSync, "lost connection"); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveAccount(Account{User: u, Side: SideSource, Login: u, Folders: []mailbox.Folder{{Name: "INBOX"}}}); err != nil {
			t.Fatal(err)
		}
		putPairs(t, s, Pair{User: u, SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: "1", SourceUID: 1, Status: Copied})
		if err := s.PutCursor(Cursor{User: u, SourceFolder: "INBOX", SourceUIDValidity: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveCutover(Cutover{User: u, At: t0}); err != nil {
			t.Fatal(err)
		}
	}

	if err := s.ResetUser("alice"); err != nil {
		t.Fatal(err)
	}
	u, err := s.User("alice")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "reset user", u, User{SourceUser: "alice", TargetUser: "alice", Batch: "b", CollectedAt: t0})
	if ps, _ := s.UserPairs("alice"); len(ps) != 0 {
		t.Errorf("reset user keeps %d pairs", len(ps))
	}
	if cs, _ := s.Cursors("alice"); len(cs) != 0 {
		t.Errorf("reset user keeps %d cursors", len(cs))
	}
	if _, err := s.Account("alice", SideSource); err != nil {
		t.Errorf("reset user lost the inventory: %v", err)
	}
	cs, err := s.Cutovers()
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].User != "bob" {
		t.Errorf("cutovers after reset of alice: %+v", cs)
	}

	// The other user is untouched.
	b, _ := s.User("bob")
	if b.CutoverAt.IsZero() || b.ErrorStep != StepSync {
		t.Errorf("bob changed: %+v", b)
	}
	if ps, _ := s.UserPairs("bob"); len(ps) != 1 {
		t.Errorf("bob has %d pairs, want 1", len(ps))
	}
	if err := s.ResetUser("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResetUser(nobody) = %v, want ErrNotFound", err)
	}
}

func TestAccountRoundTrip(t *testing.T) {
	s := memStore(t)
	if _, err := s.Account("alice", SideSource); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Account before save: %v, want ErrNotFound", err)
	}
	full := Account{
		User: "alice", Side: SideSource, Login: "alice*admin",
		Description: mailbox.Description{
			Kind: "imap", Server: "Dovecot 2.3.21", Capabilities: []string{"CONDSTORE", "IMAP4rev1", "UIDPLUS"},
			Delimiter: '/', Prefix: "INBOX.", AppendLimit: 50 << 20, QuotaUsed: -1, QuotaLimit: 10 << 30,
			UIDPlus: true, CondStore: true,
		},
		Folders: []mailbox.Folder{
			{Name: "INBOX", Messages: 12, Bytes: 123456, UIDValidity: 1700000000, UIDNext: 13, HighestModSeq: 99},
			{Name: "Éléments envoyés", Role: mailbox.RoleSent, Messages: 3, Bytes: -1, UIDValidity: math.MaxUint32, UIDNext: math.MaxUint32},
			{Name: "Archive/2019/日本語", Role: mailbox.RoleArchive, HighestModSeq: math.MaxUint64},
			{Name: "Archive", NoSelect: true},
		},
		CollectedAt: t0,
	}
	cases := []struct {
		name string
		save []Account // saved in order; the last is what must read back
	}{
		{"full", []Account{full}},
		{"empty", []Account{{User: "bob", Side: SideTarget}}},
		{"error", []Account{{User: "carol", Side: SideTarget, Login: "carol", Error: "LOGIN failed: [AUTHENTICATIONFAILED]",
			Description: mailbox.Description{QuotaUsed: -1, QuotaLimit: -1}, CollectedAt: epoch}}},
		{"replaced", []Account{
			{User: "dave", Side: SideSource, Login: "old", Folders: full.Folders, Description: full.Description},
			{User: "dave", Side: SideSource, Login: "new", Folders: []mailbox.Folder{{Name: "Neu"}}, CollectedAt: farAhead},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, a := range c.save {
				if err := s.SaveAccount(a); err != nil {
					t.Fatal(err)
				}
			}
			want := c.save[len(c.save)-1]
			got, err := s.Account(want.User, want.Side)
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "account", got, want)
		})
	}
	// Sides are separate records.
	if _, err := s.Account("alice", SideTarget); !errors.Is(err, ErrNotFound) {
		t.Errorf("target side of alice: %v, want ErrNotFound", err)
	}
	if err := s.SaveAccount(Account{User: "alice", Side: "middle"}); err == nil {
		t.Error("SaveAccount with an unknown side succeeded")
	}
}

func TestProblems(t *testing.T) {
	s := memStore(t)
	if err := s.ReplaceProblems("bob", []Problem{
		{Kind: "quota", Detail: "needs 12 GB, has 10 GB", Action: "stop"},
		{User: "bob", Kind: "name", Folder: "a/b", Detail: "slash", Action: "rename to a_b"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceProblems("alice", []Problem{
		{Kind: "oversize", Folder: "INBOX", Detail: "uid 4 is 60 MB", Action: "skip"},
		{Kind: "login", Detail: "bad password", Action: "skip the user"},
	}); err != nil {
		t.Fatal(err)
	}
	// Replacing drops bob's old problems.
	if err := s.ReplaceProblems("bob", []Problem{{Kind: "name", Folder: "Ünïcode", Detail: "d", Action: "a"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Problems()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "problems", got, []Problem{
		{User: "alice", Kind: "login", Detail: "bad password", Action: "skip the user"},
		{User: "alice", Kind: "oversize", Folder: "INBOX", Detail: "uid 4 is 60 MB", Action: "skip"},
		{User: "bob", Kind: "name", Folder: "Ünïcode", Detail: "d", Action: "a"},
	})
	if err := s.ReplaceProblems("alice", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Problems(); len(got) != 1 {
		t.Errorf("after clearing alice: %+v", got)
	}
	if err := s.ReplaceProblems("alice", []Problem{{User: "bob", Kind: "x"}}); err == nil {
		t.Error("ReplaceProblems accepted another user's problem")
	}
}

func TestApprovalsAndTestRuns(t *testing.T) {
	s := memStore(t)
	if _, err := s.LatestApproval(); !errors.Is(err, ErrNotFound) {
		t.Errorf("LatestApproval on empty state: %v", err)
	}
	if _, err := s.LatestTestRun(); !errors.Is(err, ErrNotFound) {
		t.Errorf("LatestTestRun on empty state: %v", err)
	}

	approvals := []Approval{
		{Hash: "aaa", By: "ops@example.com", At: t0, Text: "# Scope\n\n* 3 users, `quoted`"},
		{ID: 42, Hash: "bbb", By: "Zoë", Text: "zero time"},
	}
	var lastA Approval
	for i, a := range approvals {
		saved, err := s.SaveApproval(a)
		if err != nil {
			t.Fatal(err)
		}
		if saved.ID != int64(i+1) {
			t.Errorf("approval %d got ID %d", i, saved.ID)
		}
		a.ID = saved.ID
		mustEqual(t, "saved approval", saved, a)
		got, err := s.LatestApproval()
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "latest approval", got, a)
		lastA = got
	}
	if !lastA.At.IsZero() {
		t.Errorf("zero approval time read back as %v", lastA.At)
	}

	runs := []TestRun{
		{At: t0, PlanHash: "aaa", Users: []string{"alice", "zoë"}, Messages: 1234, Bytes: 5 << 30, Seconds: 61.25, Passed: true, Detail: "ok"},
		{At: farAhead, PlanHash: "bbb", Seconds: 0.1, Detail: "verification: 2 differences"},
	}
	for _, r := range runs {
		saved, err := s.SaveTestRun(r)
		if err != nil {
			t.Fatal(err)
		}
		if saved.ID == 0 {
			t.Error("SaveTestRun did not set the ID")
		}
		r.ID = saved.ID
		got, err := s.LatestTestRun()
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "latest test run", got, r)
	}
}

func TestCursors(t *testing.T) {
	s := memStore(t)
	a := Cursor{User: "alice", SourceFolder: "INBOX", SourceUIDValidity: 7, TargetFolder: "INBOX", TargetUIDValidity: 9,
		UIDNext: 100, HighestModSeq: math.MaxUint64, Messages: 99, SyncedAt: t0}
	b := Cursor{User: "alice", SourceFolder: "Brouillons/日本", SourceUIDValidity: math.MaxUint32, TargetFolder: "Drafts"}
	other := Cursor{User: "bob", SourceFolder: "INBOX", SourceUIDValidity: 1}
	for _, c := range []Cursor{b, other} {
		if err := s.PutCursor(c); err != nil {
			t.Fatal(err)
		}
	}
	write(t, s, func(tx *Tx) error { return tx.PutCursor(Cursor{User: "alice", SourceFolder: "INBOX", UIDNext: 1}) })
	write(t, s, func(tx *Tx) error { return tx.PutCursor(a) }) // replaces
	got, err := s.Cursors("alice")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "cursors", got, []Cursor{b, a})

	if err := s.DeleteCursor("alice", "INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCursor("alice", "gone"); err != nil {
		t.Errorf("deleting a missing cursor: %v", err)
	}
	got, _ = s.Cursors("alice")
	mustEqual(t, "cursors after delete", got, []Cursor{b})
	got, _ = s.Cursors("bob")
	mustEqual(t, "bob's cursors", got, []Cursor{other})
	if got, _ := s.Cursors("nobody"); len(got) != 0 {
		t.Errorf("cursors of nobody: %+v", got)
	}
}

func TestCutovers(t *testing.T) {
	s := memStore(t)
	cs := []Cutover{
		{User: "zoë", At: t0, FinalMessages: 12, FinalSyncSeconds: 3.5, Verified: true, Report: "reports/cutover-zoë.md"},
		{User: "alice", At: t0, FinalMessages: 1, Differences: 2, Report: "r"},
		{User: "alice", FinalMessages: 5, FinalSyncSeconds: 0.25, Verified: true}, // replaces, zero time
	}
	for _, c := range cs {
		if err := s.SaveCutover(c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Cutovers()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "cutovers", got, []Cutover{cs[2], cs[0]})
}

func TestPairRoundTrip(t *testing.T) {
	s := memStore(t)
	cases := []struct {
		name string
		p    Pair
	}{
		{"minimal intent", Pair{User: "alice", SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: "1", SourceUID: 1, Status: Intent}},
		{"copied, everything set", Pair{
			User: "alice", SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: "2", SourceUID: 2,
			Size: 123456789, Hash: strings.Repeat("ab", 32),
			Flags:        []string{`\Seen`, `\Answered`, `$Forwarded`, `$label1`, `NonJunk`, `\\weird\`, `"quoted"`, `ключ`},
			InternalDate: t0, TargetFolder: "INBOX", TargetUIDValidity: math.MaxUint32, TargetUIDNext: 41, TargetUID: math.MaxUint32,
			Status: Copied,
		}},
		{"failed", Pair{User: "bob", SourceFolder: "Éléments envoyés/2019", SourceUIDValidity: math.MaxUint32,
			SourceKey: "1700000000.M1P2.host,S=123:2,FS", Size: 60 << 20, Flags: []string{`\Flagged`},
			InternalDate: epoch, TargetFolder: "Sent/2019", Status: Failed, Error: "APPEND: [TOOBIG] message too large"}},
		{"ancient date", Pair{User: "bob", SourceFolder: "日本語", SourceUIDValidity: 3, SourceKey: "9", InternalDate: longAgo, Status: Copied}},
		{"future date", Pair{User: "bob", SourceFolder: "日本語", SourceUIDValidity: 3, SourceKey: "10", InternalDate: farAhead, Status: Copied}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			putPairs(t, s, c.p)
			got, err := s.Pairs(c.p.User, c.p.SourceFolder)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range got {
				if g.SourceKey == c.p.SourceKey && g.SourceUIDValidity == c.p.SourceUIDValidity {
					mustEqual(t, "pair", g, c.p)
					return
				}
			}
			t.Fatalf("pair not found among %+v", got)
		})
	}
	if err := s.Write(func(tx *Tx) error { return tx.PutPair(Pair{User: "a", SourceFolder: "f", SourceKey: "k"}) }); err == nil {
		t.Error("PutPair without a status succeeded")
	}
}

func TestPutPairUpsert(t *testing.T) {
	s := memStore(t)
	intent := Pair{User: "alice", SourceFolder: "INBOX", SourceUIDValidity: 5, SourceKey: "17", SourceUID: 17,
		Size: 2048, Hash: "h1", Flags: []string{`\Seen`}, InternalDate: t0,
		TargetFolder: "INBOX", TargetUIDValidity: 8, TargetUIDNext: 300, Status: Intent}
	putPairs(t, s, intent)
	c, _ := s.Counts("alice")
	mustEqual(t, "counts after intent", c, Counts{Intent: 1})

	copied := intent
	copied.TargetUID = 300
	copied.Status = Copied
	copied.Flags = nil
	putPairs(t, s, copied)

	got, err := s.Pairs("alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "pairs after upsert", got, []Pair{copied})
	c, _ = s.Counts("alice")
	mustEqual(t, "counts after copy", c, Counts{Copied: 1, CopiedBytes: 2048})

	// Another UIDVALIDITY generation of the same key is another pair.
	next := copied
	next.SourceUIDValidity = 6
	next.Status = Intent
	putPairs(t, s, next)
	if got, _ := s.Pairs("alice", "INBOX"); len(got) != 2 {
		t.Errorf("two generations: got %d pairs", len(got))
	}

	write(t, s, func(tx *Tx) error { return tx.DeletePair("alice", "INBOX", 5, "17") })
	write(t, s, func(tx *Tx) error { return tx.DeletePair("alice", "INBOX", 5, "missing") })
	got, _ = s.Pairs("alice", "INBOX")
	mustEqual(t, "pairs after delete", got, []Pair{next})
}

// PutOutcome sets what the APPEND decided on the intent's pair and keeps
// the rest; without an intent it records the pair whole; an intent is not
// an outcome.
func TestPutOutcome(t *testing.T) {
	s := memStore(t)
	intent := Pair{User: "alice", SourceFolder: "INBOX", SourceUIDValidity: 5, SourceKey: "17", SourceUID: 17,
		Size: 2048, Flags: []string{`\Seen`, `$Label1`}, InternalDate: t0,
		TargetFolder: "Archive", TargetUIDValidity: 8, TargetUIDNext: 300, Status: Intent}
	putPairs(t, s, intent)
	copied := intent
	copied.Size, copied.Hash, copied.TargetUIDValidity, copied.TargetUID, copied.Status = 2050, "h1", 9, 301, Copied
	write(t, s, func(tx *Tx) error { return tx.PutOutcome(copied) })
	got, err := s.Pairs("alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "pair after the outcome", got, []Pair{copied})
	if c, _ := s.Counts("alice"); c != (Counts{Copied: 1, CopiedBytes: 2050}) {
		t.Errorf("counts %+v", c)
	}
	if ps, _ := s.PendingFolders("alice"); len(ps) != 0 {
		t.Errorf("pending folders after the outcome: %v", ps)
	}

	refused := Pair{User: "alice", SourceFolder: "Sent", SourceUIDValidity: 1, SourceKey: "4", SourceUID: 4,
		Size: 99, TargetFolder: "Sent", Status: Failed, Error: "[TOOBIG] too big"}
	write(t, s, func(tx *Tx) error { return tx.PutOutcome(refused) })
	got, err = s.Pairs("alice", "Sent")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "outcome without an intent", got, []Pair{refused})

	err = s.Write(func(tx *Tx) error { return tx.PutOutcome(intent) })
	if err == nil || !strings.Contains(err.Error(), "not an outcome") {
		t.Errorf("an intent as outcome: %v", err)
	}
}

// PutPairs and PutOutcomes write a list in one transaction, many pairs per
// statement, with the same result as PutPair and PutOutcome one by one:
// outcomes keep the rest of the intent's pair, an outcome without an
// intent is recorded whole, a key given twice ends as the later.
func TestPutPairsAndOutcomes(t *testing.T) {
	s := memStore(t)
	n := 2*pairsPerStatement + 7
	intents := make([]Pair, n)
	for i := range intents {
		intents[i] = benchPair(i)
		intents[i].Status, intents[i].TargetUID, intents[i].Hash = Intent, 0, ""
	}
	if err := s.PutPairs(intents); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Counts("alice"); c.Intent != int64(n) {
		t.Fatalf("counts after the intents: %+v", c)
	}
	var outcomes, want []Pair
	for i, p := range intents {
		o := p
		o.Status, o.TargetUID, o.Hash, o.TargetUIDValidity = Copied, uint32(1000+i), fmt.Sprintf("h%d", i), 77
		if i%10 == 3 {
			o.Status, o.TargetUID, o.Hash, o.Error = Failed, 0, "", "[TOOBIG] no"
		}
		// An outcome keeps the intent's other columns whatever it says of them.
		sent := o
		sent.Flags, sent.TargetUIDNext = []string{"$Other"}, 9999
		outcomes = append(outcomes, sent)
		want = append(want, o)
	}
	// The same key twice within one statement: the later wins.
	twice := outcomes[5]
	twice.TargetUID = 5555
	outcomes = append(outcomes[:6], append([]Pair{twice}, outcomes[6:]...)...)
	want[5].TargetUID = 5555
	stray := benchPair(n + 1)
	stray.SourceFolder = "Sent"
	outcomes = append([]Pair{stray}, outcomes...) // in the first statement
	if err := s.PutOutcomes(outcomes); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pairs("alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b Pair) int { return int(a.SourceUID) - int(b.SourceUID) })
	mustEqual(t, "pairs after the outcomes", got, want)
	gotSent, err := s.Pairs("alice", "Sent")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "outcome without an intent", gotSent, []Pair{stray})

	bad := intents[:1]
	if err := s.PutOutcomes(bad); err == nil || !strings.Contains(err.Error(), "is not one") {
		t.Errorf("an intent among outcomes: %v", err)
	}
	if err := s.PutPairs([]Pair{{User: "alice", SourceFolder: "INBOX", SourceKey: "x", Status: "done"}}); err == nil {
		t.Error("a pair of unknown status was written")
	}
}

func TestPairQueries(t *testing.T) {
	s := memStore(t)
	p := func(user, folder string, uv uint32, key string, uid uint32, size int64, st PairStatus) Pair {
		return Pair{User: user, SourceFolder: folder, SourceUIDValidity: uv, SourceKey: key, SourceUID: uid, Size: size, Status: st}
	}
	all := []Pair{
		p("bob", "INBOX", 2, "b", 5, 10, Failed),
		p("alice", "INBOX", 2, "3", 3, 100, Copied),
		p("alice", "INBOX", 1, "10", 10, 1000, Copied),
		p("alice", "INBOX", 1, "2", 2, 10000, Failed),
		p("alice", "INBOX", 2, "a", 3, 7, Intent),
		p("alice", "Sent", 1, "1", 1, 100000, Copied),
		p("bob", "INBOX", 2, "a", 4, 20, Copied),
	}
	putPairs(t, s, all...)
	keys := func(ps []Pair) []string {
		var ks []string
		for _, p := range ps {
			ks = append(ks, fmt.Sprintf("%s/%s/%d/%s", p.User, p.SourceFolder, p.SourceUIDValidity, p.SourceKey))
		}
		return ks
	}
	got, err := s.Pairs("alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "Pairs order", keys(got), []string{"alice/INBOX/1/2", "alice/INBOX/2/3", "alice/INBOX/2/a", "alice/INBOX/1/10"})

	got, err = s.UserPairs("alice")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "UserPairs", keys(got), []string{"alice/INBOX/1/2", "alice/INBOX/1/10", "alice/INBOX/2/3", "alice/INBOX/2/a", "alice/Sent/1/1"})

	failed := []struct {
		user string
		want []string
	}{
		{"", []string{"alice/INBOX/1/2", "bob/INBOX/2/b"}},
		{"alice", []string{"alice/INBOX/1/2"}},
		{"bob", []string{"bob/INBOX/2/b"}},
		{"nobody", nil},
	}
	for _, c := range failed {
		got, err := s.FailedPairs(c.user)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "FailedPairs("+c.user+")", keys(got), c.want)
	}

	counts := []struct {
		user string
		want Counts
	}{
		{"", Counts{Copied: 4, Failed: 2, Intent: 1, CopiedBytes: 100 + 1000 + 100000 + 20}},
		{"alice", Counts{Copied: 3, Failed: 1, Intent: 1, CopiedBytes: 101100}},
		{"bob", Counts{Copied: 1, Failed: 1, CopiedBytes: 20}},
		{"nobody", Counts{}},
	}
	for _, c := range counts {
		got, err := s.Counts(c.user)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "Counts("+c.user+")", got, c.want)
	}
}

func TestWriteRollback(t *testing.T) {
	s := memStore(t)
	kept := Pair{User: "alice", SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: "1", Status: Copied, Size: 5}
	putPairs(t, s, kept)

	boom := errors.New("boom")
	err := s.Write(func(tx *Tx) error {
		for i := range 100 {
			if err := tx.PutPair(Pair{User: "alice", SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: fmt.Sprint(i + 2), Status: Intent}); err != nil {
				return err
			}
		}
		changed := kept
		changed.Status = Failed
		if err := tx.PutPair(changed); err != nil {
			return err
		}
		if err := tx.DeletePair("alice", "INBOX", 1, "1"); err != nil {
			return err
		}
		if err := tx.PutCursor(Cursor{User: "alice", SourceFolder: "INBOX", UIDNext: 5}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write returned %v, want fn's error", err)
	}

	func() {
		defer func() {
			if recover() == nil {
				t.Error("Write swallowed a panic")
			}
		}()
		s.Write(func(tx *Tx) error {
			tx.PutPair(Pair{User: "bob", SourceFolder: "INBOX", SourceKey: "x", Status: Intent})
			panic("fn panics")
		})
	}()

	got, err := s.UserPairs("alice")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "pairs after rollback", got, []Pair{kept})
	if got, _ := s.UserPairs("bob"); len(got) != 0 {
		t.Errorf("panicking Write left %d pairs", len(got))
	}
	if cs, _ := s.Cursors("alice"); len(cs) != 0 {
		t.Errorf("rolled back cursor is there: %+v", cs)
	}
	// The store still works.
	putPairs(t, s, Pair{User: "bob", SourceFolder: "INBOX", SourceKey: "y", Status: Copied})
	if c, _ := s.Counts(""); c.Copied != 2 {
		t.Errorf("counts after rollbacks: %+v", c)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := openFile(t, filepath.Join(t.TempDir(), "mailshift.db"))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 4 {
		wg.Go(func() {
			user := fmt.Sprint("user", w)
			if err := s.PutUser(user, user, ""); err != nil {
				errs <- err
				return
			}
			for i := range 50 {
				err := s.Write(func(tx *Tx) error {
					return tx.PutPair(Pair{User: user, SourceFolder: "INBOX", SourceKey: fmt.Sprint(i), SourceUID: uint32(i), Status: Copied, Size: 1})
				})
				if err != nil {
					errs <- err
					return
				}
				if _, err := s.Counts(""); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c, err := s.Counts("")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "counts", c, Counts{Copied: 200, CopiedBytes: 200})
}

func TestManyPairsInOneWrite(t *testing.T) {
	s := openFile(t, filepath.Join(t.TempDir(), "mailshift.db"))
	n := 10000
	if raceDetector {
		n = 2000 // the detector makes the SQLite engine some 40 times slower
	}
	// Speed is BenchmarkPutPairs' business; this checks the outcome.
	write(t, s, func(tx *Tx) error {
		for i := range n {
			if err := tx.PutPair(benchPair(i)); err != nil {
				return err
			}
		}
		return nil
	})
	c, err := s.Counts("alice")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "counts", c, Counts{Copied: int64(n), CopiedBytes: int64(n) * 4096})
	ps, err := s.Pairs("alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != n {
		t.Fatalf("Pairs: %d, want %d", len(ps), n)
	}
	for i, p := range ps {
		if want := benchPair(i); !reflect.DeepEqual(p, want) {
			t.Fatalf("pair %d:\n got %+v\nwant %+v", i, p, want)
		}
	}
}

// benchPair is the i-th pair of a typical folder.
func benchPair(i int) Pair {
	return Pair{
		User: "alice", SourceFolder: "INBOX", SourceUIDValidity: 1700000000, SourceKey: fmt.Sprint(i + 1),
		SourceUID: uint32(i + 1), Size: 4096, Hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Flags: []string{`\Seen`, `$Forwarded`}, InternalDate: t0.Add(time.Duration(i) * time.Second),
		TargetFolder: "INBOX", TargetUIDValidity: 1, TargetUIDNext: uint32(i + 1), TargetUID: uint32(i + 1), Status: Copied,
	}
}

// BenchmarkPutPairs writes pairs in transactions of 10,000, as bulk does,
// into a state file, and reports pairs per second.
func BenchmarkPutPairs(b *testing.B) {
	s := openFile(b, filepath.Join(b.TempDir(), "mailshift.db"))
	const batch = 10000
	n := 0
	for b.Loop() {
		err := s.Write(func(tx *Tx) error {
			for range batch {
				if err := tx.PutPair(benchPair(n)); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkCopyWrites writes what the copy engine writes for each group
// of 400 small messages: a transaction of intents before the MULTIAPPEND,
// one of outcomes after it; it reports messages per second.
func BenchmarkCopyWrites(b *testing.B) {
	s := openFile(b, filepath.Join(b.TempDir(), "mailshift.db"))
	const group = 400
	n := 0
	for b.Loop() {
		ps := make([]Pair, group)
		for i := range ps {
			ps[i] = benchPair(n + i)
			ps[i].Status, ps[i].TargetUID, ps[i].Hash = Intent, 0, ""
		}
		n += group
		err := s.PutPairs(ps)
		if err == nil {
			for i := range ps {
				ps[i].Status, ps[i].TargetUID, ps[i].Hash = Copied, ps[i].SourceUID, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
			}
			err = s.PutOutcomes(ps)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// --- The state file ---

func TestOpenCreatesPrivateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mailshift.db")
	s := openFile(t, path)
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if err := s.PutUser("alice", "alice", ""); err != nil { // makes the WAL exist
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) && p != path {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}

	// An existing (empty) file keeps its mode and becomes a state.
	shared := filepath.Join(dir, "shared.db")
	if err := os.WriteFile(shared, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o640); err != nil {
		t.Fatal(err)
	}
	s2 := openFile(t, shared)
	if err := s2.PutUser("bob", "bob", ""); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(shared); fi.Mode().Perm() != 0o640 {
		t.Errorf("existing file's mode changed to %v", fi.Mode().Perm())
	}
}

func TestReopenKeepsData(t *testing.T) {
	// Characters that mean something in a URI must not confuse the driver.
	path := filepath.Join(t.TempDir(), "state ?#% 1.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want := benchPair(0)
	putPairs(t, s, want)
	if err := s.PutUser("alice", "a@new", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("state not at its path: %v", err)
	}

	s = openFile(t, path)
	got, err := s.UserPairs("alice")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "pairs after reopen", got, []Pair{want})
	names := appliedNames(t, s.db.DB)
	ms, _ := migrations()
	if len(names) != len(ms) {
		t.Errorf("migrations recorded: %v, want %d", names, len(ms))
	}
}

func appliedNames(t *testing.T, db *sql.DB) []string {
	t.Helper()
	names, err := appliedMigrations(db)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestOpenLockedInProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailshift.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(path)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("ErrLocked message %q does not name the file and the run holding it", msg)
	}
	// The failed Open did not disturb the first store.
	if err := s.PutUser("alice", "alice", ""); err != nil {
		t.Fatalf("first store after a refused Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openFile(t, path)
	if _, err := s2.User("alice"); err != nil {
		t.Errorf("after reopening: %v", err)
	}
}

// holdEnv makes the test binary a helper process that holds a state open.
const holdEnv = "MAILSHIFT_STATE_TEST_HOLD"

func TestOpenLockedByOtherProcess(t *testing.T) {
	if p := os.Getenv(holdEnv); p != "" {
		s, err := Open(p)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("holding")
		io.Copy(io.Discard, os.Stdin) // until the parent closes stdin
		s.Close()
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "mailshift.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenLockedByOtherProcess$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "holding" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("helper: %q", line)
	}
	_, err = Open(path)
	if !errors.Is(err, ErrLocked) {
		t.Errorf("Open while another process holds the state: %v, want ErrLocked", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	openFile(t, path)
}

// realState writes a state file with some data and closes it.
func realState(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutUser("alice", "alice", "b1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(func(tx *Tx) error {
		for i := range 300 {
			if err := tx.PutPair(benchPair(i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesCorruptFiles(t *testing.T) {
	garbage := bytes.Repeat([]byte("this is not a database, it is a mail spool \x00\xff\x17"), 500)
	cases := []struct {
		name string
		make func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) {
			os.WriteFile(path, garbage, 0o600)
		}},
		{"short", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("SQLite"), 0o600)
		}},
		{"SQLite header then garbage", func(t *testing.T, path string) {
			os.WriteFile(path, append([]byte(sqliteHeader), garbage...), 0o600)
		}},
		{"truncated state", func(t *testing.T, path string) {
			realState(t, path)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"damaged page", func(t *testing.T, path string) {
			realState(t, path)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Overwrite the middle of the file (b-tree pages of pairs).
			copy(b[len(b)/2:], bytes.Repeat([]byte{0xa5}, 4096))
			os.WriteFile(path, b, 0o600)
		}},
		{"another application's database", func(t *testing.T, path string) {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('x')"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mailshift.db")
			c.make(t, path)
			refused(t, path)
		})
	}
}

func TestOpenRefusesNewerState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailshift.db")
	realState(t, path)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO migrations (name, applied_at) VALUES ('9999_from_the_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	_, err = Open(path)
	if !errors.Is(err, ErrNewerVersion) {
		t.Fatalf("Open: %v, want ErrNewerVersion", err)
	}
	t.Log(err)
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "9999_from_the_future.sql") {
		t.Errorf("message %q does not name the file and the migration", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("Open changed the newer file")
	}
}

func TestOpenMigratesOlderState(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 {
		t.Fatalf("need at least two migrations to test upgrading, have %d", len(ms))
	}
	path := filepath.Join(t.TempDir(), "mailshift.db")

	// The state as a mailshift that only knew the first migration left it.
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	old := []string{
		"CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at INTEGER)",
		ms[0].sql,
		fmt.Sprintf("INSERT INTO migrations (name, applied_at) VALUES ('%s', 1)", ms[0].name),
		fmt.Sprintf("INSERT INTO users (source_user, target_user, batch, collected_at) VALUES ('alice', 'alice@new', 'b1', %d)", t0.UnixNano()),
		`INSERT INTO pairs (source_user, source_folder, source_uidvalidity, source_key, source_uid, size, flags, status, target_uid)
			VALUES ('alice', 'Boîte', 7, '42', 42, 512, '["\\Seen"]', 'copied', 9)`,
	}
	for _, q := range old {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var cutovers int
	db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'cutovers'").Scan(&cutovers)
	if cutovers != 0 {
		t.Fatal("the first migration already has the cutovers table; the test proves nothing")
	}
	db.Close()

	s := openFile(t, path)
	mustEqual(t, "migrations after upgrade", appliedNames(t, s.db.DB), func() []string {
		var ns []string
		for _, m := range ms {
			ns = append(ns, m.name)
		}
		return ns
	}())
	u, err := s.User("alice")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "user after upgrade", u, User{SourceUser: "alice", TargetUser: "alice@new", Batch: "b1", CollectedAt: t0})
	ps, err := s.Pairs("alice", "Boîte")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "pairs after upgrade", ps, []Pair{{User: "alice", SourceFolder: "Boîte", SourceUIDValidity: 7,
		SourceKey: "42", SourceUID: 42, Size: 512, Flags: []string{`\Seen`}, TargetUID: 9, Status: Copied}})
	if err := s.SaveCutover(Cutover{User: "alice", At: t0, Verified: true}); err != nil {
		t.Fatalf("the new migration's table: %v", err)
	}
	var version int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != len(ms) {
		t.Errorf("user_version = %d (%v), want %d", version, err, len(ms))
	}
}

func TestMigrationsAreOrderedAndNamed(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		want := fmt.Sprintf("%04d_", i+1)
		if !strings.HasPrefix(m.name, want) || !strings.HasSuffix(m.name, ".sql") {
			t.Errorf("migration %d is named %q, want %s<what>.sql", i, m.name, want)
		}
	}
}

func TestFolderFailures(t *testing.T) {
	s := memStore(t)
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, f := range []FolderFailure{
		{User: "bob", Folder: "Spam", Reason: "unreadable", FailedAt: at},
		{User: "alice", Folder: "Archive", Reason: "refused", FailedAt: at},
		{User: "alice", Folder: "Archive", Reason: "refused again", FailedAt: at.Add(time.Hour)},
	} {
		if err := s.FailFolder(f.User, f.Folder, f.Reason, f.FailedAt); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.FolderFailures("")
	if err != nil {
		t.Fatal(err)
	}
	want := []FolderFailure{
		{User: "alice", Folder: "Archive", Reason: "refused again", FailedAt: at.Add(time.Hour)},
		{User: "bob", Folder: "Spam", Reason: "unreadable", FailedAt: at},
	}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("failures = %+v, want %+v", all, want)
	}
	if err := s.ClearFolder("alice", "Archive"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearFolder("alice", "Archive"); err != nil {
		t.Fatal("clearing twice:", err)
	}
	bob, err := s.FolderFailures("alice")
	if err != nil || len(bob) != 0 {
		t.Fatalf("alice's failures after clearing = %v, %v", bob, err)
	}
}

func TestSamples(t *testing.T) {
	s := memStore(t)
	if at, xs, err := s.LatestSamples(StepBulk); err != nil || !at.IsZero() || len(xs) != 0 {
		t.Fatalf("before any run: %v %v %v", at, xs, err)
	}
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	for _, x := range []struct {
		started time.Time
		s       Sample
	}{
		{t0, Sample{t0, 0, 0}}, {t0, Sample{t0.Add(time.Second), 10, 1000}},
		{t1, Sample{t1, 0, 0}}, {t1, Sample{t1.Add(2 * time.Second), 5, 500}}, {t1, Sample{t1.Add(time.Second), 2, 200}},
	} {
		if err := s.PutSample(StepBulk, x.started, x.s); err != nil {
			t.Fatal(err)
		}
	}
	at, xs, err := s.LatestSamples(StepBulk)
	if err != nil || !at.Equal(t1) || len(xs) != 3 || xs[1].Messages != 2 || xs[2].Bytes != 500 {
		t.Fatalf("latest run: %v %+v %v", at, xs, err)
	}
}
