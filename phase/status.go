package phase

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// UserStatus is where one user stands; its JSON form is the stable
// interface of `status --json`.
type UserStatus struct {
	SourceUser    string     `json:"source_user"`
	TargetUser    string     `json:"target_user"`
	Batch         string     `json:"batch"`
	Stage         string     `json:"stage"` // new, collected, tested, bulk-running, bulk-done, synced, cut-over
	CollectedAt   *time.Time `json:"collected_at,omitempty"`
	TestedAt      *time.Time `json:"tested_at,omitempty"`
	BulkStartedAt *time.Time `json:"bulk_started_at,omitempty"`
	BulkDoneAt    *time.Time `json:"bulk_done_at,omitempty"`
	SyncedAt      *time.Time `json:"synced_at,omitempty"`
	CutoverAt     *time.Time `json:"cutover_at,omitempty"`
	PausedUntil   *time.Time `json:"paused_until,omitempty"` // copying waits until then, see PausedFor
	// PausedFor says why the user is paused: "windows" (outside
	// throttle.windows), "budget" (throttle.daily_per_user spent),
	// "limits" (the server said the account's limits are exceeded).
	PausedFor string `json:"paused_for,omitempty"`
	// EstimatedBulkSeconds is the copying time of the user's data not
	// copied yet, at the planned rate (see StatusReport.Estimate).
	EstimatedBulkSeconds float64 `json:"estimated_bulk_seconds"`
	// Messages and Bytes are the source's as the last collect counted
	// them (at CollectedAt); 0 if never collected.
	Messages int64 `json:"source_messages"`
	Bytes    int64 `json:"source_bytes"`
	// Copied and CopiedBytes are every message on the target that
	// mailshift copied, whenever it arrived on the source.
	Copied      int64 `json:"copied_messages"`
	CopiedBytes int64 `json:"copied_bytes"`
	// CopiedSource are the copied messages among those the last collect
	// counted, to compare with Messages and Bytes: never above them.
	CopiedSource      int64 `json:"copied_source_messages"`
	CopiedSourceBytes int64 `json:"copied_source_bytes"`
	// CopiedNew are the copied messages the last collect did not count:
	// new on the source since (or in folders created since).
	CopiedNew      int64 `json:"copied_new_messages"`
	CopiedNewBytes int64 `json:"copied_new_bytes"`
	// CopiedGone are copied messages of a folder beyond what the last
	// collect counted in it: deleted on the source after they were
	// copied (the target keeps them unless sync.deletions says otherwise).
	CopiedGone     int64  `json:"copied_gone_messages"`
	FailedMessages int64  `json:"failed_messages"`
	ErrorStep      string `json:"error_step,omitempty"`
	Error          string `json:"error,omitempty"`
	// Approved: the user's approval (the newest that covers it) holds.
	Approved   bool       `json:"approved"`
	ApprovedBy string     `json:"approved_by,omitempty"` // of the user's approval, held or not
	ApprovedAt *time.Time `json:"approved_at,omitempty"`
	// Waiting is why the next plain step (bulk, then sync) leaves the user
	// out and what to run: not collected, collect failed, not approved,
	// plan changed for this user, bulk not finished, cut over. "" when
	// nothing holds the user back.
	Waiting string `json:"waiting"`
	// SkippedFolders are the user's folders the last pass that reached
	// them could not copy, with the reason; the next pass tries them again.
	SkippedFolders []SkippedFolder `json:"skipped_folders"`
	// UploadedItems counts the contacts ("contacts") and calendar items,
	// tasks and notes ("calendar") on the CardDAV and CalDAV servers.
	UploadedItems map[string]int `json:"uploaded_items,omitempty"`
}

// SkippedFolder is a folder a pass skipped, and since when.
type SkippedFolder struct {
	Folder   string    `json:"folder"`
	Reason   string    `json:"reason"`
	FailedAt time.Time `json:"failed_at"`
}

