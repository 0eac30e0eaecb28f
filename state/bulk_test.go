package state

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// TestEveryUserReads checks that the reads of every user at once answer
// for each user exactly what the per-user reads answer: accounts with
// their folders in order, pair counts, folder failures, and the copied
// messages the source inventory covers.
func TestEveryUserReads(t *testing.T) {
	s := memStore(t)
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"ann", "bob", "cid", "dan"}
	for i, u := range names {
		must(s.PutUser(u, "t-"+u, "w1"))
		if u == "dan" {
			continue // never collected, nothing copied
		}
		must(s.SaveAccount(Account{User: u, Side: SideSource, Login: u, Description: mailbox.Description{Kind: "imap", Delimiter: '/', CondStore: i%2 == 0},
			Folders: []mailbox.Folder{
				{Name: "INBOX", Messages: 3, Bytes: 60, UIDValidity: 7, UIDNext: 4},
				{Name: "Archive", NoSelect: true},
				{Name: "Archive/2024", Messages: 1, Bytes: 5, UIDValidity: 9, UIDNext: 2, HighestModSeq: 12},
			}, CollectedAt: at}))
		must(s.SaveAccount(Account{User: u, Side: SideTarget, Login: "t-" + u, Error: map[bool]string{true: "login refused"}[u == "cid"]}))
		for uid := uint32(1); uid <= uint32(i+2); uid++ { // uid 4 and 5: after collect
			st := Copied
			if uid == 2 && u == "bob" {
				st = Failed
			}
			putPairs(t, s, Pair{User: u, SourceFolder: "INBOX", SourceUIDValidity: 7, SourceKey: fmt.Sprint(uid), SourceUID: uid, Size: int64(10 * uid), Status: st})
		}
		putPairs(t, s, Pair{User: u, SourceFolder: "Archive/2024", SourceUIDValidity: 8, SourceKey: "1", SourceUID: 1, Size: 5, Status: Copied}) // old UIDVALIDITY
	}
	must(s.FailFolder("bob", "Spam", "unreadable", at))
	must(s.FailFolder("bob", "Junk", "refused", at))

	for _, side := range []Side{SideSource, SideTarget} {
		all, err := s.Accounts(side, true)
		must(err)
		heads, err := s.Accounts(side, false)
		must(err)
		for u, a := range heads {
			if a.Folders != nil || a.Error != all[u].Error || a.Login != all[u].Login {
				t.Errorf("%s account of %s without folders: %+v", side, u, a)
			}
		}
		if len(all) != 3 {
			t.Errorf("%s accounts: %d, want 3", side, len(all))
		}
		for _, u := range names[:3] {
			one, err := s.Account(u, side)
			must(err)
			if !reflect.DeepEqual(all[u], one) {
				t.Errorf("%s account of %s: every user's read %+v, one user's %+v", side, u, all[u], one)
			}
		}
	}
	counts, err := s.AllCounts()
	must(err)
	failures, err := s.AllFolderFailures()
	must(err)
	within, err := s.CopiedWithinInventory()
	must(err)
	for _, u := range names {
		c, err := s.Counts(u)
		must(err)
		if counts[u] != c {
			t.Errorf("counts of %s: every user's read %+v, one user's %+v", u, counts[u], c)
		}
		ff, err := s.FolderFailures(u)
		must(err)
		if len(ff) != len(failures[u]) || (len(ff) > 0 && !reflect.DeepEqual(ff, failures[u])) {
			t.Errorf("folder failures of %s: every user's read %+v, one user's %+v", u, failures[u], ff)
		}
		a, _ := s.Account(u, SideSource)
		var marks []FolderMark
		for _, f := range a.Folders {
			if !f.NoSelect {
				marks = append(marks, FolderMark{f.Name, f.UIDValidity, f.UIDNext})
			}
		}
		w, err := s.CopiedWithin(u, marks)
		must(err)
		if len(w) != len(within[u]) || (len(w) > 0 && !reflect.DeepEqual(w, within[u])) {
			t.Errorf("copied within the inventory of %s: every user's read %+v, one user's %+v", u, within[u], w)
		}
	}
	if want := (map[string]Tally{"INBOX": {2, 30}}); !reflect.DeepEqual(within["ann"], want) {
		t.Errorf("ann's copied within the inventory: %+v, want %+v", within["ann"], want)
	}
	if want := (map[string]Tally{"INBOX": {2, 40}}); !reflect.DeepEqual(within["bob"], want) {
		t.Errorf("bob's copied within the inventory (UID 2 failed, UID 4 after collect): %+v, want %+v", within["bob"], want)
	}
}
