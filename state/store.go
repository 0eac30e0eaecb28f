package state

import (
	"bytes"
	"database/sql"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// applicationID marks a SQLite file as a mailshift state ("mshf"); the first
// migration sets it.
const applicationID = 0x6d736866

// sqliteHeader is how every SQLite database file begins.
const sqliteHeader = "SQLite format 3\x00"

// dsnParams are the connection settings of every state connection; the
// transaction mode makes Write's BEGIN an IMMEDIATE one.
const dsnParams = "_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
	"&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// errLockHeld is what lockFile reports when someone else holds the lock.
var errLockHeld = errors.New("lock held")

// Store is an open state: a SQLite database reached through one connection.
// Its methods are safe for concurrent use.
type Store struct {
	db   *cachedDB
	path string
	lock *os.File // nil for in-memory stores and readers

	readOnly bool // opened by OpenReader
	// rec writes what verification records, for a store opened by
	// OpenRecorder: everything else goes through db, read-only.
	rec *sql.DB

	putPair     *sql.Stmt
	putOutcome  *sql.Stmt
	putPairs    *sql.Stmt // pairsPerStatement at once
	putOutcomes *sql.Stmt
	deletePair  *sql.Stmt
	putCursor   *sql.Stmt

	closeOnce sync.Once
	closeErr  error
}

// migration is one embedded schema step.
type migration struct {
	name string // file name, e.g. "0001_init.sql"; recorded in the migrations table
	sql  string
}

// migrations lists the embedded schema steps in the order they apply.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	sort.Strings(names)
	ms := make([]migration, 0, len(names))
	for _, n := range names {
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("read embedded migrations: %w", err)
		}
		ms = append(ms, migration{name: strings.TrimPrefix(n, "migrations/"), sql: string(b)})
	}
	return ms, nil
}

// Open opens the state file at path for writing, creating it (mode 0600)
// if it does not exist, and brings its schema up to date. It is OpenAs
// for a run that does not say its command.
func Open(path string) (*Store, error) { return OpenAs(path, "") }

// OpenAs opens the state file at path for writing, for the run of
// command (e.g. "mailshift bulk --batch wave1"; never a secret), creating
// it (mode 0600) if it does not exist, and brings its schema up to date.
// It holds the writers' lock, an exclusive lock on path+".lock", until
// Close, and records there the command, its pid, host and start time;
// while another writer holds it, OpenAs fails with an error wrapping
// ErrLocked that names that run. Readers (OpenReader) neither take nor
// heed the lock. A file that is not a mailshift state or is damaged yields
// ErrCorrupt and is left as it is; a file written by a newer mailshift
// yields ErrNewerVersion.
func OpenAs(path, command string) (*Store, error) {
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state lock: %w", err)
	}
	if err := lockFile(lock); err != nil {
		if errors.Is(err, errLockHeld) {
			h, ok := readHolder(string(readLock(lock)))
			lock.Close()
			return nil, &fileError{kind: ErrLocked, msg: lockedMessage(path, h, ok)}
		}
		lock.Close()
		return nil, fmt.Errorf("lock state file %s: %w", path, err)
	}
	mark := readLock(lock)
	kept := len(mark) > 0
	s, err := openLocked(path, kept, cleanSince(path, string(mark)))
	if err != nil {
		unlockFile(lock)
		lock.Close()
		return nil, err
	}
	// From now on an empty file at path is a truncated state, not a new
	// one; and the stamp of a clean close, if there was one, is used up.
	// The run holding the lock is named for a second writer. At worst
	// (write failed) that goes unnoticed.
	writeLock(lock, stateMarker+newHolder(command).line())
	s.lock = lock
	return s, nil
}

// readLock reads the start of the lock file's content.
func readLock(lock *os.File) []byte {
	b := make([]byte, 4096)
	n, _ := lock.ReadAt(b, 0)
	return b[:n]
}

// writeLock replaces the lock file's content with content.
func writeLock(lock *os.File, content string) {
	lock.WriteAt([]byte(content), 0)
	lock.Truncate(int64(len(content)))
}

