package phase

// The copy engine, which test, bulk, sync and cutover all drive. Its parts,
// one file each:
//
//   - engine.go: a user's pass (session): log in, plan the folders,
//     prepare them one by one, copy, record the cursors; failures kept to
//     the folder or message they touch;
//   - engine_folders.go: folders renamed or deleted on the source;
//   - engine_prepare.go: what a folder needs (new messages, flags,
//     deletions);
//   - engine_lanes.go: up to copy.connections_per_user lanes copying
//     folders at once;
//   - engine_batch.go: the copy of one batch in the exactly-once order;
//   - engine_settle.go: retries, and settling what a failure left undecided;
//   - engine_changes.go: flags and deletions carried to the target.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
	"github.com/mailshift/mailshift/target"
)

// copyOptions says what a pass of the copy engine does beyond copying new
// messages.
type copyOptions struct {
	deletions string // keep | mirror: what to do with messages expunged on the source
	force     bool   // ignore sync.max_delete
	windows   bool   // copy only inside throttle.windows (bulk copy)
	dryRun    bool   // only plan: change nothing on either server or in the state
	// quick lets a user's pass end after the source's LIST-STATUS when
	// nothing changed there (quickCheck): plain sync passes.
	quick bool
}

// Counts are what the copy engine did. A user's pass, a step's result and
// the totals of sync --follow all sum them with add: the one place where
// they are added up.
type Counts struct {
	Messages    int64 `json:"messages"` // appended
	Bytes       int64 `json:"bytes"`
	FailedMsgs  int64 `json:"failed_messages"` // refused by the target
	FlagUpdates int64 `json:"flag_updates"`
	Expunged    int64 `json:"expunged"`
	Folders     int   `json:"folders"`
	Unchanged   int   `json:"unchanged_folders"` // skipped because nothing changed since the last pass
}

func (c *Counts) add(o Counts) {
	c.Messages += o.Messages
	c.Bytes += o.Bytes
	c.FailedMsgs += o.FailedMsgs
	c.FlagUpdates += o.FlagUpdates
	c.Expunged += o.Expunged
	c.Folders += o.Folders
	c.Unchanged += o.Unchanged
}

// copyStats is what one pass did for one user.
type copyStats struct {
	Counts
	// items is what the pass did with the user's items that are not mail.
	items ItemCounts
	// Skipped are the folders this pass could not copy, with the reason;
	// the rest of the user's folders went on.
	Skipped []FolderFailure
	// Planned is what a dry run would do, per folder.
	Planned []FolderPlan
}

// FolderFailure is a folder a pass skipped, and why.
type FolderFailure struct {
	Folder string `json:"folder"`
	Reason string `json:"reason"`
}

// add sums o into s.
func (s *copyStats) add(o copyStats) {
	s.Counts.add(o.Counts)
	s.Skipped = append(s.Skipped, o.Skipped...)
	s.Planned = append(s.Planned, o.Planned...)
}

// errTooManyFailures stops a user after errors.max failed messages.
var errTooManyFailures = errors.New("too many failed messages")

// errOutsideWindow stops a batch between two messages when a copy window
// closes: what was fetched but not yet handed to the target is dropped
// (its intents were never written) and fetched again when the next window
// opens.
var errOutsideWindow = errors.New("outside the copy windows")

// conns is one pair of connections to a user's source and target: a lane
// of the copy engine. Neither side is safe for concurrent use.
type conns struct {
	src     source.Source
	dst     target.Target
	release func() // gives the connection slots back (throttle.max_connections)
}

func (c conns) close() {
	c.src.Close()
	c.dst.Close()
	if c.release != nil {
		c.release()
	}
}

// session is one user's open source and target for a pass. Its own conns
// plan and prepare the folders; more lanes are opened to copy.
type session struct {
	p   *Project
	row users.Row
	conns
	srcDesc mailbox.Description
	dstDesc mailbox.Description
	plan    []mapping.Entry
	srcDirs []mailbox.Folder
	dstDirs []mailbox.Folder
	failed  atomic.Int64 // messages refused in this pass
	// planned is set for a dry run: what the pass would do, per folder.
	planned *planned
	// renamed are the source folders a dry run found renamed from others:
	// they would be renamed on the target, not copied.
	renamed map[string]bool
	// foldersChanged is set when the pass created, renamed or deleted a
	// folder, or found one gone: the listing replan made is no longer what
	// the servers hold.
	foldersChanged bool
}

// openSession logs in to both sides of a user and plans the folder mapping.
func (p *Project) openSession(ctx context.Context, r users.Row) (*session, error) {
	return p.openSessionWith(ctx, r, quickPass{})
}

