package state

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// VerifiedFolder is a source folder as its last clean verification found
// it: both sides' counters as listed before the check, and the user's
// copies of the folder then. A later verification that finds the same
// counters (with a modification sequence on both sides, so that no flag
// changed either) and the same copies need not look at the folder's
// messages again.
type VerifiedFolder struct {
	User              string
	SourceFolder      string
	SourceUIDValidity uint32
	SourceUIDNext     uint32
	SourceMessages    uint32
	SourceModSeq      uint64 // 0 without CONDSTORE
	TargetFolder      string
	TargetUIDValidity uint32
	TargetUIDNext     uint32
	TargetMessages    uint32
	TargetModSeq      uint64 // 0 without CONDSTORE
	Tally             PairTally
	Extra             int64 // messages only on the target folder
	VerifiedAt        time.Time
}

// PairTally sums up the copies recorded of one source folder at one
// UIDVALIDITY: how many there are, and a fingerprint of where they are
// (their target UIDs and sizes summed), so that a change of the recorded
// copies shows even when their number stays the same.
type PairTally struct {
	Copied int64 // pairs with status Copied
	Other  int64 // intents and refusals
	Sum    int64
}

// VerifiedMessage is one message of a folder that verified clean, as its
// copy was found: where it is, its size, flags and internal date, and the
// hash of the bytes sent. ContentAt is when its content was last read and
// compared, zero if only its metadata was.
type VerifiedMessage struct {
	SourceKey         string
	TargetFolder      string
	TargetUIDValidity uint32
	TargetUID         uint32
	Size              int64
	Hash              string
	Flags             []string
	InternalDate      time.Time
	VerifiedAt        time.Time
	ContentAt         time.Time
}

// Verification is the last verification of one user.
type Verification struct {
	User        string
	Kind        string // "full" or "incremental"
	At          time.Time
	FullAt      time.Time // the last full verification; zero: never
	Sample      int64     // messages whose content was read
	Differences int64
}

// PairTallies tallies the copies of every source folder of user at the
// UIDVALIDITY each pair was recorded under, by source folder and
// UIDVALIDITY.
func (s *Store) PairTallies(user string) (map[string]map[uint32]PairTally, error) {
	rows, err := s.db.Query(`SELECT source_folder, source_uidvalidity,
		coalesce(sum(status = 'copied'), 0), coalesce(sum(status != 'copied'), 0),
		coalesce(sum(CASE WHEN status = 'copied' THEN target_uid + size END), 0)
		FROM pairs WHERE source_user = ? GROUP BY source_folder, source_uidvalidity`, user)
	if err != nil {
		return nil, fmt.Errorf("tally the copies of user %q: %w", user, err)
	}
	defer rows.Close()
	out := map[string]map[uint32]PairTally{}
	for rows.Next() {
		var folder string
		var v uint32
		var t PairTally
		if err := rows.Scan(&folder, &v, &t.Copied, &t.Other, &t.Sum); err != nil {
			return nil, fmt.Errorf("tally the copies of user %q: %w", user, err)
		}
		if out[folder] == nil {
			out[folder] = map[uint32]PairTally{}
		}
		out[folder][v] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tally the copies of user %q: %w", user, err)
	}
	return out, nil
}

// SamplePairs picks copied pairs of user at random: n of them when n > 0,
// otherwise each with probability perMillion/1e6 (none when both are 0).
func (s *Store) SamplePairs(user string, n int, perMillion int) ([]Pair, error) {
	var ps []Pair
	var err error
	switch {
	case n > 0:
		ps, err = queryAll(s.db, scanPair, "SELECT "+pairColumns+` FROM pairs
			WHERE source_user = ? AND status = 'copied' ORDER BY random() LIMIT ?`, user, n)
	case perMillion > 0:
		ps, err = queryAll(s.db, scanPair, "SELECT "+pairColumns+` FROM pairs
			WHERE source_user = ? AND status = 'copied' AND abs(random() % 1000000) < ?`, user, perMillion)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sample the copies of user %q: %w", user, err)
	}
	return ps, nil
}

const verifiedFolderColumns = `source_user, source_folder, source_uidvalidity, source_uidnext,
	source_messages, source_modseq, target_folder, target_uidvalidity, target_uidnext,
	target_messages, target_modseq, pairs, pairs_other, pairs_sum, extra, verified_at`

// VerifiedFolders returns the folders of user that verified clean, by
// source folder.
func (s *Store) VerifiedFolders(user string) (map[string]VerifiedFolder, error) {
	fs, err := queryAll(s.db, func(r scanner) (VerifiedFolder, error) {
		var f VerifiedFolder
		err := r.Scan(&f.User, &f.SourceFolder, &f.SourceUIDValidity, &f.SourceUIDNext, &f.SourceMessages,
			u64Col{&f.SourceModSeq}, &f.TargetFolder, &f.TargetUIDValidity, &f.TargetUIDNext, &f.TargetMessages,
			u64Col{&f.TargetModSeq}, &f.Tally.Copied, &f.Tally.Other, &f.Tally.Sum, &f.Extra, timeCol{&f.VerifiedAt})
		return f, err
	}, "SELECT "+verifiedFolderColumns+" FROM verified_folders WHERE source_user = ?", user)
	if err != nil {
		return nil, fmt.Errorf("read what was verified of user %q: %w", user, err)
	}
	out := make(map[string]VerifiedFolder, len(fs))
	for _, f := range fs {
		out[f.SourceFolder] = f
	}
	return out, nil
}

