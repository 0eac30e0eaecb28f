package phase

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// RepairOptions selects the users to repair and how.
type RepairOptions struct {
	Selection
	// DryRun lists what repair would do and changes nothing, on either
	// server or in the state.
	DryRun bool
	// Force removes messages from a target folder beyond sync.max_delete.
	Force bool
	// RemoveExtra removes, under sync.deletions mirror, target messages
	// that no copy claims. They may be mail delivered to the target after
	// MX was switched: never without being asked.
	RemoveExtra bool
}

// RepairCounts are what a repair did.
type RepairCounts struct {
	Copied    int64 `json:"copied"` // messages the repair's pass copied (again)
	Bytes     int64 `json:"bytes"`
	FlagsSet  int64 `json:"flags_set"`
	Removed   int64 `json:"removed"`   // wrong copies and messages only on the target (sync.deletions mirror)
	Forgotten int64 `json:"forgotten"` // recorded copies given up so that they are copied again
	Refused   int64 `json:"refused"`   // messages the target refused again
}

func (c *RepairCounts) add(o RepairCounts) {
	c.Copied += o.Copied
	c.Bytes += o.Bytes
	c.FlagsSet += o.FlagsSet
	c.Removed += o.Removed
	c.Forgotten += o.Forgotten
	c.Refused += o.Refused
}

// RepairResult is what a repair found, did and left.
type RepairResult struct {
	Users  int  `json:"users"`
	DryRun bool `json:"dry_run"`
	// Found is what verification found first: each difference with what
	// repair does about it (on a dry run, what it would do).
	Found VerifyResult `json:"found"`
	RepairCounts
	// Left is what verification found after the repair (on a dry run,
	// what was found: nothing changed).
	Left    VerifyResult  `json:"left"`
	Failed  []UserFailure `json:"failed"`
	Waiting []UserFailure `json:"waiting"`
	// Held are the target folders where removals were held back by
	// sync.max_delete (run again with --force to remove them).
	Held []UserFolderFailure `json:"held_back"`
}

func emptyVerify() VerifyResult {
	return VerifyResult{Failed: []UserFailure{}, Waiting: []UserFailure{}, List: []Difference{}}
}

// merge adds one user's verification into v.
func (v *VerifyResult) merge(u VerifyResult) {
	v.Users++
	v.Folders += u.Folders
	v.Messages += u.Messages
	v.Differences += u.Differences
	v.Extra += u.Extra
	v.List = append(v.List, u.List[:min(len(u.List), max(0, maxListed-len(v.List)))]...)
}

// Repair makes the targets of the selected users match their sources as
// verification finds them: it verifies each user, then copies again what
// is missing, gone or different (forgetting the recorded copy, and under
// sync.deletions mirror removing a wrong one), settles unfinished copies,
// tries refused messages again, sets the flags that differ to the
// source's, and under mirror removes target messages no copy claims. Then
// it verifies again and reports what is left. Like sync it needs bulk copy
// done for the user under an approved plan, and leaves users cut over
// alone. With DryRun it only verifies and lists what it would do.
func Repair(ctx context.Context, p *Project, opts RepairOptions) (RepairResult, error) {
	res := RepairResult{DryRun: opts.DryRun, Found: emptyVerify(), Left: emptyVerify(),
		Failed: []UserFailure{}, Waiting: []UserFailure{}, Held: []UserFolderFailure{}}
	rows, err := p.selectUsers(opts.Selection)
	if err != nil {
		return res, err
	}
	if !opts.DryRun {
		if err := p.syncUsers(); err != nil {
			return res, err
		}
	}
	rows, left, err := p.partition(rows, needs{approval: true, bulkDone: true,
		notCutOver: "repair leaves it alone (its mail is delivered to the target now); `mailshift verify --users USER` still compares it"})
	if err != nil {
		return res, err
	}
	res.Waiting = failures(left)
	if len(rows) == 0 {
		return res, noneReady("repair", left)
	}
	res.Users = len(rows)
	var mu sync.Mutex
	res.Failed = p.forEachUser(ctx, rows, func(ctx context.Context, r users.Row) error {
		ur, err := p.repairUser(ctx, r, opts)
		mu.Lock()
		defer mu.Unlock()
		res.Found.merge(ur.found)
		res.Left.merge(ur.left)
		res.RepairCounts.add(ur.counts)
		for _, f := range ur.held {
			res.Held = append(res.Held, UserFolderFailure{User: r.SourceUser, FolderFailure: f})
		}
		return err
	})
	slices.SortFunc(res.Held, func(a, b UserFolderFailure) int {
		if a.User != b.User {
			return strings.Compare(a.User, b.User)
		}
		return strings.Compare(a.Folder, b.Folder)
	})
	if err := stepOutcome(ctx, "repair", res.Failed, res.Waiting); err != nil {
		return res, err
	}
	if res.Left.Differences > 0 {
		if opts.DryRun {
			return res, fmt.Errorf("%w: %d; run `mailshift repair` without --dry-run to repair them", ErrDifferences, res.Left.Differences)
		}
		return res, fmt.Errorf("%w: %d left after repair", ErrDifferences, res.Left.Differences)
	}
	return res, nil
}

