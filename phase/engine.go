package phase

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
}

// copyStats counts what one pass did for one user.
type copyStats struct {
	Messages    int64 // appended
	Bytes       int64
	Failed      int64 // refused by the target or unreadable
	FlagUpdates int64
	Expunged    int64
	Folders     int
	Unchanged   int // folders skipped because nothing changed since the last pass
	Elapsed     time.Duration
}

func (s *copyStats) add(o copyStats) {
	s.Messages += o.Messages
	s.Bytes += o.Bytes
	s.Failed += o.Failed
	s.FlagUpdates += o.FlagUpdates
	s.Expunged += o.Expunged
	s.Folders += o.Folders
	s.Unchanged += o.Unchanged
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
}

// openSession logs in to both sides of a user and plans the folder mapping.
func (p *Project) openSession(ctx context.Context, r users.Row) (*session, error) {
	c, err := p.openConns(ctx, r)
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
// (a refused connect, a server restarting).
func (p *Project) openSessionRetrying(ctx context.Context, r users.Row) (*session, error) {
	rt := retrier{p: p, what: "user " + r.SourceUser}
	for {
		s, err := p.openSession(ctx, r)
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
	if s.dstDesc, err = s.dst.Describe(ctx); err != nil {
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

// mapFolders applies the configured folder mapping.
func (p *Project) mapFolders(srcDesc mailbox.Description, srcDirs []mailbox.Folder, dstDesc mailbox.Description, dstDirs []mailbox.Folder) ([]mapping.Entry, error) {
	return mapping.Plan(
		mapping.Endpoint{Delimiter: srcDesc.Delimiter, Folders: srcDirs},
		mapping.Endpoint{Delimiter: dstDesc.Delimiter, Folders: dstDirs},
		mapping.Config{Exclude: p.Config.Folders.Exclude, Map: p.Config.Folders.Map, Prefix: p.Config.Folders.Prefix},
	)
}

// copyAll runs one pass of the copy engine over every mapped folder of the
// session's user: copy what is missing, carry flag changes over, apply
// deletions by policy. Folders are first prepared one after the other over
// the session's own connections (an unchanged folder costs nothing beyond
// the listing replan made; with CONDSTORE a changed one costs what changed);
// then up to copy.connections_per_user lanes copy the folders at once, each
// folder in batches by one lane. It stops at the first error that retries do not cure;
// what was done until then is recorded.
func (s *session) copyAll(ctx context.Context, opts copyOptions) (copyStats, error) {
	start := time.Now()
	var total copyStats
	var msgs, bytes int64
	for _, f := range s.srcDirs {
		msgs += int64(f.Messages)
		if f.Bytes > 0 {
			bytes += f.Bytes
		}
	}
	user := s.row.SourceUser
	s.p.progress().Start(user, msgs, bytes)
	curs, err := s.p.Store.Cursors(user)
	if err != nil {
		return total, err
	}
	cursors := make(map[string]state.Cursor, len(curs))
	for _, c := range curs {
		cursors[c.SourceFolder] = c
	}
	if changed, err := s.followFolders(ctx, opts, cursors); err != nil {
		return total, err
	} else if changed {
		if err := s.replan(ctx); err != nil {
			return total, err
		}
		if curs, err = s.p.Store.Cursors(user); err != nil {
			return total, err
		}
		clear(cursors)
		for _, c := range curs {
			cursors[c.SourceFolder] = c
		}
	}
	pending, err := s.p.Store.PendingFolders(user)
	if err != nil {
		return total, err
	}

	var jobs []*folderJob
	for _, e := range s.plan {
		if e.Excluded {
			continue
		}
		rt := retrier{p: s.p, what: fmt.Sprintf("user %s folder %q", user, e.Source)}
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
		if err != nil {
			total.Elapsed = time.Since(start)
			return total, rt.giveUp(err)
		}
		if fj != nil {
			jobs = append(jobs, fj)
		}
	}

	st, err := s.copyJobs(ctx, jobs, opts)
	total.add(st)
	if err == nil {
		for _, fj := range jobs {
			if err = s.finish(ctx, fj); err != nil {
				break
			}
		}
	}
	total.Elapsed = time.Since(start)
	return total, err
}

// followFolders carries over what happened to whole folders on the source
// since the last pass: a folder that is gone while a new one has its
// UIDVALIDITY (servers keep it on RENAME) was renamed, and its target
// folder is renamed along, under either deletion policy, so nothing is
// copied again. A folder that is simply gone is, under sync.deletions
// mirror, deleted on the target (with --force only, when it still holds
// copies: that is all of the folder), else forgotten. It reports whether
// it changed the target's folders.
func (s *session) followFolders(ctx context.Context, opts copyOptions, cursors map[string]state.Cursor) (bool, error) {
	user := s.row.SourceUser
	listed := map[string]mailbox.Folder{}
	for _, f := range s.srcDirs {
		listed[f.Name] = f
	}
	var gone []state.Cursor
	for _, c := range cursors {
		if _, ok := listed[c.SourceFolder]; !ok {
			gone = append(gone, c)
		}
	}
	if len(gone) == 0 {
		return false, nil
	}
	// Parents first: renaming a parent on the target moves its children.
	slices.SortFunc(gone, func(a, b state.Cursor) int { return strings.Compare(a.SourceFolder, b.SourceFolder) })
	fresh := map[uint32][]mapping.Entry{}
	for _, e := range s.plan {
		if _, has := cursors[e.Source]; has || e.Excluded {
			continue
		}
		if f, ok := listed[e.Source]; ok && f.UIDValidity != 0 {
			fresh[f.UIDValidity] = append(fresh[f.UIDValidity], e)
		}
	}
	changed := false
	for _, c := range gone {
		cands := fresh[c.SourceUIDValidity]
		if len(cands) == 1 && listed[cands[0].Source].UIDNext >= c.UIDNext {
			e := cands[0]
			if err := s.renameTarget(ctx, c.TargetFolder, e.Target); err != nil {
				return changed, err
			}
			if err := s.p.Store.MoveFolder(user, c.SourceFolder, e.Source, e.Target); err != nil {
				return changed, permanent(err)
			}
			s.p.log().Info("folder renamed on the source; renamed on the target", "user", user, "from", c.SourceFolder, "to", e.Source, "target", e.Target)
			changed = true
			continue
		}
		if opts.deletions != "mirror" {
			if err := s.p.Store.ForgetFolder(user, c.SourceFolder); err != nil {
				return changed, permanent(err)
			}
			s.p.log().Info("folder deleted on the source; its copy stays on the target (sync.deletions keep)", "user", user, "folder", c.SourceFolder, "target", c.TargetFolder)
			continue
		}
		keys, err := s.p.Store.PairKeys(user, c.SourceFolder, c.SourceUIDValidity)
		if err != nil {
			return changed, permanent(err)
		}
		if len(keys) > 0 && !opts.force {
			return changed, permanent(fmt.Errorf("folder %q was deleted on the source with %d copied messages; its target folder %q was kept. Deleting a whole folder is more than sync.max_delete allows: if this is expected, run `mailshift sync --force`", c.SourceFolder, len(keys), c.TargetFolder))
		}
		if _, err := s.dst.Status(ctx, c.TargetFolder); err == nil {
			if err := s.dst.DeleteFolder(ctx, c.TargetFolder); err != nil {
				return changed, fmt.Errorf("delete target folder %q: %w", c.TargetFolder, err)
			}
			changed = true
		} else if !errors.Is(err, mailbox.ErrFolderGone) {
			return changed, fmt.Errorf("target folder %q: %w", c.TargetFolder, err)
		}
		if err := s.p.Store.ForgetFolder(user, c.SourceFolder); err != nil {
			return changed, permanent(err)
		}
		s.p.log().Info("folder deleted on the source; deleted on the target (sync.deletions mirror)", "user", user, "folder", c.SourceFolder, "target", c.TargetFolder, "messages", len(keys))
	}
	return changed, nil
}

// renameTarget renames a target folder, unless a rename of its parent
// moved it already.
func (s *session) renameTarget(ctx context.Context, from, to string) error {
	if from == to {
		return nil
	}
	if _, err := s.dst.Status(ctx, from); errors.Is(err, mailbox.ErrFolderGone) {
		return nil
	} else if err != nil {
		return fmt.Errorf("target folder %q: %w", from, err)
	}
	if _, err := s.dst.Status(ctx, to); err == nil {
		return permanent(fmt.Errorf("folder %q was renamed to a folder whose target %q exists already; rename or remove the target folder, then sync again", from, to))
	}
	if err := s.dst.RenameFolder(ctx, from, to); err != nil {
		return fmt.Errorf("rename target folder %q to %q: %w", from, to, err)
	}
	return nil
}

// folderJob is one source folder whose messages are being copied.
type folderJob struct {
	e  mapping.Entry
	sf mailbox.Folder
	// todo are the messages to copy, oldest first.
	todo []mailbox.Message
}

// copyJobs copies the jobs' messages in batches over up to
// copy.connections_per_user lanes: the session's own connections and
// more opened for the purpose (a lane that cannot connect is done without).
func (s *session) copyJobs(ctx context.Context, jobs []*folderJob, opts copyOptions) (copyStats, error) {
	// One lane per folder at a time: two connections appending to the same
	// folder make Dovecot re-read the folder's index before every append
	// (each sees the other's changes), which grows with the folder and made
	// a 100,000-message copy several times slower than one writer.
	// Source folders mapped to the same target folder (folders.map) go
	// to the same lane, one after the other: settling a failed batch by
	// content needs every other copy into that folder recorded.
	byTarget := map[string][]*folderJob{}
	for _, fj := range jobs {
		if len(fj.todo) > 0 {
			byTarget[fj.e.Target] = append(byTarget[fj.e.Target], fj)
		}
	}
	if len(byTarget) == 0 {
		return copyStats{}, nil
	}
	queue := make([][]*folderJob, 0, len(byTarget))
	for _, g := range byTarget {
		queue = append(queue, g)
	}
	count := func(g []*folderJob) (n int) {
		for _, fj := range g {
			n += len(fj.todo)
		}
		return n
	}
	// Biggest first, so that a big folder does not start last.
	slices.SortStableFunc(queue, func(a, b []*folderJob) int {
		if d := count(b) - count(a); d != 0 {
			return d
		}
		return strings.Compare(a[0].e.Target, b[0].e.Target)
	})
	folders := make(chan []*folderJob, len(queue))
	for _, g := range queue {
		folders <- g
	}
	close(folders)
	size := s.p.Config.Copy.BatchSize

	lanes := min(s.p.Config.Copy.ConnectionsPerUser, len(queue))
	if !s.dstDesc.UIDPlus {
		lanes = 1 // copies are found by content: one writer at a time
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu       sync.Mutex
		total    copyStats
		firstErr error
		wg       sync.WaitGroup
	)
	work := func(c conns) {
		s.p.lanes.Add(1)
		defer s.p.lanes.Add(-1)
		for g := range folders {
			lt := &laneTarget{windows: opts.windows}
			for _, fj := range g {
				for i := 0; i < len(fj.todo) && ctx.Err() == nil; i += size {
					if opts.windows {
						if err := s.p.waitWindow(ctx, s.row.SourceUser); err != nil {
							break // the context ended
						}
					}
					st, err := s.copyChunk(ctx, c, fj, fj.todo[i:min(i+size, len(fj.todo))], lt)
					mu.Lock()
					total.add(st)
					if err != nil && firstErr == nil {
						firstErr = err
						cancel(err)
					}
					mu.Unlock()
				}
			}
		}
	}
	// Lanes still waiting for a connection slot when the session's own
	// lane is done are not needed any more.
	openCtx, stopOpening := context.WithCancel(ctx)
	defer stopOpening()
	for range lanes - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.p.openConns(openCtx, s.row)
			if err != nil {
				if openCtx.Err() == nil {
					s.p.log().Warn("copying over fewer connections", "user", s.row.SourceUser, "error", err.Error())
				}
				return
			}
			defer c.close()
			work(c)
		}()
	}
	work(s.conns)
	stopOpening()
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = context.Cause(ctx)
	}
	return total, firstErr
}

// openConns opens a pair of connections for r, within
// throttle.max_connections.
func (p *Project) openConns(ctx context.Context, r users.Row) (conns, error) {
	release, err := p.acquireConns(ctx, r)
	if err != nil {
		return conns{}, err
	}
	// Both sides log in at once: a login costs a few round trips and, on
	// many servers, a process started for the session.
	var (
		src    source.Source
		srcErr error
		wg     sync.WaitGroup
	)
	wg.Go(func() { src, srcErr = p.openSource(ctx, r) })
	dst, dstErr := p.openTarget(ctx, r)
	wg.Wait()
	if srcErr != nil || dstErr != nil {
		if src != nil {
			src.Close()
		}
		if dst != nil {
			dst.Close()
		}
		release()
		if srcErr != nil {
			return conns{}, srcErr
		}
		return conns{}, dstErr
	}
	return conns{src: src, dst: dst, release: release}, nil
}

// copyChunk copies msgs of a folder, retrying after transient failures:
// before each retry the copies the failure may have left unrecorded are
// settled by content, so nothing is copied twice.
func (s *session) copyChunk(ctx context.Context, c conns, fj *folderJob, msgs []mailbox.Message, lt *laneTarget) (copyStats, error) {
	var total copyStats
	rt := retrier{p: s.p, what: fmt.Sprintf("user %s folder %q", s.row.SourceUser, fj.e.Source)}
	settle := false
	for {
		if settle {
			rest, err := s.settle(ctx, c, fj, msgs)
			if err != nil {
				if rt.again(ctx, err) {
					continue
				}
				return total, rt.giveUp(err)
			}
			msgs = rest
			if len(msgs) == 0 {
				return total, nil
			}
		}
		st, err := s.copyBatch(ctx, c, fj.e, fj.sf, msgs, lt)
		total.add(st)
		if err == nil {
			return total, nil
		}
		settle = true
		if errors.Is(err, errOutsideWindow) {
			if err := s.p.waitWindow(ctx, s.row.SourceUser); err != nil {
				return total, err
			}
			continue
		}
		if !rt.again(ctx, err) {
			return total, rt.giveUp(err)
		}
	}
}

// settleQuiet is how long settling waits, once the target answers again,
// before it looks for the copies a failed command may have stored: a
// command held up on the way (a stalled link, a busy proxy) lands as soon
// as the path clears, and must be seen, not copied again.
const settleQuiet = time.Second

// settle resolves the intents among msgs after a failed batch and returns
// the messages that still need copying.
func (s *session) settle(ctx context.Context, c conns, fj *folderJob, msgs []mailbox.Message) ([]mailbox.Message, error) {
	user := s.row.SourceUser
	all, err := s.p.Store.Pairs(user, fj.e.Source)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		want[m.Key] = true
	}
	var intents []state.Pair
	for _, p := range all {
		if p.Status == state.Intent && p.SourceUIDValidity == fj.sf.UIDValidity && want[p.SourceKey] {
			intents = append(intents, p)
		}
	}
	if len(intents) > 0 {
		if _, err := c.dst.Status(ctx, fj.e.Target); err != nil {
			return nil, fmt.Errorf("target folder %q: %w", fj.e.Target, err)
		}
		if !sleepCtx(ctx, settleQuiet) {
			return nil, ctx.Err()
		}
		if err := s.resolve(ctx, c, fj.e, intents, all); err != nil {
			return nil, fmt.Errorf("resolve interrupted copies in %q: %w", fj.e.Source, err)
		}
	}
	keys := make([]string, len(msgs))
	for i, m := range msgs {
		keys[i] = m.Key
	}
	ps, err := s.p.Store.PairsByKey(user, fj.e.Source, fj.sf.UIDValidity, keys)
	if err != nil {
		return nil, err
	}
	recorded := make(map[string]bool, len(ps))
	for _, p := range ps {
		recorded[p.SourceKey] = true
	}
	var rest []mailbox.Message
	for _, m := range msgs {
		if !recorded[m.Key] {
			rest = append(rest, m)
		}
	}
	s.p.log().Debug("settled a failed batch", "user", user, "folder", fj.e.Source, "messages", len(msgs), "intents", len(intents), "to_copy_again", len(rest))
	return rest, nil
}

