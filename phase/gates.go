package phase

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// Gates are per user: a step runs every selected user whose own
// prerequisites hold and reports the others with what they need first
// (exit 4), or refuses when none of them can run (exit 3).
//
// An approval covers a list of users. The hash it records is over the
// endpoints, the folder mapping rules and the covered users' rows of the
// users file, so that changing one wave's rows voids that wave's approval
// and no other. A user's approval is the newest one that covers it; it
// holds while the hash, recomputed from the current configuration and the
// rows of that approval's users still in the users file, is the one
// recorded.
//
// The test gate of bulk copy is the project's, not each user's: a test
// migration proves the endpoints, the folder mapping and the rate, which
// every user shares, so one passed test of the current endpoints and
// mapping serves every wave approved later.

// planInput is what an approval covers: the users, the endpoints and the
// folder mapping rules. Changing any of it voids the approval.
type planInput struct {
	Users   [][3]string       `json:"users"` // source, target, batch
	Source  string            `json:"source"`
	Target  string            `json:"target"`
	Exclude []string          `json:"exclude"`
	Map     map[string]string `json:"map"`
	Prefix  string            `json:"prefix"`
	// PST is, for a pstscan: source, the files assigned to the users and
	// the pre-ingestion choices.
	PST *pstPlan `json:"pst,omitempty"`
	// Servers are the users' own endpoints, by source user: the users
	// file's source_url and target_url, or an imapsync line's hosts
	// ("host:" before them), for the users that have any. Absent for a
	// project of one source and one target, so that its hash is what it
	// was before users could name their servers.
	Servers map[string][2]string `json:"servers,omitempty"`
}

// PlanHash is the hash of the plan for every user of the users file (what
// an approval of all of them records).
func (p *Project) PlanHash() string {
	return p.planHash(p.Users)
}