// VerifiedMessages returns the messages recorded with the clean
// verification of one source folder of user at UIDVALIDITY v, by source
// key.
func (s *Store) VerifiedMessages(user, folder string, v uint32) (map[string]VerifiedMessage, error) {
	ms, err := queryAll(s.db, func(r scanner) (VerifiedMessage, error) {
		var m VerifiedMessage
		err := r.Scan(&m.SourceKey, &m.TargetFolder, &m.TargetUIDValidity, &m.TargetUID, &m.Size, &m.Hash,
			listCol{&m.Flags}, timeCol{&m.InternalDate}, timeCol{&m.VerifiedAt}, timeCol{&m.ContentAt})
		return m, err
	}, `SELECT source_key, target_folder, target_uidvalidity, target_uid, size, hash, flags,
		internal_date, verified_at, content_at FROM verified_messages
		WHERE source_user = ? AND source_folder = ? AND source_uidvalidity = ?`, user, folder, v)
	if err != nil {
		return nil, fmt.Errorf("read what was verified of user %q folder %q: %w", user, folder, err)
	}
	out := make(map[string]VerifiedMessage, len(ms))
	for _, m := range ms {
		out[m.SourceKey] = m
	}
	return out, nil
}

// PutVerifiedFolder records that a source folder verified clean: f, and
// msgs as every message of it (replacing what was recorded of the folder
// before), in one transaction. With msgs nil only the folder's row is
// replaced and its messages' rows are kept.
func (s *Store) PutVerifiedFolder(f VerifiedFolder, msgs []VerifiedMessage) error {
	err := inTx(s.recordDB(), func(tx *sql.Tx) error {
		if _, err := tx.Exec("INSERT OR REPLACE INTO verified_folders ("+verifiedFolderColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.User, f.SourceFolder, f.SourceUIDValidity, f.SourceUIDNext, f.SourceMessages, u64Arg(f.SourceModSeq),
			f.TargetFolder, f.TargetUIDValidity, f.TargetUIDNext, f.TargetMessages, u64Arg(f.TargetModSeq),
			f.Tally.Copied, f.Tally.Other, f.Tally.Sum, f.Extra, timeArg(f.VerifiedAt)); err != nil {
			return err
		}
		if msgs == nil {
			return nil
		}
		if _, err := tx.Exec("DELETE FROM verified_messages WHERE source_user = ? AND source_folder = ?",
			f.User, f.SourceFolder); err != nil {
			return err
		}
		st, err := tx.Prepare(`INSERT OR REPLACE INTO verified_messages (source_user, source_folder,
			source_uidvalidity, source_key, target_folder, target_uidvalidity, target_uid, size, hash,
			flags, internal_date, verified_at, content_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, m := range msgs {
			if _, err := st.Exec(f.User, f.SourceFolder, f.SourceUIDValidity, m.SourceKey, m.TargetFolder,
				m.TargetUIDValidity, m.TargetUID, m.Size, m.Hash, listArg(m.Flags), timeArg(m.InternalDate),
				timeArg(m.VerifiedAt), timeArg(m.ContentAt)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the verification of user %q folder %q: %w", f.User, f.SourceFolder, err)
	}
	return nil
}

// DropVerifiedFolder forgets what was verified of one source folder of
// user, so that the next verification looks at all of it again.
// Forgetting a folder never verified is not an error.
func (s *Store) DropVerifiedFolder(user, folder string) error {
	err := inTx(s.recordDB(), func(tx *sql.Tx) error {
		for _, table := range []string{"verified_folders", "verified_messages"} {
			if _, err := tx.Exec("DELETE FROM "+table+" WHERE source_user = ? AND source_folder = ?", user, folder); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("forget the verification of user %q folder %q: %w", user, folder, err)
	}
	return nil
}

// PutVerification records a user's latest verification. A full one also
// becomes the last full one; an incremental one keeps the last full one
// recorded before.
func (s *Store) PutVerification(v Verification) error {
	if v.Kind != "full" && v.Kind != "incremental" {
		return fmt.Errorf("record the verification of user %q: kind %q is not full or incremental", v.User, v.Kind)
	}
	full := any(nil)
	if v.Kind == "full" {
		full = timeArg(v.At)
	}
	if _, err := s.recordDB().Exec(`INSERT INTO verifications (source_user, kind, at, full_at, sample, differences)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source_user) DO UPDATE SET kind = excluded.kind,
		at = excluded.at, full_at = coalesce(excluded.full_at, verifications.full_at),
		sample = excluded.sample, differences = excluded.differences`,
		v.User, v.Kind, timeArg(v.At), full, v.Sample, v.Differences); err != nil {
		return fmt.Errorf("record the verification of user %q: %w", v.User, err)
	}
	return nil
}

// LastVerification returns the latest verification of user, and false if
// the user was never verified.
func (s *Store) LastVerification(user string) (Verification, bool, error) {
	v := Verification{User: user}
	err := s.db.QueryRow(`SELECT kind, at, full_at, sample, differences FROM verifications WHERE source_user = ?`, user).
		Scan(&v.Kind, timeCol{&v.At}, timeCol{&v.FullAt}, &v.Sample, &v.Differences)
	if errors.Is(err, sql.ErrNoRows) {
		return Verification{User: user}, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("read the last verification of user %q: %w", user, err)
	}
	return v, true, nil
}