// finish records the folder's sync cursor after a pass.
func (s *session) finish(ctx context.Context, fj *folderJob) error {
	rt := retrier{p: s.p, what: fmt.Sprintf("user %s folder %q", s.row.SourceUser, fj.e.Target)}
	for {
		tf, err := s.dst.Status(ctx, fj.e.Target)
		if err == nil {
			return s.p.Store.PutCursor(state.Cursor{
				User: s.row.SourceUser, SourceFolder: fj.e.Source, SourceUIDValidity: fj.sf.UIDValidity,
				TargetFolder: fj.e.Target, TargetUIDValidity: tf.UIDValidity,
				UIDNext: fj.sf.UIDNext, HighestModSeq: fj.sf.HighestModSeq, Messages: fj.sf.Messages,
				SyncedAt: s.p.now(),
			})
		}
		if !rt.again(ctx, err) {
			return rt.giveUp(fmt.Errorf("target folder %q: %w", fj.e.Target, err))
		}
	}
}

// listedSource returns the folder as replan listed it on the source.
func (s *session) listedSource(name string) (mailbox.Folder, bool) {
	for _, f := range s.srcDirs {
		if f.Name == name {
			return f, true
		}
	}
	return mailbox.Folder{}, false
}

// listedTarget returns the folder as replan listed it on the target.
func (s *session) listedTarget(name string) (mailbox.Folder, bool) {
	for _, f := range s.dstDirs {
		if f.Name == name {
			return f, true
		}
	}
	return mailbox.Folder{}, false
}

