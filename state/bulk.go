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

// Accounts returns every user's account of side, by source user: with
// full, whole (as Account returns one, the folders in the order collect
// listed them); else only the login, the error and when it was collected
// (no description, Folders nil), which is what telling where users stand
// needs.
func (s *Store) Accounts(side Side, full bool) (map[string]Account, error) {
	if !full {
		return s.accountHeads(side)
	}
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

// accountHeads is Accounts without the description and the folders.
func (s *Store) accountHeads(side Side) (map[string]Account, error) {
	as, err := queryAll(s.db, func(r scanner) (Account, error) {
		a := Account{Side: side}
		err := r.Scan(&a.User, &a.Login, &a.Error, timeCol{&a.CollectedAt})
		return a, err
	}, `SELECT source_user, login, error, collected_at FROM accounts WHERE side = ?`, side)
	if err != nil {
		return nil, fmt.Errorf("read %s accounts: %w", side, err)
	}
	out := make(map[string]Account, len(as))
	for _, a := range as {
		out[a.User] = a
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

// InventoryTally compares what a user's last collect counted on the source
// with what is copied of it, folder by folder, summed over the folders:
// what status and the bulk estimate need of each user.
type InventoryTally struct {
	Messages, Bytes int64 // the source's, as collect counted them (sizes below 0 as 0)
	// Within and WithinBytes are the copied messages among those collect
	// counted (CopiedWithin), summed over the folders.
	Within, WithinBytes int64
	// CopiedSource and CopiedSourceBytes are Within capped folder by
	// folder at what collect counted; CopiedGone what a folder has copied
	// beyond it (deleted on the source after they were copied).
	CopiedSource, CopiedSourceBytes, CopiedGone int64
	// LeftBytes is what is still to copy of what collect counted, folder
	// by folder.
	LeftBytes int64
}

// Add counts one folder as collect saw it (msgs, bytes) with c, the
// copied messages it covers.
func (t *InventoryTally) Add(msgs, bytes int64, c Tally) {
	bytes = max(bytes, 0)
	t.Messages += msgs
	t.Bytes += bytes
	t.Within += c.Messages
	t.WithinBytes += c.Bytes
	t.CopiedSource += min(c.Messages, msgs)
	t.CopiedGone += max(c.Messages-msgs, 0)
	t.CopiedSourceBytes += min(c.Bytes, bytes)
	t.LeftBytes += max(bytes-c.Bytes, 0)
}

// InventoryTallies is every collected user's InventoryTally, by source
// user, summed in one query: the folders of each source account with the
// copied messages each covers (as CopiedWithin counts them), as Add sums them.
func (s *Store) InventoryTallies() (map[string]InventoryTally, error) {
	type row struct {
		user string
		t    InventoryTally
	}
	rows, err := queryAll(s.db, func(r scanner) (row, error) {
		var x row
		err := r.Scan(&x.user, &x.t.Messages, &x.t.Bytes, &x.t.Within, &x.t.WithinBytes,
			&x.t.CopiedSource, &x.t.CopiedGone, &x.t.CopiedSourceBytes, &x.t.LeftBytes)
		return x, err
	}, `WITH pg AS (
			SELECT source_user AS u, source_folder AS fo, source_uidvalidity AS v,
				count(*) AS n, sum(size) AS b, max(source_uid) AS mx
			FROM pairs WHERE status = 'copied'
			GROUP BY source_user, source_folder, source_uidvalidity),
		g AS (
			SELECT f.source_user AS u, f.messages AS m, max(f.bytes, 0) AS b,
				CASE WHEN pg.n IS NULL OR f.noselect THEN 0
					WHEN f.uidnext = 0 OR pg.mx < f.uidnext THEN pg.n
					ELSE (SELECT count(*) FROM pairs p WHERE p.source_user = f.source_user AND p.source_folder = f.name
						AND p.source_uidvalidity = f.uidvalidity AND p.status = 'copied' AND (p.source_uid = 0 OR p.source_uid < f.uidnext)) END AS cn,
				CASE WHEN pg.n IS NULL OR f.noselect THEN 0
					WHEN f.uidnext = 0 OR pg.mx < f.uidnext THEN pg.b
					ELSE (SELECT coalesce(sum(p.size), 0) FROM pairs p WHERE p.source_user = f.source_user AND p.source_folder = f.name
						AND p.source_uidvalidity = f.uidvalidity AND p.status = 'copied' AND (p.source_uid = 0 OR p.source_uid < f.uidnext)) END AS cb
			FROM account_folders f LEFT JOIN pg ON pg.u = f.source_user AND pg.fo = f.name AND pg.v = f.uidvalidity
			WHERE f.side = 'source')
		SELECT u, sum(m), sum(b), sum(cn), sum(cb), sum(min(cn, m)), sum(max(cn - m, 0)), sum(min(cb, b)), sum(max(b - cb, 0))
		FROM g GROUP BY u`)
	if err != nil {
		return nil, fmt.Errorf("sum up every user's inventory: %w", err)
	}
	out := make(map[string]InventoryTally, len(rows))
	for _, x := range rows {
		out[x.user] = x.t
	}
	return out, nil
}
