package phase

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// ApproveOptions says whether to record an approval or only render, and
// for which users.
type ApproveOptions struct {
	Selection        // one wave (--batch) or some users (--users); default every user
	Show      bool   // only render
	Yes       bool   // record the approval
	By        string // who approves
	Role      string // their role, e.g. "IT manager, Example Corp"
}

// ApproveResult is the rendered scope of work and what was recorded.
type ApproveResult struct {
	Text     string // Markdown
	Hash     string // of the plan for Users
	Users    []string
	Waiting  []UserFailure // selected users left out of the plan, with why
	Recorded bool
	Path     string // where the Markdown was written
}

// Approve renders the scope of work for the selected users that collected
// cleanly and, with Yes and By, records who approved this plan for them
// and when. The selected users whose collect failed or never ran are left
// out, named in the scope of work with the reason, and make the step
// partial (exit 4): they join the plan when they collect cleanly and it
// is approved again. An approval of one wave leaves the approvals of the
// others as they are.
func Approve(ctx context.Context, p *Project, opts ApproveOptions) (ApproveResult, error) {
	if !opts.Show && !opts.Yes {
		return ApproveResult{}, &ConfigError{"--yes", "approving records a sign-off: review with `mailshift approve --show`, then run `mailshift approve --yes --by \"Your Name\"`"}
	}
	if opts.Yes && strings.TrimSpace(opts.By) == "" {
		return ApproveResult{}, &ConfigError{"--by", "say who approves: --by \"Name\""}
	}
	rows, err := p.selectUsers(opts.Selection)
	if err != nil {
		return ApproveResult{}, err
	}
	if err := p.syncUsers(); err != nil {
		return ApproveResult{}, err
	}
	// What approve reads of every user (records, accounts, copied
	// tallies) is read at once; it writes only the approval.
	var res ApproveResult
	err = p.withSnapshot(true, func(v *Project) (err error) {
		res, err = approve(ctx, v, opts, rows)
		return err
	})
	return res, err
}

// approve is Approve once the users file's users are in the state.
func approve(ctx context.Context, p *Project, opts ApproveOptions, rows []users.Row) (ApproveResult, error) {
	rows, left, err := p.partition(rows, needs{cleanCollect: true})
	if err != nil {
		return ApproveResult{}, err
	}
	res := ApproveResult{Waiting: failures(left)}
	if len(rows) == 0 {
		return res, noneReady("approve", left)
	}
	res.Hash = p.planHash(rows)
	for _, r := range rows {
		res.Users = append(res.Users, r.SourceUser)
	}
	var approval *state.Approval
	if opts.Yes {
		approval = &state.Approval{Hash: res.Hash, By: strings.TrimSpace(opts.By), Role: strings.TrimSpace(opts.Role), At: p.now(), Users: res.Users, Plan: p.planJSON(rows)}
	}
	current, err := p.userApprovals()
	if err != nil {
		return res, err
	}
	text, err := p.renderScope(rows, res.Waiting, res.Hash, approval, current)
	if err != nil {
		return res, err
	}
	res.Text = text
	if opts.Yes {
		approval.Text = text
		if _, err := p.Store.SaveApproval(*approval); err != nil {
			return res, err
		}
		res.Recorded = true
	}
	if res.Path, err = p.writeReport("scope-of-work.md", text); err != nil {
		return res, err
	}
	if _, err := p.writeReport("scope-of-work.html", markdownPage("Scope of work", text)); err != nil {
		return res, err
	}
	if opts.Yes {
		return res, stepOutcome(ctx, "approve", nil, res.Waiting)
	}
	return res, nil
}

// renderScope renders the scope of work (Markdown) of the plan for rows,
// whose hash is hash, from the inventory; left are the selected users left
// out. approval is the one being recorded, if any; current are the users'
// approvals as they stand.
func (p *Project) renderScope(rows []users.Row, left []UserFailure, hash string, approval *state.Approval, current map[string]userApproval) (string, error) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	invs, err := p.scopeInventory(rows)
	if err != nil {
		return "", err
	}
	p.writeOverview(w, invs)
	writeUsersAndData(w, invs, left)

	if err := p.writePSTFiles(w, rows); err != nil {
		return "", err
	}
	if len(invs) > scopeDetailUsers {
		p.writeMappingDepartures(w, invs)
	} else {
		p.writeMapping(w, invs)
	}
	problems, err := p.writeProblems(w, rows, left)
	if err != nil {
		return "", err
	}
	if err := p.writeScopeUsers(invs, problems); err != nil {
		return "", err
	}

	p.writeOutOfScope(w, problems)
	p.writeResponsibilities(w)
	done, err := p.stepDates(rows)
	if err != nil {
		return "", err
	}
	p.writeMilestones(w, done)

	if err := p.writeSchedule(w, rows, invs); err != nil {
		return "", err
	}
	p.writeAssumptionsAndRollback(w)

	w("## Sign-off\n\n")
	w("Plan hash: `%s` (%d users).\n\n", hash, len(rows))
	p.writeSignatures(w)
	writeSignOff(w, rows, hash, approval, current)
	return b.String(), nil
}