// unchanged tells whether a folder is exactly as the last pass left it, by
// the counters replan listed: same UIDVALIDITY on both sides, same UIDNEXT
// and message count, and the same HIGHESTMODSEQ (so not even a flag
// changed). Without CONDSTORE a flag change cannot be ruled out this way.
func (s *session) unchanged(e mapping.Entry, cur state.Cursor, pending int) bool {
	sf, ok := s.listedSource(e.Source)
	if !ok || pending > 0 || !s.srcDesc.CondStore || sf.HighestModSeq == 0 {
		return false
	}
	tf, ok := s.listedTarget(e.Target)
	return ok && cur.TargetFolder == e.Target && cur.TargetUIDValidity == tf.UIDValidity &&
		cur.SourceUIDValidity == sf.UIDValidity && cur.UIDNext == sf.UIDNext &&
		cur.Messages == sf.Messages && cur.HighestModSeq == sf.HighestModSeq
}

// prepare brings a folder's flags and deletions in step and returns the
// messages to copy (nil when the folder is unchanged).
func (s *session) prepare(ctx context.Context, e mapping.Entry, opts copyOptions, cur state.Cursor, hasCursor bool, pending int) (*folderJob, copyStats, error) {
	var st copyStats
	st.Folders = 1
	user := s.row.SourceUser
	if hasCursor && s.unchanged(e, cur, pending) {
		sf, _ := s.listedSource(e.Source)
		s.p.progress().Add(user, int64(sf.Messages), max(sf.Bytes, 0))
		st.Unchanged = 1
		return nil, st, nil
	}
	if err := s.ensureTarget(ctx, e); err != nil {
		return nil, st, err
	}
	ct, ok := s.src.(source.ChangeTracker)
	if ok && hasCursor && pending == 0 && s.srcDesc.CondStore && cur.HighestModSeq > 0 && cur.TargetFolder == e.Target {
		if sf, found := s.listedSource(e.Source); found && sf.UIDValidity == cur.SourceUIDValidity {
			if tf, found := s.listedTarget(e.Target); found && tf.UIDValidity == cur.TargetUIDValidity {
				return s.prepareChanges(ctx, ct, e, opts, cur)
			}
		}
	}
	return s.prepareFull(ctx, e, opts)
}