// stateMarker is what the lock file holds once a state was opened at its
// path. An empty state file beside a marked lock file was truncated. After
// a clean Close a second line follows: the stamp of the file as it was left
// (see cleanStamp); while a writer runs, the line naming it (see Holder).
const stateMarker = "mailshift state\n"

// cleanStamp describes the state file at path as a clean Close leaves it:
// its size and modification time, with no write-ahead log beside it. It is
// "" when the file cannot be described so.
func cleanStamp(path string) string {
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("closed cleanly: %d bytes, modified %d\n", fi.Size(), fi.ModTime().UnixNano())
}

// cleanSince tells whether the lock file's content lock says the state at
// path was closed cleanly and has not been changed since: then its pages
// need no integrity check at this opening.
func cleanSince(path, lock string) bool {
	stamp, ok := strings.CutPrefix(lock, stateMarker)
	return ok && stamp != "" && stamp == cleanStamp(path)
}

// openLocked does Open's work once the lock is held. kept tells whether a
// state was opened at path before (the lock file is marked); clean whether
// it was closed cleanly and left untouched since.
func openLocked(path string, kept, clean bool) (*Store, error) {
	existing, err := checkHeader(path, kept)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	if existing {
		// Look before touching: through a read-only connection, so that a
		// file refused here is left exactly as it was.
		if err := checkFile(path, fileDSN(abs, "mode=ro&_pragma=busy_timeout(5000)"), ms, !clean); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open("sqlite", fileDSN(abs, dsnParams))
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	s, err := newStore(db, path, ms)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// fileDSN is the driver's name for the file at the absolute path abs with
// the given parameters. A file: URI keeps any '?', '#' or '%' in the path
// from being taken for parameters.
func fileDSN(abs, params string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: params}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // Windows: file:///C:/...
	}
	return u.String()
}