// userRepair is one user's repair.
type userRepair struct {
	found, left VerifyResult
	counts      RepairCounts
	held        []FolderFailure
}

// repairUser verifies one user, repairs what verification found and
// verifies again.
func (p *Project) repairUser(ctx context.Context, r users.Row, opts RepairOptions) (userRepair, error) {
	ur := userRepair{found: emptyVerify(), left: emptyVerify()}
	s, err := p.openSessionRetrying(ctx, r, quickPass{})
	if err != nil {
		return ur, err
	}
	c, err := s.check(ctx, true, opts.RemoveExtra)
	ur.found = c.res
	if err != nil || opts.DryRun || len(c.all) == 0 {
		s.Close()
		ur.left = ur.found
		return ur, err
	}
	w := plan(c, p.Config.Sync.MaxDelete, opts.Force)
	ur.held = w.held
	err = w.before(ctx, s, &ur.counts)
	s.Close()
	if err != nil {
		return ur, err
	}
	st, err := p.passUser(ctx, r, copyOptions{deletions: p.Config.Sync.Deletions, force: opts.Force})
	ur.counts.Copied += st.Messages
	ur.counts.Bytes += st.Bytes
	ur.counts.FlagsSet += st.FlagUpdates
	ur.counts.Removed += st.Expunged
	ur.counts.Refused += st.FailedMsgs
	if err != nil {
		return ur, fmt.Errorf("repair's copy pass: %w", err)
	}
	if err := w.after(ctx, p, r, &ur.counts); err != nil {
		return ur, err
	}
	ur.left, err = p.verifyUserExtras(ctx, r, opts.RemoveExtra)
	if err != nil {
		return ur, fmt.Errorf("verification after repair: %w", err)
	}
	p.log().Info("repaired", "user", r.SourceUser, "found", ur.found.Differences, "left", ur.left.Differences,
		"copied", ur.counts.Copied, "flags_set", ur.counts.FlagsSet, "removed", ur.counts.Removed)
	return ur, nil
}

// repairWork is what repair does for one user, sorted out of the
// differences verification found.
type repairWork struct {
	flags  []Difference        // copies whose flags are set to the source's
	forget []state.Pair        // copies given up, to be copied again
	wrong  map[string][]uint32 // by target folder, wrong copies to remove (mirror)
	extra  map[string][]uint32 // by target folder, messages only on the target to remove (mirror)
	dirty  map[string]bool     // source folders the pass must list in full
	held   []FolderFailure     // target folders whose removals sync.max_delete holds back
	seen   map[[2]string]bool  // (source folder, key) already sorted out
}

