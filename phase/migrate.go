package phase

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// RunResult summarises a copying step.
type RunResult struct {
	Users  int           `json:"users"`
	Failed []UserFailure `json:"failed"`
	Counts
	// Items counts the contacts, calendar items, tasks and notes written
	// as files and uploaded after each user's mail.
	Items ItemCounts `json:"items"`
	// SkippedFolders are the folders a pass skipped (the user's other
	// folders went on), with the reason.
	SkippedFolders []UserFolderFailure `json:"skipped_folders"`
	// Planned is, for a dry run, what each folder would need (only folders
	// with something to do); nothing was changed anywhere.
	Planned []UserFolderPlan `json:"planned"`
	Seconds float64          `json:"seconds"`
	// Waiting are the selected users the step left out because their own
	// prerequisites do not hold yet, each with what it needs first.
	Waiting []UserFailure `json:"waiting"`
}

// UserFolderFailure is one folder of one user that a step skipped.
type UserFolderFailure struct {
	User string `json:"user"`
	FolderFailure
}

// add sums one user's pass into the result.
func (r *RunResult) add(user string, st copyStats) {
	r.Counts.add(st.Counts)
	r.Items.add(st.items)
	for _, f := range st.Skipped {
		r.SkippedFolders = append(r.SkippedFolders, UserFolderFailure{User: user, FolderFailure: f})
	}
	for _, f := range st.Planned {
		r.Planned = append(r.Planned, UserFolderPlan{User: user, FolderPlan: f})
	}
}

// UserFolderPlan is what a dry run found one user's folder would need.
type UserFolderPlan struct {
	User string `json:"user"`
	FolderPlan
}

// sum adds another step's result (a pass of sync --follow) into r.
func (r *RunResult) sum(o RunResult) {
	r.Counts.add(o.Counts)
	r.Items.add(o.Items)
	r.SkippedFolders = append(r.SkippedFolders, o.SkippedFolders...)
	r.Planned = append(r.Planned, o.Planned...)
}

// run copies the given users with opts, calling before and after around
// each user's pass. Users whose after returns an error count as failed. A
// pass that finished with some messages refused or folders skipped counts
// as done (after sees no error) and is reported as a partial failure of
// the user, naming them.
func (p *Project) run(ctx context.Context, step string, rows []users.Row, opts copyOptions,
	before func(users.Row) error, after func(users.Row, copyStats, error) error) RunResult {
	if !opts.dryRun {
		defer p.beginStep(step, rows)()
	}
	start := time.Now()
	res := RunResult{Users: len(rows), SkippedFolders: []UserFolderFailure{}, Planned: []UserFolderPlan{}}
	if opts.dryRun { // nothing is recorded, not even that the step began
		before, after = nil, nil
	} else {
		defer p.sample(state.Step(step), start)()
	}
	var mu sync.Mutex
	res.Failed = p.forEachUser(ctx, rows, func(ctx context.Context, r users.Row) error {
		if before != nil {
			if err := before(r); err != nil {
				return err
			}
		}
		st, err := p.passUser(ctx, r, opts)
		mu.Lock()
		res.add(r.SourceUser, st)
		mu.Unlock()
		if after != nil {
			err = after(r, st, err)
		}
		if err == nil {
			err = unitFailures(st)
		}
		if _, paused := asPaused(err); err != nil && !paused && !isInterrupt(err) && !opts.dryRun {
			_ = p.Store.FailStep(r.SourceUser, state.Step(step), err.Error())
		}
		return err
	})
	res.Seconds = time.Since(start).Seconds()
	return res
}

// passUser runs one pass of the copy engine for one user.
func (p *Project) passUser(ctx context.Context, r users.Row, opts copyOptions) (copyStats, error) {
	var q quickPass
	if opts.quick && !opts.dryRun {
		var st copyStats
		var done bool
		var err error
		if q, st, done, err = p.quickCheck(ctx, r); done || err != nil {
			return st, err
		}
	}
	s, err := p.openSessionRetrying(ctx, r, q)
	if err != nil {
		return copyStats{}, err
	}
	defer s.Close()
	st, err := s.copyAll(ctx, opts)
	if err == nil && !opts.dryRun {
		// The items that are not mail follow the mail, from the same
		// source.
		st.items, err = p.itemsPass(ctx, r, s.src, opts)
	}
	return st, err
}

