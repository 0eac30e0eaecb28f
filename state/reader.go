package state

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// readerParams are the connection settings of a reader: the file is opened
// read-only and the connection refuses writes, so that nothing a reader
// does can change the state, its clean-close stamp or its lock file. In
// WAL mode a reader sees every transaction committed before each of its
// queries and never waits for the writer.
const readerParams = "mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)"

// OpenReader opens the state file at path for reading only, whether or not
// a writer (OpenAs) runs: it neither takes nor heeds the writers' lock and
// never writes the file, its write-ahead log's content or the lock file.
// Each query sees what the writer has committed so far. A Store opened so
// fails every write.
//
// A file that is missing, empty or of an older schema is first brought up
// to date through a short writer's opening when no writer runs (so a new
// project's first `status` works as before); while a writer runs it is
// already up to date, or that writer is an older mailshift and OpenReader
// fails with ErrLocked. A file that is not a mailshift state or is damaged
// yields ErrCorrupt, one from a newer mailshift ErrNewerVersion. Its pages
// are checked as a writer's opening checks them (up to quickCheckLimit,
// unless the last writer closed it cleanly and it is unchanged since, or a
// writer runs now: that one checked them at its opening),
// through the read-only connection, on the snapshot a running writer has
// committed; the clean-close stamp is read, never used up.
func OpenReader(path string) (*Store, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	for attempt := 0; ; attempt++ {
		current, err := readerCheck(path, abs, ms)
		if err != nil {
			return nil, err
		}
		if current {
			break
		}
		if attempt > 0 {
			return nil, fmt.Errorf("state file %s: its schema is still not up to date after migrating it", path)
		}
		w, err := Open(path)
		if err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open("sqlite", fileDSN(abs, readerParams))
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s := &Store{db: newCachedDB(db), path: path, readOnly: true}
	if err := s.prepare(); err != nil {
		s.closeStmts()
		db.Close()
		return nil, dbError(path, "open for reading", err)
	}
	return s, nil
}

// readerCheck looks at the file at path (absolute: abs) without creating
// or changing anything, and tells whether it is a mailshift state with
// every migration of ms applied. Missing or empty, it is not current.
func readerCheck(path, abs string, ms []migration) (current bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open state file %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return false, nil // a fresh one, or a truncated one: the writer's opening tells
	}
	lock, _ := os.ReadFile(path + ".lock")
	if _, err := checkHeader(path, len(lock) > 0); err != nil {
		return false, err
	}
	db, err := sql.Open("sqlite", fileDSN(abs, readerParams))
	if err != nil {
		return false, fmt.Errorf("open state file %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	pages := !cleanSince(path, string(lock)) && !liveWriter(string(lock))
	if err := checkDatabase(db, path, ms, pages); err != nil {
		return false, err
	}
	var hasMigrations int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'migrations'`).Scan(&hasMigrations); err != nil {
		return false, dbError(path, "check", err)
	}
	if hasMigrations == 0 {
		return false, nil
	}
	applied, err := appliedMigrations(db)
	if err != nil {
		return false, dbError(path, "check", err)
	}
	return len(applied) == len(ms), nil
}

// liveWriter tells whether the lock file's content lock names a writer
// that runs now on this host: that writer checked the file's pages at its
// opening (or found it closed cleanly), so a reader need not read every
// page again. Checking them took most of a `status` of a large project
// while a step ran. A writer that crashed is not running, and the pages
// are checked.
func liveWriter(lock string) bool {
	h, ok := readHolder(lock)
	if !ok {
		return false
	}
	if host, err := os.Hostname(); err != nil || host != h.Host {
		return false
	}
	p, err := os.FindProcess(h.PID)
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}

// ReadOnly tells whether the store was opened by OpenReader or
// OpenRecorder: its progress, inventory and pairs cannot be written.
func (s *Store) ReadOnly() bool { return s.readOnly }

// recorderParams are the settings of a recorder's writing connection: no
// change of journal mode (the file is in WAL mode since its first
// writer), and a write waits for the writer's transaction, which is short,
// rather than failing.
const recorderParams = "_pragma=foreign_keys(1)&_pragma=busy_timeout(15000)&_txlock=immediate"

// OpenRecorder opens the state file at path as OpenReader does, whether or
// not a writer runs, and beside that a connection that writes only what
// verification records (the verified_* tables and the latest verification
// per user: rows no step but verification writes, each written in a
// transaction of its own), so that verify records what it found without
// taking the writers' lock: a bulk, sync or cutover can start while it
// runs. SQLite serialises the two writers' transactions; the writers'
// clean-close stamp no longer matches after a recorder wrote, so the next
// writer's opening checks the file's pages, as after a crash.
func OpenRecorder(path string) (*Store, error) {
	s, err := OpenReader(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err == nil {
		s.rec, err = sql.Open("sqlite", fileDSN(abs, recorderParams))
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open state file %s for recording: %w", path, err)
	}
	s.rec.SetMaxOpenConns(1)
	return s, nil
}

// RecordsVerifications tells whether verification can record what it
// found through this store: a writer's, or one opened by OpenRecorder.
func (s *Store) RecordsVerifications() bool { return !s.readOnly || s.rec != nil }

// recordDB is the connection verification records go through.
func (s *Store) recordDB() *sql.DB {
	if s.rec != nil {
		return s.rec
	}
	return s.db.DB
}