// ensureTarget creates the target folder if it does not exist.
func (s *session) ensureTarget(ctx context.Context, e mapping.Entry) error {
	if _, ok := s.listedTarget(e.Target); ok {
		return nil
	}
	_, err := s.dst.Status(ctx, e.Target)
	if errors.Is(err, mailbox.ErrFolderGone) {
		if err := s.dst.CreateFolder(ctx, e.Target, e.Role); err != nil {
			err = fmt.Errorf("create target folder: %w", err)
			if !retryable(err) {
				return fmt.Errorf("target folder %q for source folder %q: %w; give it a name the target accepts with folders.map, then approve again", e.Target, e.Source, err)
			}
			return err
		}
		_, err = s.dst.Status(ctx, e.Target)
	}
	if err != nil && !retryable(err) {
		return fmt.Errorf("target folder %q for source folder %q: %w; give it a name the target accepts with folders.map, then approve again", e.Target, e.Source, err)
	}
	if err != nil {
		return fmt.Errorf("target folder %q: %w", e.Target, err)
	}
	return nil
}

// prepareChanges is prepare for a folder that only changed since the last
// pass, on a source that tracks changes: the work is what changed.
func (s *session) prepareChanges(ctx context.Context, ct source.ChangeTracker, e mapping.Entry, opts copyOptions, cur state.Cursor) (*folderJob, copyStats, error) {
	var st copyStats
	st.Folders = 1
	user := s.row.SourceUser
	sf, changed, err := ct.Changes(ctx, e.Source, cur.HighestModSeq)
	if errors.Is(err, mailbox.ErrFolderGone) {
		return nil, st, nil
	}
	if err != nil {
		return nil, st, fmt.Errorf("source folder %q: %w", e.Source, err)
	}
	if sf.UIDValidity != cur.SourceUIDValidity {
		return s.prepareFull(ctx, e, opts)
	}
	keys := make([]string, len(changed))
	var arrived uint32
	for i, m := range changed {
		keys[i] = m.Key
		if m.UID >= cur.UIDNext {
			arrived++
		}
	}
	pairs, err := s.p.Store.PairsByKey(user, e.Source, sf.UIDValidity, keys)
	if err != nil {
		return nil, st, err
	}
	byKey := make(map[string]state.Pair, len(pairs))
	for _, p := range pairs {
		byKey[p.SourceKey] = p
	}
	todo, flagged := s.sortOut(changed, byKey)
	s.p.progress().Add(user, int64(sf.Messages)-int64(len(todo)), 0)

	// Expunges: the count tells whether any happened; only then are the
	// folder's keys compared.
	var gone []state.Pair
	known := 0
	if sf.Messages != cur.Messages+arrived {
		_, present, err := ct.Keys(ctx, e.Source)
		if err != nil {
			return nil, st, fmt.Errorf("source folder %q: %w", e.Source, err)
		}
		have := make(map[string]bool, len(present))
		for _, k := range present {
			have[k] = true
		}
		all, err := s.p.Store.PairKeys(user, e.Source, sf.UIDValidity)
		if err != nil {
			return nil, st, err
		}
		known = len(all)
		var missing []string
		for _, k := range all {
			if !have[k] {
				missing = append(missing, k)
			}
		}
		if gone, err = s.p.Store.PairsByKey(user, e.Source, sf.UIDValidity, missing); err != nil {
			return nil, st, err
		}
	}
	fst, err := s.applyChanges(ctx, e, opts, flagged, gone, known)
	st.add(fst)
	if err != nil {
		return nil, st, err
	}
	return &folderJob{e: e, sf: sf, todo: todo}, st, nil
}

// prepareFull is prepare by the folder's full listing: the first pass, a
// source without change tracking, or after an interruption.
func (s *session) prepareFull(ctx context.Context, e mapping.Entry, opts copyOptions) (*folderJob, copyStats, error) {
	var st copyStats
	st.Folders = 1
	store := s.p.Store
	user := s.row.SourceUser

	sf, msgs, err := s.src.Messages(ctx, e.Source)
	if errors.Is(err, mailbox.ErrFolderGone) {
		return nil, st, nil // deleted since it was listed; the next pass sees it gone
	}
	if err != nil {
		return nil, st, fmt.Errorf("source folder %q: %w", e.Source, err)
	}
	tf, err := s.dst.Status(ctx, e.Target)
	if err != nil {
		return nil, st, fmt.Errorf("target folder %q: %w", e.Target, err)
	}

	pairs, err := store.Pairs(user, e.Source)
	if err != nil {
		return nil, st, err
	}
	pairs, err = s.rederive(ctx, e, sf, tf, pairs)
	if err != nil {
		return nil, st, err
	}

	// Intents left by an interrupted run: find out whether they arrived.
	var intents []state.Pair
	for _, p := range pairs {
		if p.Status == state.Intent {
			intents = append(intents, p)
		}
	}
	if len(intents) > 0 {
		if err := s.resolve(ctx, s.conns, e, intents, pairs); err != nil {
			return nil, st, fmt.Errorf("resolve interrupted copies in %q: %w", e.Source, err)
		}
		if pairs, err = store.Pairs(user, e.Source); err != nil {
			return nil, st, err
		}
	}

	byKey := make(map[string]state.Pair, len(pairs))
	for _, p := range pairs {
		if p.SourceUIDValidity == sf.UIDValidity {
			byKey[p.SourceKey] = p
		}
	}
	todo, flagged := s.sortOut(msgs, byKey)
	for _, m := range msgs {
		if p, ok := byKey[m.Key]; ok && p.Status == state.Copied {
			s.p.progress().Add(user, 1, p.Size)
		}
	}
	present := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		present[m.Key] = true
	}
	var gone []state.Pair
	for _, p := range byKey {
		if !present[p.SourceKey] {
			gone = append(gone, p)
		}
	}
	fst, err := s.applyChanges(ctx, e, opts, flagged, gone, len(byKey))
	st.add(fst)
	if err != nil {
		return nil, st, err
	}
	return &folderJob{e: e, sf: sf, todo: todo}, st, nil
}