// unitFailures is the error of a pass that finished with messages refused
// or folders skipped, nil if it had none.
func unitFailures(st copyStats) error {
	var parts []string
	if st.FailedMsgs > 0 {
		parts = append(parts, fmt.Sprintf("%d message(s) refused by the target", st.FailedMsgs))
	}
	if len(st.Skipped) > 0 {
		parts = append(parts, describeSkipped(st.Skipped))
	}
	if st.items.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d contact, calendar or other item(s) not delivered (the log names them)", st.items.Failed))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%s; `mailshift status` and `mailshift report` list them; the next run tries them again", strings.Join(parts, "; "))
}

// TestOptions selects the test users and whether to remove what a test
// wrote.
type TestOptions struct {
	Users   []string // default: config test_users, else the first user of each source server
	Cleanup bool
}

// TestResult is a test migration's outcome.
type TestResult struct {
	RunResult
	Verify        VerifyResult  `json:"verify"`
	Passed        bool          `json:"passed"`
	RateBytes     float64       `json:"rate_bytes_per_second"`
	RateMessages  float64       `json:"rate_messages_per_second"`
	EstimatedBulk time.Duration `json:"estimated_bulk_ns"`
	Estimate      *BulkEstimate `json:"estimate,omitempty"` // of the bulk copy still to do, per user, with throttle and windows
	TotalBytes    int64         `json:"total_bytes"`
	CleanedUp     bool          `json:"cleaned_up"`
}

// Test migrates the test users, verifies them, measures the copy rate and
// extrapolates the bulk duration. With Cleanup it removes what earlier
// tests wrote to the test users' targets instead.
func Test(ctx context.Context, p *Project, opts TestOptions) (TestResult, error) {
	var res TestResult
	names := p.testUsers(opts.Users)
	if len(names) == 0 {
		return res, &ConfigError{"test_users", "no test users: list some in the config (test_users) or pass --users"}
	}
	rows, err := p.selectUsers(Selection{Users: names})
	if err != nil {
		return res, err
	}
	if err := p.syncUsers(); err != nil {
		return res, err
	}
	step := "test"
	if opts.Cleanup {
		step = "test --cleanup"
	}
	rows, left, err := p.partition(rows, needs{approval: true, notCutOver: "a test must not touch a user cut over; name other test users with --users"})
	if err != nil {
		return res, err
	}
	if len(rows) == 0 {
		return res, noneReady(step, left)
	}
	if opts.Cleanup {
		err := p.cleanup(ctx, rows)
		res.CleanedUp = err == nil
		if err == nil {
			err = stepOutcome(ctx, step, nil, failures(left))
		}
		return res, err
	}
	res.RunResult = p.run(ctx, string(state.StepTest), rows, copyOptions{deletions: "keep"}, nil, nil)
	res.Waiting = failures(left)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Verify, err = verifyUsers(ctx, p, rows, verifyMode{})
	if err != nil && !errors.Is(err, ErrDifferences) && !errors.Is(err, ErrPartial) {
		return res, err
	}
	if err := p.recordTest(&res, rows); err != nil {
		return res, err
	}
	if err := stepOutcome(ctx, "test", res.Failed, res.Waiting); err != nil && len(res.Failed) > 0 {
		return res, err
	}
	if res.Verify.Differences > 0 {
		return res, fmt.Errorf("test: %w (%d); see reports/test.md", ErrDifferences, res.Verify.Differences)
	}
	return res, stepOutcome(ctx, "test", nil, res.Waiting)
}

// recordTest judges a test run, records it (and the users it passed for),
// estimates the bulk copy from it when it passed, and writes its reports.
func (p *Project) recordTest(res *TestResult, rows []users.Row) error {
	res.Passed = len(res.Failed) == 0 && res.Verify.Differences == 0 && len(res.Verify.Failed) == 0
	if res.Seconds > 0 {
		res.RateBytes = float64(res.Bytes) / res.Seconds
		res.RateMessages = float64(res.Messages) / res.Seconds
	}
	for _, r := range p.Users {
		if a, err := p.Store.Account(r.SourceUser, state.SideSource); err == nil {
			for _, f := range a.Folders {
				res.TotalBytes += max(f.Bytes, 0)
			}
		}
	}
	run := state.TestRun{At: p.now(), PlanHash: p.settingsHash(), Messages: res.Messages, Bytes: res.Bytes, Seconds: res.Seconds, Passed: res.Passed, Detail: testDetail(*res)}
	for _, r := range rows {
		run.Users = append(run.Users, r.SourceUser)
		if res.Passed {
			if err := p.Store.MarkStep(r.SourceUser, state.StepTest, run.At); err != nil {
				return err
			}
		}
	}
	if _, err := p.Store.SaveTestRun(run); err != nil {
		return err
	}
	if res.Passed {
		est, err := p.estimateBulk()
		if err != nil {
			return err
		}
		res.Estimate = &est
		res.EstimatedBulk = est.Copying
	}
	if text := renderTest(p, *res, run); text != "" {
		if _, err := p.writeReport("test.md", text); err != nil {
			return err
		}
		if _, err := p.writeReport("test.html", p.testPage(*res, text)); err != nil {
			return err
		}
	}
	return nil
}

