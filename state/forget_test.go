package state

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// TestForgetUser deletes one user's rows of every kind and leaves the
// other user's, and the approvals, as they were.
func TestForgetUser(t *testing.T) {
	s := memStore(t)
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, u := range []string{"ann", "bob"} {
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(s.PutUser(u, u, "w1"))
		must(s.MarkStep(u, StepCollect, at))
		must(s.SaveAccount(Account{User: u, Side: SideSource, Folders: []mailbox.Folder{{Name: "INBOX", Messages: 1, Bytes: 10}}}))
		must(s.SaveAccount(Account{User: u, Side: SideTarget}))
		must(s.ReplaceProblems(u, []Problem{{Kind: "quota", Detail: "too small"}}))
		must(s.PutCursor(Cursor{User: u, SourceFolder: "INBOX", SourceUIDValidity: 1}))
		must(s.FailFolder(u, "Spam", "unreadable", at))
		must(s.SaveCutover(Cutover{User: u, At: at}))
		putPairs(t, s, Pair{User: u, SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: "1", SourceUID: 1, Size: 10, Status: Copied})
	}
	if _, err := s.SaveApproval(Approval{Hash: "h", By: "Boss", At: at, Users: []string{"ann", "bob"}}); err != nil {
		t.Fatal(err)
	}

	if err := s.ForgetUser("ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.User("ann"); !errors.Is(err, ErrNotFound) {
		t.Errorf("user after forget: %v", err)
	}
	if _, err := s.Account("ann", SideSource); !errors.Is(err, ErrNotFound) {
		t.Errorf("account after forget: %v", err)
	}
	ps, _ := s.Problems()
	cs, _ := s.Cursors("ann")
	ff, _ := s.FolderFailures("ann")
	co, _ := s.Cutovers()
	c, _ := s.Counts("ann")
	if len(ps) != 1 || ps[0].User != "bob" || len(cs) != 0 || len(ff) != 0 || len(co) != 1 || c != (Counts{}) {
		t.Errorf("ann's rows left: problems %v, cursors %v, failures %v, cutovers %v, counts %+v", ps, cs, ff, co, c)
	}
	if c, _ := s.Counts("bob"); c.Copied != 1 {
		t.Errorf("bob's pairs: %+v", c)
	}
	if a, err := s.LatestApproval(); err != nil || len(a.Users) != 2 {
		t.Errorf("approval after forget: %+v, %v", a, err)
	}
	if err := s.ForgetUser("ann"); !errors.Is(err, ErrNotFound) {
		t.Errorf("forgetting twice: %v", err)
	}
}

// TestCopiedWithin counts the copied messages an inventory covers: same
// folder and UIDVALIDITY, UID below UIDNEXT; not the later ones, not
// those of another UIDVALIDITY or folder, not the failed ones.
func TestCopiedWithin(t *testing.T) {
	s := memStore(t)
	p := func(folder string, validity, uid uint32, size int64, st PairStatus) Pair {
		return Pair{User: "ann", SourceFolder: folder, SourceUIDValidity: validity, SourceKey: string(rune('a' + uid)), SourceUID: uid, Size: size, Status: st}
	}
	putPairs(t, s,
		p("INBOX", 7, 1, 10, Copied), p("INBOX", 7, 2, 20, Copied), p("INBOX", 7, 5, 40, Copied), // UID 5: after the mark
		p("INBOX", 7, 3, 80, Failed), p("INBOX", 6, 1, 160, Copied), p("New", 1, 1, 320, Copied),
		p("Files", 1, 0, 640, Copied), // no UID: counted
	)
	got, err := s.CopiedWithin("ann", []FolderMark{{"INBOX", 7, 5}, {"Files", 1, 3}, {"Empty", 1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]Tally{"INBOX": {2, 30}, "Files": {1, 640}}; !reflect.DeepEqual(got, want) {
		t.Errorf("CopiedWithin = %+v, want %+v", got, want)
	}
	if got, _ := s.CopiedWithin("bob", []FolderMark{{"INBOX", 7, 5}}); len(got) != 0 {
		t.Errorf("another user: %+v", got)
	}
}
