package state

import (
	"fmt"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// The reads in this file answer for every user at once, in a fixed number
// of queries, what the per-user reads (Account, Counts, FolderFailures,
// CopiedWithin) answer for one: a status or report of a project of ten
// thousand users reads the state in a few scans instead of tens of
// thousands of lookups.

// Accounts returns every user's account of side, by source user, with its
// folders in the order collect listed them (as Account returns one), or
// without them (Folders nil) unless folders is set.
func (s *Store) Accounts(side Side, folders bool) (map[string]Account, error) {
	as, err := queryAll(s.db, func(r scanner) (Account, error) {
		a := Account{Side: side}
		d := &a.Description
		err := r.Scan(&a.User, &a.Login, &d.Kind, &d.Server, listCol{&d.Capabilities}, &d.Delimiter, &d.Prefix, &d.AppendLimit,
			&d.QuotaUsed, &d.QuotaLimit, &d.UIDPlus, &d.CondStore, &a.Error, timeCol{&a.CollectedAt})
		return a, err
	}, `SELECT source_user, login, kind, server, capabilities, delimiter, prefix, append_limit,
		quota_used, quota_limit, uidplus, condstore, error, collected_at
		FROM accounts WHERE side = ?`, side)
	if err != nil {
		return nil, fmt.Errorf("read %s accounts: %w", side, err)
	}
	out := make(map[string]Account, len(as))
	for _, a := range as {
		out[a.User] = a
	}
	if !folders {
		return out, nil
	}
	type folder struct {
		user string
		f    mailbox.Folder
	}
	fs, err := queryAll(s.db, func(r scanner) (folder, error) {
		var x folder
		err := r.Scan(&x.user, &x.f.Name, &x.f.Role, &x.f.NoSelect, &x.f.Messages, &x.f.Bytes,
			&x.f.UIDValidity, &x.f.UIDNext, u64Col{&x.f.HighestModSeq})
		return x, err
	}, `SELECT source_user, name, role, noselect, messages, bytes, uidvalidity, uidnext, highest_modseq
		FROM account_folders WHERE side = ? ORDER BY source_user, position`, side)
	if err != nil {
		return nil, fmt.Errorf("read folders of %s accounts: %w", side, err)
	}
	for _, x := range fs {
		if a, ok := out[x.user]; ok {
			a.Folders = append(a.Folders, x.f)
			out[x.user] = a
		}
	}
	return out, nil
}

// AllCounts returns every user's Counts, by source user; a user without
// pairs is not in the map.
func (s *Store) AllCounts() (map[string]Counts, error) {
	type row struct {
		user string
		c    Counts
	}
	rows, err := queryAll(s.db, func(r scanner) (row, error) {
		var x row
		err := r.Scan(&x.user, &x.c.Copied, &x.c.Failed, &x.c.Intent, &x.c.CopiedBytes)
		return x, err
	}, `SELECT source_user,
		coalesce(sum(status = 'copied'), 0), coalesce(sum(status = 'failed'), 0),
		coalesce(sum(status = 'intent'), 0), coalesce(sum(CASE WHEN status = 'copied' THEN size END), 0)
		FROM pairs GROUP BY source_user`)
	if err != nil {
		return nil, fmt.Errorf("count pairs of every user: %w", err)
	}
	out := make(map[string]Counts, len(rows))
	for _, x := range rows {
		out[x.user] = x.c
	}
	return out, nil
}

// AllFolderFailures returns every user's FolderFailures, by source user.
func (s *Store) AllFolderFailures() (map[string][]FolderFailure, error) {
	fs, err := s.FolderFailures("")
	if err != nil {
		return nil, err
	}
	out := map[string][]FolderFailure{}
	for _, f := range fs {
		out[f.User] = append(out[f.User], f)
	}
	return out, nil
}

// CopiedWithinInventory is CopiedWithin for every user at once, with the
// marks of each user's source account as collect saw it (its folders that
// hold messages): by source user, then source folder, the copied messages
// and bytes among those the last collect counted.
func (s *Store) CopiedWithinInventory() (map[string]map[string]Tally, error) {
	type row struct {
		user, folder string
		t            Tally
	}
	rows, err := queryAll(s.db, func(r scanner) (row, error) {
		var x row
		err := r.Scan(&x.user, &x.folder, &x.t.Messages, &x.t.Bytes)
		return x, err
	}, `SELECT f.source_user, f.name, count(*), coalesce(sum(p.size), 0)
		FROM account_folders f JOIN pairs p
			ON p.source_user = f.source_user AND p.source_folder = f.name AND p.source_uidvalidity = f.uidvalidity
		WHERE f.side = 'source' AND f.noselect = 0 AND p.status = 'copied'
			AND (f.uidnext = 0 OR p.source_uid = 0 OR p.source_uid < f.uidnext)
		GROUP BY f.source_user, f.name`)
	if err != nil {
		return nil, fmt.Errorf("count copied messages of every user: %w", err)
	}
	out := map[string]map[string]Tally{}
	for _, x := range rows {
		m := out[x.user]
		if m == nil {
			m = map[string]Tally{}
			out[x.user] = m
		}
		m[x.folder] = x.t
	}
	return out, nil
}
