package state

import (
	"database/sql"
	"encoding/json"
	"fmt"
)

// forgetTables are the tables that hold a user's own rows, keyed by
// source_user. Approvals and test runs are not among them: they are the
// record of what was signed and measured, and name the users as they were.
var forgetTables = []string{"pairs", "pst_items", "pim_items", "cursors", "folder_failures", "problems", "cutovers", "verified_folders", "verified_messages", "verifications", "account_folders", "accounts", "users"}

// ForgetUser deletes everything recorded about sourceUser: its progress,
// inventory, problems, per-message pairs, sync cursors, skipped folders
// and cutover record, in one transaction. Approvals and test runs that
// name the user are kept as they were recorded. ErrNotFound if the state
// holds nothing about the user.
func (s *Store) ForgetUser(sourceUser string) error {
	err := s.inTx(func(tx *sql.Tx) error {
		var n int64
		for _, table := range forgetTables {
			res, err := tx.Exec("DELETE FROM "+table+" WHERE source_user = ?", sourceUser)
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += m
		}
		if n == 0 {
			return fmt.Errorf("user %q: %w", sourceUser, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("forget user: %w", err)
	}
	return nil
}

// Tally is a number of messages and their bytes.
type Tally struct {
	Messages int64
	Bytes    int64
}

// FolderMark is a source folder as an inventory saw it: the messages it
// held then are those of its UIDVALIDITY with a UID below its UIDNEXT.
type FolderMark struct {
	Folder      string
	UIDValidity uint32
	UIDNext     uint32 // 0: unknown, every message of the UIDVALIDITY counts
}

// CopiedWithin counts user's copied messages that the marks cover, per
// marked folder: of the folder and its UIDVALIDITY, with a UID below the
// mark's UIDNEXT (or no UID, which cannot be told apart). Copied messages
// it does not count arrived after the marks were taken, or are of folders
// not marked. A marked folder with nothing copied is absent.
func (s *Store) CopiedWithin(user string, marks []FolderMark) (map[string]Tally, error) {
	out := map[string]Tally{}
	if len(marks) == 0 {
		return out, nil
	}
	type mark struct {
		F string `json:"f"`
		V uint32 `json:"v"`
		N uint32 `json:"n"`
	}
	ms := make([]mark, len(marks))
	for i, m := range marks {
		ms[i] = mark{m.Folder, m.UIDValidity, m.UIDNext}
	}
	js, err := json.Marshal(ms)
	if err != nil {
		return nil, err
	}
	type row struct {
		folder string
		t      Tally
	}
	rows, err := queryAll(s.db, func(r scanner) (row, error) {
		var x row
		err := r.Scan(&x.folder, &x.t.Messages, &x.t.Bytes)
		return x, err
	}, `WITH marks AS (
			SELECT json_extract(value, '$.f') AS folder, json_extract(value, '$.v') AS validity,
				json_extract(value, '$.n') AS next FROM json_each(?))
		SELECT p.source_folder, count(*), coalesce(sum(p.size), 0) FROM marks m JOIN pairs p
			ON p.source_user = ? AND p.source_folder = m.folder AND p.source_uidvalidity = m.validity
		WHERE p.status = 'copied' AND (m.next = 0 OR p.source_uid = 0 OR p.source_uid < m.next)
		GROUP BY p.source_folder`, string(js), user)
	if err != nil {
		return nil, fmt.Errorf("count copied messages of user %q: %w", user, err)
	}
	for _, x := range rows {
		out[x.folder] = x.t
	}
	return out, nil
}
