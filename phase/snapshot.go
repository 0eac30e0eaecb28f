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
	within   map[string]map[string]state.Tally
}

// loadSnapshot reads the snapshot of every user; the target accounts'
// folders only with targetFolders (the scope of work maps folders; status
// needs only whether the target's collect failed).
func (p *Project) loadSnapshot(targetFolders bool) (*snapshot, error) {
	s := &snapshot{accounts: map[state.Side]map[string]state.Account{}}
	us, err := p.Store.Users()
	if err != nil {
		return nil, err
	}
	s.users = make(map[string]state.User, len(us))
	for _, u := range us {
		s.users[u.SourceUser] = u
	}
	if s.accounts[state.SideSource], err = p.Store.Accounts(state.SideSource, true); err != nil {
		return nil, err
	}
	if s.accounts[state.SideTarget], err = p.Store.Accounts(state.SideTarget, targetFolders); err != nil {
		return nil, err
	}
	if s.counts, err = p.Store.AllCounts(); err != nil {
		return nil, err
	}
	if s.failures, err = p.Store.AllFolderFailures(); err != nil {
		return nil, err
	}
	if s.within, err = p.Store.CopiedWithinInventory(); err != nil {
		return nil, err
	}
	return s, nil
}

// withSnapshot runs fn with the project's reads of users, accounts,
// counts, folder failures and copied tallies answered from one snapshot.
// Only status, report and approve use it, which run alone: no copying
// worker reads the project meanwhile. The target accounts come without
// their folders unless targetFolders is set.
func (p *Project) withSnapshot(targetFolders bool, fn func() error) error {
	if p.snap != nil {
		return fn()
	}
	s, err := p.loadSnapshot(targetFolders)
	if err != nil {
		return err
	}
	p.snap = s
	defer func() { p.snap = nil }()
	return fn()
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

// copiedWithinInventory tallies, folder by folder, a user's copied
// messages among those the collect that saw a counted (state's
// CopiedWithin with the account's folders as marks).
func (p *Project) copiedWithinInventory(user string, a state.Account) (map[string]state.Tally, error) {
	if p.snap == nil {
		return p.Store.CopiedWithin(user, inventoryMarks(a))
	}
	if t := p.snap.within[user]; t != nil {
		return t, nil
	}
	return map[string]state.Tally{}, nil
}
