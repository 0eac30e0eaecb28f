package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ShardInfo says which shard of which approved plan a state file is: a
// shard state starts as a copy of the project state's rows for the shard's
// users (SeedShard) and is merged back into it (MergeShard).
type ShardInfo struct {
	Index     int    // 1 to Count
	Count     int    // how many shards the plan was split into
	PlanHash  string // of the approved plan the shard was split from
	SplitHash string // of that plan's assignment of users to Count shards
	Users     []string
	// SeededFrom is the project state the shard state was started from.
	SeededFrom string
	SeededAt   time.Time
	// Runs counts the steps run on the shard state (CountShardRun): of
	// two copies of one shard's state, the one with more runs is newer.
	Runs int64
}

// ErrStaleShard: merge was given a shard state older than what the
// project state already holds of it.
var ErrStaleShard = errors.New("the shard state is older than what the project state holds")

// Name is "I/N".
func (i ShardInfo) Name() string { return fmt.Sprintf("%d/%d", i.Index, i.Count) }

// MergedShard is a shard state merged into a project's state.
type MergedShard struct {
	ShardInfo
	Path     string // the shard state file as merge was given it
	MergedAt time.Time
}

// Shard returns the shard record of a shard state; ErrNotFound in a
// project's own state.
func (s *Store) Shard() (ShardInfo, error) {
	var i ShardInfo
	err := s.db.QueryRow(`SELECT shard_index, shard_count, plan_hash, split_hash, users, seeded_from, seeded_at, runs FROM shard WHERE id = 1`).
		Scan(&i.Index, &i.Count, &i.PlanHash, &i.SplitHash, listCol{&i.Users}, &i.SeededFrom, timeCol{&i.SeededAt}, &i.Runs)
	if errors.Is(err, sql.ErrNoRows) {
		return ShardInfo{}, fmt.Errorf("shard record of %s: %w", s.path, ErrNotFound)
	}
	if err != nil {
		return ShardInfo{}, fmt.Errorf("read the shard record of %s: %w", s.path, err)
	}
	return i, nil
}

// MergedShards lists the shard states merged into this state, by split
// and shard index.
func (s *Store) MergedShards() ([]MergedShard, error) {
	ms, err := queryAll(s.db, func(r scanner) (MergedShard, error) {
		var m MergedShard
		err := r.Scan(&m.SplitHash, &m.Index, &m.Count, &m.PlanHash, listCol{&m.Users}, &m.Path, timeCol{&m.MergedAt}, timeCol{&m.SeededAt}, &m.Runs)
		return m, err
	}, `SELECT split_hash, shard_index, shard_count, plan_hash, users, path, merged_at, seeded_at, runs FROM shard_merges ORDER BY merged_at, split_hash, shard_index`)
	if err != nil {
		return nil, fmt.Errorf("list merged shards of %s: %w", s.path, err)
	}
	return ms, nil
}

// CountShardRun records that a step runs on this shard state.
func (s *Store) CountShardRun() error {
	res, err := s.db.Exec("UPDATE shard SET runs = runs + 1 WHERE id = 1")
	if err != nil {
		return dbError(s.path, "count the shard's run", err)
	}
	return checkAffected(res, "shard record of "+s.path)
}

// Tables a shard state takes whole from the project state when it starts:
// the approvals (so that the gates see them) and the test runs (the test
// gate is the project's). Every other table keyed by source_user is taken
// for the shard's users only.
var seedWhole = map[string]bool{"approvals": true, "approval_users": true, "test_runs": true}

// Tables that belong to the project and are never copied between a
// project state and a shard state. samples are merged (seedSkip only).
var (
	seedSkip  = map[string]bool{"migrations": true, "shard": true, "shard_merges": true, "samples": true}
	mergeSkip = map[string]bool{"migrations": true, "shard": true, "shard_merges": true,
		"approvals": true, "approval_users": true, "test_runs": true,
		// collect is the project's step: a shard never changes what it found.
		"accounts": true, "account_folders": true, "problems": true}
)

