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
// their folders in order, pair counts, folder failures, and each user's
// source inventory against the copied messages it covers.
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
	// eve's source lost two of three copied messages before her last
	// collect: copied beyond what it counted.
	must(s.PutUser("eve", "t-eve", "w2"))
	must(s.SaveAccount(Account{User: "eve", Side: SideSource, Folders: []mailbox.Folder{{Name: "INBOX", Messages: 1, Bytes: 10, UIDValidity: 7, UIDNext: 4}}, CollectedAt: at}))
	for uid := uint32(1); uid <= 3; uid++ {
		putPairs(t, s, Pair{User: "eve", SourceFolder: "INBOX", SourceUIDValidity: 7, SourceKey: fmt.Sprint(uid), SourceUID: uid, Size: 10, Status: Copied})
	}
	names = append(names, "eve")
	must(s.FailFolder("bob", "Spam", "unreadable", at))
	must(s.FailFolder("bob", "Junk", "refused", at))

	for _, side := range []Side{SideSource, SideTarget} {
		all, err := s.Accounts(side, true)
		must(err)
		heads, err := s.Accounts(side, false)
		must(err)
		for u, a := range heads {
			if a.Folders != nil || a.Error != all[u].Error || a.Login != all[u].Login || !a.CollectedAt.Equal(all[u].CollectedAt) || a.Description.Kind != "" {
				t.Errorf("%s account of %s without folders: %+v", side, u, a)
			}
		}
		if want := map[Side]int{SideSource: 4, SideTarget: 3}[side]; len(all) != want {
			t.Errorf("%s accounts: %d, want %d", side, len(all), want)
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
	tallies, err := s.InventoryTallies()
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
		var tally InventoryTally
		for _, f := range a.Folders {
			tally.Add(int64(f.Messages), f.Bytes, w[f.Name])
		}
		if tallies[u] != tally {
			t.Errorf("inventory tally of %s: summed in SQL %+v, folder by folder %+v", u, tallies[u], tally)
		}
	}
	if want := (InventoryTally{Messages: 1, Bytes: 10, Within: 3, WithinBytes: 30, CopiedSource: 1, CopiedSourceBytes: 10, CopiedGone: 2}); tallies["eve"] != want {
		t.Errorf("eve's inventory tally: %+v, want %+v", tallies["eve"], want)
	}
	if want := (InventoryTally{Messages: 4, Bytes: 65, Within: 2, WithinBytes: 30, CopiedSource: 2, CopiedSourceBytes: 30, LeftBytes: 35}); tallies["ann"] != want {
		t.Errorf("ann's inventory tally: %+v, want %+v", tallies["ann"], want)
	}
	if want := (InventoryTally{Messages: 4, Bytes: 65, Within: 2, WithinBytes: 40, CopiedSource: 2, CopiedSourceBytes: 40, LeftBytes: 25}); tallies["bob"] != want {
		t.Errorf("bob's inventory tally (UID 2 failed, UID 4 after collect): %+v, want %+v", tallies["bob"], want)
	}
}