// writeOverview writes the scope's project overview: the parties, the
// two sides' endpoints and servers, the services' presets and the users'
// own servers.
func (p *Project) writeOverview(w func(string, ...any), invs []userInv) {
	var srcDesc, dstDesc state.Account
	for _, ui := range invs {
		if srcDesc.Description.Kind == "" && ui.src.Error == "" {
			srcDesc = ui.src
		}
		if dstDesc.Description.Kind == "" && ui.dst.Error == "" {
			dstDesc = ui.dst
		}
	}
	w("# Scope of work\n\n")
	w("## Project overview\n\n")
	p.writeParties(w)
	w("| | source | target |\n|---|---|---|\n")
	w("| endpoint | `%s` | `%s` |\n", redactURL(p.Config.Source.URL), redactURL(p.Config.Target.URL))
	w("| server | %s | %s |\n", serverSummary(srcDesc.Description), serverSummary(dstDesc.Description))
	w("| hierarchy separator | `%s` | `%s` |\n", string(nonZero(srcDesc.Description.Delimiter)), string(nonZero(dstDesc.Description.Delimiter)))
	p.writeGmail(w, srcDesc.Description.Capabilities)
	w("\n")
	p.writeProviders(w, dstDesc.Description)
	p.writeServers(w, invs)
}

// writeUsersAndData writes the users, their batches and volumes (the
// largest, when there are many), and the selected users left out.
func writeUsersAndData(w func(string, ...any), invs []userInv, left []UserFailure) {
	var totalMsgs, totalBytes int64
	for _, ui := range invs {
		totalMsgs += ui.msgs
		totalBytes += ui.bytes
	}
	w("## Users and data\n\n")
	w("%d users, %d messages, %s.\n\n", len(invs), totalMsgs, FormatBytes(totalBytes))
	writeBatches(w, invs)
	sorted := slices.Clone(invs)
	slices.SortStableFunc(sorted, func(a, b userInv) int { return int(b.bytes - a.bytes) })
	if len(sorted) > scopeDetailUsers {
		w("\nThe %d largest of %d users (every user: `reports/%s.csv` and `.json`):\n", scopeDetailUsers, len(sorted), scopeUsersFile)
		sorted = sorted[:scopeDetailUsers]
	}
	w("\n| source user | target user | batch | source folders | source messages | source size |\n|---|---|---|---|---|---|\n")
	for _, ui := range sorted {
		status := ""
		if ui.src.Error != "" || ui.dst.Error != "" {
			status = " (login failed)"
		}
		w("| %s%s | %s | %s | %d | %d | %s |\n", ui.row.SourceUser, status, ui.row.TargetUser, orDash(ui.row.Batch), ui.folders, ui.msgs, FormatBytes(ui.bytes))
	}
	w("\n")

	if len(left) > 0 {
		w("## Not in this plan\n\n")
		w("%d selected users are left out: they join the plan when they collect cleanly and the plan is approved again.\n\n", len(left))
		w("| source user | why |\n|---|---|\n")
		for _, f := range left {
			w("| %s | %s |\n", f.User, strings.ReplaceAll(f.Reason, "|", "\\|"))
		}
		w("\n")
	}
}

// writeSchedule writes the estimated bulk copy with its windows, the
// budgets, and what follows it.
func (p *Project) writeSchedule(w func(string, ...any), rows []users.Row, invs []userInv) error {
	w("## Schedule\n\n")
	est, err := p.estimateBulkOf(rows)
	if err != nil {
		return err
	}
	w("Estimated bulk copy: %s\n\n", est.text())
	w("%s\n\n", est.windowsText())
	writeUserEstimates(w, est)
	p.writeBudget(w, invs)
	w("Then incremental passes (`mailshift sync`) until the cutover; the cutover window is one final sync plus verification.\n")
	w("Deletions on the source: `%s`.\n\n", p.Config.Sync.Deletions)
	return nil
}

// scopeInventory is what collect found of each of rows, with its folder
// mapping.
func (p *Project) scopeInventory(rows []users.Row) ([]userInv, error) {
	invs := make([]userInv, 0, len(rows))
	for _, r := range rows {
		src, err := p.account(r.SourceUser, state.SideSource)
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return nil, err
		}
		dst, err := p.account(r.SourceUser, state.SideTarget)
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return nil, err
		}
		ui := userInv{row: r, src: src, dst: dst}
		for _, f := range src.Folders {
			ui.msgs += int64(f.Messages)
			ui.bytes += max(f.Bytes, 0)
			ui.folders++
		}
		if src.Error == "" && dst.Error == "" {
			ui.plan, ui.planErr = p.mapFolders(src.Description, src.Folders, dst.Description, dst.Folders)
		}
		invs = append(invs, ui)
	}
	return invs, nil
}