// OpenMemory opens a private, empty, fully migrated in-memory store, for
// tests. It takes no lock; its content goes away on Close.
func OpenMemory() (*Store, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", ":memory:?"+dsnParams)
	if err != nil {
		return nil, fmt.Errorf("open in-memory state: %w", err)
	}
	s, err := newStore(db, ":memory:", ms)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// checkHeader creates the file at path if it is missing (mode 0600) and
// refuses a non-empty file that is not an SQLite database, and an empty
// one where a state was kept before (kept): that one was truncated. It
// reports whether the file has content. It never writes to an existing
// file.
func checkHeader(path string, kept bool) (existing bool, err error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("open state file %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && err == io.EOF && kept && statErr == nil:
		return false, corrupt(path, fmt.Sprintf("it is empty, but a state was kept there before (%s.lock says so): it was truncated", filepath.Base(path)))
	case n == 0 && err == io.EOF:
		return false, nil // new or empty: becomes a fresh state
	case err != nil && err != io.ErrUnexpectedEOF:
		return false, fmt.Errorf("read state file %s: %w", path, err)
	case n < len(sqliteHeader) || !bytes.Equal(head, []byte(sqliteHeader)):
		return false, corrupt(path, "it is not an SQLite database")
	}
	if why := truncated(f, path); why != "" {
		return false, corrupt(path, why)
	}
	return true, nil
}

// truncated looks at the size of an SQLite file f against its header and
// says what is wrong, "" if nothing is. SQLite reads the missing end of a
// file cut inside its last page as zeros, and no check notices; a file is
// always a whole number of pages, and as many as its header says. While a
// write-ahead log with content lies beside the file, the file may be
// behind and the log's replay mends it: nothing is said then.
func truncated(f *os.File, path string) string {
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return ""
	}
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	h := make([]byte, 100)
	if _, err := f.ReadAt(h, 0); err != nil {
		return "its header is cut short"
	}
	ps := int64(binary.BigEndian.Uint16(h[16:18]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps&(ps-1) != 0 {
		return "" // the integrity check explains a damaged header
	}
	size := fi.Size()
	if size%ps != 0 {
		return fmt.Sprintf("its size, %d bytes, is not a whole number of %d-byte pages: it was truncated", size, ps)
	}
	pages := int64(binary.BigEndian.Uint32(h[28:32]))
	valid := bytes.Equal(h[24:28], h[92:96]) && pages > 0
	if valid && pages*ps > size {
		return fmt.Sprintf("it holds %d of the %d pages its header counts: it was truncated", size/ps, pages)
	}
	return ""
}

// newStore prepares a freshly opened database: one connection, migrations,
// prepared statements.
func newStore(db *sql.DB, path string, ms []migration) (*Store, error) {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := migrate(db, path, ms); err != nil {
		return nil, err
	}
	s := &Store{db: newCachedDB(db), path: path}
	if err := s.prepare(); err != nil {
		s.closeStmts()
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return s, nil
}

// checkFile opens the existing database at path read-only through dsn and
// checks that it is sound, a mailshift state, and not newer than ms.
func checkFile(path, dsn string, ms []migration, pages bool) error {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("open state file %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return checkDatabase(db, path, ms, pages)
}

// quickCheckLimit is the largest state file whose every page PRAGMA
// quick_check reads at an opening (about a quarter of a second per
// 100 MB). Larger files, of migrations with millions of messages, are
// checked by their header, size and schema only, so that every command does
// not read the whole file first.
const quickCheckLimit = 256 << 20

// checkDatabase runs PRAGMA quick_check when pages is set (on files up to
// quickCheckLimit), makes sure a database with tables is a mailshift state
// and that it records no migration ms does not hold. A file that the last
// run closed cleanly and nothing changed since is not read page by page
// again (see cleanSince).
func checkDatabase(db *sql.DB, path string, ms []migration, pages bool) error {
	var pageCount, pageSize int64
	if err := db.QueryRow("PRAGMA page_count").Scan(&pageCount); err != nil {
		return dbError(path, "check", err)
	}
	if err := db.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
		return dbError(path, "check", err)
	}
	check := "PRAGMA quick_check"
	if !pages || pageCount*pageSize > quickCheckLimit {
		check = "SELECT 'ok'"
	}
	rows, err := db.Query(check)
	if err != nil {
		return dbError(path, "check", err)
	}
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return dbError(path, "check", err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Close(); err != nil {
		return dbError(path, "check", err)
	}
	if err := rows.Err(); err != nil {
		return dbError(path, "check", err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		if len(msgs) > 3 {
			msgs = append(msgs[:3], "...")
		}
		return corrupt(path, "the integrity check failed: "+strings.Join(msgs, "; "))
	}

	var tables, hasMigrations int
	err = db.QueryRow(`SELECT count(*), coalesce(sum(name = 'migrations'), 0) FROM sqlite_schema
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`).Scan(&tables, &hasMigrations)
	if err != nil {
		return dbError(path, "check", err)
	}
	if tables > 0 && hasMigrations == 0 {
		return corrupt(path, "it is an SQLite database but not a mailshift state (no migrations table)")
	}
	var appID int64
	if err := db.QueryRow("PRAGMA application_id").Scan(&appID); err != nil {
		return dbError(path, "check", err)
	}
	if appID != 0 && appID != applicationID {
		return corrupt(path, fmt.Sprintf("it is an SQLite database of another application (application_id %#x)", appID))
	}
	if hasMigrations == 0 {
		return nil // empty database: a fresh state
	}
	applied, err := appliedMigrations(db)
	if err != nil {
		return dbError(path, "check", err)
	}
	if name := unknownMigration(applied, ms); name != "" {
		return newer(path, name)
	}
	return nil
}

// migrate applies the migrations the database has not seen, each in its own
// transaction, and refuses a database that has seen one ms does not hold.
func migrate(db *sql.DB, path string, ms []migration) error {
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS migrations (
		name       TEXT PRIMARY KEY,
		applied_at INTEGER
	)`); err != nil {
		return dbError(path, "migrate", err)
	}
	applied, err := appliedMigrations(db)
	if err != nil {
		return dbError(path, "migrate", err)
	}
	if name := unknownMigration(applied, ms); name != "" {
		return newer(path, name)
	}
	done := make(map[string]bool, len(applied))
	for _, name := range applied {
		done[name] = true
	}
	for _, m := range ms {
		if done[m.name] {
			continue
		}
		if err := applyMigration(db, m, len(done)+1); err != nil {
			return dbError(path, "apply migration "+m.name, err)
		}
		done[m.name] = true
	}
	return nil
}

// appliedMigrations lists the names in the migrations table.
func appliedMigrations(db *sql.DB) ([]string, error) {
	rows, err := db.Query("SELECT name FROM migrations ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// applyMigration runs m and records it in one transaction; version becomes
// the file's user_version (informational: the migrations table rules).
func applyMigration(db *sql.DB, m migration, version int) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(m.sql); err != nil {
		return err
	}
	if _, err := tx.Exec("INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
		m.name, time.Now().UTC().UnixNano()); err != nil {
		return err
	}
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		return err
	}
	return tx.Commit()
}

// fileError is a refusal of the state file that callers recognise with
// errors.Is(err, kind) and a person reads as msg.
type fileError struct {
	kind error // ErrLocked, ErrCorrupt or ErrNewerVersion
	msg  string
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return e.kind }

// corrupt refuses the file at path as damaged or foreign, saying why.
func corrupt(path, why string) error {
	return &fileError{kind: ErrCorrupt, msg: fmt.Sprintf(
		"state file %s is damaged or not a mailshift state (%s); restore it from a backup, or move it away to start a new state",
		path, why)}
}

// newer refuses the file at path as written by a newer mailshift.
func newer(path, name string) error {
	return &fileError{kind: ErrNewerVersion, msg: fmt.Sprintf(
		"state file %s was written by a newer mailshift (it records schema migration %q, which this one does not know); use that newer mailshift",
		path, name)}
}

// unknownMigration returns the first of applied that ms does not hold, or "".
func unknownMigration(applied []string, ms []migration) string {
	known := make(map[string]bool, len(ms))
	for _, m := range ms {
		known[m.name] = true
	}
	for _, name := range applied {
		if !known[name] {
			return name
		}
	}
	return ""
}

// dbError wraps an error met while opening the file at path, turning
// SQLite's "damaged" and "not a database" codes into ErrCorrupt.
func dbError(path, doing string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return corrupt(path, err.Error())
		}
	}
	return fmt.Errorf("state file %s: %s: %w", path, doing, err)
}

// Path is the file the store was opened from (":memory:" for OpenMemory).
func (s *Store) Path() string { return s.path }

// Close closes the database and releases the lock. Closing twice is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeStmts()
		s.closeErr = s.db.Close()
		if s.rec != nil {
			if err := s.rec.Close(); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
		if s.lock != nil {
			content := stateMarker
			if s.closeErr == nil {
				content += cleanStamp(s.path)
			}
			writeLock(s.lock, content)
			unlockFile(s.lock)
			if err := s.lock.Close(); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("close state file %s: %w", s.path, s.closeErr)
		}
	})
	return s.closeErr
}

// prepare readies the statements of the hot path.
func (s *Store) prepare() error {
	var err error
	if s.putPair, err = s.db.Prepare(putPairSQL); err != nil {
		return err
	}
	if s.putOutcome, err = s.db.Prepare(putOutcomeSQL); err != nil {
		return err
	}
	if s.putPairs, err = s.db.Prepare(putPairsSQL); err != nil {
		return err
	}
	if s.putOutcomes, err = s.db.Prepare(putOutcomesSQL); err != nil {
		return err
	}
	if s.deletePair, err = s.db.Prepare(deletePairSQL); err != nil {
		return err
	}
	if s.putCursor, err = s.db.Prepare(putCursorSQL); err != nil {
		return err
	}
	return nil
}

// closeStmts closes whatever prepare prepared.
func (s *Store) closeStmts() {
	for _, st := range []*sql.Stmt{s.putPair, s.putOutcome, s.putPairs, s.putOutcomes, s.deletePair, s.putCursor} {
		if st != nil {
			st.Close()
		}
	}
}
