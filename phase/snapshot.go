package phase

import (
	"fmt"

	"github.com/mailshift/mailshift/state"
)

// snapshot holds what status and report read of every user, read from the
// state in a fixed number of queries (state's Accounts, AllCounts, ...)
// rather than a handful per user: their time grows with the rows, not
// with users × queries.
type snapshot struct {
	users    map[string]state.User
	accounts map[state.Side]map[string]state.Account
	counts   map[string]state.Counts
	failures map[string][]state.FolderFailure
	// tallies sum each user's source inventory against what is copied
	// of it; with them the source accounts are read without folders.
	tallies map[string]state.InventoryTally
}

// loadSnapshot reads the snapshot of every user; the accounts' folders
// and descriptions only with folders (the scope of work maps folders;
// status needs only each user's sums and whether a collect failed).
func (p *Project) loadSnapshot(folders bool) (*snapshot, error) {
	s := &snapshot{accounts: map[state.Side]map[string]state.Account{}}
	us, err := p.Store.Users()
	if err != nil {
		return nil, err
	}
	s.users = make(map[string]state.User, len(us))
	for _, u := range us {
		s.users[u.SourceUser] = u
	}
	for _, side := range []state.Side{state.SideSource, state.SideTarget} {
		if s.accounts[side], err = p.Store.Accounts(side, folders); err != nil {
			return nil, err
		}
	}
	if s.counts, err = p.Store.AllCounts(); err != nil {
		return nil, err
	}
	if s.failures, err = p.Store.AllFolderFailures(); err != nil {
		return nil, err
	}
	if s.tallies, err = p.Store.InventoryTallies(); err != nil {
		return nil, err
	}
	return s, nil
}

// withSnapshot runs fn with a view of the project whose reads of users,
// accounts, counts, folder failures and copied tallies are answered from
// one snapshot. status, report and approve use it; a step running in the
// same process meanwhile (sync --follow, a test) keeps reading the state
// itself, since the snapshot belongs to the view alone. The accounts come
// without their folders unless folders is set.
func (p *Project) withSnapshot(folders bool, fn func(v *Project) error) error {
	if p.snap != nil {
		return fn(p)
	}
	s, err := p.loadSnapshot(folders)
	if err != nil {
		return err
	}
	v := p.view()
	v.snap = s
	return fn(v)
}

// view is a project for reading: the same configuration, users, state and
// backends, none of the copying workers' shared parts.
func (p *Project) view() *Project {
	return &Project{Config: p.Config, Users: p.Users, Store: p.Store, Backends: p.Backends, Dir: p.Dir,
		Progress: p.Progress, Log: p.Log, Now: p.Now, Clock: p.Clock, Shard: p.Shard, settleQuiet: p.settleQuiet}
}

// userRecord is the state's record of a user (state.Store.User).
func (p *Project) userRecord(name string) (state.User, error) {
	if p.snap == nil {
		return p.Store.User(name)
	}
	u, ok := p.snap.users[name]
	if !ok {
		return state.User{}, fmt.Errorf("user %q: %w", name, state.ErrNotFound)
	}
	return u, nil
}

// account is what collect learned of one side of a user
// (state.Store.Account).
func (p *Project) account(user string, side state.Side) (state.Account, error) {
	if p.snap == nil {
		return p.Store.Account(user, side)
	}
	a, ok := p.snap.accounts[side][user]
	if !ok {
		return state.Account{}, fmt.Errorf("%s account of user %q: %w", side, user, state.ErrNotFound)
	}
	return a, nil
}

// userCounts sums up a user's pairs (state.Store.Counts).
func (p *Project) userCounts(user string) (state.Counts, error) {
	if p.snap == nil {
		return p.Store.Counts(user)
	}
	return p.snap.counts[user], nil
}

// folderFailures lists the folders a user's passes skipped
// (state.Store.FolderFailures).
func (p *Project) folderFailures(user string) ([]state.FolderFailure, error) {
	if p.snap == nil {
		return p.Store.FolderFailures(user)
	}
	return p.snap.failures[user], nil
}

// inventoryTally sums a user's source account as collect saw it against
// what is copied of it, folder by folder (state.InventoryTally).
func (p *Project) inventoryTally(user string, a state.Account) (state.InventoryTally, error) {
	if p.snap != nil {
		return p.snap.tallies[user], nil
	}
	within, err := p.Store.CopiedWithin(user, inventoryMarks(a))
	if err != nil {
		return state.InventoryTally{}, err
	}
	var t state.InventoryTally
	for _, f := range a.Folders {
		t.Add(int64(f.Messages), f.Bytes, within[f.Name])
	}
	return t, nil
}