// sortOut splits listed messages into those to copy (no pair, or refused
// before) and the copied ones whose flags changed (with the new flags).
func (s *session) sortOut(msgs []mailbox.Message, byKey map[string]state.Pair) (todo []mailbox.Message, flagged []state.Pair) {
	for _, m := range msgs {
		p, ok := byKey[m.Key]
		switch {
		case !ok || p.Status == state.Failed:
			todo = append(todo, m)
		case p.Status == state.Copied:
			if !sameFlags(p.Flags, m.Flags) && p.TargetUID != 0 {
				p.Flags = m.Flags
				flagged = append(flagged, p)
			}
		}
	}
	return todo, flagged
}

// applyChanges carries flag changes over (cheap, and they make the target
// current sooner), then deletions on the source by policy; known is how many
// messages of the folder had pairs, for the deletion guard.
func (s *session) applyChanges(ctx context.Context, e mapping.Entry, opts copyOptions, flagged, gone []state.Pair, known int) (copyStats, error) {
	var st copyStats
	if len(flagged) > 0 {
		n, err := s.updateFlags(ctx, s.conns, flagged)
		st.FlagUpdates += n
		if err != nil {
			return st, err
		}
	}
	if len(gone) > 0 {
		n, err := s.applyDeletions(ctx, e, gone, known, opts)
		st.Expunged += n
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// copyBatch appends one batch of a folder's messages over the lane c,
// keeping the exactly-once order: intents committed, then APPENDs, then
// the pairs committed.
func (s *session) copyBatch(ctx context.Context, c conns, e mapping.Entry, sf mailbox.Folder, chunk []mailbox.Message, lt *laneTarget) (copyStats, error) {
	var st copyStats
	store := s.p.Store
	user := s.row.SourceUser
	mark := &lt.mark
	tf := mailbox.Folder{UIDValidity: mark.validity, UIDNext: mark.next}
	if mark.next == 0 {
		var err error
		if tf, err = c.dst.Status(ctx, e.Target); err != nil {
			return st, fmt.Errorf("target folder %q: %w", e.Target, err)
		}
	}
	// The mark is kept only while every append says its UID; after a
	// failure or without UIDPLUS the next batch asks again.
	*mark = uidMark{}
	// What the intents record of the target folder: its UIDVALIDITY and a
	// lower bound of its UIDNEXT, both as the last APPENDUID says (read by
	// the fetch callback while the group writer sets them).
	var validity, low atomic.Uint32
	validity.Store(tf.UIDValidity)
	low.Store(tf.UIDNext)
	intent := func(m mailbox.Message) state.Pair {
		return state.Pair{
			User: user, SourceFolder: e.Source, SourceUIDValidity: sf.UIDValidity,
			SourceKey: m.Key, SourceUID: m.UID, Size: m.Size,
			Flags: m.Flags, InternalDate: m.InternalDate,
			TargetFolder: e.Target, TargetUIDValidity: validity.Load(), TargetUIDNext: low.Load(),
			Status: state.Intent,
		}
	}
	putIntents := func(ps []state.Pair) error {
		if err := store.PutPairs(ps); err != nil {
			return permanent(err)
		}
		return nil
	}

	batcher, batching := c.dst.(target.BatchAppender)
	batching = batching && batcher.Batches()
	// Each message's intent is committed before its APPEND. For a target
	// that takes groups, that is done for each group just before it is
	// handed to the writer (and for each large message before it streams),
	// while the writer still stores the group before; otherwise for the
	// whole batch at once.
	if !batching {
		ps := make([]state.Pair, len(chunk))
		for i, m := range chunk {
			ps[i] = intent(m)
		}
		if err := putIntents(ps); err != nil {
			return st, err
		}
	}

	var (
		recorded []state.Pair // outcomes not yet written to the state
		uidless  []state.Pair // copies whose UID is to be found by content (no UIDPLUS)
		seen     = make(map[string]bool, len(chunk))
	)
	maxFailed := int64(s.p.Config.Errors.Max)
	// record notes the outcome of one message's APPEND, with mu held: the
	// group writers call it, and the fetch callback for large messages.
	var mu sync.Mutex
	record := func(p state.Pair, size int64, hash string, app target.Appended, err error) error {
		var rej *target.RejectedError
		switch {
		case errors.As(err, &rej):
			p.Status = state.Failed
			p.Size = size
			p.Error = rej.Error()
			st.Failed++
			s.p.log().Warn("message refused", "user", user, "folder", e.Source, "key", p.SourceKey, "size", size, "reason", rej.Error())
		case err != nil:
			return fmt.Errorf("append to %q (source %q key %s): %w", e.Target, e.Source, p.SourceKey, err)
		default:
			p.Status = state.Copied
			p.Size = size
			p.Hash = hash
			p.TargetUID = app.UID
			if app.UIDValidity != 0 {
				p.TargetUIDValidity = app.UIDValidity
				validity.Store(app.UIDValidity)
			}
			st.Messages++
			st.Bytes += size
		}
		if p.Status == state.Copied && p.TargetUID == 0 {
			uidless = append(uidless, p)
		} else {
			recorded = append(recorded, p)
			if p.TargetUID >= low.Load() {
				low.Store(p.TargetUID + 1)
			}
		}
		s.p.progress().Add(user, 1, size)
		if p.Status == state.Failed && s.failed.Add(1) >= maxFailed {
			return errTooManyFailures
		}
		return nil
	}
	// persist writes the outcomes recorded so far, with mu held.
	persist := func() error {
		if len(recorded) == 0 {
			return nil
		}
		if err := store.PutOutcomes(recorded); err != nil {
			return permanent(err)
		}
		recorded = recorded[:0]
		return nil
	}

	// Small messages are gathered and stored with one command per group
	// where the target can (MULTIAPPEND): one transaction on the server
	// instead of one per message. Groups are stored, and their outcomes
	// written to the state, by writers of their own while the next group
	// is fetched. Large messages stream through one by one once the
	// writers are idle, so that the lane's own target connection is never
	// used by two at once.
	var dstMu sync.Mutex // the lane's target connection, for refused groups
	writers := 1
	if s.p.lanes.Load() <= fewLanes {
		writers = groupWriters
	}
	gw := newGroupWriter(writers, &s.p.arenas, func(hg heldGroup) error {
		g := hg.msgs
		items := make([]mailbox.Item, len(g))
		for i, h := range g {
			items[i] = mailbox.Item{Flags: h.p.Flags, Date: h.p.InternalDate, Body: h.body}
		}
		apps, err := batcher.AppendBatch(ctx, e.Target, items)
		switch {
		case err == nil && len(apps) == len(g):
			mu.Lock()
			defer mu.Unlock()
			for i, h := range g {
				if err := record(h.p, int64(len(h.body)), h.hash, apps[i], nil); err != nil {
					return err
				}
			}
		case err != nil && !errors.Is(err, target.ErrBatchRefused):
			return fmt.Errorf("append %d messages to %q (source %q): %w", len(g), e.Target, e.Source, err)
		default:
			// Refused as a whole (nothing stored): one by one, to learn which.
			dstMu.Lock()
			defer dstMu.Unlock()
			for _, h := range g {
				app, err := c.dst.Append(ctx, e.Target, h.p.Flags, h.p.InternalDate, int64(len(h.body)), bytes.NewReader(h.body))
				mu.Lock()
				err = record(h.p, int64(len(h.body)), h.hash, app, err)
				mu.Unlock()
				if err != nil {
					return err
				}
			}
			mu.Lock()
			defer mu.Unlock()
		}
		return persist()
	})
	// The group being gathered, its bodies in arena.
	var (
		group []heldMessage
		arena []byte
	)
	defer func() { s.p.arenas.put(arena) }() // what was not handed over
	send := func() error {
		if len(group) == 0 {
			return nil
		}
		// These intents know the bytes to be sent: their hash, so that
		// settling them after a failure need not read the source again.
		ps := make([]state.Pair, len(group))
		for i, h := range group {
			group[i].p = intent(h.m)
			group[i].p.Hash, group[i].p.Size = h.hash, int64(len(h.body))
			ps[i] = group[i].p
		}
		if err := putIntents(ps); err != nil {
			return err
		}
		if err := gw.send(heldGroup{group, arena}); err != nil {
			return err
		}
		group, arena = nil, nil
		return nil
	}
	lim := s.p.limiter()
	h := sha256.New() // one per batch, reset for each message
	fetchErr := c.src.Fetch(ctx, e.Source, chunk, func(m mailbox.Message, body mailbox.Body) error {
		if lt.windows && !s.p.inWindow() {
			return errOutsideWindow
		}
		seen[m.Key] = true
		size := body.Size()
		if err := lim.WaitMessage(ctx); err != nil {
			return err
		}
		h.Reset()
		if batching && size <= maxBatchedMessage {
			if len(arena)+int(size) > maxBatchBytes {
				if err := send(); err != nil { // the group is full
					return err
				}
			}
			if arena == nil {
				var err error
				if arena, err = s.p.arenas.get(ctx); err != nil {
					return err
				}
			}
			off := len(arena)
			arena = arena[:off+int(size)]
			buf := arena[off:len(arena):len(arena)]
			if _, err := io.ReadFull(io.TeeReader(lim.Reader(ctx, body), h), buf); err != nil {
				return fmt.Errorf("read source %q key %s: %w", e.Source, m.Key, err)
			}
			group = append(group, heldMessage{m: m, body: buf, hash: hex.EncodeToString(h.Sum(nil))})
			return nil
		}
		if err := send(); err != nil {
			return err
		}
		if err := gw.wait(); err != nil {
			return err
		}
		p := intent(m)
		if batching {
			if err := putIntents([]state.Pair{p}); err != nil {
				return err
			}
		}
		app, err := c.dst.Append(ctx, e.Target, m.Flags, m.InternalDate, size, io.TeeReader(lim.Reader(ctx, body), h))
		mu.Lock()
		defer mu.Unlock()
		return record(p, size, hex.EncodeToString(h.Sum(nil)), app, err)
	})
	if fetchErr == nil {
		fetchErr = send()
	}
	if err := gw.close(); fetchErr == nil {
		fetchErr = err
	}

	// Without UIDPLUS the new messages' UIDs are found by content.
	if len(uidless) > 0 {
		found, err := s.locate(ctx, c, e.Target, tf.UIDNext, uidless, nil)
		if err != nil && fetchErr == nil {
			fetchErr = err
		}
		for _, p := range uidless {
			if m, ok := found[pairID(p)]; ok {
				p.TargetUID = m.UID
			}
			recorded = append(recorded, p)
		}
	}

	werr := store.Write(func(tx *state.Tx) error {
		for _, p := range recorded {
			if err := tx.PutOutcome(p); err != nil {
				return err
			}
		}
		if fetchErr != nil {
			return nil // the rest stay intents, settled before they are copied again
		}
		// Messages the source no longer had were never appended; an
		// intent of theirs left by an earlier attempt goes.
		if len(seen) < len(chunk) {
			s.p.log().Debug("messages gone from the source before they were copied", "user", user, "folder", e.Source, "gone", len(chunk)-len(seen))
		}
		for _, m := range chunk {
			if !seen[m.Key] {
				if err := tx.DeletePair(user, e.Source, sf.UIDValidity, m.Key); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if werr != nil {
		return st, permanent(werr)
	}
	if fetchErr == nil && len(uidless) == 0 {
		*mark = uidMark{validity: validity.Load(), next: low.Load()}
	}
	if fetchErr != nil {
		if errors.Is(fetchErr, errTooManyFailures) {
			return st, permanent(fmt.Errorf("user %s: %d messages refused by the target (errors.max %d); see `mailshift status`: %w", user, s.failed.Load(), maxFailed, fetchErr))
		}
		return st, fetchErr
	}
	return st, nil
}

// laneTarget is what a lane keeps while it copies into one target folder.
type laneTarget struct {
	mark    uidMark
	windows bool // copy only inside throttle.windows
}

// uidMark is what a lane knows of its target folder without asking: its
// UIDVALIDITY and a UIDNEXT no higher than the real one (one past the
// highest UID the lane's appends were given). A batch's intents record it
// as where to look for their copies after a crash, so a lower value only
// means looking further; the zero mark means ask the server (STATUS).
// Without it, each batch asked, and on a big folder the server re-read the
// whole folder to answer.
type uidMark struct{ validity, next uint32 }

// Messages up to maxBatchedMessage bytes are held in memory (the
// project's arenas) and stored in groups of up to maxBatchBytes with one
// command each where the target can, the next group read from the source
// while the target stores one; larger ones stream straight from the source
// to the target, one at a time.
const (
	maxBatchedMessage = 4 << 20
	maxBatchBytes     = 8 << 20
	// groupWriters is how many groups of a lane are stored at once, each
	// over a connection of its own, while no more than fewLanes lanes copy
	// in the whole run: a big folder copied alone (the usual critical path)
	// is stored twice as fast so, while many lanes side by side gain
	// nothing from it and lose a little to the server's contention.
	groupWriters = 2
	fewLanes     = 2
)

// pairID identifies a pair within one folder of one user.
func pairID(p state.Pair) string {
	return fmt.Sprintf("%d/%s", p.SourceUIDValidity, p.SourceKey)
}

// locate finds the target copies of pairs whose hash is known, among the
// target folder's messages with a UID of at least from that no other pair
// claims. Identical messages are matched one to one, preferring a copy
// with the pair's flags and internal date (duplicates may differ in them).
func (s *session) locate(ctx context.Context, c conns, folder string, from uint32, ps []state.Pair, claimed map[uint32]bool) (map[string]mailbox.Message, error) {
	_, tmsgs, err := c.dst.Messages(ctx, folder)
	if err != nil {
		return nil, fmt.Errorf("list target folder %q: %w", folder, err)
	}
	var cand []mailbox.Message
	for _, m := range tmsgs {
		if m.UID >= from && !claimed[m.UID] {
			cand = append(cand, m)
		}
	}
	byHash := map[string][]mailbox.Message{}
	if len(cand) > 0 {
		err = c.dst.Fetch(ctx, folder, cand, func(m mailbox.Message, b mailbox.Body) error {
			h, err := hashBody(b)
			if err != nil {
				return err
			}
			byHash[h] = append(byHash[h], m)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read target folder %q: %w", folder, err)
		}
	}
	for h := range byHash {
		slices.SortFunc(byHash[h], func(a, b mailbox.Message) int { return int(int64(a.UID) - int64(b.UID)) })
	}
	found := map[string]mailbox.Message{}
	for _, p := range ps {
		ms := byHash[p.Hash]
		if len(ms) == 0 || p.Hash == "" {
			continue
		}
		i := slices.IndexFunc(ms, func(m mailbox.Message) bool {
			return sameFlags(m.Flags, p.Flags) && m.InternalDate.Unix() == p.InternalDate.Unix()
		})
		if i < 0 {
			i = 0
		}
		found[pairID(p)] = ms[i]
		byHash[p.Hash] = slices.Delete(ms, i, i+1)
	}
	return found, nil
}

// resolve settles intents left by an interrupted run: each is matched by
// content against the target messages from the UIDNEXT saved with it; a
// match becomes a pair, the rest are forgotten and copied again.
func (s *session) resolve(ctx context.Context, c conns, e mapping.Entry, intents, all []state.Pair) error {
	claimed := map[uint32]bool{}
	for _, p := range all {
		if p.Status == state.Copied && p.TargetUID != 0 {
			claimed[p.TargetUID] = true
		}
	}
	// The source content tells what each intent's copy would look like.
	wantHash := map[string]string{}
	byGen := map[uint32][]mailbox.Message{}
	for _, p := range intents {
		byGen[p.SourceUIDValidity] = append(byGen[p.SourceUIDValidity], mailbox.Message{Key: p.SourceKey, UID: p.SourceUID, Size: p.Size})
	}
	sf, _, err := c.src.Messages(ctx, e.Source)
	if err != nil && !errors.Is(err, mailbox.ErrFolderGone) {
		return err
	}
	if err == nil {
		if ms := byGen[sf.UIDValidity]; len(ms) > 0 {
			err := c.src.Fetch(ctx, e.Source, ms, func(m mailbox.Message, b mailbox.Body) error {
				h, err := hashBody(b)
				wantHash[fmt.Sprintf("%d/%s", sf.UIDValidity, m.Key)] = h
				return err
			})
			if err != nil {
				return err
			}
		}
	}
	from := uint32(0)
	for i, p := range intents {
		if p.Hash == "" {
			intents[i].Hash = wantHash[pairID(p)]
		}
		if i == 0 || p.TargetUIDNext < from {
			from = p.TargetUIDNext
		}
	}
	byFolder := map[string][]state.Pair{}
	for _, p := range intents {
		byFolder[p.TargetFolder] = append(byFolder[p.TargetFolder], p)
	}
	found := map[string]mailbox.Message{}
	for folder, ps := range byFolder {
		f, err := s.locate(ctx, c, folder, from, ps, claimed)
		if errors.Is(err, mailbox.ErrFolderGone) {
			continue
		}
		if err != nil {
			return err
		}
		for k, v := range f {
			found[k] = v
		}
	}
	resolved := 0
	var reflag []state.Pair // copies found with other flags than the pair's
	err = s.p.Store.Write(func(tx *state.Tx) error {
		for _, p := range intents {
			if m, ok := found[pairID(p)]; ok {
				p.TargetUID = m.UID
				p.Status = state.Copied
				resolved++
				if !sameFlags(m.Flags, p.Flags) {
					reflag = append(reflag, p)
				}
				if err := tx.PutPair(p); err != nil {
					return err
				}
				continue
			}
			if err := tx.DeletePair(p.User, p.SourceFolder, p.SourceUIDValidity, p.SourceKey); err != nil {
				return err
			}
		}
		return nil
	})
	s.p.log().Info("resolved interrupted copies", "user", s.row.SourceUser, "folder", e.Source, "found_on_target", resolved, "to_copy_again", len(intents)-resolved)
	if err != nil || len(reflag) == 0 {
		return err
	}
	_, err = s.updateFlags(ctx, c, reflag)
	return err
}

// rederive keeps pairs valid across a UIDVALIDITY change on either side: a
// new generation of the source folder is matched to the old pairs by
// content, and target UIDs are looked up again by content, so nothing is
// copied twice.
func (s *session) rederive(ctx context.Context, e mapping.Entry, sf, tf mailbox.Folder, pairs []state.Pair) ([]state.Pair, error) {
	var staleSrc, staleDst []state.Pair
	for _, p := range pairs {
		if p.Status != state.Copied {
			continue
		}
		if p.SourceUIDValidity != sf.UIDValidity {
			staleSrc = append(staleSrc, p)
		} else if p.TargetFolder == e.Target && p.TargetUIDValidity != tf.UIDValidity {
			staleDst = append(staleDst, p)
		}
	}
	if len(staleSrc) == 0 && len(staleDst) == 0 {
		return pairs, nil
	}
	user := s.row.SourceUser
	var updates []state.Pair
	var deletes []state.Pair
	if len(staleSrc) > 0 {
		s.p.log().Warn("source folder UIDVALIDITY changed; re-deriving pairs by content", "user", user, "folder", e.Source, "pairs", len(staleSrc))
		_, msgs, err := s.src.Messages(ctx, e.Source)
		if err != nil {
			return nil, err
		}
		byHash := map[string][]mailbox.Message{}
		err = s.src.Fetch(ctx, e.Source, msgs, func(m mailbox.Message, b mailbox.Body) error {
			h, err := hashBody(b)
			byHash[h] = append(byHash[h], m)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, p := range staleSrc {
			deletes = append(deletes, p)
			if ms := byHash[p.Hash]; len(ms) > 0 && p.Hash != "" {
				m := ms[0]
				byHash[p.Hash] = ms[1:]
				np := p
				np.SourceUIDValidity, np.SourceKey, np.SourceUID = sf.UIDValidity, m.Key, m.UID
				updates = append(updates, np)
			}
		}
	}
	if len(staleDst) > 0 {
		s.p.log().Warn("target folder UIDVALIDITY changed; finding copies again by content", "user", user, "folder", e.Target, "pairs", len(staleDst))
		found, err := s.locate(ctx, s.conns, e.Target, 1, staleDst, nil)
		if err != nil {
			return nil, err
		}
		for _, p := range staleDst {
			if m, ok := found[pairID(p)]; ok {
				p.TargetUID, p.TargetUIDValidity = m.UID, tf.UIDValidity
				updates = append(updates, p)
			} else {
				deletes = append(deletes, p)
			}
		}
	}
	err := s.p.Store.Write(func(tx *state.Tx) error {
		for _, p := range deletes {
			if err := tx.DeletePair(p.User, p.SourceFolder, p.SourceUIDValidity, p.SourceKey); err != nil {
				return err
			}
		}
		for _, p := range updates {
			if err := tx.PutPair(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.p.Store.Pairs(user, e.Source)
}

// updateFlags sets the target flags of pairs to their (new) Flags.
func (s *session) updateFlags(ctx context.Context, c conns, ps []state.Pair) (int64, error) {
	var n int64
	var done []state.Pair
	var err error
	for _, p := range ps {
		if err = c.dst.SetFlags(ctx, p.TargetFolder, p.TargetUID, p.Flags); err != nil {
			err = fmt.Errorf("set flags on %q uid %d: %w", p.TargetFolder, p.TargetUID, err)
			break
		}
		done = append(done, p)
		n++
	}
	return n, errors.Join(err, s.p.Store.PutPairs(done))
}

// applyDeletions handles pairs whose source message is gone: under "mirror"
// the target copy is expunged (at most sync.max_delete percent of the folder
// per pass unless forced); under "keep" the copy stays and the pair is
// forgotten.
func (s *session) applyDeletions(ctx context.Context, e mapping.Entry, gone []state.Pair, known int, opts copyOptions) (int64, error) {
	if opts.deletions != "mirror" {
		return 0, s.p.forget(gone)
	}
	limit := s.p.Config.Sync.MaxDelete
	if !opts.force && known > 0 && len(gone)*100 > limit*known {
		return 0, permanent(fmt.Errorf("folder %q: %d of %d messages were deleted on the source, more than sync.max_delete (%d%%); nothing was deleted on the target. If this is expected, run `mailshift sync --force`", e.Source, len(gone), known, limit))
	}
	byFolder := map[string][]uint32{}
	for _, p := range gone {
		if p.Status == state.Copied && p.TargetUID != 0 {
			byFolder[p.TargetFolder] = append(byFolder[p.TargetFolder], p.TargetUID)
		}
	}
	var n int64
	for folder, uids := range byFolder {
		if err := s.dst.Expunge(ctx, folder, uids); err != nil && !errors.Is(err, mailbox.ErrFolderGone) {
			return n, fmt.Errorf("expunge on target folder %q: %w", folder, err)
		}
		n += int64(len(uids))
	}
	return n, s.p.forget(gone)
}

// forget deletes pairs from the state in one transaction.
func (p *Project) forget(ps []state.Pair) error {
	return p.Store.Write(func(tx *state.Tx) error {
		for _, pr := range ps {
			if err := tx.DeletePair(pr.User, pr.SourceFolder, pr.SourceUIDValidity, pr.SourceKey); err != nil {
				return err
			}
		}
		return nil
	})
}

// hashBody returns the hex SHA-256 of a body.
func hashBody(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// normFlags returns flags as a comparable set: \Recent dropped, system
// flags in their canonical case, sorted.
func normFlags(flags []string) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if len(f) > 1 && f[0] == '\\' {
			if strings.EqualFold(f, `\Recent`) {
				continue
			}
			f = `\` + strings.ToUpper(f[1:2]) + strings.ToLower(f[2:])
		}
		out = append(out, f)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sameFlags(a, b []string) bool {
	return slices.Equal(normFlags(a), normFlags(b))
}
