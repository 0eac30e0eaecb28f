package state

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// stepColumns maps each step to the users column that records it.
var stepColumns = map[Step]string{
	StepCollect:     "collected_at",
	StepTest:        "tested_at",
	StepBulkStarted: "bulk_started_at",
	StepBulk:        "bulk_done_at",
	StepSync:        "synced_at",
	StepCutover:     "cutover_at",
}

// inTx runs fn in a transaction of its own, committing if fn succeeds.
func (s *Store) inTx(fn func(tx *sql.Tx) error) error { return inTx(s.db.DB, fn) }

// inTx runs fn in a transaction of db, committed if fn returns nil.
func inTx(db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// checkAffected turns "no row changed" into ErrNotFound about what.
func checkAffected(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// PutUser records a user of the project, or updates the target and batch of
// one already recorded; the user's progress is kept.
func (s *Store) PutUser(sourceUser, targetUser, batch string) error {
	_, err := s.db.Exec(`INSERT INTO users (source_user, target_user, batch) VALUES (?, ?, ?)
		ON CONFLICT (source_user) DO UPDATE SET target_user = excluded.target_user, batch = excluded.batch`,
		sourceUser, targetUser, batch)
	if err != nil {
		return fmt.Errorf("put user %q: %w", sourceUser, err)
	}
	return nil
}

const userColumns = `source_user, target_user, batch, collected_at, tested_at, bulk_started_at,
	bulk_done_at, synced_at, cutover_at, error_step, error, paused_until, paused_reason`

func scanUser(r scanner) (User, error) {
	var u User
	err := r.Scan(&u.SourceUser, &u.TargetUser, &u.Batch,
		timeCol{&u.CollectedAt}, timeCol{&u.TestedAt}, timeCol{&u.BulkStartedAt},
		timeCol{&u.BulkDoneAt}, timeCol{&u.SyncedAt}, timeCol{&u.CutoverAt},
		&u.ErrorStep, &u.Error, timeCol{&u.PausedUntil}, &u.PausedReason)
	return u, err
}

// Users lists every user, ordered by source user.
func (s *Store) Users() ([]User, error) {
	us, err := queryAll(s.db, scanUser, "SELECT "+userColumns+" FROM users ORDER BY source_user")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// User returns one user; ErrNotFound if it was never put.
func (s *Store) User(sourceUser string) (User, error) {
	u, err := scanUser(s.db.QueryRow("SELECT "+userColumns+" FROM users WHERE source_user = ?", sourceUser))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", sourceUser, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user %q: %w", sourceUser, err)
	}
	return u, nil
}

// MarkStep records that sourceUser completed (or, for StepBulkStarted,
// began) step at the given time, and clears the user's last failure.
// ErrNotFound if the user was never put.
func (s *Store) MarkStep(sourceUser string, step Step, at time.Time) error {
	col, ok := stepColumns[step]
	if !ok {
		return fmt.Errorf("mark step %q for user %q: unknown step", step, sourceUser)
	}
	res, err := s.db.Exec("UPDATE users SET "+col+" = ?, error_step = '', error = '' WHERE source_user = ?",
		timeArg(at), sourceUser)
	if err == nil {
		err = checkAffected(res, fmt.Sprintf("user %q", sourceUser))
	}
	if err != nil {
		return fmt.Errorf("mark step %s: %w", step, err)
	}
	return nil
}

// FailStep records that step failed for sourceUser, and why. ErrNotFound if
// the user was never put.
func (s *Store) FailStep(sourceUser string, step Step, reason string) error {
	res, err := s.db.Exec("UPDATE users SET error_step = ?, error = ? WHERE source_user = ?",
		step, reason, sourceUser)
	if err == nil {
		err = checkAffected(res, fmt.Sprintf("user %q", sourceUser))
	}
	if err != nil {
		return fmt.Errorf("fail step %s: %w", step, err)
	}
	return nil
}

// ResetUser undoes a test migration in the state: it deletes the user's
// pairs, cursors and cutover record and zeroes every step after collect and
// the last failure. The user's identity, CollectedAt and inventory stay.
// ErrNotFound if the user was never put.
func (s *Store) ResetUser(sourceUser string) error {
	err := s.inTx(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE users SET tested_at = NULL, bulk_started_at = NULL, bulk_done_at = NULL,
			synced_at = NULL, cutover_at = NULL, error_step = '', error = '' WHERE source_user = ?`, sourceUser)
		if err != nil {
			return err
		}
		if err := checkAffected(res, fmt.Sprintf("user %q", sourceUser)); err != nil {
			return err
		}
		for _, table := range []string{"pairs", "cursors", "cutovers", "folder_failures"} {
			if _, err := tx.Exec("DELETE FROM "+table+" WHERE source_user = ?", sourceUser); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reset user: %w", err)
	}
	return nil
}

// SaveAccount replaces what is recorded about side a.Side of user a.User,
// folders included.
func (s *Store) SaveAccount(a Account) error {
	if a.Side != SideSource && a.Side != SideTarget {
		return fmt.Errorf("save account of user %q: unknown side %q", a.User, a.Side)
	}
	err := s.inTx(func(tx *sql.Tx) error {
		if _, err := tx.Exec("DELETE FROM accounts WHERE source_user = ? AND side = ?", a.User, a.Side); err != nil {
			return err
		}
		d := a.Description
		if _, err := tx.Exec(`INSERT INTO accounts (source_user, side, login, kind, server, capabilities,
			delimiter, prefix, append_limit, quota_used, quota_limit, uidplus, condstore, error, collected_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.User, a.Side, a.Login, d.Kind, d.Server, listArg(d.Capabilities),
			d.Delimiter, d.Prefix, d.AppendLimit, d.QuotaUsed, d.QuotaLimit, d.UIDPlus, d.CondStore,
			a.Error, timeArg(a.CollectedAt)); err != nil {
			return err
		}
		if len(a.Folders) == 0 {
			return nil
		}
		st, err := tx.Prepare(`INSERT INTO account_folders (source_user, side, position, name, role,
			noselect, messages, bytes, uidvalidity, uidnext, highest_modseq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, f := range a.Folders {
			if _, err := st.Exec(a.User, a.Side, i, f.Name, f.Role, f.NoSelect, f.Messages, f.Bytes,
				f.UIDValidity, f.UIDNext, u64Arg(f.HighestModSeq)); err != nil {
				return fmt.Errorf("folder %q: %w", f.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save %s account of user %q: %w", a.Side, a.User, err)
	}
	return nil
}

// Account returns what collect recorded about one side of a user, folders
// in the order they were saved; ErrNotFound if nothing was.
func (s *Store) Account(user string, side Side) (Account, error) {
	a := Account{User: user, Side: side}
	d := &a.Description
	err := s.db.QueryRow(`SELECT login, kind, server, capabilities, delimiter, prefix, append_limit,
		quota_used, quota_limit, uidplus, condstore, error, collected_at
		FROM accounts WHERE source_user = ? AND side = ?`, user, side).Scan(
		&a.Login, &d.Kind, &d.Server, listCol{&d.Capabilities}, &d.Delimiter, &d.Prefix, &d.AppendLimit,
		&d.QuotaUsed, &d.QuotaLimit, &d.UIDPlus, &d.CondStore, &a.Error, timeCol{&a.CollectedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("%s account of user %q: %w", side, user, ErrNotFound)
	}
	if err != nil {
		return Account{}, fmt.Errorf("read %s account of user %q: %w", side, user, err)
	}
	a.Folders, err = queryAll(s.db, func(r scanner) (mailbox.Folder, error) {
		var f mailbox.Folder
		err := r.Scan(&f.Name, &f.Role, &f.NoSelect, &f.Messages, &f.Bytes,
			&f.UIDValidity, &f.UIDNext, u64Col{&f.HighestModSeq})
		return f, err
	}, `SELECT name, role, noselect, messages, bytes, uidvalidity, uidnext, highest_modseq
		FROM account_folders WHERE source_user = ? AND side = ? ORDER BY position`, user, side)
	if err != nil {
		return Account{}, fmt.Errorf("read folders of %s account of user %q: %w", side, user, err)
	}
	return a, nil
}

// ReplaceProblems replaces the problems recorded for user with ps. A
// problem's User may be left empty (it is user); any other value is an error.
func (s *Store) ReplaceProblems(user string, ps []Problem) error {
	for _, p := range ps {
		if p.User != "" && p.User != user {
			return fmt.Errorf("replace problems of user %q: problem %q is for user %q", user, p.Kind, p.User)
		}
	}
	err := s.inTx(func(tx *sql.Tx) error {
		if _, err := tx.Exec("DELETE FROM problems WHERE source_user = ?", user); err != nil {
			return err
		}
		for _, p := range ps {
			if _, err := tx.Exec(`INSERT INTO problems (source_user, kind, folder, detail, action)
				VALUES (?, ?, ?, ?, ?)`, user, p.Kind, p.Folder, p.Detail, p.Action); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace problems of user %q: %w", user, err)
	}
	return nil
}

// Problems lists every recorded problem, ordered by user, kind and folder
// (and the order they were recorded in).
func (s *Store) Problems() ([]Problem, error) {
	ps, err := queryAll(s.db, func(r scanner) (Problem, error) {
		var p Problem
		err := r.Scan(&p.User, &p.Kind, &p.Folder, &p.Detail, &p.Action)
		return p, err
	}, "SELECT source_user, kind, folder, detail, action FROM problems ORDER BY source_user, kind, folder, id")
	if err != nil {
		return nil, fmt.Errorf("list problems: %w", err)
	}
	return ps, nil
}

// SaveApproval records a new approval with the users it covers and returns
// it with its ID set; an ID already in a is ignored.
func (s *Store) SaveApproval(a Approval) (Approval, error) {
	err := s.inTx(func(tx *sql.Tx) error {
		res, err := tx.Exec("INSERT INTO approvals (hash, approved_by, role, at, text, plan) VALUES (?, ?, ?, ?, ?, ?)",
			a.Hash, a.By, a.Role, timeArg(a.At), a.Text, a.Plan)
		if err != nil {
			return err
		}
		if a.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		st, err := tx.Prepare("INSERT OR IGNORE INTO approval_users (source_user, approval_id) VALUES (?, ?)")
		if err != nil {
			return err
		}
		defer st.Close()
		for _, u := range a.Users {
			if _, err := st.Exec(u, a.ID); err != nil {
				return fmt.Errorf("user %q: %w", u, err)
			}
		}
		return nil
	})
	if err != nil {
		return Approval{}, fmt.Errorf("save approval: %w", err)
	}
	return a, nil
}

// approvalUsers fills in the users a read approval covers.
func (s *Store) approvalUsers(a *Approval) error {
	us, err := queryAll(s.db, func(r scanner) (string, error) {
		var u string
		err := r.Scan(&u)
		return u, err
	}, "SELECT source_user FROM approval_users WHERE approval_id = ? ORDER BY source_user", a.ID)
	if err != nil {
		return fmt.Errorf("read users of approval %d: %w", a.ID, err)
	}
	a.Users = us
	return nil
}

// LatestApproval returns the approval saved last, with its users (ordered
// by name); ErrNotFound if none was.
func (s *Store) LatestApproval() (Approval, error) {
	var a Approval
	err := s.db.QueryRow("SELECT id, hash, approved_by, role, at, text, plan FROM approvals ORDER BY id DESC LIMIT 1").
		Scan(&a.ID, &a.Hash, &a.By, &a.Role, timeCol{&a.At}, &a.Text, &a.Plan)
	if errors.Is(err, sql.ErrNoRows) {
		return Approval{}, fmt.Errorf("approval: %w", ErrNotFound)
	}
	if err != nil {
		return Approval{}, fmt.Errorf("read approval: %w", err)
	}
	if err := s.approvalUsers(&a); err != nil {
		return Approval{}, err
	}
	return a, nil
}

// Approval returns the approval with the given ID, with its users (ordered
// by name) and text; ErrNotFound if there is none.
func (s *Store) Approval(id int64) (Approval, error) {
	var a Approval
	err := s.db.QueryRow("SELECT id, hash, approved_by, role, at, text, plan FROM approvals WHERE id = ?", id).
		Scan(&a.ID, &a.Hash, &a.By, &a.Role, timeCol{&a.At}, &a.Text, &a.Plan)
	if errors.Is(err, sql.ErrNoRows) {
		return Approval{}, fmt.Errorf("approval %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Approval{}, fmt.Errorf("read approval %d: %w", id, err)
	}
	if err := s.approvalUsers(&a); err != nil {
		return Approval{}, err
	}
	return a, nil
}

// Approvals lists every approval, oldest first, each with its users
// (ordered by name) and plan but without its text, which can be large:
// read that with Approval.
func (s *Store) Approvals() ([]Approval, error) {
	as, err := queryAll(s.db, func(r scanner) (Approval, error) {
		var a Approval
		err := r.Scan(&a.ID, &a.Hash, &a.By, &a.Role, timeCol{&a.At}, &a.Plan)
		return a, err
	}, "SELECT id, hash, approved_by, role, at, plan FROM approvals ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list approvals: %w", err)
	}
	byID := make(map[int64]*Approval, len(as))
	for i := range as {
		byID[as[i].ID] = &as[i]
	}
	type member struct {
		id   int64
		user string
	}
	ms, err := queryAll(s.db, func(r scanner) (member, error) {
		var m member
		err := r.Scan(&m.id, &m.user)
		return m, err
	}, "SELECT approval_id, source_user FROM approval_users ORDER BY approval_id, source_user")
	if err != nil {
		return nil, fmt.Errorf("list users of approvals: %w", err)
	}
	for _, m := range ms {
		if a := byID[m.id]; a != nil {
			a.Users = append(a.Users, m.user)
		}
	}
	return as, nil
}

// SaveTestRun records a new test run and returns it with its ID set; an ID
// already in t is ignored.
func (s *Store) SaveTestRun(t TestRun) (TestRun, error) {
	res, err := s.db.Exec(`INSERT INTO test_runs (at, plan_hash, users, messages, bytes, seconds, passed, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		timeArg(t.At), t.PlanHash, listArg(t.Users), t.Messages, t.Bytes, t.Seconds, t.Passed, t.Detail)
	if err == nil {
		t.ID, err = res.LastInsertId()
	}
	if err != nil {
		return TestRun{}, fmt.Errorf("save test run: %w", err)
	}
	return t, nil
}

// LatestTestRun returns the test run saved last; ErrNotFound if none was.
func (s *Store) LatestTestRun() (TestRun, error) {
	var t TestRun
	err := s.db.QueryRow(`SELECT id, at, plan_hash, users, messages, bytes, seconds, passed, detail
		FROM test_runs ORDER BY id DESC LIMIT 1`).
		Scan(&t.ID, timeCol{&t.At}, &t.PlanHash, listCol{&t.Users}, &t.Messages, &t.Bytes,
			&t.Seconds, &t.Passed, &t.Detail)
	if errors.Is(err, sql.ErrNoRows) {
		return TestRun{}, fmt.Errorf("test run: %w", ErrNotFound)
	}
	if err != nil {
		return TestRun{}, fmt.Errorf("read test run: %w", err)
	}
	return t, nil
}

// SaveCutover records the cutover of c.User, replacing an earlier record.
func (s *Store) SaveCutover(c Cutover) error {
	_, err := s.db.Exec(`INSERT OR REPLACE INTO cutovers (source_user, at, final_messages,
		final_sync_seconds, verified, differences, report) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.User, timeArg(c.At), c.FinalMessages, c.FinalSyncSeconds, c.Verified, c.Differences, c.Report)
	if err != nil {
		return fmt.Errorf("save cutover of user %q: %w", c.User, err)
	}
	return nil
}

// Cutovers lists every cutover record, ordered by user.
func (s *Store) Cutovers() ([]Cutover, error) {
	cs, err := queryAll(s.db, func(r scanner) (Cutover, error) {
		var c Cutover
		err := r.Scan(&c.User, timeCol{&c.At}, &c.FinalMessages, &c.FinalSyncSeconds,
			&c.Verified, &c.Differences, &c.Report)
		return c, err
	}, `SELECT source_user, at, final_messages, final_sync_seconds, verified, differences, report
		FROM cutovers ORDER BY source_user`)
	if err != nil {
		return nil, fmt.Errorf("list cutovers: %w", err)
	}
	return cs, nil
}

// SetPaused records that user's copy waits outside the copy windows until
// the given time; the zero time clears it.
func (s *Store) SetPaused(sourceUser string, until time.Time) error {
	return s.SetPausedFor(sourceUser, until, PauseWindows)
}

// SetPausedFor records that user's copy waits until the given time, and
// why (PauseWindows, PauseBudget, PauseLimits); the zero time clears it.
func (s *Store) SetPausedFor(sourceUser string, until time.Time, reason string) error {
	if until.IsZero() {
		reason = ""
	}
	if _, err := s.db.Exec(`UPDATE users SET paused_until = ?, paused_reason = ? WHERE source_user = ?`, timeArg(until), reason, sourceUser); err != nil {
		return fmt.Errorf("record pause of user %q: %w", sourceUser, err)
	}
	return nil
}

// Budget returns what user copied in the current period of
// throttle.daily_per_user; the zero Budget if nothing was counted.
func (s *Store) Budget(sourceUser string) (Budget, error) {
	var b Budget
	err := s.db.QueryRow(`SELECT period_start, bytes FROM budgets WHERE source_user = ?`, sourceUser).Scan(timeCol{&b.Start}, &b.Bytes)
	if errors.Is(err, sql.ErrNoRows) {
		return Budget{}, nil
	}
	if err != nil {
		return Budget{}, fmt.Errorf("read the daily budget of user %q: %w", sourceUser, err)
	}
	return b, nil
}

// Spend adds n bytes to user's budget at time now. A period lasts period:
// when none is running (none began, or the last began period or more
// before now) a new one begins now.
func (s *Store) Spend(sourceUser string, n int64, now time.Time, period time.Duration) (Budget, error) {
	b, err := s.Budget(sourceUser)
	if err != nil {
		return b, err
	}
	if b.Start.IsZero() || !now.Before(b.Start.Add(period)) {
		b = Budget{Start: now.UTC()}
	}
	b.Bytes += n
	_, err = s.db.Exec(`INSERT INTO budgets (source_user, period_start, bytes) VALUES (?, ?, ?)
		ON CONFLICT (source_user) DO UPDATE SET period_start = excluded.period_start, bytes = excluded.bytes`,
		sourceUser, timeArg(b.Start), b.Bytes)
	if err != nil {
		return b, fmt.Errorf("record the daily budget of user %q: %w", sourceUser, err)
	}
	return b, nil
}