// planHash is the hash of the plan for rows: the endpoints, the folder
// mapping rules and the rows (source, target, batch), in any order.
func (p *Project) planHash(rows []users.Row) string {
	b, _ := json.Marshal(p.planOf(rows)) // maps marshal with sorted keys
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// planOf is the plan for rows, in a canonical order.
func (p *Project) planOf(rows []users.Row) planInput {
	in := planInput{
		Source:  p.Config.Source.URL,
		Target:  p.Config.Target.URL,
		Exclude: slices.Clone(p.Config.Folders.Exclude),
		Map:     p.Config.Folders.Map,
		Prefix:  p.Config.Folders.Prefix,
	}
	for _, r := range rows {
		in.Users = append(in.Users, [3]string{r.SourceUser, r.TargetUser, r.Batch})
		if s := rowServers(r); s != [2]string{} {
			if in.Servers == nil {
				in.Servers = map[string][2]string{}
			}
			in.Servers[r.SourceUser] = s
		}
	}
	slices.SortFunc(in.Users, func(a, b [3]string) int {
		return slices.Compare(a[:], b[:])
	})
	slices.Sort(in.Exclude)
	in.PST = p.pstPlanOf(rows)
	return in
}

// rowServers is a row's own source and target endpoint, "" for a side
// that uses the configuration's.
func rowServers(r users.Row) [2]string {
	side := func(url, host string) string {
		if url != "" {
			return url
		}
		if host != "" {
			return "host:" + host
		}
		return ""
	}
	return [2]string{side(r.SourceURL, r.SourceHost), side(r.TargetURL, r.TargetHost)}
}

// settingsHash is the hash of the part of the plan every user shares: the
// endpoints and the folder mapping rules. A test run records it.
func (p *Project) settingsHash() string {
	return p.planHash(nil)
}

// userApproval is a user's approval and whether it still holds.
type userApproval struct {
	state.Approval
	Holds bool // the plan for the approval's users is unchanged
}

// userApprovals returns every user's approval, by source user: the newest
// that covers the user, with whether it still holds.
func (p *Project) userApprovals() (map[string]userApproval, error) {
	as, err := p.Store.Approvals()
	if err != nil {
		return nil, err
	}
	rows := make(map[string]users.Row, len(p.Users))
	for _, r := range p.Users {
		rows[r.SourceUser] = r
	}
	out := map[string]userApproval{}
	for _, a := range as {
		var covered []users.Row
		for _, u := range a.Users {
			if r, ok := rows[u]; ok {
				covered = append(covered, r)
			}
		}
		ua := userApproval{Approval: a, Holds: len(covered) > 0 && p.planHash(covered) == a.Hash}
		for _, u := range a.Users {
			out[u] = ua
		}
	}
	return out, nil
}

// requireTest checks that a test migration of the current endpoints and
// folder mapping passed. (A test run recorded before test runs recorded
// only those carries the hash of the whole plan; it counts while that plan
// is unchanged.)
func (p *Project) requireTest() error {
	t, err := p.Store.LatestTestRun()
	if errors.Is(err, state.ErrNotFound) {
		return gateError(ErrNotTested, "run `mailshift test` first (or `mailshift bulk --skip-test` to go on without one)")
	}
	if err != nil {
		return err
	}
	if t.PlanHash != p.settingsHash() && t.PlanHash != p.PlanHash() {
		return gateError(ErrNotTested, "the last test migration was of other endpoints or another folder mapping; run `mailshift test` again (or `--skip-test`)")
	}
	if !t.Passed {
		return gateError(ErrNotTested, "the last test migration failed (%s); fix it and run `mailshift test` again (or `--skip-test`)", t.Detail)
	}
	return nil
}

// needs are the prerequisites a step asks of each user.
type needs struct {
	cleanCollect bool   // the last collect of both sides succeeded (approve)
	approval     bool   // approved under an unchanged plan
	bulkDone     bool   // bulk copy finished (sync, cutover)
	notCutOver   string // refuse users cut over, saying this ("" lets them through)
	copied       bool   // something was copied (verify)
}

// waiting is a user a step left out and what it needs first.
type waiting struct {
	user   string
	reason string
	gate   error // the gate's sentinel; wraps ErrOutOfOrder
}

// partition splits rows into the users whose own prerequisites hold and
// the others, in row order.
func (p *Project) partition(rows []users.Row, n needs) (ready []users.Row, left []waiting, err error) {
	var approvals map[string]userApproval
	if n.approval {
		if approvals, err = p.userApprovals(); err != nil {
			return nil, nil, err
		}
	}
	for _, r := range rows {
		w, err := p.userGate(r, n, approvals)
		if err != nil {
			return nil, nil, err
		}
		if w != nil {
			left = append(left, *w)
			continue
		}
		ready = append(ready, r)
	}
	return ready, left, nil
}

// userGate returns what r needs before it can run a step that needs n, or
// nil if nothing.
func (p *Project) userGate(r users.Row, n needs, approvals map[string]userApproval) (*waiting, error) {
	u, err := p.userRecord(r.SourceUser)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return nil, err
	}
	wait := func(gate error, format string, args ...any) (*waiting, error) {
		return &waiting{user: r.SourceUser, reason: fmt.Sprintf(format, args...), gate: gate}, nil
	}
	collect := "`mailshift collect --users " + r.SourceUser + "`"
	if n.cleanCollect {
		why, err := p.collectFailure(r.SourceUser)
		if err != nil {
			return nil, err
		}
		switch {
		case why != "":
			return wait(ErrNotCollected, "collect failed: %s; fix it and run %s", firstLine(why), collect)
		case u.CollectedAt.IsZero():
			return wait(ErrNotCollected, "not collected; run %s", collect)
		}
	}
	if n.approval {
		a, ok := approvals[r.SourceUser]
		switch {
		case !ok && u.CollectedAt.IsZero():
			why, err := p.collectFailure(r.SourceUser)
			if err != nil {
				return nil, err
			}
			if why != "" {
				return wait(ErrNotApproved, "not approved: collect failed: %s; fix it, run %s, then `mailshift approve`", firstLine(why), collect)
			}
			return wait(ErrNotApproved, "not collected nor approved; run %s, then `mailshift approve --show %s` and `mailshift approve --yes --by NAME %[2]s`", collect, scopeFlag(r))
		case !ok:
			return wait(ErrNotApproved, "not approved; review with `mailshift approve --show %s`, then run `mailshift approve --yes --by NAME %[1]s`", scopeFlag(r))
		case !a.Holds:
			return wait(ErrPlanChanged, "plan changed for this user since %s approved it on %s (%s); review with `mailshift approve --show %s` and approve it again",
				a.By, localTime(a.At), p.planChanges(a.Approval), scopeFlag(r))
		}
	}
	if n.notCutOver != "" && !u.CutoverAt.IsZero() {
		return wait(ErrCutOver, "cut over on %s; %s", localTime(u.CutoverAt), strings.ReplaceAll(n.notCutOver, "USER", r.SourceUser))
	}
	if n.bulkDone && u.BulkDoneAt.IsZero() {
		return wait(ErrBulkNotDone, "bulk copy has not finished; run `mailshift bulk --users %s`", r.SourceUser)
	}
	if n.copied && u.TestedAt.IsZero() && u.BulkStartedAt.IsZero() {
		c, err := p.userCounts(r.SourceUser)
		if err != nil {
			return nil, err
		}
		if c.Copied+c.Failed+c.Intent == 0 {
			return wait(ErrBulkNotDone, "nothing copied yet; run `mailshift bulk --users %s`", r.SourceUser)
		}
	}
	return nil, nil
}