// SeedShard starts this state, which must hold no user yet, as shard info
// of the project state at project: the project state's rows of info.Users
// (inventory, problems, progress, copied pairs), every approval and test
// run, and info itself. The project state is read, never written (it is
// brought up to date first, as OpenReader does, when no writer runs).
func (s *Store) SeedShard(project string, info ShardInfo) error {
	if s.readOnly {
		return fmt.Errorf("seed shard %s in %s: the state was opened for reading", info.Name(), s.path)
	}
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM users").Scan(&n); err != nil {
		return dbError(s.path, "seed shard", err)
	}
	if n > 0 {
		return fmt.Errorf("state file %s already holds %d users: a shard state starts empty; give the shard a new state file (--state)", s.path, n)
	}
	if err := checkOther(project); err != nil {
		return err
	}
	return s.withAttached(project, func(ctx context.Context, tx *sql.Tx) error {
		if err := fillShardUsers(ctx, tx, info.Users); err != nil {
			return err
		}
		err := copyTables(ctx, tx, func(table string, perUser bool) (copyMode, bool) {
			switch {
			case seedSkip[table]:
				return 0, false
			case seedWhole[table]:
				return copyAll, true
			}
			return copyUsers, perUser
		})
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO main.shard (id, shard_index, shard_count, plan_hash, split_hash, users, seeded_from, seeded_at)
			VALUES (1, ?, ?, ?, ?, ?, ?, ?)`, info.Index, info.Count, info.PlanHash, info.SplitHash, listArg(info.Users), info.SeededFrom, timeArg(info.SeededAt))
		return err
	})
}

// MergeShard brings the shard state at path into this state, a project's:
// for each of the shard's users, the rows of every table keyed by
// source_user (progress, copied pairs, cursors, cutovers, skipped
// folders...) replace this state's, except what collect and approve own
// (inventory, problems, approvals), which the shard only copied. Merging
// the same shard state again, or a newer one of the same shard, replaces
// the same rows: merge is idempotent. It returns the shard's record.
func (s *Store) MergeShard(path string, at time.Time) (ShardInfo, error) {
	if s.readOnly {
		return ShardInfo{}, fmt.Errorf("merge %s into %s: the state was opened for reading", path, s.path)
	}
	if _, err := s.Shard(); err == nil {
		return ShardInfo{}, fmt.Errorf("%s is itself a shard's state: merge shard states into the project state (--state PROJECT.db)", s.path)
	} else if !errors.Is(err, ErrNotFound) {
		return ShardInfo{}, err
	}
	if same, _ := samePath(path, s.path); same {
		return ShardInfo{}, fmt.Errorf("%s is the project state itself: name the shard state files to merge into it", path)
	}
	shard, err := s.checkShardFile(path)
	if err != nil {
		return ShardInfo{}, err
	}
	err = s.withAttached(path, func(ctx context.Context, tx *sql.Tx) error {
		if err := fillShardUsers(ctx, tx, shard.Users); err != nil {
			return err
		}
		err := copyTables(ctx, tx, func(table string, perUser bool) (copyMode, bool) {
			switch {
			case mergeSkip[table]:
				return 0, false
			case table == "samples":
				return copyNew, true
			}
			return replaceUsers, perUser
		})
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO main.shard_merges (split_hash, shard_index, shard_count, plan_hash, users, path, merged_at, seeded_at, runs)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, shard.SplitHash, shard.Index, shard.Count, shard.PlanHash, listArg(shard.Users), path, timeArg(at), timeArg(shard.SeededAt), shard.Runs)
		return err
	})
	return shard, err
}

// checkNotStale refuses, with ErrStaleShard, a shard state whose rows
// would put back older ones: one that does not know a step this state ran
// for its users, an older copy of a shard state merged before (fewer
// runs), or a shard state started before one of another split, merged
// already, that holds some of the same users (that one started from a
// project state that knew more, or copied them again).
func (s *Store) checkNotStale(path string, r *Store, shard ShardInfo) error {
	if err := s.checkNoStepSince(path, r, shard); err != nil {
		return err
	}
	merged, err := s.MergedShards()
	if err != nil {
		return err
	}
	for _, m := range merged {
		if m.SplitHash == shard.SplitHash && m.Index == shard.Index {
			if shard.Runs < m.Runs {
				return fmt.Errorf("%w: %s is shard %s after %d runs, but the copy merged on %s (%s) had %d: merge the newest copy of the shard's state",
					ErrStaleShard, path, shard.Name(), shard.Runs, m.MergedAt.UTC().Format(time.RFC3339), m.Path, m.Runs)
			}
			continue
		}
		if m.SplitHash != shard.SplitHash && shard.SeededAt.Before(m.SeededAt) {
			for _, u := range m.Users {
				if slices.Contains(shard.Users, u) {
					return fmt.Errorf("%w: %s is shard %s of an earlier split (started %s) than shard %s merged from %s (started %s), which holds %s too: its rows would put back older ones. Merge a split's shard states before the plan is approved again",
						ErrStaleShard, path, shard.Name(), shard.SeededAt.UTC().Format(time.RFC3339), m.Name(), m.Path, m.SeededAt.UTC().Format(time.RFC3339), u)
				}
			}
		}
	}
	return nil
}

// checkNoStepSince refuses, with ErrStaleShard, a shard state (read
// through r) that does
// not know a step this state ran for one of its users (a cutover of all
// users on the merged project state after the shard was merged, say): the
// user's step is later here than in the shard's state, and merging would
// put the older rows back. Times are compared per user between the two
// files, so the stations' clocks need not agree.
func (s *Store) checkNoStepSince(path string, r *Store, shard ShardInfo) error {
	for _, name := range shard.Users {
		here, err := s.User(name)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		there, err := r.User(name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		for _, st := range []struct {
			step        Step
			here, there time.Time
		}{{StepCutover, here.CutoverAt, there.CutoverAt}, {StepSync, here.SyncedAt, there.SyncedAt},
			{StepBulk, here.BulkDoneAt, there.BulkDoneAt}, {StepBulkStarted, here.BulkStartedAt, there.BulkStartedAt},
			{StepTest, here.TestedAt, there.TestedAt}} {
			if st.here.After(st.there) {
				return fmt.Errorf("%w: %s ran %s for %s on %s, which shard %s's state %s does not know: merging it would put back older rows. Start the shard again from this state (remove its state file) before running it again",
					ErrStaleShard, s.path, st.step, name, st.here.UTC().Format(time.RFC3339), shard.Name(), path)
			}
		}
	}
	return nil
}

// checkOther checks the state file at path as OpenReader does (a
// mailshift state, sound, not newer; brought up to date when older) before
// it is attached.
func checkOther(path string) error {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return fmt.Errorf("state file %s: missing or empty (%v): name an existing state file", path, err)
	}
	r, err := OpenReader(path)
	if err != nil {
		return err
	}
	return r.Close()
}

// checkShardFile checks the shard state file at path before it is merged
// (see checkOther and checkNotStale) and returns its shard record.
func (s *Store) checkShardFile(path string) (ShardInfo, error) {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return ShardInfo{}, fmt.Errorf("state file %s: missing or empty (%v): name an existing state file", path, err)
	}
	r, err := OpenReader(path)
	if err != nil {
		return ShardInfo{}, err
	}
	defer r.Close()
	info, err := r.Shard()
	if errors.Is(err, ErrNotFound) {
		return ShardInfo{}, fmt.Errorf("%s is not a shard's state (it has no shard record): merge takes the state files that `--shard` runs wrote, such as mailshift-1-of-4.db", path)
	}
	if err != nil {
		return ShardInfo{}, err
	}
	return info, s.checkNotStale(path, r, info)
}

// samePath tells whether a and b name the same file.
func samePath(a, b string) (bool, error) {
	x, err := filepath.Abs(a)
	if err != nil {
		return false, err
	}
	y, err := filepath.Abs(b)
	if err != nil {
		return false, err
	}
	return x == y, nil
}

// withAttached runs fn in one transaction on this store's connection with
// the state file at other attached read-only as "src".
func (s *Store) withAttached(other string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	abs, err := filepath.Abs(other)
	if err != nil {
		return fmt.Errorf("attach %s: %w", other, err)
	}
	ctx := context.Background()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return dbError(s.path, "attach "+other, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS src", fileDSN(abs, "mode=ro")); err != nil {
		return dbError(s.path, "attach "+other, err)
	}
	defer conn.ExecContext(ctx, "DETACH DATABASE src")
	if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE IF NOT EXISTS shard_users (name TEXT PRIMARY KEY)"); err != nil {
		return dbError(s.path, "attach "+other, err)
	}
	defer conn.ExecContext(ctx, "DROP TABLE IF EXISTS temp.shard_users")
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return dbError(s.path, "attach "+other, err)
	}
	defer tx.Rollback()
	if err := fn(ctx, tx); err != nil {
		return fmt.Errorf("state file %s with %s: %w", s.path, other, err)
	}
	if err := tx.Commit(); err != nil {
		return dbError(s.path, "copy from "+other, err)
	}
	return nil
}

// fillShardUsers lists names in temp.shard_users.
func fillShardUsers(ctx context.Context, tx *sql.Tx, names []string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM temp.shard_users"); err != nil {
		return err
	}
	st, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO temp.shard_users (name) VALUES (?)")
	if err != nil {
		return err
	}
	defer st.Close()
	for _, n := range names {
		if _, err := st.ExecContext(ctx, n); err != nil {
			return fmt.Errorf("user %q: %w", n, err)
		}
	}
	return nil
}

// copyMode is how a table's rows go from src to main.
type copyMode int

const (
	copyAll      copyMode = iota + 1 // every row (main holds none)
	copyUsers                        // the rows of the listed users (main holds none)
	replaceUsers                     // the listed users' rows replace main's
	copyNew                          // every row main does not hold yet
)

// copyTables copies each table of main, in the order they were created,
// from src as decide says: its mode, or false to leave it alone. perUser
// tells decide whether the table is keyed by source_user. Only the columns
// both files have are copied.
func copyTables(ctx context.Context, tx *sql.Tx, decide func(table string, perUser bool) (copyMode, bool)) error {
	tables, err := listStrings(ctx, tx, `SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid`)
	if err != nil {
		return err
	}
	for _, t := range tables {
		cols, err := commonColumns(ctx, tx, t)
		if err != nil {
			return err
		}
		if len(cols) == 0 {
			continue // not in the other file
		}
		mode, ok := decide(t, slices.Contains(cols, "source_user"))
		if !ok {
			continue
		}
		if err := copyTable(ctx, tx, t, cols, mode); err != nil {
			return fmt.Errorf("copy table %s: %w", t, err)
		}
	}
	return nil
}

// copyTable copies table's rows from src to main as mode says.
func copyTable(ctx context.Context, tx *sql.Tx, table string, cols []string, mode copyMode) error {
	list := `"` + strings.Join(cols, `", "`) + `"`
	q := `"` + table + `"`
	inUsers := " WHERE source_user IN (SELECT name FROM temp.shard_users)"
	if mode == replaceUsers {
		if _, err := tx.ExecContext(ctx, "DELETE FROM main."+q+inUsers); err != nil {
			return err
		}
	}
	insert := "INSERT INTO main." + q + " (" + list + ") SELECT " + list + " FROM src." + q
	switch mode {
	case copyUsers, replaceUsers:
		insert += inUsers
	case copyNew:
		insert = "INSERT OR IGNORE" + strings.TrimPrefix(insert, "INSERT")
	}
	_, err := tx.ExecContext(ctx, insert)
	return err
}

// commonColumns lists the columns table has in both main and src, in
// main's order; none if src has no such table.
func commonColumns(ctx context.Context, tx *sql.Tx, table string) ([]string, error) {
	mainCols, err := listStrings(ctx, tx, "SELECT name FROM pragma_table_info(?, 'main')", table)
	if err != nil {
		return nil, err
	}
	srcCols, err := listStrings(ctx, tx, "SELECT name FROM pragma_table_info(?, 'src')", table)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range mainCols {
		if slices.Contains(srcCols, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// listStrings runs a query of one text column.
func listStrings(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
