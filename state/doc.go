// Package state owns mailshift's state file: one SQLite database (by default
// mailshift.db) holding everything the lifecycle learns or does — users and
// their progress, the collected inventory and problems, approvals, test runs,
// the per-message pairs that make copying exactly-once, sync cursors,
// cutover records, and for PST files found by a scan, the files with their
// owners and retiring and the pre-ingestion decision on every item.
//
// It is the only package that speaks SQL. The schema is a sequence of
// migrations embedded in the binary (migrations/*.sql) and applied in order
// when a file is opened; the names applied are recorded in the file's
// migrations table. A state file is written by one mailshift run at a time:
// OpenAs (and Open) takes the writers' lock, records the run's command, pid,
// host and start time in it, and fails with ErrLocked, naming the run that
// holds it, while another writer runs. OpenReader takes no lock and never
// writes: readers (status, report, verify) see what the writer has
// committed (SQLite WAL) while it runs, and never wait for it. A file that is not a mailshift state or is damaged is refused with
// ErrCorrupt and never re-created; a file from a newer mailshift is refused
// with ErrNewerVersion.
//
// Times are stored in UTC with nanosecond precision and read back in UTC; the
// zero time reads back as the zero time. Empty lists (flags, users,
// capabilities, folders) read back as nil.
//
// A Store is safe for concurrent use. All access goes through a single
// connection, so a function passed to Write must use only its Tx, never the
// Store, or it waits forever.
package state
