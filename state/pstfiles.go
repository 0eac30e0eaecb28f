package state

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// PSTFile is one PST file a pstscan: source found, with what collect
// learnt of it, its owner and how it was retired.
type PSTFile struct {
	Path   string
	Record PSTRecord
	// Error is why the file could not be read (damaged, unreadable); ""
	// if it could.
	Error string
	// Owner is the source user the file is assigned to, "" if none; Rule
	// names the rule that assigned it ("owners file", "path /home/{user}/**",
	// "file_owner uid", "store_name", "addresses"), or why none did.
	Owner string
	Rule  string
	// Candidates are the users the rules named when they disagreed.
	Candidates []string
	SeenAt     time.Time
	// RetireState is "" (in place), RetireRetiring (the intent is
	// recorded: the file may or may not have been moved or marked yet)
	// or RetireDone.
	RetireState string
	RetireHow   string // "move" or "marker"
	RetiredTo   string // the new path, or the marker's path
	RetiredAt   time.Time
}

// The states of retiring a PST file.
const (
	RetireRetiring = "retiring"
	RetireDone     = "retired"
)

// PSTRecord is what collect learnt of a PST file.
type PSTRecord struct {
	Size        int64     `json:"size"`
	ModTime     time.Time `json:"mod_time"`
	AccessTime  time.Time `json:"access_time"`
	ChangeTime  time.Time `json:"change_time"`
	OwnerUID    string    `json:"owner_uid,omitempty"`
	OwnerName   string    `json:"owner_name,omitempty"`
	Format      string    `json:"format,omitempty"`   // ANSI, Unicode, Unicode 4K
	Encoding    string    `json:"encoding,omitempty"` // none, permute, cyclic
	HasPassword bool      `json:"has_password"`
	StoreName   string    `json:"store_name,omitempty"`
	// Classes counts the items by message class ("IPM.Note": 120).
	Classes map[string]int `json:"classes,omitempty"`
	// First and Last are the dates of the oldest and newest mail.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Inbox and Sent are the addresses seen most in the From, To and Cc
	// of the Inbox and of the Sent folder, most first: the owner's
	// address is usually first in both.
	Inbox []AddressCount `json:"inbox,omitempty"`
	Sent  []AddressCount `json:"sent,omitempty"`
}

// AddressCount is an e-mail address and how often it occurs.
type AddressCount struct {
	Address string `json:"address"`
	Count   int    `json:"count"`
}

// PSTItem is the pre-ingestion decision on one mail item of a user's PST
// files.
type PSTItem struct {
	User     string
	Folder   string // the source folder, as the user's source names it
	Key      string // the source's key for the item in Folder
	Path     string // the PST file it is in
	Identity string // its content identity
	Decision string // PSTKeep, PSTDuplicate or PSTFiltered
	Reason   string // why it was left out
	DupOf    string // "folder key" of the item it duplicates, "" for one the target held
}

// The decisions on a PST item.
const (
	PSTKeep      = "keep"
	PSTDuplicate = "duplicate"
	PSTFiltered  = "filtered"
)

const pstFileColumns = `path, record, error, owner, rule, candidates, seen_at, retire_state,
	retire_how, retired_to, retired_at`

func scanPSTFile(r scanner) (PSTFile, error) {
	var f PSTFile
	var rec string
	err := r.Scan(&f.Path, &rec, &f.Error, &f.Owner, &f.Rule, listCol{&f.Candidates}, timeCol{&f.SeenAt},
		&f.RetireState, &f.RetireHow, &f.RetiredTo, timeCol{&f.RetiredAt})
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal([]byte(rec), &f.Record); err != nil {
		return f, fmt.Errorf("pst file %s: record: %w", f.Path, err)
	}
	return f, nil
}

