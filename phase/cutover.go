package phase

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// CutoverOptions selects the users to cut over; Yes confirms.
type CutoverOptions struct {
	Selection
	Yes bool
	// DryRun says what the final sync would do and changes nothing: no
	// user is verified or marked cut over.
	DryRun bool
	// FullVerify reads every copy's content after the final sync instead
	// of verifying incrementally (see VerifyWith).
	FullVerify bool
}

// UserCutover is one user's cutover.
type UserCutover struct {
	User          string  `json:"user"`
	FinalMessages int64   `json:"final_messages"`
	FinalBytes    int64   `json:"final_bytes"`
	FinalSeconds  float64 `json:"final_sync_seconds"`
	// Started is when the user's final sync began; its verification
	// followed it and took VerifySeconds.
	Started       time.Time `json:"started"`
	VerifySeconds float64   `json:"verify_seconds"`
	Verified      bool      `json:"verified"`
	Differences   int64     `json:"differences"`
	Error         string    `json:"error,omitempty"`
}

// CutoverResult is the outcome of a cutover.
type CutoverResult struct {
	Users       []UserCutover `json:"users"`
	AlreadyDone []string      `json:"already_cut_over"`
	Verify      VerifyResult  `json:"verify"`
	Started     time.Time     `json:"started"`        // when the first final sync began
	WindowSecs  float64       `json:"window_seconds"` // final sync plus verification, all users
	Report      string        `json:"report"`
	Failed      []UserFailure `json:"failed"`
	// Waiting are the selected users left out because their own
	// prerequisites do not hold yet, each with what it needs first.
	Waiting []UserFailure `json:"waiting"`
	// Planned is, for a dry run, what the final sync would do per folder.
	Planned []UserFolderPlan `json:"planned"`
}

