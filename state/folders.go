package state

import (
	"fmt"
	"time"
)

// FolderFailure is a folder a pass of the copy engine skipped, and why.
// It stays recorded until a later pass copies the folder.
type FolderFailure struct {
	User     string // source user
	Folder   string // source folder
	Reason   string
	FailedAt time.Time
}

// FailFolder records that a pass skipped a user's folder, replacing an
// earlier failure of it.
func (s *Store) FailFolder(user, folder, reason string, at time.Time) error {
	if _, err := s.db.Exec(`INSERT INTO folder_failures (source_user, source_folder, reason, failed_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (source_user, source_folder) DO UPDATE SET reason = excluded.reason, failed_at = excluded.failed_at`,
		user, folder, reason, timeArg(at)); err != nil {
		return fmt.Errorf("record failure of user %q folder %q: %w", user, folder, err)
	}
	return nil
}

// ClearFolder forgets a recorded failure of a user's folder; clearing a
// folder that has none is not an error.
func (s *Store) ClearFolder(user, folder string) error {
	if _, err := s.db.Exec(`DELETE FROM folder_failures WHERE source_user = ? AND source_folder = ?`, user, folder); err != nil {
		return fmt.Errorf("clear failure of user %q folder %q: %w", user, folder, err)
	}
	return nil
}

// FolderFailures lists the recorded folder failures of user, or of every
// user when user is "", by user and folder.
func (s *Store) FolderFailures(user string) ([]FolderFailure, error) {
	fs, err := queryAll(s.db, func(r scanner) (FolderFailure, error) {
		var f FolderFailure
		err := r.Scan(&f.User, &f.Folder, &f.Reason, timeCol{&f.FailedAt})
		return f, err
	}, `SELECT source_user, source_folder, reason, failed_at FROM folder_failures
		WHERE ? = '' OR source_user = ? ORDER BY source_user, source_folder`, user, user)
	if err != nil {
		return nil, fmt.Errorf("list folder failures: %w", err)
	}
	return fs, nil
}