// openSessionWith is openSession with q's source connection, when open.
func (p *Project) openSessionWith(ctx context.Context, r users.Row, q quickPass) (*session, error) {
	c, err := p.openConnsWith(ctx, r, q)
	if err != nil {
		return nil, err
	}
	s := &session{p: p, row: r, conns: c}
	if err := s.replan(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openSessionRetrying is openSession, tried again after transient failures
// (a refused connect, a server restarting), and after a pause when the
// server says the account's limits are exceeded. The source of q, when
// open, serves the first attempt.
func (p *Project) openSessionRetrying(ctx context.Context, r users.Row, q quickPass) (*session, error) {
	rt := retrier{p: p, what: "user " + r.SourceUser}
	for {
		s, err := p.openSessionWith(ctx, r, q)
		q = quickPass{}
		if errors.Is(err, mailbox.ErrAccountLimit) {
			if err := p.waitLimits(ctx, r.SourceUser, err); err != nil {
				return nil, err
			}
			continue
		}
		if err == nil || !rt.again(ctx, err) {
			return s, rt.giveUp(err)
		}
	}
}

// replan lists both sides' folders and maps them.
func (s *session) replan(ctx context.Context) error {
	// The two sides are asked at once.
	var (
		srcErr error
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		if s.srcDesc, srcErr = s.src.Describe(ctx); srcErr != nil {
			srcErr = fmt.Errorf("source %s: %w", s.row.SourceUser, srcErr)
		} else if s.srcDirs, srcErr = s.src.Folders(ctx); srcErr != nil {
			srcErr = fmt.Errorf("source %s: list folders: %w", s.row.SourceUser, srcErr)
		}
	})
	var err error
	if s.dstDesc, err = s.p.describeTarget(ctx, s.row, s.dst); err != nil {
		err = fmt.Errorf("target %s: %w", s.row.TargetUser, err)
	} else if s.dstDirs, err = s.dst.Folders(ctx); err != nil {
		err = fmt.Errorf("target %s: list folders: %w", s.row.TargetUser, err)
	}
	wg.Wait()
	if srcErr != nil {
		return srcErr
	}
	if err != nil {
		return err
	}
	s.plan, err = s.p.mapFolders(s.srcDesc, s.srcDirs, s.dstDesc, s.dstDirs)
	if err != nil {
		return permanent(fmt.Errorf("user %s: %w", s.row.SourceUser, err))
	}
	return nil
}

// Close logs out of both sides.
func (s *session) Close() { s.conns.close() }

// listingCurrent tells whether the folders replan listed are still what
// both sides hold after a pass that did st: the pass copied, re-flagged
// and expunged nothing, skipped and lost nothing, and left every folder
// as it was. Whatever changed meanwhile without the pass is as unseen as
// it would be a moment after a fresh listing.
func (s *session) listingCurrent(st copyStats) bool {
	return !s.foldersChanged && st.Messages == 0 && st.FlagUpdates == 0 && st.Expunged == 0 &&
		st.FailedMsgs == 0 && len(st.Skipped) == 0
}

// mapFolders applies the configured folder mapping.
func (p *Project) mapFolders(srcDesc mailbox.Description, srcDirs []mailbox.Folder, dstDesc mailbox.Description, dstDirs []mailbox.Folder) ([]mapping.Entry, error) {
	return mapping.Plan(
		mapping.Endpoint{Delimiter: srcDesc.Delimiter, Folders: srcDirs},
		mapping.Endpoint{Delimiter: dstDesc.Delimiter, Folders: dstDirs},
		p.mapConfig(),
	)
}

// mapConfig is the folder mapping's part of the configuration.
func (p *Project) mapConfig() mapping.Config {
	return mapping.Config{Exclude: p.Config.Folders.Exclude, Map: p.Config.Folders.Map, Prefix: p.Config.Folders.Prefix}
}

// copyAll runs one pass of the copy engine over every mapped folder of the
// session's user: copy what is missing, carry flag changes over, apply
// deletions by policy. Folders are first prepared one after the other over
// the session's own connections (an unchanged folder costs nothing beyond
// the listing replan made; with CONDSTORE a changed one costs what
// changed); then up to copy.connections_per_user lanes copy the folders at
// once, each folder in batches by one lane.
//
// A folder that cannot be read, created or copied is skipped for this
// pass and named in the stats (and the state), and the others go on. The
// pass stops only for what concerns the whole user: the state, too many
// refused messages, a link that stays down, an interruption.
func (s *session) copyAll(ctx context.Context, opts copyOptions) (total copyStats, err error) {
	if opts.dryRun {
		s.planned, s.renamed = &planned{}, map[string]bool{}
		defer func() { total.Planned = s.planned.list() }()
	}
	cursors, err := s.cursors()
	if err != nil {
		return total, err
	}
	st, changed, err := s.followFolders(ctx, opts, cursors)
	total.add(st)
	if err != nil {
		return total, err
	}
	if changed {
		if err := s.replan(ctx); err != nil {
			return total, err
		}
		if cursors, err = s.cursors(); err != nil {
			return total, err
		}
	}
	s.startProgress()
	jobs, st, err := s.prepareAll(ctx, opts, cursors)
	total.add(st)
	if err != nil {
		return total, err
	}
	st, err = s.copyJobs(ctx, jobs, opts)
	total.add(st)
	if err != nil {
		return total, err
	}
	for _, fj := range jobs {
		if fj.failed || s.dry() {
			continue
		}
		if err := s.finish(ctx, fj); err != nil {
			if ferr := s.skipFolder(&total, fj.e.Source, err); ferr != nil {
				return total, ferr
			}
		}
	}
	return total, nil
}

// startProgress tells the progress display what the user's source holds
// in the folders the pass copies (excluded ones are not its work).
func (s *session) startProgress() {
	var msgs, bytes int64
	for _, e := range s.plan {
		if e.Excluded {
			continue
		}
		if f, ok := s.listedSource(e.Source); ok && !f.NoSelect && f.Error == "" {
			msgs += int64(f.Messages)
			bytes += max(f.Bytes, 0)
		}
	}
	s.p.progress().Start(s.row.SourceUser, msgs, bytes)
}

// cursors returns the user's sync cursors by source folder.
func (s *session) cursors() (map[string]state.Cursor, error) {
	curs, err := s.p.Store.Cursors(s.row.SourceUser)
	if err != nil {
		return nil, err
	}
	out := make(map[string]state.Cursor, len(curs))
	for _, c := range curs {
		out[c.SourceFolder] = c
	}
	return out, nil
}

// prepareAll prepares every mapped folder, one after the other, retrying
// transient failures; a folder that still fails is skipped.
func (s *session) prepareAll(ctx context.Context, opts copyOptions, cursors map[string]state.Cursor) ([]*folderJob, copyStats, error) {
	var total copyStats
	pending, err := s.p.Store.PendingFolders(s.row.SourceUser)
	if err != nil {
		return nil, total, err
	}
	var jobs []*folderJob
	for _, e := range s.preparationOrder() {
		rt := retrier{p: s.p, what: fmt.Sprintf("user %s folder %q", s.row.SourceUser, e.Source)}
		var fj *folderJob
		for {
			var st copyStats
			cur, ok := cursors[e.Source]
			fj, st, err = s.prepare(ctx, e, opts, cur, ok, pending[e.Source])
			total.add(st)
			if err == nil || !rt.again(ctx, err) {
				break
			}
			pending[e.Source] = 1 // intents may be left: take the full path
		}
		if err != nil && s.hierarchyNode(e) && !retryable(err) && s.emptyOnSource(ctx, e) {
			// An empty folder whose subfolders are there already: on a
			// target where a folder holds either mail or folders (mbox
			// storage) it can only be their parent, and nothing is lost.
			s.p.log().Info("empty folder kept as the parent of its subfolders only", "user", s.row.SourceUser, "folder", e.Source, "reason", err.Error())
			continue
		}
		if err != nil {
			if err := s.skipFolder(&total, e.Source, rt.giveUp(err)); err != nil {
				return jobs, total, err
			}
			continue
		}
		if fj != nil {
			jobs = append(jobs, fj)
		}
	}
	return jobs, total, nil
}

// preparationOrder is the plan's folders to copy, parents before their
// children, except that empty folders with subfolders come after all
// others: their subfolders are created first, so that on a target where a
// folder holds either mail or folders the subfolders get their place.
func (s *session) preparationOrder() []mapping.Entry {
	var first, last []mapping.Entry
	for _, e := range s.plan {
		switch {
		case e.Excluded:
		case s.hierarchyNode(e):
			last = append(last, e)
		default:
			first = append(first, e)
		}
	}
	return append(first, last...)
}

// emptyOnSource tells whether the source folder holds no message, asking
// the source (the listing's counters may be unknown).
func (s *session) emptyOnSource(ctx context.Context, e mapping.Entry) bool {
	_, msgs, err := s.src.Messages(ctx, e.Source)
	return err == nil && len(msgs) == 0
}

// hierarchyNode tells whether a folder holds no messages on the source and
// has subfolders in the plan.
func (s *session) hierarchyNode(e mapping.Entry) bool {
	f, ok := s.listedSource(e.Source)
	if !ok || f.Messages > 0 || f.Error != "" || s.dstDesc.Delimiter == 0 {
		return false
	}
	prefix := e.Target + string(s.dstDesc.Delimiter)
	return slices.ContainsFunc(s.plan, func(c mapping.Entry) bool { return !c.Excluded && strings.HasPrefix(c.Target, prefix) })
}

// skipFolder records that a folder failed for this pass and lets the pass
// go on, unless the failure concerns more than the folder: then it is
// returned, and stops the user.
func (s *session) skipFolder(st *copyStats, folder string, err error) error {
	if !folderFailure(err) {
		return err
	}
	user := s.row.SourceUser
	st.Skipped = append(st.Skipped, FolderFailure{Folder: folder, Reason: err.Error()})
	if s.dry() {
		return nil
	}
	s.p.log().Warn("folder skipped for this pass", "user", user, "folder", folder, "error", err.Error())
	if werr := s.p.Store.FailFolder(user, folder, err.Error(), s.p.now()); werr != nil {
		return stopUser(werr)
	}
	return nil
}

// folderFailure tells whether err, met while working on one folder,
// belongs to that folder alone: the server refused something about it, or
// answered something unreadable about it, or a guard of the engine held
// it back. A link that stays down, the state, too many refused messages
// and an interruption concern the whole user.
func folderFailure(err error) bool {
	var stop userStopError
	switch {
	case err == nil, isInterrupt(err), errors.As(err, &stop), errors.Is(err, errTooManyFailures):
		return false
	case errors.Is(err, mailbox.ErrAuth), errors.Is(err, mailbox.ErrConfig):
		return false
	}
	return !retryable(err)
}

// finish records the folder's sync cursor after a pass and clears a
// failure an earlier pass recorded for it.
func (s *session) finish(ctx context.Context, fj *folderJob) error {
	rt := retrier{p: s.p, what: fmt.Sprintf("user %s folder %q", s.row.SourceUser, fj.e.Target)}
	for {
		tf, err := s.dst.Status(ctx, fj.e.Target)
		if err == nil {
			err := s.p.Store.PutCursor(state.Cursor{
				User: s.row.SourceUser, SourceFolder: fj.e.Source, SourceUIDValidity: fj.sf.UIDValidity,
				TargetFolder: fj.e.Target, TargetUIDValidity: tf.UIDValidity,
				UIDNext: fj.sf.UIDNext, HighestModSeq: fj.sf.HighestModSeq, Messages: fj.sf.Messages,
				SyncedAt: s.p.now(),
			})
			if err == nil {
				err = s.p.Store.ClearFolder(s.row.SourceUser, fj.e.Source)
			}
			return stopUser(err)
		}
		if !rt.again(ctx, err) {
			return rt.giveUp(fmt.Errorf("target folder %q: %w", fj.e.Target, err))
		}
	}
}

// listedSource returns the folder as replan listed it on the source.
func (s *session) listedSource(name string) (mailbox.Folder, bool) {
	return findFolder(s.srcDirs, name)
}

// listedTarget returns the folder as replan listed it on the target.
func (s *session) listedTarget(name string) (mailbox.Folder, bool) {
	return findFolder(s.dstDirs, name)
}

func findFolder(fs []mailbox.Folder, name string) (mailbox.Folder, bool) {
	i := slices.IndexFunc(fs, func(f mailbox.Folder) bool { return f.Name == name })
	if i < 0 {
		return mailbox.Folder{}, false
	}
	return fs[i], true
}

// describeSkipped says which folders a pass skipped, for a user's reason.
func describeSkipped(fs []FolderFailure) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = fmt.Sprintf("%q", f.Folder)
	}
	first := fs[0].Reason
	if len(fs) == 1 {
		return fmt.Sprintf("folder %s skipped: %s", names[0], first)
	}
	return fmt.Sprintf("%d folders skipped (%s); the first: %s", len(fs), strings.Join(names, ", "), first)
}

// userStopError marks an error that stops the user's pass whatever folder
// it came from: the state could not be written.
type userStopError struct{ error }

func (e userStopError) Unwrap() error { return e.error }

// stopUser marks err as stopping the user's pass (and not worth retrying).
func stopUser(err error) error {
	if err == nil {
		return nil
	}
	return permanent(userStopError{err})
}