// ApprovalStatus is an approval that is the current one of some of the
// selected users.
type ApprovalStatus struct {
	ID    int64     `json:"id"`
	Hash  string    `json:"hash"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
	Users []string  `json:"users"` // the selected users whose approval it is
	Holds bool      `json:"holds"` // the plan for its users is unchanged
}

// StatusReport is where the whole project stands.
type StatusReport struct {
	// SchemaVersion is the version of this JSON form (phase/schemas):
	// fields are only ever added within a version.
	SchemaVersion int        `json:"schema_version"`
	PlanHash      string     `json:"plan_hash"`             // of the plan for every user of the users file
	ApprovedBy    string     `json:"approved_by,omitempty"` // of the newest approval
	ApprovedAt    *time.Time `json:"approved_at,omitempty"`
	PlanValid     bool       `json:"plan_approved"` // every selected user is approved under an unchanged plan
	TestPassed    bool       `json:"test_passed"`
	// Approvals are the approvals that are the current one of some
	// selected user, oldest first.
	Approvals []ApprovalStatus `json:"approvals"`
	Users     []UserStatus     `json:"users"`
	// Estimate plans the bulk copy still to do, all users together.
	Estimate *BulkEstimate `json:"bulk_estimate,omitempty"`
	// Removed counts the users the state still knows that are no longer
	// in the users file: left out of Users, the plan and the reports (not
	// even named), and kept until `mailshift forget` deletes them.
	Removed int `json:"removed_users_kept"`
	// Shard is the shard this state is of (a --shard run); absent for
	// the project's own state.
	Shard *ShardStatus `json:"shard,omitempty"`
	// MergedShards are the shard states merged into this project state
	// (`mailshift merge`), by the time of their last merge.
	MergedShards []MergedShardStatus `json:"merged_shards,omitempty"`
}

// ShardStatus is the shard a state is of.
type ShardStatus struct {
	Index     int    `json:"index"` // 1 to Count
	Count     int    `json:"count"`
	PlanHash  string `json:"plan_hash"`  // of the approved plan it was split from
	SplitHash string `json:"split_hash"` // of that plan's split into Count shards
	Users     int    `json:"users"`
	// SeededFrom is the project state the shard's state started from.
	SeededFrom string    `json:"seeded_from"`
	SeededAt   time.Time `json:"seeded_at"`
}

// MergedShardStatus is a shard state merged into the project state.
type MergedShardStatus struct {
	Index     int       `json:"index"`
	Count     int       `json:"count"`
	PlanHash  string    `json:"plan_hash"`
	SplitHash string    `json:"split_hash"`
	Users     int       `json:"users"`
	Path      string    `json:"path"` // the shard state file as merge was given it
	MergedAt  time.Time `json:"merged_at"`
}

// Status reports where every selected user stands. It reads the state in
// a fixed number of queries (withSnapshot), whatever the number of users.
func Status(p *Project, sel Selection) (rep StatusReport, err error) {
	err = p.withSnapshot(false, func(v *Project) error {
		rep, err = status(v, sel)
		return err
	})
	return rep, err
}

func status(p *Project, sel Selection) (StatusReport, error) {
	rows, err := p.selectUsers(sel)
	if err != nil {
		return StatusReport{}, err
	}
	rep := StatusReport{SchemaVersion: SchemaVersion, PlanHash: p.PlanHash(), Approvals: []ApprovalStatus{}, Users: []UserStatus{}}
	if err := p.statusHead(&rep); err != nil {
		return rep, err
	}
	approvals, err := p.userApprovals()
	if err != nil {
		return rep, err
	}
	rep.PlanValid = len(rows) > 0
	byID := map[int64]int{}
	rep.TestPassed = p.requireTest() == nil
	est, err := p.estimateBulk()
	if err != nil {
		return rep, err
	}
	if est.Bytes > 0 {
		rep.Estimate = &est
	}
	for _, r := range rows {
		u, err := p.stateUser(r)
		if err != nil {
			return rep, err
		}
		c, err := p.userCounts(r.SourceUser)
		if err != nil {
			return rep, err
		}
		us := UserStatus{
			SourceUser: u.SourceUser, TargetUser: u.TargetUser, Batch: u.Batch,
			CollectedAt: timePtr(u.CollectedAt), TestedAt: timePtr(u.TestedAt),
			BulkStartedAt: timePtr(u.BulkStartedAt), BulkDoneAt: timePtr(u.BulkDoneAt),
			SyncedAt: timePtr(u.SyncedAt), CutoverAt: timePtr(u.CutoverAt),
			Copied: c.Copied, CopiedBytes: c.CopiedBytes, FailedMessages: c.Failed,
			ErrorStep: string(u.ErrorStep), Error: u.Error,
			SkippedFolders: []SkippedFolder{},
		}
		if err := p.skippedAndItems(&us); err != nil {
			return rep, err
		}
		if err := p.compareWithSource(&us); err != nil {
			return rep, err
		}
		if a, ok := approvals[r.SourceUser]; ok {
			us.Approved, us.ApprovedBy, us.ApprovedAt = a.Holds, a.By, timePtr(a.At)
			i, seen := byID[a.ID]
			if !seen {
				i = len(rep.Approvals)
				byID[a.ID] = i
				rep.Approvals = append(rep.Approvals, ApprovalStatus{ID: a.ID, Hash: a.Hash, By: a.By, At: a.At.UTC(), Holds: a.Holds})
			}
			rep.Approvals[i].Users = append(rep.Approvals[i].Users, r.SourceUser)
		}
		rep.PlanValid = rep.PlanValid && us.Approved
		if us.Waiting, err = p.statusWaiting(r, approvals); err != nil {
			return rep, err
		}
		us.Stage = stage(u)
		if u.BulkDoneAt.IsZero() {
			us.EstimatedBulkSeconds = est.Users[u.SourceUser].Seconds()
		}
		if !u.PausedUntil.IsZero() && (u.BulkDoneAt.IsZero() || (u.PausedReason != "" && u.PausedReason != state.PauseWindows)) {
			us.PausedUntil, us.PausedFor = timePtr(u.PausedUntil), cmp.Or(u.PausedReason, state.PauseWindows)
		}
		rep.Users = append(rep.Users, us)
	}
	slices.SortFunc(rep.Approvals, func(a, b ApprovalStatus) int { return cmp.Compare(a.ID, b.ID) })
	return rep, nil
}

// pstSource tells whether the project's source is PST files, the only
// source of items that are not mail.
func (p *Project) pstSource() bool {
	u := p.Config.Source.URL
	return strings.HasPrefix(u, "pst:") || strings.HasPrefix(u, "pstscan:")
}

// skippedAndItems fills in the folders the user's passes skipped and
// the items that are not mail uploaded to CardDAV and CalDAV.
func (p *Project) skippedAndItems(us *UserStatus) error {
	ff, err := p.folderFailures(us.SourceUser)
	if err != nil {
		return err
	}
	for _, f := range ff {
		us.SkippedFolders = append(us.SkippedFolders, SkippedFolder{Folder: f.Folder, Reason: f.Reason, FailedAt: f.FailedAt.UTC()})
	}
	if !p.pstSource() {
		return nil // items that are not mail come from PST files only
	}
	items, err := p.Store.PIMCounts(us.SourceUser)
	if err != nil {
		return err
	}
	if len(items) > 0 {
		us.UploadedItems = items
	}
	return nil
}

// statusHead fills in what the status says of the whole state: the users
// no longer in the users file, the newest approval, the shard it is of
// and the shard states merged into it.
func (p *Project) statusHead(rep *StatusReport) error {
	removed, err := p.removedUsers()
	if err != nil {
		return err
	}
	rep.Removed = len(removed)
	if a, err := p.Store.LatestApproval(); err == nil {
		rep.ApprovedBy, rep.ApprovedAt = a.By, timePtr(a.At)
	}
	if sh := p.Shard; sh != nil {
		rep.Shard = &ShardStatus{Index: sh.Index, Count: sh.Count, PlanHash: sh.PlanHash, SplitHash: sh.SplitHash,
			Users: len(sh.Users), SeededFrom: sh.SeededFrom, SeededAt: sh.SeededAt.UTC()}
	}
	ms, err := p.Store.MergedShards()
	if err != nil {
		return err
	}
	for _, m := range ms {
		rep.MergedShards = append(rep.MergedShards, MergedShardStatus{Index: m.Index, Count: m.Count, PlanHash: m.PlanHash,
			SplitHash: m.SplitHash, Users: len(m.Users), Path: m.Path, MergedAt: m.MergedAt.UTC()})
	}
	return nil
}

// statusNotes are what the status table says of a user beside the
// counts: failures, what it waits for, skipped folders, items uploaded.
func statusNotes(u UserStatus) []string {
	var notes []string
	if u.Error != "" && !(u.ErrorStep == string(state.StepCollect) && strings.HasPrefix(u.Waiting, "collect failed")) {
		notes = append(notes, "failed: "+u.ErrorStep+": "+firstLine(u.Error))
	}
	switch {
	case u.CutoverAt != nil && strings.HasPrefix(u.Waiting, "cut over"):
		// the stage says it; a footnote says what it means, once
	case u.Waiting != "":
		notes = append(notes, "waiting: "+u.Waiting)
	}
	if n := len(u.SkippedFolders); n > 0 {
		notes = append(notes, fmt.Sprintf("%d folder(s) skipped: %s", n, skippedNames(u.SkippedFolders)))
	}
	if u.CopiedGone > 0 {
		notes = append(notes, fmt.Sprintf("%d copied message(s) no longer on the source at the last collect", u.CopiedGone))
	}
	if len(u.UploadedItems) > 0 {
		notes = append(notes, fmt.Sprintf("%d contact(s) and %d calendar item(s) uploaded", u.UploadedItems["contacts"], u.UploadedItems["calendar"]))
	}
	return notes
}

// compareWithSource fills in the source's messages and bytes as the last
// collect counted them, and splits us's copied messages into those it
// counted and those new since, so that copied and source compare like
// with like.
func (p *Project) compareWithSource(us *UserStatus) error {
	us.CopiedNew, us.CopiedNewBytes = us.Copied, us.CopiedBytes
	a, err := p.account(us.SourceUser, state.SideSource)
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// Folder by folder (state.InventoryTally), so that one folder's
	// messages deleted after they were copied never stand in for
	// another's not copied yet.
	t, err := p.inventoryTally(us.SourceUser, a)
	if err != nil {
		return err
	}
	us.Messages, us.Bytes = t.Messages, t.Bytes
	us.CopiedSource, us.CopiedSourceBytes, us.CopiedGone = t.CopiedSource, t.CopiedSourceBytes, t.CopiedGone
	us.CopiedNew = max(us.Copied-t.Within, 0)
	us.CopiedNewBytes = max(us.CopiedBytes-t.WithinBytes, 0)
	return nil
}

// inventoryMarks are the folders of a collected account as collect saw
// them: the copied messages they cover are those collect counted.
func inventoryMarks(a state.Account) []state.FolderMark {
	marks := make([]state.FolderMark, 0, len(a.Folders))
	for _, f := range a.Folders {
		if !f.NoSelect {
			marks = append(marks, state.FolderMark{Folder: f.Name, UIDValidity: f.UIDValidity, UIDNext: f.UIDNext})
		}
	}
	return marks
}

// statusWaiting is why the next plain step leaves r out, "" if nothing
// does.
func (p *Project) statusWaiting(r users.Row, approvals map[string]userApproval) (string, error) {
	w, err := p.userGate(r, needs{approval: true, bulkDone: true, notCutOver: "plain sync and bulk copy leave it alone; `mailshift sync --post-cutover --users USER` sweeps stragglers"}, approvals)
	if err != nil || w == nil {
		return "", err
	}
	if w.gate == ErrNotApproved || w.gate == ErrPlanChanged {
		// approve would leave out a user whose last collect failed.
		if c, err := p.userGate(r, needs{cleanCollect: true}, approvals); err != nil || c != nil {
			w = c
		}
		if err != nil {
			return "", err
		}
	}
	return w.reason, nil
}

func stage(u state.User) string {
	switch {
	case !u.CutoverAt.IsZero():
		return "cut-over"
	case !u.SyncedAt.IsZero() && !u.BulkDoneAt.IsZero():
		return "synced"
	case !u.BulkDoneAt.IsZero():
		return "bulk-done"
	case !u.BulkStartedAt.IsZero():
		return "bulk-running"
	case !u.TestedAt.IsZero():
		return "tested"
	case !u.CollectedAt.IsZero():
		return "collected"
	}
	return "new"
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// RenderStatus renders a status report as a table for people.
func RenderStatus(rep StatusReport) string {
	var b strings.Builder
	approved := 0
	for _, u := range rep.Users {
		if u.Approved {
			approved++
		}
	}
	switch {
	case len(rep.Approvals) == 0:
		b.WriteString("Plan: not approved (mailshift approve)\n")
	case rep.PlanValid && len(rep.Approvals) == 1:
		a := rep.Approvals[0]
		fmt.Fprintf(&b, "Plan: approved by %s on %s\n", a.By, a.At.Format("2006-01-02 15:04"))
	default:
		fmt.Fprintf(&b, "Plan: %d of %d users approved under an unchanged plan\n", approved, len(rep.Users))
		for _, a := range rep.Approvals {
			verdict := "holds"
			if !a.Holds {
				verdict = "CHANGED since: approve again"
			}
			fmt.Fprintf(&b, "  approved by %s on %s for %s: %s\n", a.By, a.At.Format("2006-01-02 15:04"), abbreviate(a.Users, 5), verdict)
		}
	}
	if rep.TestPassed {
		b.WriteString("Test migration: passed\n")
	} else {
		b.WriteString("Test migration: none passed for this plan\n")
	}
	if e := rep.Estimate; e != nil {
		b.WriteString("Bulk copy to do: " + strings.ReplaceAll(e.text(), "**", "") + "\n")
		if e.WindowsNote != "" {
			b.WriteString(strings.ReplaceAll(e.windowsText(), "**", "") + "\n")
		}
	}
	writeShards(&b, rep)
	if rep.Removed > 0 {
		fmt.Fprintf(&b, "%d user(s) no longer in the users file: left out here, their state kept (`mailshift forget` names them and deletes it)\n", rep.Removed)
	}
	b.WriteString("\n")
	if len(rep.Users) > reportDetailUsers {
		writeStatusSummary(&b, rep)
	} else {
		writeUserTable(&b, rep.Users)
	}
	return b.String()
}

// writeUserTable writes a table of users, one a line, with what each is
// waiting for or failed at, and the notes its cells need.
func writeUserTable(b *strings.Builder, users []UserStatus) {
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tBATCH\tSTAGE\tCOPIED/SOURCE\tSIZE COPIED/SOURCE\tFAILED\tLAST ERROR / WAITING FOR")
	var news, gone, cutOver bool
	for _, u := range users {
		gone = gone || u.CopiedGone > 0
		cutOver = cutOver || (u.CutoverAt != nil && strings.HasPrefix(u.Waiting, "cut over"))
		errText := strings.Join(statusNotes(u), "; ")
		if u.PausedUntil != nil {
			errText = "paused until " + u.PausedUntil.Local().Format("2006-01-02 15:04 MST") + " (" + pauseReason(u.PausedFor) + ")"
		}
		copied, size := copiedCells(u)
		news = news || u.CopiedNew > 0
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", u.SourceUser, orDash(u.Batch), u.Stage, copied, size, u.FailedMessages, errText)
	}
	tw.Flush()
	writeTrimmed(b, table.String())
	b.WriteString("\nSOURCE: the source's messages and size as the last `mailshift collect` counted them; COPIED: those of them on the target.\n")
	if news {
		b.WriteString("+N: messages new on the source since that collect, copied too (run collect again to count them in SOURCE).\n")
	}
	if cutOver {
		b.WriteString("cut-over: plain sync and bulk copy leave these users alone; `mailshift sync --post-cutover --users USER` sweeps stragglers.\n")
	}
	if gone {
		b.WriteString("Messages deleted on the source after they were copied stay on the target (sync.deletions) and are named in the notes, not in COPIED.\n")
	}
}

// copiedCells renders a user's copied messages and bytes against the
// source's as collect counted them, with those new since after a "+".
func copiedCells(u UserStatus) (msgs, size string) {
	if u.CollectedAt == nil && u.Messages == 0 {
		msgs, size = fmt.Sprintf("%d/-", u.CopiedSource), FormatBytes(u.CopiedSourceBytes)+"/-"
	} else {
		msgs = fmt.Sprintf("%d/%d", u.CopiedSource, u.Messages)
		size = FormatBytes(u.CopiedSourceBytes) + "/" + FormatBytes(u.Bytes)
	}
	if u.CopiedNew > 0 {
		msgs += fmt.Sprintf(" +%d", u.CopiedNew)
		size += " +" + FormatBytes(u.CopiedNewBytes)
	}
	return msgs, size
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// skippedNames lists skipped folders by name, the first few.
func skippedNames(fs []SkippedFolder) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = fmt.Sprintf("%q", f.Folder)
	}
	return abbreviate(names, 3)
}

// pauseReason says why a user is paused, for the status table.
func pauseReason(reason string) string {
	switch reason {
	case state.PauseBudget:
		return "throttle.daily_per_user spent"
	case state.PauseLimits:
		return "the server's account limits exceeded"
	}
	return "outside throttle.windows"
}
