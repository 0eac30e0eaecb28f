package state

import (
	"database/sql"
	"fmt"
	"strings"
)

const putPairSQL = `INSERT INTO pairs (source_user, source_folder, source_uidvalidity, source_key,
	source_uid, size, hash, flags, internal_date, target_folder, target_uidvalidity, target_uidnext,
	target_uid, status, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)` + putPairConflict

const putPairConflict = `
	ON CONFLICT (source_user, source_folder, source_uidvalidity, source_key) DO UPDATE SET
	source_uid = excluded.source_uid, size = excluded.size, hash = excluded.hash,
	flags = excluded.flags, internal_date = excluded.internal_date,
	target_folder = excluded.target_folder, target_uidvalidity = excluded.target_uidvalidity,
	target_uidnext = excluded.target_uidnext, target_uid = excluded.target_uid,
	status = excluded.status, error = excluded.error`

// pairsPerStatement is how many pairs PutPairs and PutOutcomes write with
// one statement: with fewer statements the state writes of a copied group
// take about a fifth less time.
const pairsPerStatement = 50

// putPairsSQL writes pairsPerStatement pairs as PutPair does.
var putPairsSQL = manyPairsSQL() + putPairConflict

// putOutcomesSQL writes pairsPerStatement pairs as PutOutcome does: only
// the outcome's columns of a pair that is there, the whole pair otherwise.
var putOutcomesSQL = manyPairsSQL() + `
	ON CONFLICT (source_user, source_folder, source_uidvalidity, source_key) DO UPDATE SET
	size = excluded.size, hash = excluded.hash, target_uidvalidity = excluded.target_uidvalidity,
	target_uid = excluded.target_uid, status = excluded.status, error = excluded.error`

func manyPairsSQL() string {
	row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return `INSERT INTO pairs (source_user, source_folder, source_uidvalidity, source_key,
	source_uid, size, hash, flags, internal_date, target_folder, target_uidvalidity, target_uidnext,
	target_uid, status, error) VALUES ` + strings.Repeat(row+", ", pairsPerStatement-1) + row
}

// pairArgs are p's values in the column order of the statements above.
func pairArgs(p Pair) []any {
	return []any{p.User, p.SourceFolder, p.SourceUIDValidity,
		p.SourceKey, p.SourceUID, p.Size, p.Hash, listArg(p.Flags), timeArg(p.InternalDate),
		p.TargetFolder, p.TargetUIDValidity, p.TargetUIDNext, p.TargetUID, p.Status, p.Error}
}

// putOutcomeSQL sets only what an APPEND decides, so that the index by
// source UID is left alone.
const putOutcomeSQL = `UPDATE pairs SET size = ?, hash = ?, target_uidvalidity = ?, target_uid = ?,
	status = ?, error = ?
	WHERE source_user = ? AND source_folder = ? AND source_uidvalidity = ? AND source_key = ?`

const deletePairSQL = `DELETE FROM pairs
	WHERE source_user = ? AND source_folder = ? AND source_uidvalidity = ? AND source_key = ?`