// plan sorts a user's differences into repair work. A message that is
// copied again needs no flags set; removals from a target folder beyond
// maxDelete percent of it are held back unless forced.
func plan(c *userCheck, maxDelete int, force bool) *repairWork {
	w := &repairWork{wrong: map[string][]uint32{}, extra: map[string][]uint32{}, dirty: map[string]bool{}, seen: map[[2]string]bool{}}
	recopy := map[[2]string]bool{}
	for _, d := range c.all {
		if d.recopies() {
			recopy[[2]string{d.Folder, d.Key}] = true
		}
	}
	for _, d := range c.all {
		id := [2]string{d.Folder, d.Key}
		switch {
		case d.Kind == DiffExtra:
			w.extra[d.TargetFolder] = append(w.extra[d.TargetFolder], d.TargetUID)
		case d.Kind == DiffFlags && !recopy[id]:
			w.flags = append(w.flags, d)
		case d.recopies():
			if w.seen[id] {
				continue
			}
			w.seen[id] = true
			w.forget = append(w.forget, d.pair)
			w.dirty[d.Folder] = true
			if d.Kind != DiffGone && c.mirror && d.TargetUID != 0 {
				w.wrong[d.TargetFolder] = append(w.wrong[d.TargetFolder], d.TargetUID)
			}
		case d.Kind == DiffMissing, d.Kind == DiffUnsettled, d.Kind == DiffRefused, d.Kind == DiffFolder:
			w.dirty[d.Folder] = true
		}
	}
	for folder := range unionKeys(w.wrong, w.extra) {
		n := len(w.wrong[folder]) + len(w.extra[folder])
		size := len(c.targets[folder])
		if !force && size > 0 && n*100 > maxDelete*size {
			w.held = append(w.held, FolderFailure{Folder: folder, Reason: fmt.Sprintf(
				"%d of its %d messages to remove, more than sync.max_delete (%d%%); nothing removed there: if this is expected, run `mailshift repair --force`", n, size, maxDelete)})
			delete(w.wrong, folder)
			delete(w.extra, folder)
		}
	}
	slices.SortFunc(w.held, func(a, b FolderFailure) int { return strings.Compare(a.Folder, b.Folder) })
	return w
}

func unionKeys(a, b map[string][]uint32) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// before does what comes before the copy pass, over the verification's
// session: flags set, wrong copies removed, copies to redo forgotten, and
// the folders concerned marked for a full listing (so the pass settles
// their unfinished copies and tries their refused messages again).
func (w *repairWork) before(ctx context.Context, s *session, n *RepairCounts) error {
	p := s.p
	var done []state.Pair
	for _, d := range w.flags {
		err := s.dst.SetFlags(ctx, d.TargetFolder, d.TargetUID, d.flags)
		if err != nil {
			if !folderFailure(err) && !errors.Is(err, mailbox.ErrFolderGone) {
				return fmt.Errorf("set flags on %q uid %d: %w", d.TargetFolder, d.TargetUID, err)
			}
			p.log().Warn("flags not set", "user", s.row.SourceUser, "folder", d.TargetFolder, "uid", d.TargetUID, "error", err.Error())
			continue
		}
		pr := d.pair
		pr.Flags = d.flags
		done = append(done, pr)
		n.FlagsSet++
	}
	if err := p.Store.PutPairs(done); err != nil {
		return stopUser(err)
	}
	for _, folder := range foldersOf(w.wrong) {
		removed, err := expunge(ctx, s.dst, folder, w.wrong[folder])
		n.Removed += removed
		if err != nil {
			return err
		}
	}
	if err := p.forget(w.forget); err != nil {
		return err
	}
	n.Forgotten += int64(len(w.forget))
	return p.listInFull(s.row.SourceUser, w.dirty)
}