// testDetail says in a line what a test run did, or why it failed.
func testDetail(res TestResult) string {
	if res.Passed {
		return fmt.Sprintf("%d messages, %s in %.1fs; verification: %d differences", res.Messages, FormatBytes(res.Bytes), res.Seconds, res.Verify.Differences)
	}
	var why []string
	for _, f := range res.Failed {
		why = append(why, f.User+": "+f.Reason)
	}
	for _, f := range res.Verify.Failed {
		why = append(why, f.User+": "+f.Reason)
	}
	if res.Verify.Differences > 0 {
		why = append(why, fmt.Sprintf("%d differences found by verification", res.Verify.Differences))
	}
	return strings.Join(why, "; ")
}

// cleanup expunges from the targets everything mailshift copied for rows,
// removes the items it uploaded and wrote, and forgets it all, so that
// the users start afresh.
func (p *Project) cleanup(ctx context.Context, rows []users.Row) error {
	failures := p.forEachUser(ctx, rows, func(ctx context.Context, r users.Row) error {
		pairs, err := p.Store.UserPairs(r.SourceUser)
		if err != nil {
			return err
		}
		byFolder := map[string][]uint32{}
		for _, pr := range pairs {
			if pr.Status == state.Copied && pr.TargetUID != 0 {
				byFolder[pr.TargetFolder] = append(byFolder[pr.TargetFolder], pr.TargetUID)
			}
		}
		if len(byFolder) > 0 {
			dst, err := p.openTarget(ctx, r)
			if err != nil {
				return err
			}
			defer dst.Close()
			for folder, uids := range byFolder {
				if err := dst.Expunge(ctx, folder, uids); err != nil {
					return fmt.Errorf("clean up target folder %q: %w", folder, err)
				}
			}
		}
		if err := p.cleanupItems(ctx, r); err != nil {
			return err
		}
		return p.Store.ResetUser(r.SourceUser)
	})
	return stepResult(ctx, "test --cleanup", failures)
}

func renderTest(p *Project, res TestResult, run state.TestRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Test migration\n\n")
	fmt.Fprintf(&b, "Run at %s for %s.\n\n", run.At.UTC().Format("2006-01-02 15:04 MST"), strings.Join(run.Users, ", "))
	if s := p.serversOf(run.Users); s != "" {
		fmt.Fprintf(&b, "Source servers tried: %s.\n\n", s)
	}
	verdict := "PASSED"
	if !res.Passed {
		verdict = "FAILED: " + run.Detail
	}
	fmt.Fprintf(&b, "Result: **%s**\n\n", verdict)
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| messages copied | %d |\n| bytes copied | %s |\n| time | %.1f s |\n", res.Messages, FormatBytes(res.Bytes), res.Seconds)
	fmt.Fprintf(&b, "| rate | %s/s, %.0f messages/s |\n", FormatBytes(int64(res.RateBytes)), res.RateMessages)
	fmt.Fprintf(&b, "| messages refused | %d |\n| verification differences | %d |\n", res.FailedMsgs, res.Verify.Differences)
	if res.Estimate != nil {
		fmt.Fprintf(&b, "| estimated bulk copy (%s still to copy, %d users at a time) | %s |\n\n", FormatBytes(res.Estimate.Bytes), res.Estimate.Workers, formatDuration(res.Estimate.Copying))
		b.WriteString(res.Estimate.windowsText() + "\n\n")
		writeUserEstimates(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }, *res.Estimate)
	}
	b.WriteString(renderDifferences(res.Verify))
	return b.String()
}

// BulkOptions selects users for bulk copy.
type BulkOptions struct {
	Selection
	SkipTest bool
	// Now copies at once, ignoring throttle.windows (tests, emergencies).
	Now bool
	// DryRun says what the copy would do and changes nothing.
	DryRun bool
}