// writeSignOff says who approved the plan for rows: the approval being
// recorded, or else the approvals that hold for them now.
func writeSignOff(w func(string, ...any), rows []users.Row, hash string, approval *state.Approval, current map[string]userApproval) {
	if approval != nil {
		w("Approved by **%s**%s on %s.\n", approval.By, roleText(approval.Role), approval.At.UTC().Format("2006-01-02 15:04 MST"))
		return
	}
	type group struct {
		a     userApproval
		users []string
	}
	var groups []*group
	byID := map[int64]*group{}
	var none []string
	for _, r := range rows {
		a, ok := current[r.SourceUser]
		if !ok || !a.Holds {
			none = append(none, r.SourceUser)
			continue
		}
		g := byID[a.ID]
		if g == nil {
			g = &group{a: a}
			byID[a.ID] = g
			groups = append(groups, g)
		}
		g.users = append(g.users, r.SourceUser)
	}
	if len(groups) == 1 && len(none) == 0 && groups[0].a.Hash == hash {
		w("Approved by **%s**%s on %s.\n", groups[0].a.By, roleText(groups[0].a.Role), groups[0].a.At.UTC().Format("2006-01-02 15:04 MST"))
		return
	}
	for _, g := range groups {
		w("- %s: approved by **%s** on %s (plan `%s`).\n", abbreviate(g.users, 10), g.a.By, g.a.At.UTC().Format("2006-01-02 15:04 MST"), g.a.Hash[:min(12, len(g.a.Hash))])
	}
	if len(none) == len(rows) {
		w("Not approved yet: `mailshift approve --yes --by \"Name\"`.\n")
	} else if len(none) > 0 {
		w("- %s: not approved yet, or the plan changed since: `mailshift approve --yes --by \"Name\"` with --users or --batch.\n", abbreviate(none, 10))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func nonZero(r rune) rune {
	if r == 0 {
		return '-'
	}
	return r
}

// roleText is ", ROLE" or "".
func roleText(role string) string {
	if role == "" {
		return ""
	}
	return ", " + role
}

// stepDates says when each step last happened for any of rows, by step.
func (p *Project) stepDates(rows []users.Row) (map[string]string, error) {
	first := map[string]time.Time{}
	note := func(step string, t time.Time) {
		if !t.IsZero() && (first[step].IsZero() || t.After(first[step])) {
			first[step] = t
		}
	}
	for _, r := range rows {
		u, err := p.userRecord(r.SourceUser)
		if errors.Is(err, state.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		note("collect", u.CollectedAt)
		note("test", u.TestedAt)
		note("bulk", u.BulkDoneAt)
		note("sync", u.SyncedAt)
		note("cutover", u.CutoverAt)
	}
	if a, err := p.Store.LatestApproval(); err == nil {
		note("approve", a.At)
	}
	out := map[string]string{}
	for s, t := range first {
		out[s] = t.Local().Format("2006-01-02")
	}
	return out, nil
}

// userInv is one user's inventory as the scope of work shows it.
type userInv struct {
	row      users.Row
	src, dst state.Account
	msgs     int64
	bytes    int64
	folders  int
	// plan is the user's folder mapping, or planErr why there is none;
	// mapped once for the scope's sections and files.
	plan    []mapping.Entry
	planErr error
}

// writeMapping writes every user's folder mapping.
func (p *Project) writeMapping(w func(string, ...any), invs []userInv) {
	w("## Folder mapping\n\n")
	w("Exclusions: %s. Explicit mappings: %d. Prefix: %s.\n\n", orDash(strings.Join(p.Config.Folders.Exclude, ", ")), len(p.Config.Folders.Map), orDash(p.Config.Folders.Prefix))
	for _, ui := range invs {
		if ui.src.Error != "" || ui.dst.Error != "" {
			continue
		}
		plan, err := ui.plan, ui.planErr
		w("### %s\n\n", ui.row.SourceUser)
		if err != nil {
			w("Mapping error: %s\n\n", err)
			continue
		}
		w("| source folder | target folder | why |\n|---|---|---|\n")
		for _, e := range plan {
			tgt := e.Target
			if e.Excluded {
				tgt = "*(excluded)*"
			} else if e.Create {
				tgt += " *(created)*"
			}
			w("| %s | %s | %s |\n", e.Source, tgt, e.Reason)
		}
		w("\n")
	}
}

// writeProblems writes the problems collect found for the plan's users and
// those left out of it, and returns them.
func (p *Project) writeProblems(w func(string, ...any), rows []users.Row, left []UserFailure) ([]state.Problem, error) {
	w("## Problems found\n\n")
	all, err := p.Store.Problems()
	if err != nil {
		return nil, err
	}
	selected := map[string]bool{}
	for _, r := range rows {
		selected[r.SourceUser] = true
	}
	for _, f := range left {
		selected[f.User] = true
	}
	var problems []state.Problem
	for _, pr := range all {
		if selected[pr.User] {
			problems = append(problems, pr)
		}
	}
	switch {
	case len(problems) == 0:
		w("None.\n\n")
	case len(rows) > scopeDetailUsers || len(problems) > scopeDetailUsers:
		writeProblemSummary(w, problems)
	default:
		w("| user | kind | folder | problem | what will be done |\n|---|---|---|---|---|\n")
		for _, pr := range problems {
			w("| %s | %s | %s | %s | %s |\n", pr.User, pr.Kind, orDash(pr.Folder), pr.Detail, pr.Action)
		}
		w("\n")
	}
	return problems, nil
}