// after removes, under sync.deletions mirror, the messages only on the
// target that verification found and that no copy claims now that the
// pass settled the unfinished ones.
func (w *repairWork) after(ctx context.Context, p *Project, r users.Row, n *RepairCounts) error {
	if len(w.extra) == 0 {
		return nil
	}
	pairs, err := p.Store.UserPairs(r.SourceUser)
	if err != nil {
		return stopUser(err)
	}
	claimed := map[string]map[uint32]bool{}
	for _, pr := range pairs {
		if claimed[pr.TargetFolder] == nil {
			claimed[pr.TargetFolder] = map[uint32]bool{}
		}
		claimed[pr.TargetFolder][pr.TargetUID] = true
	}
	dst, err := p.openTarget(ctx, r)
	if err != nil {
		return err
	}
	defer dst.Close()
	for _, folder := range foldersOf(w.extra) {
		var uids []uint32
		for _, uid := range w.extra[folder] {
			if !claimed[folder][uid] {
				uids = append(uids, uid)
			}
		}
		removed, err := expunge(ctx, dst, folder, uids)
		n.Removed += removed
		if err != nil {
			return err
		}
	}
	return nil
}

// expunger is the part of a target repair removes messages with.
type expunger interface {
	Expunge(ctx context.Context, folder string, uids []uint32) error
}

// expunge removes uids from a target folder; a folder gone meanwhile has
// nothing left to remove.
func expunge(ctx context.Context, dst expunger, folder string, uids []uint32) (int64, error) {
	if len(uids) == 0 {
		return 0, nil
	}
	err := dst.Expunge(ctx, folder, uids)
	if errors.Is(err, mailbox.ErrFolderGone) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("remove %d messages from target folder %q: %w", len(uids), folder, err)
	}
	return int64(len(uids)), nil
}

// listInFull makes the next pass list the given source folders in full
// instead of asking the source only what changed: their sync cursors keep
// their place and forget the modification sequence.
func (p *Project) listInFull(user string, folders map[string]bool) error {
	if len(folders) == 0 {
		return nil
	}
	curs, err := p.Store.Cursors(user)
	if err != nil {
		return stopUser(err)
	}
	for _, c := range curs {
		if folders[c.SourceFolder] && c.HighestModSeq != 0 {
			c.HighestModSeq = 0
			if err := p.Store.PutCursor(c); err != nil {
				return stopUser(err)
			}
		}
	}
	return nil
}

// foldersOf is the folders of m, sorted.
func foldersOf(m map[string][]uint32) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// RenderRepair tells a person what a repair found, did and left, each
// difference named subject first with what repair does (or, on a dry run,
// would do) about it.
func RenderRepair(res RepairResult) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	if res.Users == 0 {
		return ""
	}
	step := "repair"
	if res.DryRun {
		step = "repair --dry-run"
	}
	w("%s: %d users, %d folders, %d messages verified: %d differences\n", step, res.Found.Users, res.Found.Folders, res.Found.Messages, res.Found.Differences)
	for _, d := range res.Found.List {
		w("  %s\n", d)
	}
	if n := res.Found.Differences - int64(len(res.Found.List)); n > 0 {
		w("  ... and %d more\n", n)
	}
	for _, h := range res.Held {
		w("  held back: %s target folder %q: %s\n", h.User, h.Folder, h.Reason)
	}
	if res.DryRun {
		if res.Found.Differences > 0 {
			w("dry run: nothing changed on either server or in the state; run `mailshift repair` to do the above\n")
		}
		return b.String()
	}
	w("repaired: %d messages copied (%s), %d flags set, %d messages removed, %d recorded copies given up to copy again, %d refused again\n",
		res.Copied, FormatBytes(res.Bytes), res.FlagsSet, res.Removed, res.Forgotten, res.Refused)
	w("verified again: %d differences left\n", res.Left.Differences)
	for _, d := range res.Left.List {
		w("  left: %s\n", d)
	}
	if n := res.Left.Differences - int64(len(res.Left.List)); n > 0 {
		w("  ... and %d more\n", n)
	}
	for _, f := range res.Failed {
		w("failed: %s: %s\n", f.User, f.Reason)
	}
	return b.String()
}