// SavePSTFiles records what a scan found: every file of files is added or
// updated (its record, error, owner, rule and candidates; how it was
// retired is kept), and files recorded before that the scan did not find
// are forgotten unless they were retired (a file moved away is not found
// again).
func (s *Store) SavePSTFiles(files []PSTFile) error {
	return s.Write(func(tx *Tx) error {
		seen := map[string]bool{}
		for _, f := range files {
			rec, err := json.Marshal(f.Record)
			if err != nil {
				return err
			}
			_, err = tx.tx.Exec(`INSERT INTO pst_files (path, record, error, owner, rule, candidates, seen_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (path) DO UPDATE SET record = excluded.record, error = excluded.error,
				owner = excluded.owner, rule = excluded.rule, candidates = excluded.candidates,
				seen_at = excluded.seen_at`,
				f.Path, string(rec), f.Error, f.Owner, f.Rule, listArg(f.Candidates), timeArg(f.SeenAt))
			if err != nil {
				return fmt.Errorf("record PST file %s: %w", f.Path, err)
			}
			seen[f.Path] = true
		}
		old, err := queryAll(tx.tx, func(r scanner) (string, error) {
			var p string
			return p, r.Scan(&p)
		}, `SELECT path FROM pst_files WHERE retire_state = ''`)
		if err != nil {
			return err
		}
		for _, p := range old {
			if !seen[p] {
				if _, err := tx.tx.Exec(`DELETE FROM pst_files WHERE path = ?`, p); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// PSTFiles returns every PST file recorded, by path.
func (s *Store) PSTFiles() ([]PSTFile, error) {
	fs, err := queryAll(s.db, scanPSTFile, `SELECT `+pstFileColumns+` FROM pst_files ORDER BY path`)
	if err != nil {
		return nil, fmt.Errorf("read PST files: %w", err)
	}
	return fs, nil
}

// PSTFilesOf returns the PST files assigned to user that can be read, by
// path.
func (s *Store) PSTFilesOf(user string) ([]PSTFile, error) {
	fs, err := queryAll(s.db, scanPSTFile, `SELECT `+pstFileColumns+` FROM pst_files
		WHERE owner = ? AND error = '' ORDER BY path`, user)
	if err != nil {
		return nil, fmt.Errorf("read the PST files of %s: %w", user, err)
	}
	return fs, nil
}

// SetPSTRetire records how far retiring the PST file at path has got.
func (s *Store) SetPSTRetire(path, retireState, how, to string, at time.Time) error {
	res, err := s.db.Exec(`UPDATE pst_files SET retire_state = ?, retire_how = ?, retired_to = ?, retired_at = ?
		WHERE path = ?`, retireState, how, to, timeArg(at), path)
	if err != nil {
		return fmt.Errorf("record retiring PST file %s: %w", path, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("record retiring PST file %s: %w", path, ErrNotFound)
	}
	return nil
}

// PSTItems returns the decisions on user's PST items, by folder and key.
func (s *Store) PSTItems(user string) ([]PSTItem, error) {
	items, err := queryAll(s.db, func(r scanner) (PSTItem, error) {
		var it PSTItem
		err := r.Scan(&it.User, &it.Folder, &it.Key, &it.Path, &it.Identity, &it.Decision, &it.Reason, &it.DupOf)
		return it, err
	}, `SELECT source_user, source_folder, source_key, path, identity, decision, reason, dup_of
		FROM pst_items WHERE source_user = ? ORDER BY source_folder, source_key`, user)
	if err != nil {
		return nil, fmt.Errorf("read the PST items of %s: %w", user, err)
	}
	return items, nil
}

// ReplacePSTItems replaces the decisions on user's PST items with items,
// in one transaction.
func (s *Store) ReplacePSTItems(user string, items []PSTItem) error {
	return s.Write(func(tx *Tx) error {
		if _, err := tx.tx.Exec(`DELETE FROM pst_items WHERE source_user = ?`, user); err != nil {
			return fmt.Errorf("replace the PST items of %s: %w", user, err)
		}
		var st *sql.Stmt
		for _, it := range items {
			if st == nil {
				var err error
				st, err = tx.tx.Prepare(`INSERT INTO pst_items (source_user, source_folder, source_key, path,
					identity, decision, reason, dup_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
				if err != nil {
					return err
				}
				defer st.Close()
			}
			if _, err := st.Exec(user, it.Folder, it.Key, it.Path, it.Identity, it.Decision, it.Reason, it.DupOf); err != nil {
				return fmt.Errorf("record PST item %s %s of %s: %w", it.Folder, it.Key, user, err)
			}
		}
		return nil
	})
}