// Cutover runs a final sync for each selected user, verifies it message by
// message, records the users that verified clean as cut over, and writes the
// cutover report. Users already cut over are left alone.
func Cutover(ctx context.Context, p *Project, opts CutoverOptions) (CutoverResult, error) {
	res := CutoverResult{Failed: []UserFailure{}, AlreadyDone: []string{}, Waiting: []UserFailure{}, Planned: []UserFolderPlan{}, Users: []UserCutover{},
		Verify: VerifyResult{Failed: []UserFailure{}, Waiting: []UserFailure{}, List: []Difference{}}}
	if !opts.Yes && !opts.DryRun {
		return res, &ConfigError{"--yes", "cutover marks users as switched to the new server and plain sync will refuse them afterwards; run `mailshift cutover --yes` to go ahead"}
	}
	rows, err := p.cutoverReady(&res, opts)
	if err != nil {
		return res, err
	}
	todo, retireFailed, err := p.notCutOver(&res, rows, opts.DryRun)
	if err != nil {
		return res, err
	}
	mode, err := p.verifyModeFor(opts.FullVerify)
	if err != nil {
		return res, err
	}
	res.Verify.Kind = mode.name()
	if opts.DryRun {
		run := p.run(ctx, string(state.StepCutover), todo, copyOptions{deletions: p.Config.Sync.Deletions, dryRun: true}, nil, nil)
		res.Planned, res.Failed = run.Planned, run.Failed
		return res, stepOutcome(ctx, "cutover --dry-run", res.Failed, res.Waiting)
	}
	p.cutoverUsers(ctx, &res, todo, mode, retireFailed)
	if err := p.writePSTReport(); err != nil {
		return res, err
	}
	slices.SortFunc(res.Users, func(a, b UserCutover) int { return strings.Compare(a.User, b.User) })
	if len(todo) > 0 {
		if err := p.writeCutoverReports(&res); err != nil {
			return res, err
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.Verify.Differences > 0 {
		return res, fmt.Errorf("cutover: %w (%d); those users are not marked cut over; see %s", ErrDifferences, res.Verify.Differences, res.Report)
	}
	return res, stepOutcome(ctx, "cutover", res.Failed, res.Waiting)
}

// cutoverReady returns the selected users whose prerequisites for the
// cutover hold (approved, bulk copy done), the users file synced into the
// state first unless this is a dry run. The others go to res.Waiting; none
// ready is an error.
func (p *Project) cutoverReady(res *CutoverResult, opts CutoverOptions) ([]users.Row, error) {
	rows, err := p.selectUsers(opts.Selection)
	if err != nil {
		return nil, err
	}
	if !opts.DryRun {
		if err := p.syncUsers(); err != nil {
			return nil, err
		}
	}
	rows, left, err := p.partition(rows, needs{approval: true, bulkDone: true})
	if err != nil {
		return nil, err
	}
	res.Waiting = failures(left)
	if len(rows) == 0 {
		return nil, noneReady("cutover", left)
	}
	return rows, nil
}

// notCutOver returns the users of rows not cut over yet. Those cut over
// before go to res.AlreadyDone, their PST files retired if a killed run
// left them (retireFailed: where that failed).
func (p *Project) notCutOver(res *CutoverResult, rows []users.Row, dryRun bool) (todo []users.Row, retireFailed []UserFailure, err error) {
	for _, r := range rows {
		u, err := p.Store.User(r.SourceUser)
		if err != nil {
			return nil, nil, err
		}
		if !u.CutoverAt.IsZero() {
			res.AlreadyDone = append(res.AlreadyDone, r.SourceUser)
			retireFailed = append(retireFailed, p.retireAgain(r, dryRun)...)
			continue
		}
		todo = append(todo, r)
	}
	return todo, retireFailed, nil
}

// cutoverUsers runs the final sync and verification of each user of todo
// as one step, filling res: the users, their verification, the failures
// (retireFailed added) and the window the cutover took.
func (p *Project) cutoverUsers(ctx context.Context, res *CutoverResult, todo []users.Row, mode verifyMode, retireFailed []UserFailure) {
	end := p.beginStep(string(state.StepCutover), todo)
	start := time.Now()
	res.Started = start
	var mu sync.Mutex
	res.Failed = p.forEachUser(ctx, todo, func(ctx context.Context, r users.Row) error {
		uc, v, err := p.cutoverUser(ctx, r, mode)
		if _, paused := asPaused(err); paused {
			return err // its cutover runs again when the pause is over
		}
		mu.Lock()
		defer mu.Unlock()
		res.Users = append(res.Users, uc)
		res.Verify.Users++
		res.Verify.add(v)
		return err
	})
	res.Failed = append(res.Failed, retireFailed...)
	res.WindowSecs = time.Since(start).Seconds()
	res.Verify.LastFull, res.Verify.NeverFull = p.lastFull(todo)
	end()
}

// writeCutoverReports writes cutover.md and cutover.html; res.Report is
// where the first went.
func (p *Project) writeCutoverReports(res *CutoverResult) error {
	md := renderCutover(p, *res)
	var err error
	if res.Report, err = p.writeReport("cutover.md", md); err != nil {
		return err
	}
	_, err = p.writeReport("cutover.html", p.cutoverPage(*res, md))
	return err
}

// retireAgain retires the PST files of r, cut over before, that a run
// killed before it could.
func (p *Project) retireAgain(r users.Row, dryRun bool) []UserFailure {
	if dryRun {
		return nil
	}
	if err := p.retirePST(r); err != nil {
		return []UserFailure{{User: r.SourceUser, Reason: err.Error(), err: err}}
	}
	return nil
}

// cutoverUser runs one user's final sync and verification and records it.
func (p *Project) cutoverUser(ctx context.Context, r users.Row, mode verifyMode) (UserCutover, VerifyResult, error) {
	fp := p.finalPass(ctx, r, mode)
	uc := UserCutover{User: r.SourceUser, Started: fp.started, VerifySeconds: fp.verifySecs}
	uc.FinalSeconds, uc.FinalMessages, uc.FinalBytes = fp.secs, fp.st.Messages, fp.st.Bytes
	if err := fp.syncErr; err != nil {
		if _, paused := asPaused(err); paused {
			return uc, VerifyResult{}, err
		}
		uc.Error = err.Error()
		_ = p.Store.FailStep(r.SourceUser, state.StepCutover, "final sync: "+err.Error())
		return uc, VerifyResult{}, fmt.Errorf("final sync: %w", err)
	}
	v, err := fp.v, fp.verifyErr
	uc.Differences = v.Differences
	if err != nil {
		uc.Error = err.Error()
		_ = p.Store.FailStep(r.SourceUser, state.StepCutover, "verification: "+err.Error())
		return uc, v, fmt.Errorf("verification: %w", err)
	}
	if v.Differences > 0 {
		uc.Error = fmt.Sprintf("%d differences", v.Differences)
		_ = p.Store.FailStep(r.SourceUser, state.StepCutover, fmt.Sprintf("verification found %d differences; see reports/cutover.md", v.Differences))
		return uc, v, nil
	}
	uc.Verified = true
	at := p.now()
	err = p.Store.SaveCutover(state.Cutover{
		User: r.SourceUser, At: at, FinalMessages: fp.st.Messages, FinalSyncSeconds: uc.FinalSeconds,
		Verified: true, Report: p.path(p.Config.reportsDir() + "/cutover.md"),
	})
	if err == nil {
		err = p.Store.MarkStep(r.SourceUser, state.StepCutover, at)
	}
	if err == nil {
		err = p.retirePST(r)
	}
	return uc, v, err
}

func renderCutover(p *Project, res CutoverResult) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Cutover report\n\n")
	w("Generated %s. Source `%s`, target `%s`.\n\n", p.now().UTC().Format("2006-01-02 15:04:05 MST"), p.Config.Source.URL, p.Config.Target.URL)
	var msgs, bytes int64
	ok := 0
	for _, u := range res.Users {
		msgs += u.FinalMessages
		bytes += u.FinalBytes
		if u.Verified {
			ok++
		}
	}
	w("Cutover window (final sync and verification of %d users): **%.1f s**. Final delta: %d messages, %s.\n\n", len(res.Users), res.WindowSecs, msgs, FormatBytes(bytes))
	w("%d of %d users verified and cut over.\n\n", ok, len(res.Users))
	w("| user | final delta | final sync | verified | differences | note |\n|---|---|---|---|---|---|\n")
	for _, u := range res.Users {
		v := "yes"
		if !u.Verified {
			v = "**no**"
		}
		w("| %s | %d messages, %s | %.1f s | %s | %d | %s |\n", u.User, u.FinalMessages, FormatBytes(u.FinalBytes), u.FinalSeconds, v, u.Differences, u.Error)
	}
	if len(res.AlreadyDone) > 0 {
		w("\nAlready cut over before this run: %s.\n", strings.Join(res.AlreadyDone, ", "))
	}
	if len(res.Waiting) > 0 {
		w("\nLeft out of this cutover, waiting for what they need first:\n\n")
		for _, f := range res.Waiting {
			w("- %s: %s\n", f.User, f.Reason)
		}
	}
	w("\nVerified %d messages in %d folders; %d messages on the target have no source message (new mail delivered to the target).\n", res.Verify.Messages, res.Verify.Folders, res.Verify.Extra)
	b.WriteString(renderVerifyKind(p, res.Verify))
	if res.Verify.Differences > 0 {
		w("\nUsers with differences are not cut over. Run `mailshift repair --dry-run %s` to see what repair would do, `mailshift repair %[1]s` to do it, then `mailshift cutover --yes %[1]s` again.\n", usersFlag(res.Users))
	}
	b.WriteString(renderDifferences(res.Verify))
	return b.String()
}

// usersFlag names on a command line the users of a cutover that did not
// verify clean.
func usersFlag(us []UserCutover) string {
	var names []string
	for _, u := range us {
		if !u.Verified {
			names = append(names, u.User)
		}
	}
	return "--users " + strings.Join(names, ",")
}