const putCursorSQL = `INSERT OR REPLACE INTO cursors (source_user, source_folder, source_uidvalidity,
	target_folder, target_uidvalidity, uidnext, highest_modseq, messages, synced_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

const pairColumns = `source_user, source_folder, source_uidvalidity, source_key, source_uid, size,
	hash, flags, internal_date, target_folder, target_uidvalidity, target_uidnext, target_uid,
	status, error`

func scanPair(r scanner) (Pair, error) {
	var p Pair
	err := r.Scan(&p.User, &p.SourceFolder, &p.SourceUIDValidity, &p.SourceKey, &p.SourceUID,
		&p.Size, &p.Hash, listCol{&p.Flags}, timeCol{&p.InternalDate}, &p.TargetFolder,
		&p.TargetUIDValidity, &p.TargetUIDNext, &p.TargetUID, &p.Status, &p.Error)
	return p, err
}

// Pairs lists the pairs of one source folder of user, of every UIDVALIDITY
// generation, ordered by source UID and then key.
func (s *Store) Pairs(user, sourceFolder string) ([]Pair, error) {
	ps, err := queryAll(s.db, scanPair, "SELECT "+pairColumns+` FROM pairs
		WHERE source_user = ? AND source_folder = ? ORDER BY source_uid, source_key`, user, sourceFolder)
	if err != nil {
		return nil, fmt.Errorf("list pairs of user %q folder %q: %w", user, sourceFolder, err)
	}
	return ps, nil
}

// UserPairs lists every pair of user, ordered by source folder, UIDVALIDITY,
// UID and key.
func (s *Store) UserPairs(user string) ([]Pair, error) {
	ps, err := queryAll(s.db, scanPair, "SELECT "+pairColumns+` FROM pairs
		WHERE source_user = ? ORDER BY source_folder, source_uidvalidity, source_uid, source_key`, user)
	if err != nil {
		return nil, fmt.Errorf("list pairs of user %q: %w", user, err)
	}
	return ps, nil
}

// FailedPairs lists the pairs whose status is Failed, of user or, when user
// is "", of every user; ordered by user, source folder, UIDVALIDITY, UID and
// key.
func (s *Store) FailedPairs(user string) ([]Pair, error) {
	ps, err := queryAll(s.db, scanPair, "SELECT "+pairColumns+` FROM pairs
		WHERE status = 'failed' AND (?1 = '' OR source_user = ?1)
		ORDER BY source_user, source_folder, source_uidvalidity, source_uid, source_key`, user)
	if err != nil {
		return nil, fmt.Errorf("list failed pairs: %w", err)
	}
	return ps, nil
}

// Counts sums up the pairs of user or, when user is "", of every user.
func (s *Store) Counts(user string) (Counts, error) {
	var c Counts
	// Two forms, so that one user's counts read only that user's rows.
	where, args := "", []any{}
	if user != "" {
		where, args = "WHERE source_user = ?", []any{user}
	}
	err := s.db.QueryRow(`SELECT
		coalesce(sum(status = 'copied'), 0), coalesce(sum(status = 'failed'), 0),
		coalesce(sum(status = 'intent'), 0), coalesce(sum(CASE WHEN status = 'copied' THEN size END), 0)
		FROM pairs `+where, args...).
		Scan(&c.Copied, &c.Failed, &c.Intent, &c.CopiedBytes)
	if err != nil {
		return Counts{}, fmt.Errorf("count pairs: %w", err)
	}
	return c, nil
}

// Cursors lists the sync cursors of user, ordered by source folder.
func (s *Store) Cursors(user string) ([]Cursor, error) {
	cs, err := queryAll(s.db, func(r scanner) (Cursor, error) {
		var c Cursor
		err := r.Scan(&c.User, &c.SourceFolder, &c.SourceUIDValidity, &c.TargetFolder,
			&c.TargetUIDValidity, &c.UIDNext, u64Col{&c.HighestModSeq}, &c.Messages, timeCol{&c.SyncedAt})
		return c, err
	}, `SELECT source_user, source_folder, source_uidvalidity, target_folder, target_uidvalidity,
		uidnext, highest_modseq, messages, synced_at FROM cursors WHERE source_user = ?
		ORDER BY source_folder`, user)
	if err != nil {
		return nil, fmt.Errorf("list cursors of user %q: %w", user, err)
	}
	return cs, nil
}

// PutCursor records the cursor of (c.User, c.SourceFolder), replacing the
// previous one.
func (s *Store) PutCursor(c Cursor) error {
	return putCursor(s.putCursor, c)
}

// DeleteCursor forgets the cursor of one source folder of user; deleting a
// cursor that does not exist is not an error.
func (s *Store) DeleteCursor(user, sourceFolder string) error {
	if _, err := s.db.Exec("DELETE FROM cursors WHERE source_user = ? AND source_folder = ?",
		user, sourceFolder); err != nil {
		return fmt.Errorf("delete cursor of user %q folder %q: %w", user, sourceFolder, err)
	}
	return nil
}

func putCursor(st *sql.Stmt, c Cursor) error {
	if _, err := st.Exec(c.User, c.SourceFolder, c.SourceUIDValidity, c.TargetFolder,
		c.TargetUIDValidity, c.UIDNext, u64Arg(c.HighestModSeq), c.Messages, timeArg(c.SyncedAt)); err != nil {
		return fmt.Errorf("put cursor of user %q folder %q: %w", c.User, c.SourceFolder, err)
	}
	return nil
}

// Tx is one write transaction of the hot path; see Store.Write. It is only
// valid inside the function passed to Write.
type Tx struct {
	s  *Store
	tx *sql.Tx

	// The store's prepared statements bound to tx, made on first use.
	putPair, putOutcome, putPairs, putOutcomes, deletePair, putCursor *sql.Stmt
}

// Write runs fn in one transaction (BEGIN IMMEDIATE): if fn returns nil the
// transaction commits, otherwise (or if fn panics) it rolls back and nothing
// fn wrote remains. fn must not use the Store itself, only tx.
func (s *Store) Write(fn func(tx *Tx) error) error {
	stx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("begin state transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			stx.Rollback() // fn failed or panicked
		}
	}()
	if err := fn(&Tx{s: s, tx: stx}); err != nil {
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit state transaction: %w", err)
	}
	committed = true
	return nil
}

// stmt binds a store statement to the transaction, once.
func (tx *Tx) stmt(cache **sql.Stmt, st *sql.Stmt) *sql.Stmt {
	if *cache == nil {
		*cache = tx.tx.Stmt(st)
	}
	return *cache
}

// PutPair records p, replacing the pair with the same user, source folder,
// UIDVALIDITY and key if there is one.
func (tx *Tx) PutPair(p Pair) error {
	switch p.Status {
	case Intent, Copied, Failed:
	default:
		return fmt.Errorf("put pair of user %q folder %q key %q: unknown status %q",
			p.User, p.SourceFolder, p.SourceKey, p.Status)
	}
	_, err := tx.stmt(&tx.putPair, tx.s.putPair).Exec(pairArgs(p)...)
	if err != nil {
		return fmt.Errorf("put pair of user %q folder %q key %q: %w", p.User, p.SourceFolder, p.SourceKey, err)
	}
	return nil
}

// PutOutcome records the outcome of p's APPEND (status, size, hash, target
// UIDVALIDITY and UID, error) on the pair its intent left, which is cheaper
// than PutPair; without such a pair it records p whole, as PutPair does.
func (tx *Tx) PutOutcome(p Pair) error {
	if p.Status != Copied && p.Status != Failed {
		return fmt.Errorf("put outcome of user %q folder %q key %q: status %q is not an outcome",
			p.User, p.SourceFolder, p.SourceKey, p.Status)
	}
	res, err := tx.stmt(&tx.putOutcome, tx.s.putOutcome).Exec(p.Size, p.Hash, p.TargetUIDValidity,
		p.TargetUID, p.Status, p.Error, p.User, p.SourceFolder, p.SourceUIDValidity, p.SourceKey)
	if err != nil {
		return fmt.Errorf("put outcome of user %q folder %q key %q: %w", p.User, p.SourceFolder, p.SourceKey, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return tx.PutPair(p)
	}
	return nil
}

// PutPairs records ps in one transaction (see PutPair); none, none.
func (s *Store) PutPairs(ps []Pair) error {
	return s.putMany(ps, false)
}

// PutOutcomes records the outcomes ps in one transaction (see
// PutOutcome); none, none.
func (s *Store) PutOutcomes(ps []Pair) error {
	return s.putMany(ps, true)
}

// putMany writes ps in one transaction, pairsPerStatement at a time, as
// PutPair does, or as PutOutcome does when outcomes is set.
func (s *Store) putMany(ps []Pair, outcomes bool) error {
	if len(ps) == 0 {
		return nil
	}
	what := "pair"
	if outcomes {
		what = "outcome"
	}
	for _, p := range ps {
		switch {
		case p.Status == Copied || p.Status == Failed:
		case p.Status == Intent && !outcomes:
		default:
			return fmt.Errorf("put %s of user %q folder %q key %q: status %q is not one", what, p.User, p.SourceFolder, p.SourceKey, p.Status)
		}
	}
	return s.Write(func(tx *Tx) error {
		cache, st, one := &tx.putPairs, s.putPairs, tx.PutPair
		if outcomes {
			cache, st, one = &tx.putOutcomes, s.putOutcomes, tx.PutOutcome
		}
		for ; len(ps) >= pairsPerStatement; ps = ps[pairsPerStatement:] {
			args := make([]any, 0, pairsPerStatement*15)
			for _, p := range ps[:pairsPerStatement] {
				args = append(args, pairArgs(p)...)
			}
			if _, err := tx.stmt(cache, st).Exec(args...); err != nil {
				return fmt.Errorf("put %d %ss of user %q folder %q from key %q on: %w", pairsPerStatement, what, ps[0].User, ps[0].SourceFolder, ps[0].SourceKey, err)
			}
		}
		for _, p := range ps {
			if err := one(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeletePair forgets one pair; deleting a pair that does not exist is not an
// error.
func (tx *Tx) DeletePair(user, sourceFolder string, sourceUIDValidity uint32, sourceKey string) error {
	_, err := tx.stmt(&tx.deletePair, tx.s.deletePair).Exec(user, sourceFolder, sourceUIDValidity, sourceKey)
	if err != nil {
		return fmt.Errorf("delete pair of user %q folder %q key %q: %w", user, sourceFolder, sourceKey, err)
	}
	return nil
}

// PutCursor records the cursor of (c.User, c.SourceFolder) within the
// transaction, replacing the previous one.
func (tx *Tx) PutCursor(c Cursor) error {
	return putCursor(tx.stmt(&tx.putCursor, tx.s.putCursor), c)
}

// PendingFolders counts, per source folder of user, the pairs that still
// need work: intents of an interrupted run and messages the target refused.
// Folders without any are absent.
func (s *Store) PendingFolders(user string) (map[string]int, error) {
	type row struct {
		folder string
		n      int
	}
	rows, err := queryAll(s.db, func(r scanner) (row, error) {
		var x row
		err := r.Scan(&x.folder, &x.n)
		return x, err
	}, `SELECT source_folder, count(*) FROM pairs INDEXED BY pairs_pending
		WHERE source_user = ? AND status IN ('intent', 'failed') GROUP BY source_folder`, user)
	if err != nil {
		return nil, fmt.Errorf("count pending pairs of user %q: %w", user, err)
	}
	out := make(map[string]int, len(rows))
	for _, x := range rows {
		out[x.folder] = x.n
	}
	return out, nil
}

// PairsByKey returns the pairs of one source folder generation whose keys
// are among keys, in no particular order. Keys without a pair are absent.
func (s *Store) PairsByKey(user, sourceFolder string, uidValidity uint32, keys []string) ([]Pair, error) {
	const chunk = 500
	var out []Pair
	for len(keys) > 0 {
		n := min(chunk, len(keys))
		args := make([]any, 0, n+3)
		args = append(args, user, sourceFolder, uidValidity)
		marks := make([]byte, 0, 2*n)
		for i, k := range keys[:n] {
			if i > 0 {
				marks = append(marks, ',')
			}
			marks = append(marks, '?')
			args = append(args, k)
		}
		keys = keys[n:]
		ps, err := queryAll(s.db, scanPair, "SELECT "+pairColumns+` FROM pairs
			WHERE source_user = ? AND source_folder = ? AND source_uidvalidity = ? AND source_key IN (`+string(marks)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("look up pairs of user %q folder %q: %w", user, sourceFolder, err)
		}
		out = append(out, ps...)
	}
	return out, nil
}

// PairKeys lists the keys of the pairs of one source folder generation,
// whatever their status.
func (s *Store) PairKeys(user, sourceFolder string, uidValidity uint32) ([]string, error) {
	keys, err := queryAll(s.db, func(r scanner) (string, error) {
		var k string
		err := r.Scan(&k)
		return k, err
	}, `SELECT source_key FROM pairs WHERE source_user = ? AND source_folder = ? AND source_uidvalidity = ?`,
		user, sourceFolder, uidValidity)
	if err != nil {
		return nil, fmt.Errorf("list pair keys of user %q folder %q: %w", user, sourceFolder, err)
	}
	return keys, nil
}

// MoveFolder records that user's source folder from is now called to and
// its copies live in target folder target: its pairs and cursor move along.
func (s *Store) MoveFolder(user, from, to, target string) error {
	return s.inTx(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE pairs SET source_folder = ?, target_folder = ?
			WHERE source_user = ? AND source_folder = ?`, to, target, user, from); err != nil {
			return fmt.Errorf("move pairs of user %q from folder %q to %q: %w", user, from, to, err)
		}
		if _, err := tx.Exec(`UPDATE cursors SET source_folder = ?, target_folder = ?
			WHERE source_user = ? AND source_folder = ?`, to, target, user, from); err != nil {
			return fmt.Errorf("move cursor of user %q from folder %q to %q: %w", user, from, to, err)
		}
		return nil
	})
}

// ForgetFolder deletes the pairs and the cursor of one source folder of
// user.
func (s *Store) ForgetFolder(user, folder string) error {
	return s.inTx(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM pairs WHERE source_user = ? AND source_folder = ?`, user, folder); err != nil {
			return fmt.Errorf("forget pairs of user %q folder %q: %w", user, folder, err)
		}
		if _, err := tx.Exec(`DELETE FROM cursors WHERE source_user = ? AND source_folder = ?`, user, folder); err != nil {
			return fmt.Errorf("forget cursor of user %q folder %q: %w", user, folder, err)
		}
		return nil
	})
}