// collectFailure returns why the last collect of user failed on either
// side, "" if it did not fail or never ran.
func (p *Project) collectFailure(user string) (string, error) {
	for _, side := range []state.Side{state.SideSource, state.SideTarget} {
		a, err := p.account(user, side)
		if errors.Is(err, state.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		if a.Error != "" {
			return a.Error, nil
		}
	}
	return "", nil
}

// scopeFlag names r's wave on a command line: its batch, or r itself when
// it has none.
func scopeFlag(r users.Row) string {
	if r.Batch != "" {
		return "--batch " + r.Batch
	}
	return "--users " + r.SourceUser
}

// failures turns left-out users into a result's list (never nil).
func failures(left []waiting) []UserFailure {
	out := make([]UserFailure, 0, len(left))
	for _, w := range left {
		out = append(out, UserFailure{User: w.user, Reason: w.reason})
	}
	return out
}

// maxNamed bounds the users an error message names one by one.
const maxNamed = 20

// noneReady is the error of a step none of whose selected users can run:
// it wraps the gate they all wait at, or ErrOutOfOrder when they wait at
// different ones, and names each user with what it needs.
func noneReady(step string, left []waiting) error {
	gate := left[0].gate
	for _, w := range left[1:] {
		if w.gate != gate {
			gate = ErrOutOfOrder
			break
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "no selected user can run %s:", step)
	writeUsers(&b, failures(left))
	return fmt.Errorf("%w: %s", gate, b.String())
}

// writeUsers lists users with their reasons, one a line, up to maxNamed.
func writeUsers(b *strings.Builder, us []UserFailure) {
	for i, f := range us {
		if i == maxNamed {
			fmt.Fprintf(b, "\n  ... and %d more; `mailshift status` lists them all", len(us)-i)
			break
		}
		fmt.Fprintf(b, "\n  %s: %s", f.User, f.Reason)
	}
}

// abbreviate lists up to n names and says how many more there are.
func abbreviate(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}

// localTime formats t for a person.
func localTime(t time.Time) string {
	return t.Local().Format("2006-01-02 15:04")
}

// stepOutcome is stepResult for a step that left some users out: a
// partial error when some failed or waited.
func stepOutcome(ctx context.Context, step string, failed, left []UserFailure) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(failed) > 0 || len(left) > 0 {
		return &partialError{step: step, failures: failed, waiting: left}
	}
	return nil
}