// Bulk copies everything of the selected users, resumably.
func Bulk(ctx context.Context, p *Project, opts BulkOptions) (RunResult, error) {
	rows, err := p.selectUsers(opts.Selection)
	if err != nil {
		return RunResult{}, err
	}
	if !opts.DryRun {
		if err := p.syncUsers(); err != nil {
			return RunResult{}, err
		}
	}
	rows, left, err := p.partition(rows, needs{approval: true, notCutOver: "bulk copy leaves it alone; `mailshift sync --post-cutover --users USER` sweeps stragglers"})
	if err != nil {
		return RunResult{}, err
	}
	if len(rows) == 0 {
		return RunResult{}, noneReady("bulk", left)
	}
	if !opts.SkipTest {
		if err := p.requireTest(); err != nil {
			return RunResult{}, err
		}
	}
	res := p.run(ctx, string(state.StepBulk), rows, copyOptions{deletions: "keep", windows: !opts.Now && !opts.DryRun, dryRun: opts.DryRun},
		func(r users.Row) error {
			u, err := p.Store.User(r.SourceUser)
			if err == nil && u.BulkStartedAt.IsZero() {
				err = p.Store.MarkStep(r.SourceUser, state.StepBulkStarted, p.now())
			}
			return err
		},
		func(r users.Row, st copyStats, err error) error {
			if err == nil {
				err = p.Store.MarkStep(r.SourceUser, state.StepBulk, p.now())
			}
			return err
		})
	res.Waiting = failures(left)
	if !opts.DryRun {
		if err := p.writePSTReport(); err != nil {
			return res, err
		}
	}
	return res, stepOutcome(ctx, "bulk", res.Failed, res.Waiting)
}

// SyncOptions selects users for an incremental pass.
type SyncOptions struct {
	Selection
	PostCutover bool // sweep users already cut over
	Force       bool // apply deletions beyond sync.max_delete
	// Follow keeps syncing until ctx ends: a pass over every folder each
	// sync.interval, and at once when INBOX changes on a source that
	// offers IDLE.
	Follow bool
	// DryRun says what the pass would do and changes nothing.
	DryRun bool
	// CheckTarget looks at every user's target too: otherwise a user whose
	// source is exactly as the last pass left it ends after the source's
	// LIST-STATUS (quickCheck), and a target folder deleted or recreated
	// behind mailshift's back waits for the next change, verify or cutover.
	CheckTarget bool
}

// Sync copies what changed since the last pass: new messages, flag changes
// and, with sync.deletions mirror, expunges.
func Sync(ctx context.Context, p *Project, opts SyncOptions) (RunResult, error) {
	rows, err := p.selectUsers(opts.Selection)
	if err != nil {
		return RunResult{}, err
	}
	if opts.DryRun && opts.Follow {
		return RunResult{}, &ConfigError{"--dry-run", "a dry run is one pass: leave out --follow"}
	}
	if !opts.DryRun {
		if err := p.syncUsers(); err != nil {
			return RunResult{}, err
		}
	}
	n := needs{approval: true, bulkDone: true}
	if !opts.PostCutover {
		n.notCutOver = "plain sync leaves it alone; sweep stragglers with `mailshift sync --post-cutover --users USER`"
	}
	rows, left, err := p.partition(rows, n)
	if err != nil {
		return RunResult{}, err
	}
	if len(rows) == 0 {
		return RunResult{}, noneReady("sync", left)
	}
	if opts.Follow {
		for _, w := range left {
			p.log().Warn("not following", "user", w.user, "waiting", w.reason)
		}
		res, err := p.follow(ctx, rows, opts)
		res.Waiting = failures(left)
		return res, err
	}
	res := p.syncPass(ctx, rows, opts)
	res.Waiting = failures(left)
	return res, stepOutcome(ctx, "sync", res.Failed, res.Waiting)
}

// syncPass runs one incremental pass over rows.
func (p *Project) syncPass(ctx context.Context, rows []users.Row, opts SyncOptions) RunResult {
	return p.run(ctx, string(state.StepSync), rows, copyOptions{deletions: p.Config.Sync.Deletions, force: opts.Force, dryRun: opts.DryRun, quick: !opts.CheckTarget}, nil,
		func(r users.Row, st copyStats, err error) error {
			if err == nil {
				err = p.Store.MarkStep(r.SourceUser, state.StepSync, p.now())
			}
			return err
		})
}
